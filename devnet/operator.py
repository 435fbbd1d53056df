"""Operator actions on a running devnet: move prices, rebalance an index, collect the daily fees, lock part of a
staked balance as a locker, move time, fund accounts, lock LP,
and for the stock index (its stocks profile): move a stock's price, schedule its monthly reindex.

Everything reads the chain through the profile's addresses; the methodology and circulating supplies come
from the market data file named in the profile's [devnet] table. Transactions are sent from the deployer
(anvil account 0), which owns every devnet contract, except `provide_and_lock`, which acts for a dev account.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from eth_utils.address import is_address, to_checksum_address
from web3 import AsyncWeb3
from web3.types import TxReceipt

from bot.market.engine.basket import TokensetEntry, nav_per_token
from bot.market.engine.methodology import tokenset_for, weights_for
from bot.market.engine.reindex import Reindex, ReindexSchedule, plan_reindex
from bot.issuance.hours import MarketHours
from bot.chain.profile import IndexRef, LpRef, Profile, TokenRef
from devnet import anvil as anvil_rpc
from devnet.market import MARKET_PATH, Market, StockMarket, load_market, load_stock_market
from devnet.pairs import matching_amount, sort_tokens
from devnet.pools import sqrt_price_x96
from devnet.rpc import Sender, connect, contract, factory

INDEX_UNIT = 10**8
_DURATION = re.compile(r"(\d+)([smhdw])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class OperatorError(ValueError):
    """Bad operator input: unknown symbol or index, malformed duration, non-positive price."""


@dataclass(frozen=True)
class Rebalance:
    index: str
    nav_before: Decimal
    nav_after: Decimal
    weights: dict[str, Decimal]
    tokenset: list[TokensetEntry]
    receipts: list[TxReceipt]


def parse_duration(text: str) -> int:
    """Seconds in "90s", "15m", "2h", "7d", "1w", "1d12h" (a bare number is seconds)."""
    text = text.strip().lower()
    if text.isdigit():
        return int(text)
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise OperatorError(f"not a duration: {text!r} (use e.g. 90s, 15m, 2h, 7d, 1d12h)")
    return sum(int(n) * _SECONDS[u] for n, u in parts)


def resolve_index(profile: Profile, name: str) -> IndexRef:
    """Match an index by symbol, case-insensitively and with or without the .ssi suffix."""
    key = name.strip().lower().removesuffix(".ssi")
    for ref in profile.indexes:
        if ref.symbol.lower().removesuffix(".ssi") == key:
            return ref
    raise OperatorError(f"no index {name!r}; known: {', '.join(r.symbol for r in profile.indexes)}")


def market_of(profile: Profile) -> Market:
    return load_market(Path(profile.extra.get("devnet", {}).get("market_path", MARKET_PATH)))


async def feed_prices(w3: AsyncWeb3, feeds: dict[str, str]) -> dict[str, Decimal]:
    """Latest answer of each feed, as USD Decimals, in one batch."""
    price_feed = factory(w3, "PriceFeed")
    async with w3.batch_requests() as batch:
        for addr in feeds.values():
            feed = price_feed(addr)
            batch.add(feed.functions.latestRoundData())
            batch.add(feed.functions.decimals())
        raw = await batch.async_execute()
    rounds, decimals = raw[0::2], raw[1::2]  # latestRoundData is (roundId, answer, startedAt, updatedAt, ...)
    return {symbol: Decimal(r[1]).scaleb(-d) for symbol, r, d in zip(feeds, rounds, decimals, strict=True)}


async def read_tokenset(w3: AsyncWeb3, index: str) -> list[TokensetEntry]:
    tokens = await contract(w3, "AssetToken", index).functions.getTokenset().call()
    return [TokensetEntry(*t) for t in tokens]


async def index_nav(profile: Profile, index: str) -> Decimal:
    """NAV per whole index token from the on-chain tokenset and feeds."""
    ref = resolve_index(profile, index)
    async with connect(profile.rpc_urls[0]) as w3:
        tokenset = await read_tokenset(w3, ref.token.address)
        prices = await feed_prices(w3, {e.symbol: profile.feeds[e.symbol] for e in tokenset})
    return nav_per_token(tokenset, prices)


def stock_feeds(profile: Profile) -> dict[str, str]:
    """The stock feeds of a stocks profile, by symbol (its [devnet] table; the factory also knows them)."""
    return dict(profile.extra.get("devnet", {}).get("stock_feeds", {}))


async def set_price(profile: Profile, symbol: str, usd: Decimal) -> None:
    """Push a new answer to the constituent's (or, in a stocks profile, the stock's) feed: a new round stamped
    with the block time. SOSO, priced by its pool's TWAP, is moved by trading its pool to that price instead."""
    soso_pool = profile.extra.get("devnet", {}).get("soso_pool")
    if profile.soso is not None and symbol == profile.soso.symbol and symbol not in profile.feeds and soso_pool:
        if usd <= 0:
            raise OperatorError("a price must be positive")
        await move_pool(profile, soso_pool, profile.soso.address, profile.soso.decimals, usd)
        return
    feeds = {**profile.feeds, **stock_feeds(profile)}
    if symbol not in feeds:
        raise OperatorError(f"no feed for {symbol!r}; known: {', '.join(sorted(feeds))}")
    if usd <= 0:
        raise OperatorError("a price must be positive")
    async with connect(profile.rpc_urls[0]) as w3:
        feed = contract(w3, "PriceFeed", feeds[symbol])
        decimals = await feed.functions.decimals().call()
        answer = int(Decimal(usd).scaleb(decimals).to_integral_value())
        await Sender(w3, chain_id=profile.chain_id).transact(feed.functions.updateAnswer(answer))


