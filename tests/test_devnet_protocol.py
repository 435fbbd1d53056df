"""The devnet's contracts behave like the protocol's (shared/protocol-facts.md, read from its public source):
StakeToken locks and their custom error, the 30-day and 90-day maximum cooldowns, AssetLocking's three-argument
SetEpoch, `getActiveTokens()` and its strings, each revert decoded by the bot's registry. Table-driven where the
behaviour is a list of refusals; each refusal changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from web3 import AsyncWeb3
from web3.exceptions import ContractLogicError

from bot.core.messages import Msg
from bot.core.reverts import explain, revert_of
from devnet import operator as op
from devnet.deploy import COOLDOWN_SECONDS, LOCK_EPOCH
from devnet.harness import Devnet
from devnet.rpc import DEV_KEYS, Sender, contract

OWNER, USER, OTHER = DEV_KEYS[0], DEV_KEYS[1], DEV_KEYS[2]
UNIT = 10**8
DAY = 86400


def fn(w3: AsyncWeb3, name: str, addr: str, signature: str, *args: Any) -> Any:
    c = contract(w3, name, addr)
    return (c.get_function_by_signature(signature) if "(" in signature else c.functions[signature])(*args)


async def send(w3: AsyncWeb3, key: str, name: str, addr: str, signature: str, *args: Any) -> Any:
    return await Sender(w3, key).transact(fn(w3, name, addr, signature, *args))


async def view(w3: AsyncWeb3, name: str, addr: str, signature: str, *args: Any) -> Any:
    return await fn(w3, name, addr, signature, *args).call()


async def refused(w3: AsyncWeb3, key: str, name: str, addr: str, signature: str, *args: Any) -> Msg:
    """The revert of a call, as the bot explains it (and that nothing was mined)."""
    block = await w3.eth.block_number
    with pytest.raises(ContractLogicError) as exc:
        await send(w3, key, name, addr, signature, *args)
    assert await w3.eth.block_number == block
    revert = revert_of(exc.value)
    assert revert is not None
    return explain(revert)


async def staked_mag7(chain: Devnet, w3: AsyncWeb3, whole: int) -> tuple[str, str]:
    """USER stakes `whole` MAG7.ssi; (USER's address, the staking token)."""
    ref = chain.profile.index("MAG7.ssi")
    assert ref.staking is not None
    who = Sender(w3, USER).address
    await send(w3, OWNER, "AssetToken", ref.token.address, "transfer", who, whole * UNIT)
    await send(w3, USER, "AssetToken", ref.token.address, "approve", ref.staking.address, whole * UNIT)
    await send(w3, USER, "StakeToken", ref.staking.address, "stake", whole * UNIT)
    return who, ref.staking.address


async def test_locks_count_against_the_available_balance_until_released_or_expired(chain: Devnet, w3: AsyncWeb3) -> None:
    who, staking = await staked_mag7(chain, w3, 10)
    me = Sender(w3, OWNER).address  # the deployer holds the locker role on every devnet staking token
    other = Sender(w3, OTHER).address
    assert await view(w3, "StakeToken", staking, "lockers", me) is True
    await send(w3, OWNER, "StakeToken", staking, "lock(address,uint256)", who, 3 * UNIT)
    now = (await w3.eth.get_block("latest"))["timestamp"]
    await send(w3, OWNER, "StakeToken", staking, "lock(address,uint256,uint256)", who, 2 * UNIT, now + DAY)
    assert await view(w3, "StakeToken", staking, "getAvailableBalance", who) == 5 * UNIT
    assert await view(w3, "StakeToken", staking, "lockedBalances", me, who) == 3 * UNIT
    assert await view(w3, "StakeToken", staking, "lockedTotals", who) == 3 * UNIT
    assert [tuple(lk) for lk in await view(w3, "StakeToken", staking, "getActiveLocks", who)] == [(2 * UNIT, now + DAY)]

    # beyond the available balance: unstake and transfer meet InsufficientAvailableBalance(user, available, required)
    for signature, args in (("unstake", (6 * UNIT,)), ("transfer", (other, 6 * UNIT))):
        assert await refused(w3, USER, "StakeToken", staking, signature, *args) == Msg(
            "revert.e.insufficient_available", {"available": str(5 * UNIT), "required": str(6 * UNIT), "symbol": ""})
    await send(w3, USER, "StakeToken", staking, "unstake", 5 * UNIT)  # what is available moves

    await op.advance(chain.url, DAY + 1)  # the expiring lock ends by itself
    assert await view(w3, "StakeToken", staking, "getActiveLocks", who) == []
    assert await view(w3, "StakeToken", staking, "getAvailableBalance", who) == 2 * UNIT
    await send(w3, OWNER, "StakeToken", staking, "unlock(address,uint256)", who, 3 * UNIT)
    assert await view(w3, "StakeToken", staking, "getAvailableBalance", who) == 5 * UNIT


@pytest.mark.parametrize(("key", "signature", "args", "expected"), [
    (OTHER, "lock(address,uint256)", ("who", UNIT), "not locker"),
    (OWNER, "lock(address,uint256)", ("who", 11 * UNIT), "insufficient available"),
    (OWNER, "lock(address,uint256)", ("who", 0), "amount is zero"),
    (OWNER, "unlock(address,uint256)", ("who", UNIT), "exceeds locked"),
    (USER, "setCooldown", (30 * DAY,), "OwnableUnauthorizedAccount"),
    (OWNER, "setCooldown", (30 * DAY,), "cooldown exceeds MAX_COOLDOWN"),  # below 30 days only
    (OWNER, "setCooldown", (COOLDOWN_SECONDS,), "cooldown not change"),
    (USER, "withdraw", (UNIT,), "not enough cooldown amount"),  # nothing cooling: the amount is checked first
])
async def test_staking_refusals_are_the_protocols(chain: Devnet, w3: AsyncWeb3, key: str, signature: str,
                                                  args: tuple[Any, ...], expected: str) -> None:
    who, staking = await staked_mag7(chain, w3, 10)
    args = tuple(who if a == "who" else a for a in args)
    msg = await refused(w3, key, "StakeToken", staking, signature, *args)
    if expected == "OwnableUnauthorizedAccount":
        assert msg == Msg("revert.e.unauthorized", {"account": who})
    else:
        assert msg.params.get("reason") == expected, msg
    assert await view(w3, "StakeToken", staking, "getAvailableBalance", who) == 10 * UNIT


async def test_asset_locking_epochs_active_tokens_and_the_90_day_cooldown(chain: Devnet, w3: AsyncWeb3) -> None:
    profile = chain.profile
    locking, pair = str(profile.locking), op.lp_of(profile, "MAG7.ssi").token.address
    assert await view(w3, "AssetLocking", locking, "getActiveTokens") == [pair]
    assert await view(w3, "AssetLocking", locking, "MAX_COOLDOWN") == 90 * DAY
    receipt = await send(w3, OWNER, "AssetLocking", locking, "setEpoch", pair, LOCK_EPOCH + 1)
    (event,) = contract(w3, "AssetLocking", locking).events.SetEpoch().process_receipt(receipt)
    assert dict(event.args) == {"token": pair, "oldEpoch": LOCK_EPOCH, "newEpoch": LOCK_EPOCH + 1}
    assert await view(w3, "AssetLocking", locking, "getActiveTokens") == []  # configured for the old epoch
    msg = await refused(w3, OWNER, "AssetLocking", locking, "setEpoch", pair, LOCK_EPOCH + 1)
    assert msg.params.get("reason") == "epoch not change"
    msg = await refused(w3, OWNER, "AssetLocking", locking, "updateLockConfig", pair, LOCK_EPOCH + 1, 10**30, 90 * DAY + 1)
    assert msg.params.get("reason") == "cooldown exceeds MAX_COOLDOWN"
    await send(w3, OWNER, "AssetLocking", locking, "updateLockConfig", pair, LOCK_EPOCH + 1, 10**30, 90 * DAY)
    assert await view(w3, "AssetLocking", locking, "getActiveTokens") == [pair]
    config = await view(w3, "AssetLocking", locking, "lockConfigs", pair)
    assert list(config) == [LOCK_EPOCH + 1, 10**30, 90 * DAY, 0, 0]


@pytest.mark.parametrize(("signature", "amount", "key"), [
    ("withdraw", 1, "revert.s.nothing_to_withdraw"),
    ("unlock", 1, "revert.s.unlock_short"),
    ("lock", 0, "revert.s.amount_zero"),
])
async def test_asset_locking_refusals_are_decoded(chain: Devnet, w3: AsyncWeb3, signature: str, amount: int, key: str) -> None:
    locking, pair = str(chain.profile.locking), op.lp_of(chain.profile, "MAG7.ssi").token.address
    assert (await refused(w3, USER, "AssetLocking", locking, signature, pair, amount)).key == key


async def test_a_fee_collection_during_a_rebalance_is_refused(chain: Devnet, w3: AsyncWeb3) -> None:
    token = chain.profile.index("MAG7.ssi").token.address
    await op.advance(chain.url, DAY + 1)
    await send(w3, OWNER, "AssetToken", token, "startRebalance")
    assert (await refused(w3, OWNER, "AssetToken", token, "collectFeeTokenset")).key == "revert.s.rebalancing"
    assert (await refused(w3, USER, "AssetToken", token, "collectFeeTokenset")).key == "revert.e.unauthorized"
    assert await view(w3, "AssetToken", token, "feeDecimals") == 8
    assert await view(w3, "AssetToken", token, "feeCollected") is False
