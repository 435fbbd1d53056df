"""AssetLocking and the Uniswap V2 MAG7.ssi/USDC pair on the devnet: deploy, profile, LP locks and their events,
unlock cooldowns, the epoch gate, and the start-up check of the profile's LP tokens.

Events are read twice, independently: with the bot's topics and ABI types from bot.chain.protocol, and with web3's
decoder built from the compiled contract's ABI.
"""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_abi import decode
from eth_utils import keccak, to_checksum_address
from web3 import AsyncWeb3
from web3.exceptions import ContractCustomError, ContractLogicError

from bot.chain import protocol as p
from bot.chain.client import Call, Chain
from bot.chain.profile import LpRef, Profile, ProfileError, load_profile, parse_profile
from bot.core.reverts import Revert, explain, revert_of
from bot.chain.verify import ProfileMismatch, verify_profile
from devnet import compile as solc
from devnet import operator as op
from devnet.deploy import COOLDOWN_SECONDS, LOCK_EPOCH, LOCK_LIMIT, LP_USD_PER_SIDE
from devnet.harness import Devnet
from devnet.rpc import DEV_KEYS, Sender, connect, contract
from auxil.chain import call, devnet_data, view

D = Decimal
OWNER, USER = DEV_KEYS[0], DEV_KEYS[1]


def lp(profile: Profile) -> LpRef:
    return op.lp_of(profile, "MAG7.ssi")


async def give_index(w3: AsyncWeb3, profile: Profile, key: str, whole: int) -> str:
    """Send `whole` MAG7.ssi from the deployer to the account of `key`; returns its address."""
    who = Sender(w3, key).address
    await call(w3, OWNER, "AssetToken", profile.index("MAG7.ssi").token.address, "transfer", who, whole * 10**8)
    return who


async def lock_events(w3: AsyncWeb3, profile: Profile, topic: str, from_block: int) -> list[tuple[Any, ...]]:
    """(locker, token, amount, userLockAmount, totalLockAmount) of each Lock or UnLock, decoded as the bot does."""
    logs = await w3.eth.get_logs({"address": profile.locking, "topics": [topic], "fromBlock": from_block})
    rows = [decode(p.LOCK_EVENT_DATA, bytes(log["data"])) for log in logs]
    return [(to_checksum_address(locker), to_checksum_address(token), *amounts) for locker, token, *amounts in rows]


async def web3_events(w3: AsyncWeb3, profile: Profile, name: str, from_block: int) -> list[dict[str, Any]]:
    """The same events through web3's decoder and the compiled ABI."""
    event = contract(w3, "AssetLocking", str(profile.locking)).events[name]()
    return [dict(log.args) for log in await event.get_logs(from_block=from_block)]


# -- deploy and profile ----------------------------------------------------------------------------------


async def test_deploy_seeds_the_pair_at_nav_and_makes_its_lp_lockable(devnet: Devnet) -> None:
    profile = devnet.profile
    pair, index = lp(profile).token.address, profile.index("MAG7.ssi").token.address
    assert profile.locking is not None and lp(profile).kind == "uniswap-v2"
    assert load_profile(devnet.profile_path) == profile
    async with connect(devnet.url) as w3:
        assert await view(w3, "UniswapV2Pair", pair, "symbol") == "UNI-V2"
        assert await view(w3, "UniswapV2Pair", pair, "decimals") == 18
        token0, token1 = await view(w3, "UniswapV2Pair", pair, "token0"), await view(w3, "UniswapV2Pair", pair, "token1")
        reserve0, reserve1, _ = await view(w3, "UniswapV2Pair", pair, "getReserves")
        factory = profile.extra["devnet"]["uniswap_v2_factory"]
        assert await view(w3, "UniswapV2Factory", factory, "getPair", index, profile.usdc.address) == pair
        config = await view(w3, "AssetLocking", profile.locking, "lockConfigs", pair)
        active = await view(w3, "AssetLocking", profile.locking, "activeEpochs", pair)
    assert {token0, token1} == {index, profile.usdc.address}
    reserve_usdc, reserve_index = (reserve0, reserve1) if token0 == profile.usdc.address else (reserve1, reserve0)
    assert reserve_usdc == LP_USD_PER_SIDE * 10**6
    nav = D(profile.extra["devnet"]["start_nav"]["MAG7.ssi"])
    assert abs(D(reserve_usdc).scaleb(-6) / D(reserve_index).scaleb(-8) - nav) / nav < D("1e-6")
    assert list(config) == [LOCK_EPOCH, LOCK_LIMIT, COOLDOWN_SECONDS, 0, 0]  # epoch, limit, cooldown, locked, cooling
    assert active == LOCK_EPOCH