async def move_pool(profile: Profile, pool_address: str, token: str, decimals: int, usd: Decimal) -> None:
    """Trade the token's USDC V3 pool (from the deployer, through SwapRouter02) until its price is `usd`: the
    swap stops at that price (sqrtPriceLimitX96). A TWAP of the pool follows over its window."""
    usdc = profile.usdc
    token_first = int(token, 16) < int(usdc.address, 16)
    per_unit = Fraction(usd) * 10**usdc.decimals / 10**decimals  # USDC base units per token base unit
    target = sqrt_price_x96(per_unit if token_first else 1 / per_unit)
    async with connect(profile.rpc_urls[0]) as w3:
        tx = Sender(w3, chain_id=profile.chain_id)
        pool = contract(w3, "UniswapV3Pool", pool_address)
        current = (await pool.functions.slot0().call())[0]
        if current == target:
            return
        token0, token1 = (token, usdc.address) if token_first else (usdc.address, token)
        zero_for_one = target < current  # token0 in pushes the price (token1 per token0) down
        token_in, token_out = (token0, token1) if zero_for_one else (token1, token0)
        erc20 = contract(w3, "TestToken", token_in)
        balance = await erc20.functions.balanceOf(tx.address).call()
        await tx.transact(erc20.functions.approve(profile.swap_router02, balance))
        router = contract(w3, "SwapRouter02", profile.swap_router02)
        await tx.transact(router.functions.exactInputSingle(
            (token_in, token_out, await pool.functions.fee().call(), tx.address, balance, 0, target)))


