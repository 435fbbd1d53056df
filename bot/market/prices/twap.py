"""A Uniswap V3 time-weighted average price from the chain's own pool of a token against USDC (for tokens no
oracle covers, such as SOSO): `observe([window, 0])` in the market's Multicall3 batch.

The mean tick over the window is the difference of the two tick cumulatives divided by the window, rounded
towards negative infinity (as Uniswap's OracleLibrary does); USD per whole token is 1.0001**tick scaled by
both decimals (USDC taken at $1). A pool whose observations do not reach back a whole window reverts
(`OLD`): the reading is `no_history` and the next source is tried. The pool is found at start-up with
`getPool` over the profile's fee tiers (bot.chain.verify), unless the profile names it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any, ClassVar

from eth_utils.address import to_checksum_address

from bot.chain import protocol as p
from bot.chain.client import Call, Chain, Result
from bot.market.prices.model import PriceSetup, ReadContext, Reading, TwapPool
from bot.market.prices.source import SourceDefaults
from bot.market.prices.registry import SourceConfigError, positive_int, register
from bot.market.prices.startup import Findings, StartupEnv

ZERO = "0x0000000000000000000000000000000000000000"

DEFAULT_WINDOW = 1800
TICK_BASE = Decimal("1.0001")


def usd_per_token(mean_tick: int, pool: TwapPool) -> Decimal:
    """USD per whole token at `mean_tick` (token1 base units per token0 base unit = 1.0001**tick)."""
    with localcontext() as ctx:
        ctx.prec = 50
        raw = TICK_BASE ** mean_tick
        per_unit = raw if pool.token_is_token0 else 1 / raw  # USDC base units per token base unit
        return +per_unit.scaleb(pool.token_decimals - pool.usdc_decimals)


def mean_tick(cumulatives: Sequence[int], window: int) -> int:
    delta = int(cumulatives[1]) - int(cumulatives[0])
    return delta // window  # floor: towards negative infinity, like OracleLibrary.consult


@dataclass(frozen=True)
class Twap(SourceDefaults):
    kind: ClassVar[str] = "twap"
    symbol: str
    token: str
    window: int = DEFAULT_WINDOW
    pool: str | None = None  # the profile's override; else discovered at start-up

    def calls(self, setup: PriceSetup) -> list[Call]:
        pool = setup.twap_pools.get(self.token)
        return [Call(pool.address, p.OBSERVE, ((self.window, 0),))] if pool else []

    def read(self, results: Sequence[Result], ctx: ReadContext) -> Reading:
        pool = ctx.setup.twap_pools.get(self.token)
        if pool is None or not results:
            return Reading(self.symbol, self.kind, None, 0, self.window, "missing", self.pool or "")
        res = results[0]
        if not res.ok:
            return Reading(self.symbol, self.kind, None, 0, self.window, "no_history", pool.address)
        price = usd_per_token(mean_tick(res.values[0], self.window), pool)
        if price <= 0:
            return Reading(self.symbol, self.kind, None, ctx.now, self.window, "not_positive", pool.address)
        return Reading(self.symbol, self.kind, price, ctx.now, self.window, where=pool.address)

    def describe(self) -> dict[str, Any]:
        return {"source": self.kind, "token": self.token, "window": self.window, "pool": self.pool}

    def addresses(self) -> dict[str, str]:
        return {f"{self.symbol} TWAP token": self.token, **({f"{self.symbol} TWAP pool": self.pool} if self.pool else {})}

    def startup_calls(self, env: StartupEnv) -> list[Call]:
        calls = [Call(self.token, p.DECIMALS)]
        if self.pool:
            return calls + [Call(self.pool, p.TOKEN0), Call(self.pool, p.TOKEN1)]
        return calls + [Call(env.uniswap_factory, p.GET_POOL, (env.usdc, self.token, fee)) for fee in env.fee_tiers]

    def check(self, results: Sequence[Result], env: StartupEnv, found: Findings) -> None:
        """The token's decimals and its USDC pool: the profile's (which must pair the token with USDC), else
        the first found over the fee tiers (`settle` then picks the deepest when there are several)."""
        dec, *rest = results
        decimals = int(dec.one()) if dec.ok else None
        if decimals is None:
            found.problems.append(f"{self.symbol} TWAP token {self.token}: decimals() failed")
        tiers: list[tuple[str, int]] = []
        if self.pool:
            pair = {to_checksum_address(r.one()) for r in rest if r.ok}
            if pair != {self.token, env.usdc}:
                found.problems.append(f"{self.symbol} TWAP pool {self.pool} is not the {self.symbol}/USDC pool")
            tiers = [(self.pool, 0)]
        else:
            tiers = [(to_checksum_address(r.one()), fee) for r, fee in zip(rest, env.fee_tiers, strict=True)
                     if r.ok and r.one() != ZERO]
            if not tiers:
                found.problems.append(
                    f"no Uniswap V3 pool for {self.symbol}/USDC at fee tiers {list(env.fee_tiers)} (its TWAP source)")
        if tiers and decimals is not None:
            token0 = int(self.token, 16) < int(env.usdc, 16)
            found.twap_pools[self.token] = TwapPool(tiers[0][0], tiers[0][1], token0, decimals, env.usdc_decimals)
            if len(tiers) > 1:
                found.twap_candidates[self.token] = tiers

    async def settle(self, chain: Chain, found: Findings) -> None:
        """With pools at several fee tiers, read the one with the most liquidity (a thin pool's average is the
        cheaper one to move)."""
        tiers = found.twap_candidates.get(self.token)
        if not tiers or self.token not in found.twap_pools:
            return
        results = await chain.multicall([Call(address, p.LIQUIDITY) for address, _ in tiers])
        depth = [int(r.one()) if r.ok else -1 for r in results]
        address, fee = tiers[depth.index(max(depth))]
        old = found.twap_pools[self.token]
        found.twap_pools[self.token] = TwapPool(address, fee, old.token_is_token0, old.token_decimals, old.usdc_decimals)


@register("twap")
def parse(symbol: str, raw: dict[str, Any], where: str) -> Twap:
    try:
        token = to_checksum_address(str(raw["token"]))
        pool = to_checksum_address(str(raw["pool"])) if "pool" in raw else None
    except KeyError as exc:
        raise SourceConfigError(f"{where}: missing token") from exc
    except ValueError as exc:
        raise SourceConfigError(f"{where}: token and pool must be addresses") from exc
    return Twap(symbol, token, positive_int(raw, "window", DEFAULT_WINDOW, where), pool)
