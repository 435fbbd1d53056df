"""Deploy the SSI protocol, feeds, Uniswap V3, the LP pairs and AssetLocking on anvil, write the devnet
profile, cache the chain state.

Each index in `LP_INDEXES` also gets a Uniswap V2 pair against USDC, seeded at its start NAV, whose LP token
(UNI-V2) is lockable in AssetLocking in the active epoch, as the points programme's LP locks are.

`deploy` sends every transaction from anvil's account 0 with locally managed nonces and checks all receipts
in one batch at the end (anvil mines them in nonce order), so addresses are deterministic: the same
sources, artifacts and market data on a fresh anvil always give the same addresses. `boot` relies on
that: it loads a cached `anvil_dumpState` taken right after a deploy with the same hash, else deploys and
caches. The profile is written with tomli_w in the schema `bot.chain.profile.parse_profile` reads.

The same deploy puts the stock index (devnet.stocks: tokenized stocks, their feeds, an IndexFactory issuing
MAG7.nex) on the same anvil and writes its profile, `stocks.toml`, beside the devnet's, which names it in
`companions`; the state cache holds both profiles.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import tomli_w
from eth_account import Account
from web3.contract import AsyncContract

from bot.market.engine.methodology import tokenset_for, weights_for
from bot.chain.profile import STANDARD_FEE_TIERS, Profile, parse_profile
from devnet import anvil as anvil_rpc
from devnet.anvil import Anvil
from devnet.compile import BUILD_DIR, all_artifacts, artifacts_hash, build_lock
from devnet.hermes import devnet_prices
from devnet.market import MARKET_PATH, load_market, load_stock_market
from devnet.pairs import pair_address
from devnet.pools import FEE, MAX_TICK, MIN_TICK, usdc_pool_seed
from devnet.rpc import DEV_KEYS, Sender, connect, factory
from devnet.rpc import factory as factory_of
from devnet.stocks import LABEL as STOCKS_LABEL
from devnet.stocks import PROFILE_NAME as STOCKS_PROFILE_NAME
from devnet.stocks import deploy_stocks

STOCKS_PROFILE = "stocks.toml"  # the companion profile: the stock index's factory on the same anvil
COOLDOWN_SECONDS = 7 * 24 * 3600
FEED_DECIMALS = 8
POOL_USD_PER_SIDE = Decimal(1_000_000)
LP_INDEXES = ("MAG7.ssi",)  # indexes with a Uniswap V2 pair against USDC whose LP can be locked
LP_USD_PER_SIDE = Decimal(100_000)
LOCK_EPOCH = 1
DAILY_FEE = 4_110  # each index's fee(): a daily rate with 8 decimals (0.0000411 a day, about 1.5 % a year)
LOCK_LIMIT = 10**36  # LP units; far above any devnet deposit
SOSO_POOL_USD_PER_SIDE = Decimal(200_000)  # the SOSO/USDC Uniswap V3 pool SOSO's TWAP is read from
SOSO_OBSERVATIONS = 64  # the pool's observation cardinality: a TWAP window of many blocks
TWAP_WINDOW = 1800
# A chain about to be deployed starts this far in the past: the deploy moves time a TWAP window on (SOSO's pool needs
# observations reaching back that far), and the chain then stands at the wall clock instead of half an hour ahead of
# it (every time the bot shows, and the stock index's market hours, were that far off; `genesis_for_deploy`).
DEPLOY_HEADSTART = TWAP_WINDOW + 120
SEQUENCER_GRACE = 3600
DEPLOYER_USDC = 100_000_000 * 10**6
DEV_ACCOUNT_USDC = 1_000_000 * 10**6
MAX_UINT = 2**256 - 1
ZERO = "0x0000000000000000000000000000000000000000"
_HERE = Path(__file__).resolve().parent
_CODE_FILES = (
    _HERE / "deploy.py", _HERE / "pools.py", _HERE / "pairs.py", _HERE / "rpc.py",
    _HERE.parent / "bot" / "market" / "engine" / "methodology.py",
    _HERE / "stocks.py", _HERE / "market.py", _HERE.parent / "bot" / "market" / "engine" / "reindex.py", _HERE / "hermes.py",
)


def state_hash(market_path: Path = MARKET_PATH) -> str:
    """Hash of everything a deploy depends on: sources, solc, Uniswap artifacts, market data, deploy code."""
    h = hashlib.sha256(artifacts_hash().encode())
    for path in (Path(market_path), *_CODE_FILES):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _feed_answer(usd: Decimal) -> int:
    return int(usd.scaleb(FEED_DECIMALS).to_integral_value())


def _token_tuple(e: Any) -> tuple[str, str, str, int, int]:
    return (e.chain, e.symbol, e.addr, e.decimals, e.amount)


async def deploy(rpc_url: str, profile_path: Path, market_path: Path = MARKET_PATH) -> Profile:
    """Deploy everything on the anvil at `rpc_url` and write the profile TOML at `profile_path`."""
    started = time.perf_counter()
    market = load_market(market_path)
    art = all_artifacts()
    dev_accounts = [Account.from_key(k).address for k in DEV_KEYS[1:]]
    async with connect(rpc_url) as w3:
        chain_id = await w3.eth.chain_id
        tx = Sender(w3, chain_id=chain_id)
        me = tx.address
        factories = {name: w3.eth.contract(abi=a.abi, bytecode=a.bytecode) for name, a in art.items()}

        async def new(name: str, *args: Any) -> str:
            """Send the creation of `name` and return the address it will have."""
            return await tx.deploy(factories[name].constructor(*args))

        def at(name: str, address: str) -> AsyncContract:
            return factories[name](address)

        weth = await new("WETH9")
        multicall = await new("Multicall3")
        usdc = at("TestToken", await new("TestToken", "USD Coin", "USDC", 6))
        soso = at("TestToken", await new("TestToken", "SoSoValue", "SOSO", 18))
        ssoso = await new("StakeToken", soso.address, COOLDOWN_SECONDS)
        await tx.send(usdc.functions.mint(me, DEPLOYER_USDC))
        await tx.send(soso.functions.mint(me, 10_000_000 * 10**18))
        for account in dev_accounts:
            await tx.send(usdc.functions.mint(account, DEV_ACCOUNT_USDC))
        feeds = {}
        for c in market.constituents:
            feeds[c.symbol] = await new("PriceFeed", f"{c.symbol} / USD", _feed_answer(c.price_usd))
        feeds["SOSO"] = await new("PriceFeed", "SOSO / USD", _feed_answer(market.soso_price_usd))
        now = int((await w3.eth.get_block("latest"))["timestamp"])
        sequencer = await new("SequencerUptimeFeed", max(1, now - 86_400))  # up for a day: no grace period running

        factory = at("UniswapV3Factory", await new("UniswapV3Factory"))
        npm = at("NonfungiblePositionManager", await new("NonfungiblePositionManager", factory.address, weth, ZERO))
        quoter = await new("QuoterV2", factory.address, weth)
        router = await new("SwapRouter02", ZERO, factory.address, npm.address, weth)
        await tx.send(usdc.functions.approve(npm.address, MAX_UINT))
        soso_seed = usdc_pool_seed(soso.address, 18, usdc.address, 6, market.soso_price_usd, SOSO_POOL_USD_PER_SIDE)
        await tx.send(soso.functions.approve(npm.address, MAX_UINT))
        await tx.send(npm.functions.createAndInitializePoolIfNecessary(
            soso_seed.token0, soso_seed.token1, FEE, soso_seed.sqrt_price_x96), gas=6_000_000)
        await tx.send(npm.functions.mint((soso_seed.token0, soso_seed.token1, FEE, MIN_TICK, MAX_TICK, soso_seed.amount0,
                                          soso_seed.amount1, 0, 0, me, 2**32)), gas=1_000_000)

        indexes: list[dict[str, Any]] = []
        lp_seeds: list[tuple[str, AsyncContract, int, int]] = []  # (index symbol, its token, index and USDC amounts)
        for spec in market.indexes:
            weights = weights_for(spec.methodology, market.constituents, **spec.config)
            tokenset = tokenset_for(weights, spec.start_nav, market.constituents)
            token = at("AssetToken", await new("AssetToken", spec.name, spec.symbol))
            await tx.send(token.functions.setTokenset([_token_tuple(e) for e in tokenset]), gas=4_000_000)
            seed = usdc_pool_seed(token.address, 8, usdc.address, 6, spec.start_nav, POOL_USD_PER_SIDE)
            index_amount = seed.amount0 if seed.token0 == token.address else seed.amount1
            lp_amount = 0
            if spec.symbol in LP_INDEXES:
                lp = usdc_pool_seed(token.address, 8, usdc.address, 6, spec.start_nav, LP_USD_PER_SIDE)
                lp_amount, lp_usdc = (lp.amount0, lp.amount1) if lp.token0 == token.address else (lp.amount1, lp.amount0)
                lp_seeds.append((spec.symbol, token, lp_amount, lp_usdc))
            await tx.send(token.functions.mint(me, 2 * index_amount + lp_amount), gas=4_000_000)
            staking = await new("StakeToken", token.address, COOLDOWN_SECONDS)
            await tx.send(token.functions.setFee(DAILY_FEE))
            await tx.send(at("StakeToken", staking).functions.grantLockerRole(me))  # `indexbot devnet lock`
            await tx.send(token.functions.approve(npm.address, MAX_UINT))
            await tx.send(npm.functions.createAndInitializePoolIfNecessary(
                seed.token0, seed.token1, FEE, seed.sqrt_price_x96), gas=6_000_000)
            mint = (seed.token0, seed.token1, FEE, MIN_TICK, MAX_TICK, seed.amount0, seed.amount1, 0, 0, me, 2**32)
            await tx.send(npm.functions.mint(mint), gas=1_000_000)
            indexes.append({
                "symbol": spec.symbol, "name": spec.name, "address": token.address, "decimals": 8,
                "methodology": spec.methodology, "venue": "pool",
                "staking": {"address": staking, "symbol": "s" + spec.symbol, "decimals": 8},
            })

        await tx.send(at("StakeToken", ssoso).functions.grantLockerRole(me))  # `indexbot devnet lock sSOSO ...`
        v2_factory = at("UniswapV2Factory", await new("UniswapV2Factory", me))
        locking = at("AssetLocking", await new("AssetLocking"))
        lp_tokens: list[dict[str, Any]] = []
        for symbol, index_token, index_units, usdc_units in lp_seeds:
            pair = at("UniswapV2Pair", pair_address(v2_factory.address, index_token.address, usdc.address))
            await _seed_pair(tx, v2_factory, pair, [(index_token, index_units), (usdc, usdc_units)])
            await tx.send(locking.functions.updateLockConfig(pair.address, LOCK_EPOCH, LOCK_LIMIT, COOLDOWN_SECONDS))
            await tx.send(locking.functions.setEpoch(pair.address, LOCK_EPOCH))
            lp_tokens.append({"address": pair.address, "symbol": "UNI-V2", "decimals": 18, "index": symbol,
                              "kind": "uniswap-v2"})
        stocks = await deploy_stocks(tx, new, at, usdc, load_stock_market(market_path), _feed_answer)
        stake_factory = await _register_stake_tokens(tx, new, at, indexes)  # last: earlier addresses stay as they were
        await tx.wait()
        async with w3.batch_requests() as batch:
            for ix in indexes:
                batch.add(factory.functions.getPool(ix["address"], usdc.address, FEE))
            for _, index_token, _, _ in lp_seeds:
                batch.add(v2_factory.functions.getPair(index_token.address, usdc.address))
            found = await batch.async_execute()
        soso_pool = await _twap_ready(w3, tx, factory, soso.address, usdc.address, [*feeds.values(), *stocks["devnet"].get("stock_feeds", {}).values()])
        pools = dict(zip([ix["symbol"] for ix in indexes], found[: len(indexes)], strict=True))
        pairs = [lp["address"] for lp in lp_tokens]
        if found[len(indexes):] != pairs:  # else the seeds went to addresses without code
            raise RuntimeError(f"Uniswap V2 pairs are at {found[len(indexes):]}, not at the computed {pairs}")
        elapsed = time.perf_counter() - started

    write_profile({
        "name": STOCKS_PROFILE_NAME,
        "label": STOCKS_LABEL,
        "chain_id": chain_id,
        "rpc_urls": [rpc_url],
        "explorer_url": "",
        "block_time_seconds": 1.0,
        "native_feed_symbol": "ETH",
        "contracts": {"multicall3": multicall},
        "usdc": {"address": usdc.address, "symbol": "USDC", "decimals": 6},
        "weth": {"address": weth, "symbol": "WETH", "decimals": 18},
        "indexes": [stocks["index"]],
        "feeds": {"ETH": feeds["ETH"]},  # gas pricing; the stocks' feeds are the factory's
        "devnet": {**stocks["devnet"], "market_path": str(Path(market_path).resolve()),
                   "state_hash": state_hash(market_path)},
    }, Path(profile_path).parent / STOCKS_PROFILE)
    data: dict[str, Any] = {
        "name": "devnet",
        "label": "Base",
        "companions": [STOCKS_PROFILE],
        "chain_id": chain_id,
        "rpc_urls": [rpc_url],
        "explorer_url": "",
        "block_time_seconds": 1.0,
        "fee_tiers": list(STANDARD_FEE_TIERS),
        "native_feed_symbol": "ETH",
        "contracts": {"multicall3": multicall, "uniswap_factory": factory.address, "swap_router02": router,
                      "quoter_v2": quoter, "position_manager": npm.address},
        "usdc": {"address": usdc.address, "symbol": "USDC", "decimals": 6},
        "weth": {"address": weth, "symbol": "WETH", "decimals": 18},
        "soso": {"address": soso.address, "symbol": "SOSO", "decimals": 18,
                 "staking": {"address": ssoso, "symbol": "sSOSO", "decimals": 18}},
        "indexes": indexes,
        "lp_tokens": lp_tokens,
        "locking": {"address": locking.address},
        "stake_factory": {"address": stake_factory},
        **devnet_prices(feeds, soso.address, sequencer, TWAP_WINDOW, SEQUENCER_GRACE),
        "devnet": {
            "deployer": me,
            "market_path": str(Path(market_path).resolve()),
            "state_hash": state_hash(market_path),
            "deploy_seconds": round(elapsed, 3),
            "pool_fee": FEE,
            "pools": pools,
            "soso_pool": soso_pool,
            "sequencer_feed": sequencer,
            "market_feeds": feeds,  # every PriceFeed, the ones no source lists too (SOSO's): the devnet's market data
            "uniswap_v2_factory": v2_factory.address,
            "start_nav": {s.symbol: str(s.start_nav) for s in market.indexes},
            "cooldown_seconds": COOLDOWN_SECONDS,
            "funded_accounts": dev_accounts,
        },
    }
    return write_profile(data, profile_path)


async def _register_stake_tokens(tx: Sender, new: Any, at: Any, indexes: list[dict[str, Any]]) -> str:
    """A StakeFactory that lists every index's staking token under its asset id (1, 2, ... in market order),
    as the protocol's factory does for the tokens it creates; the devnet profile names it so the bot discovers
    its staking tokens through `getStakeTokens()` as it does on Base."""
    stake_factory = at("StakeFactory", await new("StakeFactory"))
    for asset_id, ix in enumerate(indexes, start=1):
        await tx.send(stake_factory.functions.registerStakeToken(asset_id, ix["staking"]["address"], COOLDOWN_SECONDS))
    return str(stake_factory.address)


async def _seed_pair(
    tx: Sender, v2_factory: AsyncContract, pair: AsyncContract, deposits: list[tuple[AsyncContract, int]]
) -> None:
    """Create a V2 pair and add its first liquidity (no router: send both tokens to the pair, then `mint`).

    Sending and minting in separate transactions is safe only because nobody else trades on the devnet.
    """
    (token_a, _), (token_b, _) = deposits
    await tx.send(v2_factory.functions.createPair(token_a.address, token_b.address), gas=4_000_000)
    for token, amount in deposits:
        await tx.send(token.functions.transfer(pair.address, amount))
    await tx.send(pair.functions.mint(tx.address), gas=400_000)


async def _twap_ready(w3: Any, tx: Sender, factory: AsyncContract, soso: str, usdc: str, feeds: list[str]) -> str:
    """Raise the SOSO/USDC pool's observation cardinality, then move time past one TWAP window (a pool's TWAP
    needs observations reaching back a whole window) and stamp every feed again so none is left behind."""
    pool_address = await factory.functions.getPool(soso, usdc, FEE).call()
    pool = factory_of(w3, "UniswapV3Pool")(pool_address)
    await tx.send(pool.functions.increaseObservationCardinalityNext(SOSO_OBSERVATIONS), gas=3_000_000)
    await tx.wait()
    await anvil_rpc.increase_time(w3, TWAP_WINDOW + 60)
    await anvil_rpc.mine(w3)
    await restamp(w3, tx, feeds)
    return str(pool_address)


def devnet_feeds(*profiles: dict[str, Any]) -> list[str]:
    """Every PriceFeed of these devnet profiles (the devnet's market data, SOSO's included, and the stocks'), once
    each: what a restart re-stamps."""
    feeds: list[str] = []
    for data in profiles:
        extra = data.get("devnet", {})
        feeds += [str(f) for f in (extra.get("market_feeds") or data.get("feeds", {})).values()]
        feeds += [str(f) for f in extra.get("stock_feeds", {}).values()]
    return list(dict.fromkeys(feeds))


async def restamp(w3: Any, tx: Sender, addresses: list[str]) -> None:
    """A new round with the same answer on every feed (a heartbeat), so `updatedAt` is the chain's time."""
    if not addresses:
        return
    price_feed = factory_of(w3, "PriceFeed")
    feeds = [price_feed(f) for f in addresses]
    async with w3.batch_requests() as batch:
        for feed in feeds:
            batch.add(feed.functions.latestAnswer())
        answers = await batch.async_execute()
    for feed, answer in zip(feeds, answers, strict=True):
        await tx.send(feed.functions.updateAnswer(answer), gas=200_000)
    await tx.wait()


def genesis_for_deploy() -> int:
    """The clock a fresh anvil that may be deployed starts at (`DEPLOY_HEADSTART` in the past). One that loads the
    state cache instead is set to the wall clock by `keep_time_monotonic`."""
    return int(time.time()) - DEPLOY_HEADSTART


async def keep_time_monotonic(w3: Any) -> None:
    """After a deploy or a state load, set the chain's clock to the wall clock, or just past its newest block when
    that is later (a chain moved on by `devnet advance`, or a cache from before `DEPLOY_HEADSTART` that a deploy left
    ahead): time never runs backwards, and otherwise the chain reads what the wall clock does, whatever the clock
    anvil started with (`genesis_for_deploy`)."""
    last = int((await w3.eth.get_block("latest"))["timestamp"])
    await anvil_rpc.node_call(w3, "evm_setTime", max(last + 1, int(time.time())))


def write_profile(data: dict[str, Any], profile_path: Path) -> Profile:
    profile = parse_profile(data)  # refuse to write what the bot could not read
    path = Path(profile_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(tomli_w.dumps(data).encode())
    tmp.replace(path)
    return profile


def _cache_path(market_path: Path = MARKET_PATH) -> Path:
    return BUILD_DIR / f"state-{state_hash(market_path)}.json"


async def save_cache(rpc_url: str, profile_path: Path, market_path: Path = MARKET_PATH) -> Path:
    """Dump anvil's state with the profile it belongs to (call right after `deploy`); a cache already there for the
    same inputs is kept (first writer wins, atomically)."""
    async with connect(rpc_url) as w3:
        state = await anvil_rpc.dump_state(w3)
    with Path(profile_path).open("rb") as fh:
        profile = tomllib.load(fh)
    with (Path(profile_path).parent / STOCKS_PROFILE).open("rb") as fh:
        stocks = tomllib.load(fh)
    path = _cache_path(market_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.{id(state)}.tmp")
    tmp.write_text(json.dumps({"profile": profile, "stocks": stocks, "state": state}))
    try:  # the first cache for this hash stays: devnets already booted from it (other test processes', a running
        os.link(tmp, path)  # bot's) share its block 0, which a replacement would change under them
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    for stale in BUILD_DIR.glob("state-*.json"):  # one cache is enough; older hashes cannot be used
        if stale != path:
            stale.unlink(missing_ok=True)
    return path


async def load_cached(rpc_url: str, profile_path: Path, market_path: Path = MARKET_PATH) -> Profile | None:
    """Load the cached state into the (fresh) anvil at `rpc_url`; None when there is no cache for this hash.

    Both profiles (the devnet's and its stocks companion) are written from the cache. The feeds (the stocks'
    too) are then re-stamped with their cached answers (a heartbeat), so `updatedAt` is current.
    """
    path = _cache_path(market_path)
    if not path.is_file():
        return None
    cached = json.loads(path.read_text())
    data = cached["profile"]
    data["rpc_urls"] = [rpc_url]
    if "stocks" not in cached:
        return None
    cached["stocks"]["rpc_urls"] = [rpc_url]
    async with connect(rpc_url) as w3:
        data["chain_id"] = cached["stocks"]["chain_id"] = int(await w3.eth.chain_id)  # the state fits any chain id
        await anvil_rpc.load_state(w3, cached["state"])
        await keep_time_monotonic(w3)
        await restamp(w3, Sender(w3, chain_id=int(data["chain_id"])), devnet_feeds(data, cached["stocks"]))
    write_profile(cached["stocks"], Path(profile_path).parent / STOCKS_PROFILE)
    return write_profile(data, profile_path)


async def boot(anvil: Anvil, profile_path: Path | None = None, market_path: Path = MARKET_PATH) -> Profile:
    """Bring a fresh anvil to the deployed state: from the state cache when present, else deploy and cache."""
    path = Path(profile_path) if profile_path else anvil.workdir / "profile.toml"
    lock = build_lock("state")
    await asyncio.to_thread(lock.__enter__)  # one process deploys and caches; the others wait, then load its cache
    try:
        profile = await load_cached(anvil.url, path, market_path)
        if profile is None:
            profile = await deploy(anvil.url, path, market_path)
            await save_cache(anvil.url, path, market_path)
            async with connect(anvil.url) as w3:
                await keep_time_monotonic(w3)  # the deploy's own chain at the wall clock too, like the cache's loads
    finally:
        lock.__exit__(None, None, None)
    return profile