async def rebalance(profile: Profile, index: str, legacy: bool = False) -> Rebalance:
    """Reweight an index at today's feed prices, keeping NAV: StartRebalance, SetTokenset, SetBasket, EndRebalance.
    `legacy`: as deployments before July 2026, without the StartRebalance / EndRebalance events (only
    rebalancing() goes true, then false)."""
    ref = resolve_index(profile, index)
    market = market_of(profile)
    spec = market.index(ref.symbol)
    async with connect(profile.rpc_urls[0]) as w3:
        asset = contract(w3, "AssetToken", ref.token.address)
        current = await read_tokenset(w3, asset.address)
        prices = await feed_prices(w3, {c.symbol: profile.feeds[c.symbol] for c in market.constituents})
        nav = nav_per_token(current, prices)
        universe = [replace(c, price_usd=prices[c.symbol]) for c in market.constituents]
        weights = weights_for(spec.methodology, universe, **spec.config)
        tokenset = tokenset_for(weights, nav, universe)
        supply = await asset.functions.totalSupply().call()
        rows = [(e.chain, e.symbol, e.addr, e.decimals, e.amount) for e in tokenset]
        basket = [(*row[:4], row[4] * supply // INDEX_UNIT) for row in rows]
        tx = Sender(w3, chain_id=profile.chain_id)
        if legacy:
            await tx.send(asset.functions.setQuietRebalance(True))
        await tx.send(asset.functions.startRebalance(), gas=200_000)
        await tx.send(asset.functions.setTokenset(rows), gas=4_000_000)
        await tx.send(asset.functions.setBasket(basket), gas=4_000_000)
        await tx.send(asset.functions.endRebalance(), gas=200_000)
        if legacy:
            await tx.send(asset.functions.setQuietRebalance(False))
        receipts = await tx.wait()
        if legacy:
            receipts = receipts[1:-1]  # the rebalance's own four
    return Rebalance(ref.symbol, nav, nav_per_token(tokenset, prices), weights, tokenset, receipts)


@dataclass(frozen=True)
class FeeCollection:
    """One index's `collectFeeTokenset()`: whole days charged (0: less than a day since the last collection, nothing
    changed), the daily rate, NAV per token before and after, and when the next collection is due."""

    index: str
    days: int
    fee: Decimal  # daily rate as a fraction (fee() / 10**feeDecimals())
    nav_before: Decimal
    nav_after: Decimal
    next_due: int
    receipt: TxReceipt | None


async def collect_fees(profile: Profile, index: str | None = None) -> list[FeeCollection]:
    """The protocol's daily fee collection, on one index or all: the deployer (the devnet's fee manager) calls
    `collectFeeTokenset()`, which charges every whole day since `lastCollectTimestamp` (SetBasket, SetFeeTokenset,
    SetTokenset in one transaction; no StartRebalance). Less than a day since the last one: nothing is sent."""
    refs = [resolve_index(profile, index)] if index is not None else [r for r in profile.indexes if r.venue == "pool"]
    out = []
    async with connect(profile.rpc_urls[0]) as w3:
        tx = Sender(w3, chain_id=profile.chain_id)
        now = await chain_now(w3)
        for ref in refs:
            asset = contract(w3, "AssetToken", ref.token.address)
            fee, decimals, last = (await asset.functions.fee().call(), await asset.functions.feeDecimals().call(),
                                   await asset.functions.lastCollectTimestamp().call())
            days = (now - int(last)) // 86400
            before = await index_nav(profile, ref.symbol)
            receipt = await tx.transact(asset.functions.collectFeeTokenset()) if days > 0 else None
            after = await index_nav(profile, ref.symbol) if receipt is not None else before
            last = await asset.functions.lastCollectTimestamp().call()
            out.append(FeeCollection(ref.symbol, days, Decimal(fee).scaleb(-int(decimals)), before, after,
                                     int(last) + 86400, receipt))
    return out


@dataclass(frozen=True)
class StakeLock:
    staking: str  # its symbol, e.g. sSOSO
    address: str
    locked: Decimal  # what the deployer (a locker) holds locked for the address now
    available: Decimal  # getAvailableBalance: what the address can unstake or move
    balance: Decimal


def staking_ref(profile: Profile, symbol: str) -> TokenRef:
    """A staking token by its symbol (sSOSO, sMAG7.ssi, …), case-insensitively."""
    refs = [r.staking for r in profile.indexes if r.staking is not None]
    if profile.soso_staking is not None:
        refs.append(profile.soso_staking)
    for ref in refs:
        if ref.symbol.lower() == symbol.strip().lower():
            return ref
    raise OperatorError(f"no staking token {symbol!r}; known: {', '.join(r.symbol for r in refs)}")


async def lock_staked(profile: Profile, symbol: str, address: str, amount: Decimal, release: bool = False) -> StakeLock:
    """As a locker (a voting contract does this with sSOSO on the protocol), lock `amount` of `address`'s staked
    balance with no expiry (`lock(user, amount)`), or release it (`unlock`). The deployer holds the locker role on
    every devnet staking token. A lock beyond the available balance reverts ("insufficient available")."""
    ref = staking_ref(profile, symbol)
    if amount <= 0:
        raise OperatorError("an amount must be positive")
    if not is_address(address):
        raise OperatorError(f"not an address: {address!r}")
    user = to_checksum_address(address)
    units = int(amount.scaleb(ref.decimals).to_integral_value())
    async with connect(profile.rpc_urls[0]) as w3:
        tx = Sender(w3, chain_id=profile.chain_id)
        staking = contract(w3, "StakeToken", ref.address)
        fn = staking.get_function_by_signature("unlock(address,uint256)" if release else "lock(address,uint256)")
        await tx.transact(fn(user, units))
        locked = await staking.functions.lockedBalances(tx.address, user).call()
        available = await staking.functions.getAvailableBalance(user).call()
        balance = await staking.functions.balanceOf(user).call()
    return StakeLock(ref.symbol, user, Decimal(locked).scaleb(-ref.decimals), Decimal(available).scaleb(-ref.decimals),
                     Decimal(balance).scaleb(-ref.decimals))


async def chain_now(w3: AsyncWeb3) -> int:
    """Chain time: the timestamp the next block gets. anvil's pending block carries its clock, which runs with
    the wall clock and includes every evm_increaseTime, whether or not a block was mined since."""
    return int((await w3.eth.get_block("pending"))["timestamp"])


async def set_sequencer(profile: Profile, down: bool) -> int:
    """Flip the devnet's L2 sequencer uptime feed (answer 1 = down); returns when its status began. Coming back
    up starts the grace period the profile's [sequencer] names."""
    if profile.sequencer is None:
        raise OperatorError("this profile names no sequencer feed")
    async with connect(profile.rpc_urls[0]) as w3:
        feed = contract(w3, "SequencerUptimeFeed", profile.sequencer.feed)
        await Sender(w3, chain_id=profile.chain_id).transact(feed.functions.setDown(down))
        return int((await feed.functions.latestRoundData().call())[2])


async def advance(rpc_url: str, seconds: int) -> int:
    """Move chain time forward and mine a block; returns the new block timestamp."""
    async with connect(rpc_url) as w3:
        await anvil_rpc.increase_time(w3, seconds)
        await anvil_rpc.mine(w3)
        return int((await w3.eth.get_block("latest"))["timestamp"])


async def fund(profile: Profile, to: str, usdc: Decimal = Decimal(0), eth: Decimal = Decimal(0)) -> None:
    """Give an address devnet USDC (minted) and/or ETH (anvil_setBalance adds to the current balance)."""
    async with connect(profile.rpc_urls[0]) as w3:
        if usdc > 0:
            amount = int(usdc.scaleb(profile.usdc.decimals).to_integral_value())
            token = contract(w3, "TestToken", profile.usdc.address)
            await Sender(w3, chain_id=profile.chain_id).transact(token.functions.mint(to, amount))
        if eth > 0:
            balance = await w3.eth.get_balance(to) + int(eth.scaleb(18).to_integral_value())
            await anvil_rpc.node_call(w3, "anvil_setBalance", to, hex(balance))


def lp_of(profile: Profile, index: str) -> LpRef:
    """The lockable LP token of an index's pair against USDC."""
    ref = resolve_index(profile, index)
    for lp in profile.lp_tokens:
        if lp.index == ref.symbol:
            return lp
    raise OperatorError(f"{ref.symbol} has no LP token in the profile")


async def provide_and_lock(profile: Profile, key: str, usdc: Decimal, index: str = "MAG7.ssi") -> int:
    """For the account of `key`: add `usdc` USDC and the matching index tokens to the index's V2 pair, then lock
    all the LP minted in AssetLocking. Returns the LP units locked.

    The account must hold both tokens and ETH for gas. No router: the tokens are sent to the pair and `mint`
    follows in its own transaction, which is safe only on a devnet where nobody trades in between. A revert
    raises web3's ContractLogicError with the reason.
    """
    lp = lp_of(profile, index)
    if profile.locking is None:
        raise OperatorError("the profile names no AssetLocking contract")
    if usdc <= 0:
        raise OperatorError("a deposit must be positive")
    usdc_units = int(usdc.scaleb(profile.usdc.decimals).to_integral_value())
    index_token = profile.index(lp.index).token.address
    async with connect(profile.rpc_urls[0]) as w3:
        tx = Sender(w3, key, chain_id=profile.chain_id)
        pair = contract(w3, "UniswapV2Pair", lp.token.address)
        reserve0, reserve1, _ = await pair.functions.getReserves().call()
        usdc_is_token0 = sort_tokens(profile.usdc.address, index_token)[0] == profile.usdc.address
        reserve_usdc, reserve_index = (reserve0, reserve1) if usdc_is_token0 else (reserve1, reserve0)
        index_units = matching_amount(usdc_units, reserve_usdc, reserve_index)
        before = int(await pair.functions.balanceOf(tx.address).call())
        await tx.transact(contract(w3, "TestToken", profile.usdc.address).functions.transfer(pair.address, usdc_units))
        await tx.transact(contract(w3, "AssetToken", index_token).functions.transfer(pair.address, index_units))
        await tx.transact(pair.functions.mint(tx.address))
        minted = int(await pair.functions.balanceOf(tx.address).call()) - before
        await tx.transact(pair.functions.approve(profile.locking, minted))
        await tx.transact(contract(w3, "AssetLocking", profile.locking).functions.lock(pair.address, minted))
    return minted


# -- the stock index (a stocks profile: MAG7.nex issued by an IndexFactory) -----------------------------------


def stock_market_of(profile: Profile) -> StockMarket:
    return load_stock_market(Path(profile.extra.get("devnet", {}).get("market_path", MARKET_PATH)))


def issued_index(profile: Profile, name: str) -> IndexRef:
    """An index of the stocks profile issued by a factory, by symbol (case-insensitive)."""
    for ref in profile.indexes:
        if ref.venue == "issuance" and ref.symbol.lower() == name.strip().lower():
            return ref
    known = ", ".join(r.symbol for r in profile.indexes if r.venue == "issuance") or "none"
    raise OperatorError(f"no issued index {name!r}; known: {known}")


async def factory_nav(profile: Profile, index: str) -> Decimal:
    """NAV per index token in USD: the factory's holdings at feed prices over the supply."""
    ref = issued_index(profile, index)
    async with connect(profile.rpc_urls[0]) as w3:
        assert ref.factory is not None
        return Decimal(await contract(w3, "IndexFactory", ref.factory).functions.indexPrice().call()).scaleb(-18)


async def current_shares(w3: AsyncWeb3, profile: Profile, factory: str) -> dict[str, int]:
    """The factory's current list as {stock symbol: market share (sum 100e18)}."""
    fn = contract(w3, "IndexFactory", factory).functions
    symbols = {addr: sym for sym, addr in profile.extra.get("devnet", {}).get("stock_tokens", {}).items()}
    count = await fn.totalCurrentList().call()
    async with w3.batch_requests() as batch:
        for i in range(count):
            batch.add(fn.currentList(i))
        tokens = await batch.async_execute()
    async with w3.batch_requests() as batch:
        for token in tokens:
            batch.add(fn.tokenCurrentMarketShare(token))
        shares = await batch.async_execute()
    return {symbols.get(t, t): int(s) for t, s in zip(tokens, shares, strict=True)}


@dataclass(frozen=True)
class ScheduledReindex:
    index: str
    plan: Reindex  # current and next shares by symbol, added, removed, at (unix seconds)
    prices: dict[str, Decimal]
    receipt: TxReceipt


async def schedule_reindex(profile: Profile, index: str, when: str = "next") -> ScheduledReindex:
    """Plan the monthly reindex at current feed prices and market.toml's shares outstanding, and set it as the
    factory's oracle list, due at the next monthly reindex moment after chain now (`when="next"`) or at chain
    now ("now": the fulfiller applies it at its next step while the market is open)."""
    if when not in ("now", "next"):
        raise OperatorError(f"--at {when!r}: use now or next")
    ref = issued_index(profile, index)
    assert ref.factory is not None
    market = stock_market_of(profile)
    tokens = profile.extra.get("devnet", {}).get("stock_tokens", {})
    async with connect(profile.rpc_urls[0]) as w3:
        current = await current_shares(w3, profile, ref.factory)
        prices = await feed_prices(w3, stock_feeds(profile))
        now = await chain_now(w3)
        schedule = ref.reindex or ReindexSchedule.from_config(market.reindex)
        hours = ref.market_hours or MarketHours.from_config(market.market_hours)
        at = now if when == "now" else schedule.next_after(now, hours.zone)
        plan = plan_reindex(current, market.caps(prices), market.count, at)
        listed = sorted(plan.next, key=lambda sym: (-plan.next[sym], sym))
        fn = contract(w3, "IndexFactory", ref.factory).functions.setOracleList(
            [tokens[s] for s in listed], [plan.next[s] for s in listed], at)
        receipt = await Sender(w3, chain_id=profile.chain_id).transact(fn)
    return ScheduledReindex(ref.symbol, plan, prices, receipt)


BASKET_SLOT = 7  # AssetToken's `_basket` (after ERC20's name, symbol, totalSupply, balanceOf, allowance, Owned's owner, _tokenset)
TOKEN_SLOTS = 5  # one Token struct: chain, symbol, addr, decimals, amount (the last)


@dataclass(frozen=True)
class Shortfall:
    index: str
    percent: Decimal  # how much of what the supply is owed the basket now lacks
    basket: dict[str, int]  # symbol -> getBasket() amount after


def _slot_hex(n: int) -> str:
    return "0x" + n.to_bytes(32, "big").hex()


async def shortfall(profile: Profile, index: str, percent: Decimal) -> Shortfall:
    """Make an index's basket hold `percent` less than its supply is owed (total supply × tokenset / 1e8), as a
    custodian's loss would; 0 restores full backing. The devnet's constituents are not ERC-20 balances on this chain
    but the basket the contract records, so anvil's `anvil_setStorageAt` writes each amount (checked against
    `getBasket()` first, so a changed storage layout refuses instead of writing elsewhere), then a block is mined."""
    if not Decimal(0) <= percent < 100:
        raise OperatorError(f"the shortfall is a percentage from 0 (full backing) to below 100, not {percent}")
    ref = resolve_index(profile, index)
    if ref.venue != "pool":
        raise OperatorError(f"{ref.symbol} is issued by a factory and has no basket")
    async with connect(profile.rpc_urls[0]) as w3:
        asset = contract(w3, "AssetToken", ref.token.address)
        basket = await asset.functions.getBasket().call()
        owed = {str(t[1]): int(t[4]) for t in await asset.functions.getTokenset().call()}
        supply = int(await asset.functions.totalSupply().call())
        base = int.from_bytes(w3.keccak(BASKET_SLOT.to_bytes(32, "big")), "big")
        length = int.from_bytes(await w3.eth.get_storage_at(ref.token.address, BASKET_SLOT), "big")
        if length != len(basket):
            raise OperatorError(f"{ref.symbol}'s storage is not the devnet AssetToken's layout; nothing was written")
        keep = Fraction(100) - Fraction(percent)
        after: dict[str, int] = {}
        for i, token in enumerate(basket):
            slot = base + i * TOKEN_SLOTS + 4
            if int.from_bytes(await w3.eth.get_storage_at(ref.token.address, slot), "big") != int(token[4]):
                raise OperatorError(f"{ref.symbol}'s storage is not the devnet AssetToken's layout; nothing was written")
            symbol = str(token[1])
            amount = int(Fraction(supply * owed.get(symbol, 0), INDEX_UNIT) * keep / 100)
            after[symbol] = amount
        for i, token in enumerate(basket):
            await anvil_rpc.node_call(w3, "anvil_setStorageAt", ref.token.address, _slot_hex(base + i * TOKEN_SLOTS + 4),
                                      _slot_hex(after[str(token[1])]))
        await anvil_rpc.mine(w3)
    return Shortfall(ref.symbol, percent, after)
