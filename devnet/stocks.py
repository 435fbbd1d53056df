"""The devnet's stock index: tokenized stocks with price feeds and a Nexlabs-style IndexFactory issuing MAG7.nex.

Deployed on the same anvil as the SSI protocol; its chain profile (`stocks.toml`, profile `devnet-stocks`) is a
companion of the devnet profile: same chain, same USDC, WETH and Multicall3. The data is market.toml's [stocks]:
the top `count` stocks by market cap are the current list with bot.market.engine.reindex's market-cap shares (AVGO, the
8th, is the candidate a price move brings in at the monthly reindex). The deployer seeds the index with a first
issuance, filled at once so NAV is meaningful, and leaves a USDC reserve for redemptions; the fulfilment process
(devnet.fulfil) fills later requests while the market is open, from its own account, the factory's operator.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from eth_account import Account
from web3.contract import AsyncContract

from bot.market.engine.reindex import market_cap_shares
from devnet.market import StockMarket
from devnet.rpc import Sender

# anvil's account 9 ("test test ... junk"): the fulfiller's; tests and the operator use the first ones.
# A public dev key: devnet only, never in a profile.
FULFILLER_ACCOUNT = 9
FULFILLER_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6"
PROFILE_NAME = "devnet-stocks"
LABEL = "Ethereum"
STOCK_DECIMALS = 18
INDEX_DECIMALS = 18

New = Callable[..., Awaitable[str]]
At = Callable[[str, str], AsyncContract]


def ranked(shares: dict[str, int]) -> list[str]:
    """Symbols by share, largest first (ties by symbol): the order the factory's lists are written in."""
    return sorted(shares, key=lambda sym: (-shares[sym], sym))


async def deploy_stocks(tx: Sender, new: New, at: At, usdc: AsyncContract, market: StockMarket,
                        feed_answer: Callable[[Decimal], int]) -> dict[str, Any]:
    """Send every deployment and seeding transaction (not waited for); returns the stocks profile's index entry
    and its [devnet] table: {"index": ..., "devnet": ...}."""
    me = tx.address
    index = at("MintableToken", await new("MintableToken", market.index_name, market.index_symbol, INDEX_DECIMALS))
    factory = at("IndexFactory", await new("IndexFactory", usdc.address, index.address, market.fee_rate))
    if market.initial_price != 100:
        await tx.send(factory.functions.setInitialPrice(int(market.initial_price.scaleb(18))))
    tokens: dict[str, str] = {}
    feeds: dict[str, str] = {}
    for s in market.stocks:
        token = at("MintableToken", await new("MintableToken", f"{s.name} (tokenized)", s.symbol, STOCK_DECIMALS))
        feeds[s.symbol] = await new("PriceFeed", f"{s.symbol} / USD", feed_answer(s.price_usd))
        tokens[s.symbol] = token.address
        await tx.send(factory.functions.setPriceFeed(token.address, feeds[s.symbol]))
        await tx.send(token.functions.transferOwnership(factory.address))
    await tx.send(index.functions.transferOwnership(factory.address))
    shares = market_cap_shares(market.caps(), market.count)
    listed = ranked(shares)
    await tx.send(factory.functions.setCurrentList([tokens[s] for s in listed], [shares[s] for s in listed]),
                  gas=2_000_000)
    fulfiller = Account.from_key(FULFILLER_KEY).address
    await tx.send(factory.functions.setOperator(fulfiller))
    seed = int(market.seed_usdc.scaleb(6))
    reserve = int(market.reserve_usdc.scaleb(6))
    await tx.send(usdc.functions.mint(me, seed + reserve))
    await tx.send(usdc.functions.transfer(factory.address, reserve))
    await tx.send(usdc.functions.approve(factory.address, seed))
    await tx.send(factory.functions.issuanceIndexTokens(seed), gas=400_000)
    await tx.send(factory.functions.completeIssuance(1), gas=3_000_000)
    return {
        "index": {
            "symbol": market.index_symbol, "name": market.index_name, "address": index.address,
            "decimals": INDEX_DECIMALS, "methodology": "market-cap", "venue": "issuance", "factory": factory.address,
            "market_hours": dict(market.market_hours), "reindex": dict(market.reindex),
        },
        "devnet": {"deployer": me, "fulfiller": fulfiller, "fulfiller_account": FULFILLER_ACCOUNT,
                   "stock_tokens": tokens, "stock_feeds": feeds},
    }
