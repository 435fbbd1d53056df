"""Deploy the SSI protocol, feeds and Uniswap V3 on anvil, write the devnet profile, cache the chain state.

`deploy` sends every transaction from anvil's account 0 with locally managed nonces and checks all receipts
in one batch at the end (anvil mines them in nonce order), so addresses are deterministic: the same
sources, artifacts and market data on a fresh anvil always give the same addresses. `boot` relies on
that: it loads a cached `anvil_dumpState` taken right after a deploy with the same hash, else deploys and
caches. The profile is written with tomli_w in the schema `bot.profile.parse_profile` reads.
"""

from __future__ import annotations

import hashlib
import json
import time
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import tomli_w

from bot.engine.methodology import tokenset_for, weights_for
from bot.profile import STANDARD_FEE_TIERS, Profile, parse_profile
from devnet import anvil as anvil_rpc
from devnet.anvil import Anvil
from devnet.compile import BUILD_DIR, all_artifacts, artifacts_hash
from devnet.market import MARKET_PATH, load_market
from devnet.pools import FEE, MAX_TICK, MIN_TICK, usdc_pool_seed
from devnet.rpc import DEV_KEYS, Abi, Rpc, Sender

COOLDOWN_SECONDS = 7 * 24 * 3600
FEED_DECIMALS = 8
POOL_USD_PER_SIDE = Decimal(1_000_000)
DEPLOYER_USDC = 100_000_000 * 10**6
DEV_ACCOUNT_USDC = 1_000_000 * 10**6
MAX_UINT = 2**256 - 1
ZERO = "0x0000000000000000000000000000000000000000"
_HERE = Path(__file__).resolve().parent
_CODE_FILES = (_HERE / "deploy.py", _HERE / "pools.py", _HERE.parent / "bot" / "engine" / "methodology.py")


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
    abi = {name: Abi(a.abi) for name, a in art.items()}
    async with Rpc(rpc_url) as rpc:
        chain_id = await rpc.chain_id()
        tx = Sender(rpc, chain_id=chain_id)
        me = tx.address

        async def new(name: str, *args: Any) -> str:
            return await tx.deploy(abi[name], art[name].bytecode, *args)

        async def send(to: str, name: str, fn: str, *args: Any, gas: int | None = None) -> None:
            await tx.send(to, abi[name].encode(fn, *args), gas=gas)

        weth = await new("WETH9")
        multicall = await new("Multicall3")
        usdc = await new("TestToken", "USD Coin", "USDC", 6)
        soso = await new("TestToken", "SoSoValue", "SOSO", 18)
        ssoso = await new("StakeToken", soso, COOLDOWN_SECONDS)
        await send(usdc, "TestToken", "mint", me, DEPLOYER_USDC)
        await send(soso, "TestToken", "mint", me, 10_000_000 * 10**18)
        for key in DEV_KEYS[1:]:
            await send(usdc, "TestToken", "mint", Sender(rpc, key).address, DEV_ACCOUNT_USDC)
        feeds = {}
        for c in market.constituents:
            feeds[c.symbol] = await new("PriceFeed", f"{c.symbol} / USD", _feed_answer(c.price_usd))

        factory = await new("UniswapV3Factory")
        npm = await new("NonfungiblePositionManager", factory, weth, ZERO)
        quoter = await new("QuoterV2", factory, weth)
        router = await new("SwapRouter02", ZERO, factory, npm, weth)
        await send(usdc, "TestToken", "approve", npm, MAX_UINT)

        indexes: list[dict[str, Any]] = []
        for spec in market.indexes:
            weights = weights_for(spec.methodology, market.constituents, **spec.config)
            tokenset = tokenset_for(weights, spec.start_nav, market.constituents)
            token = await new("AssetToken", spec.name, spec.symbol)
            await send(token, "AssetToken", "setTokenset", [_token_tuple(e) for e in tokenset], gas=4_000_000)
            seed = usdc_pool_seed(token, 8, usdc, 6, spec.start_nav, POOL_USD_PER_SIDE)
            index_amount = seed.amount0 if seed.token0 == token else seed.amount1
            await send(token, "AssetToken", "mint", me, 2 * index_amount, gas=4_000_000)
            staking = await new("StakeToken", token, COOLDOWN_SECONDS)
            await send(token, "AssetToken", "approve", npm, MAX_UINT)
            await send(npm, "NonfungiblePositionManager", "createAndInitializePoolIfNecessary",
                       seed.token0, seed.token1, FEE, seed.sqrt_price_x96, gas=6_000_000)
            mint = (seed.token0, seed.token1, FEE, MIN_TICK, MAX_TICK, seed.amount0, seed.amount1, 0, 0, me, 2**32)
            await send(npm, "NonfungiblePositionManager", "mint", mint, gas=1_000_000)
            indexes.append({
                "symbol": spec.symbol, "name": spec.name, "address": token, "decimals": 8,
                "methodology": spec.methodology, "venue": "pool",
                "staking": {"address": staking, "symbol": "s" + spec.symbol, "decimals": 8},
            })
        await tx.wait()
        pools = {}
        for ix in indexes:
            (pool,) = await rpc.view(abi["UniswapV3Factory"], factory, "getPool", ix["address"], usdc, FEE)
            pools[ix["symbol"]] = pool
        elapsed = time.perf_counter() - started

    data: dict[str, Any] = {
        "name": "devnet",
        "chain_id": chain_id,
        "rpc_urls": [rpc_url],
        "explorer_url": "",
        "block_time_seconds": 1.0,
        "fee_tiers": list(STANDARD_FEE_TIERS),
        "native_feed_symbol": "ETH",
        "contracts": {"multicall3": multicall, "uniswap_factory": factory, "swap_router02": router,
                      "quoter_v2": quoter, "position_manager": npm},
        "usdc": {"address": usdc, "symbol": "USDC", "decimals": 6},
        "weth": {"address": weth, "symbol": "WETH", "decimals": 18},
        "soso": {"address": soso, "symbol": "SOSO", "decimals": 18,
                 "staking": {"address": ssoso, "symbol": "sSOSO", "decimals": 18}},
        "indexes": indexes,
        "feeds": feeds,
        "devnet": {
            "deployer": me,
            "market_path": str(Path(market_path).resolve()),
            "state_hash": state_hash(market_path),
            "deploy_seconds": round(elapsed, 3),
            "pool_fee": FEE,
            "pools": pools,
            "start_nav": {s.symbol: str(s.start_nav) for s in market.indexes},
            "cooldown_seconds": COOLDOWN_SECONDS,
            "funded_accounts": [Sender(rpc, k).address for k in DEV_KEYS[1:]],
        },
    }
    return write_profile(data, profile_path)


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
    """Dump anvil's state with the profile it belongs to (call right after `deploy`)."""
    async with Rpc(rpc_url) as rpc:
        state = await anvil_rpc.dump_state(rpc)
    with Path(profile_path).open("rb") as fh:
        profile = tomllib.load(fh)
    path = _cache_path(market_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"profile": profile, "state": state}))
    tmp.replace(path)
    for stale in BUILD_DIR.glob("state-*.json"):  # one cache is enough; older hashes cannot be used
        if stale != path:
            stale.unlink(missing_ok=True)
    return path