async def test_the_bot_reads_the_pair_through_its_own_calls(devnet: Devnet) -> None:
    """GET_RESERVES, TOTAL_SUPPLY, TOKEN0 and TOKEN1 decode what web3 reads from the pair's ABI."""
    profile, pair = devnet.profile, lp(devnet.profile).token.address
    chain = Chain(profile.rpc_urls, profile.multicall3)
    try:
        got = await chain.multicall([Call(pair, fn) for fn in (p.GET_RESERVES, p.TOTAL_SUPPLY, p.TOKEN0, p.TOKEN1)])
    finally:
        await chain.close()
    async with connect(devnet.url) as w3:
        reserves = await view(w3, "UniswapV2Pair", pair, "getReserves")
        supply = await view(w3, "UniswapV2Pair", pair, "totalSupply")
        tokens = [await view(w3, "UniswapV2Pair", pair, f) for f in ("token0", "token1")]
    assert all(r.ok for r in got)
    assert list(got[0].values) == list(reserves) and got[1].one() == supply > 0
    assert [to_checksum_address(r.one()) for r in got[2:]] == tokens


def test_event_topics_are_the_facts_signatures_and_the_contracts() -> None:
    abi = solc.compile_contracts()["AssetLocking"].abi
    events = {e["name"]: f"{e['name']}({','.join(i['type'] for i in e['inputs'])})" for e in abi if e["type"] == "event"}
    assert events["Lock"] == "Lock(address,address,uint256,uint256,uint256)"
    assert events["UnLock"] == "UnLock(address,address,uint256,uint256,uint256)"
    assert p.LOCK_EVENT == "0x" + keccak(text=events["Lock"]).hex()
    assert p.UNLOCK_EVENT == "0x" + keccak(text=events["UnLock"]).hex()
    indexed = [i["indexed"] for e in abi if e["type"] == "event" and e["name"] in ("Lock", "UnLock") for i in e["inputs"]]
    assert not any(indexed)  # all in data: p.LOCK_EVENT_DATA decodes them
    assert p.LOCK.selector == keccak(text="lock(address,uint256)")[:4]


# -- lock, unlock, withdraw ------------------------------------------------------------------------------


async def test_provide_and_lock_locks_the_minted_lp_and_a_second_lock_adds_up(chain: Devnet, w3: AsyncWeb3) -> None:
    profile, pair = chain.profile, lp(chain.profile).token.address
    who = await give_index(w3, profile, USER, 100)
    start = await w3.eth.block_number
    reserve0, reserve1, _ = await view(w3, "UniswapV2Pair", pair, "getReserves")
    supply = await view(w3, "UniswapV2Pair", pair, "totalSupply")
    usdc_reserve = reserve0 if await view(w3, "UniswapV2Pair", pair, "token0") == profile.usdc.address else reserve1

    first = await op.provide_and_lock(profile, USER, D(1000))
    assert first == 1000 * 10**6 * supply // usdc_reserve > 0  # the index side is rounded up: USDC's share counts
    second = await op.provide_and_lock(profile, USER, D(500))
    assert second > 0

    events = await lock_events(w3, profile, p.LOCK_EVENT, start)
    assert events == [(who, pair, first, first, first), (who, pair, second, first + second, first + second)]
    assert [list(e.values()) for e in await web3_events(w3, profile, "Lock", start)] == [list(e) for e in events]
    amount, cooling, _ = await view(w3, "AssetLocking", profile.locking, "lockDatas", pair, who)
    assert (amount, cooling) == (events[-1][3], 0)
    assert await view(w3, "UniswapV2Pair", pair, "balanceOf", profile.locking) == first + second
    assert await view(w3, "UniswapV2Pair", pair, "balanceOf", who) == 0


