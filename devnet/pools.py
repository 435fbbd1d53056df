"""Uniswap V3 price arithmetic for seeding the devnet's USDC pools (exact integers and Fractions)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from math import isqrt

FEE = 3000
TICK_SPACING = 60
MIN_TICK = -887272 // TICK_SPACING * TICK_SPACING + TICK_SPACING  # -887220, full range on a 60 spacing
MAX_TICK = 887272 // TICK_SPACING * TICK_SPACING  # 887220
Q96 = 2**96


@dataclass(frozen=True)
class PoolSeed:
    """Arguments for NonfungiblePositionManager.createAndInitializePoolIfNecessary and mint."""

    token0: str
    token1: str
    sqrt_price_x96: int
    amount0: int
    amount1: int


def sqrt_price_x96(price_token1_per_token0: Fraction) -> int:
    """sqrt(price) in Q64.96, price in token1 base units per token0 base unit."""
    return isqrt(price_token1_per_token0.numerator * 2**192 // price_token1_per_token0.denominator)


def price_from_sqrt(sqrt_x96: int) -> Fraction:
    return Fraction(sqrt_x96 * sqrt_x96, 2**192)


def usdc_pool_seed(
    index: str, index_decimals: int, usdc: str, usdc_decimals: int, nav_usd: Decimal, usd_per_side: Decimal
) -> PoolSeed:
    """Initial price at NAV and `usd_per_side` of each token, ordered token0 < token1 as Uniswap requires."""
    nav = Fraction(nav_usd)
    usdc_per_index_unit = nav * 10**usdc_decimals / 10**index_decimals
    index_amount = int(Fraction(usd_per_side) / nav * 10**index_decimals)
    usdc_amount = int(Fraction(usd_per_side) * 10**usdc_decimals)
    if int(index, 16) < int(usdc, 16):
        return PoolSeed(index, usdc, sqrt_price_x96(usdc_per_index_unit), index_amount, usdc_amount)
    return PoolSeed(usdc, index, sqrt_price_x96(1 / usdc_per_index_unit), usdc_amount, index_amount)


def pool_nav(sqrt_x96: int, index_is_token0: bool, index_decimals: int = 8, usdc_decimals: int = 6) -> Decimal:
    """USD per whole index token implied by a pool's sqrtPriceX96."""
    price = price_from_sqrt(sqrt_x96)
    per_unit = price if index_is_token0 else 1 / price
    value = per_unit * 10**index_decimals / 10**usdc_decimals
    return Decimal(value.numerator) / Decimal(value.denominator)