async def load_cached(rpc_url: str, profile_path: Path, market_path: Path = MARKET_PATH) -> Profile | None:
    """Load the cached state into the (fresh) anvil at `rpc_url`; None when there is no cache for this hash.

    The feeds are then re-stamped with their cached answers (a heartbeat), so `updatedAt` is current.
    """
    path = _cache_path(market_path)
    if not path.is_file():
        return None
    cached = json.loads(path.read_text())
    data = cached["profile"]
    data["rpc_urls"] = [rpc_url]
    feed_abi = Abi(all_artifacts()["PriceFeed"].abi)
    async with Rpc(rpc_url) as rpc:
        await anvil_rpc.load_state(rpc, cached["state"])
        tx = Sender(rpc, chain_id=int(data["chain_id"]))
        answers = await rpc.batch([("eth_call", [{"to": f, "data": feed_abi.encode("latestAnswer")}, "latest"])
                                   for f in data["feeds"].values()])
        for feed, raw in zip(data["feeds"].values(), answers, strict=True):
            (answer,) = feed_abi.decode("latestAnswer", raw)
            await tx.send(feed, feed_abi.encode("updateAnswer", answer), gas=200_000)
        await tx.wait()
    return write_profile(data, profile_path)


async def boot(anvil: Anvil, profile_path: Path | None = None, market_path: Path = MARKET_PATH) -> Profile:
    """Bring a fresh anvil to the deployed state: from the state cache when present, else deploy and cache."""
    path = Path(profile_path) if profile_path else anvil.workdir / "profile.toml"
    profile = await load_cached(anvil.url, path, market_path)
    if profile is None:
        profile = await deploy(anvil.url, path, market_path)
        await save_cache(anvil.url, path, market_path)
    return profile