async def test_unlock_reports_what_stays_locked_and_restarts_the_whole_cooldown(chain: Devnet, w3: AsyncWeb3) -> None:
    profile, pair, locking = chain.profile, lp(chain.profile).token.address, str(chain.profile.locking)
    who = await give_index(w3, profile, USER, 100)
    locked = await op.provide_and_lock(profile, USER, D(2000))
    start = await w3.eth.block_number
    part = locked // 4

    await call(w3, USER, "AssetLocking", locking, "unlock", pair, part)
    amount, cooling, end1 = await view(w3, "AssetLocking", locking, "lockDatas", pair, who)
    now = (await w3.eth.get_block("latest"))["timestamp"]
    assert (amount, cooling, end1) == (locked - part, part, now + COOLDOWN_SECONDS)
    await op.advance(chain.url, 86400)
    await call(w3, USER, "AssetLocking", locking, "unlock", pair, part)
    amount, cooling, end2 = await view(w3, "AssetLocking", locking, "lockDatas", pair, who)
    assert (amount, cooling) == (locked - 2 * part, 2 * part) and end2 >= end1 + 86400  # all of it waits again

    events = await lock_events(w3, profile, p.UNLOCK_EVENT, start)
    assert events == [(who, pair, part, locked - part, locked - part), (who, pair, part, locked - 2 * part, locked - 2 * part)]
    assert [list(e.values()) for e in await web3_events(w3, profile, "UnLock", start)] == [list(e) for e in events]
    with pytest.raises(ContractLogicError, match="not enough balance to unlock"):
        await call(w3, USER, "AssetLocking", locking, "unlock", pair, locked)

    await op.advance(chain.url, COOLDOWN_SECONDS - 3600)  # past end1, before end2
    with pytest.raises(ContractLogicError, match="coolingdown"):
        await call(w3, USER, "AssetLocking", locking, "withdraw", pair, 1)
    await op.advance(chain.url, 7200)
    with pytest.raises(ContractLogicError, match="no enough balance to withdraw"):
        await call(w3, USER, "AssetLocking", locking, "withdraw", pair, 2 * part + 1)
    await call(w3, USER, "AssetLocking", locking, "withdraw", pair, 2 * part)
    assert await view(w3, "UniswapV2Pair", pair, "balanceOf", who) == 2 * part
    assert list(await view(w3, "AssetLocking", locking, "lockDatas", pair, who)) == [locked - 2 * part, 0, end2]


async def test_lock_is_gated_by_config_epoch_limit_and_pause(chain: Devnet, w3: AsyncWeb3) -> None:
    profile, pair, locking = chain.profile, lp(chain.profile).token.address, str(chain.profile.locking)
    await give_index(w3, profile, USER, 100)
    await op.provide_and_lock(profile, USER, D(1000))
    usdc = profile.usdc.address
    await call(w3, USER, "TestToken", usdc, "approve", locking, 10**6)
    with pytest.raises(ContractLogicError, match="token not supported"):  # USDC is not configured
        await call(w3, USER, "AssetLocking", locking, "lock", usdc, 10**6)

    await call(w3, OWNER, "AssetLocking", locking, "setEpoch", pair, LOCK_EPOCH + 1)  # the next epoch begins
    assert await view(w3, "AssetLocking", locking, "getActiveTokens") == []
    with pytest.raises(ContractLogicError, match="token cannot stake now"):
        await op.provide_and_lock(profile, USER, D(100))
    await call(w3, OWNER, "AssetLocking", locking, "updateLockConfig", pair, LOCK_EPOCH + 1, 10**30, 3600)
    assert await op.provide_and_lock(profile, USER, D(100)) > 0  # configured for the new epoch: open again
    total = (await view(w3, "AssetLocking", locking, "lockConfigs", pair))[3]
    await call(w3, OWNER, "AssetLocking", locking, "updateLockConfig", pair, LOCK_EPOCH + 1, total + 1, 3600)
    with pytest.raises(ContractLogicError, match="total lock amount exceeds lock limit"):
        await op.provide_and_lock(profile, USER, D(100))

    for fn, args in (("setEpoch", (pair, 9)), ("updateLockConfig", (pair, 9, 1, 1))):
        with pytest.raises(ContractCustomError) as refused:
            await call(w3, USER, "AssetLocking", locking, fn, *args)
        assert explain(revert_of(refused.value) or Revert("")).key == "revert.e.unauthorized"
    await call(w3, OWNER, "AssetLocking", locking, "pause")
    for fn in ("lock", "unlock", "withdraw"):
        with pytest.raises(ContractCustomError) as paused:
            await call(w3, USER, "AssetLocking", locking, fn, pair, 1)
        assert explain(revert_of(paused.value) or Revert("")).key == "revert.e.paused"
    await call(w3, OWNER, "AssetLocking", locking, "unpause")
    for fn in ("lock", "unlock", "withdraw"):
        with pytest.raises(ContractLogicError, match="amount is zero"):
            await call(w3, USER, "AssetLocking", locking, fn, pair, 0)


# -- profile schema and start-up check -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"index": "NOPE.ssi"}, "lp_tokens[0]: index 'NOPE.ssi' is not one of the profile's indexes"),
        ({"kind": "uniswap-v4"}, "lp_tokens[0]: kind 'uniswap-v4' is not one of uniswap-v2"),
        ({"index": None}, "lp_tokens[0]: missing index"),
        ({"kind": None}, "lp_tokens[0]: missing kind"),
        ({"symbol": None}, "lp_tokens[0]: missing symbol"),
        ({"address": "0x1234"}, "lp_tokens[0]: '0x1234' is not an address"),
    ],
)
def test_bad_lp_tokens_entry_is_a_profile_error(devnet: Devnet, change: dict[str, Any], message: str) -> None:
    data = devnet_data(devnet)
    for key, value in change.items():
        if value is None:
            del data["lp_tokens"][0][key]
        else:
            data["lp_tokens"][0][key] = value
    with pytest.raises(ProfileError) as caught:
        parse_profile(data)
    assert str(caught.value) == message


def test_locking_and_lp_tokens_are_optional(devnet: Devnet) -> None:
    data = devnet_data(devnet)
    del data["locking"], data["lp_tokens"]
    bare = parse_profile(data)
    assert bare.locking is None and bare.lp_tokens == ()
    base = load_profile("base")  # AssetLocking from the facts file; its LP tokens are read from getActiveTokens()
    assert base.locking == "0x935A4B1F6F3E891a226b2522ac22d45Ce5839383" and base.lp_tokens == ()
    with pytest.raises(ProfileError, match="locking.address"):
        parse_profile({**devnet_data(devnet), "locking": {"address": "nope"}})


async def check(profile: Profile) -> list[str]:
    chain = Chain(profile.rpc_urls, profile.multicall3)
    try:
        await verify_profile(profile, chain)
    except ProfileMismatch as exc:
        return exc.problems
    finally:
        await chain.close()
    return []


async def test_verify_accepts_the_devnet_and_names_each_lp_problem(devnet: Devnet) -> None:
    assert await check(devnet.profile) == []
    pair = lp(devnet.profile).token.address
    data = devnet_data(devnet)
    data["lp_tokens"][0] |= {"symbol": "UNI-V3", "decimals": 6}
    assert await check(parse_profile(data)) == [
        f"{pair} symbol() is 'UNI-V2', expected 'UNI-V3'", "UNI-V3 decimals() is 18, expected 6"]

    data = devnet_data(devnet)
    data["lp_tokens"][0]["index"] = "MEME.ssi"
    assert await check(parse_profile(data)) == [f"UNI-V2 at {pair} is not the MEME.ssi/USDC pair"]

    data = devnet_data(devnet)
    data["lp_tokens"][0]["address"] = devnet.profile.usdc.address  # an ERC-20 but not a pair
    data["lp_tokens"][0] |= {"symbol": "USDC", "decimals": 6}
    assert await check(parse_profile(data)) == [f"USDC at {devnet.profile.usdc.address} is not the MAG7.ssi/USDC pair"]

    data = devnet_data(devnet)
    data["locking"]["address"] = "0x000000000000000000000000000000000000dEaD"
    assert await check(parse_profile(data)) == ["no contract code for locking at 0x000000000000000000000000000000000000dEaD"]


# -- the state cache covers the new contract and artifacts -------------------------------------------------


def test_artifacts_hash_covers_asset_locking_and_the_v2_artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "AssetLocking.sol" in solc.sources()
    assert {"UniswapV2Factory", "UniswapV2Pair"} <= set(solc.UNISWAP_ARTIFACTS)
    real = solc.node_modules()
    (tmp_path / "solc").symlink_to(real / "solc")
    for rel in solc.UNISWAP_ARTIFACTS.values():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(real / rel, tmp_path / rel)
    monkeypatch.setenv("INDEXBOT_NODE_MODULES", str(tmp_path))
    before = solc.artifacts_hash()
    pair = tmp_path / solc.UNISWAP_ARTIFACTS["UniswapV2Pair"]
    pair.write_text(pair.read_text().replace('"UniswapV2Pair"', '"UniswapV2Pair "', 1) + " ")
    assert solc.artifacts_hash() != before
