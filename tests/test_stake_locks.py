"""StakeToken locks, estimates that revert, and the gas of a stake behind an unmined approval, on the devnet.

A locker (the devnet's deployer, as `indexbot devnet lock` does) holds part of a user's staked balance: /unstake
and /boost remove say how much is locked and how much can be unstaken before anything is signed; a lock that
appears after the offer is refused at Confirm; an unstake the contract would refuse is stopped at its estimate
with the custom error in words. A first stake (approval then stake, signed together) gets its limit from an
estimate with the allowance overridden, enough for what it uses."""

from __future__ import annotations

from decimal import Decimal

import pytest
from test_staking_txs import confirmed, holder, mag7, trading
from auxil.chain import mint
from auxil.catalog import starts, text
from auxil.requests import labels
from auxil.trading import click, funded_user, say, token_balance

from bot.chain import protocol as p
from bot.app import App
from bot.core.errors import UserError
from bot.core.messages import Amount, Msg
from bot.trading import gas
from bot.trading.txs import with_margin
from bot.trading.intents import State
from bot.trading.stake import STAKE_GAS_BOUND
from devnet import operator as op
from devnet.rpc import connect

UNIT = 10**8
SOSO = 10**18


async def lock(app: App, staked: str, address: str, amount: str, release: bool = False) -> op.StakeLock:
    return await op.lock_staked(app.profile, staked, address, Decimal(amount), release=release)


async def nothing_signed(app: App, uid: int, address: str, nonce: int, intents: int) -> None:
    assert await app.chain.nonce(address) == nonce
    assert len(await trading(app).intents.of_user(uid)) == intents


async def test_devnet_lock_holds_part_of_a_staked_balance_and_releases_it(app: App) -> None:
    uid, address = await holder(app)
    _, staking = mag7(app)
    await confirmed(app, "/stake MAG7 10")
    held = await lock(app, "sMAG7.ssi", address, "4")
    assert (held.locked, held.available, held.balance) == (Decimal(4), Decimal(6), Decimal(10))
    (available,) = await app.chain.call(staking, p.GET_AVAILABLE_BALANCE, address)
    assert int(available) == 6 * UNIT
    freed = await lock(app, "smag7.ssi", address, "4", release=True)
    assert (freed.locked, freed.available) == (Decimal(0), Decimal(10))


async def test_a_locked_staked_index_is_explained_on_unstake_and_nothing_is_signed(app: App) -> None:
    uid, address = await holder(app)
    _, staking = mag7(app)
    await confirmed(app, "/stake MAG7 10")
    await lock(app, "sMAG7.ssi", address, "4")
    nonce, before = await app.chain.nonce(address), len(await trading(app).intents.of_user(uid))
    refused = await say(app, "/unstake MAG7 7")
    assert refused.rendered.text == text(app, "error.unstake.locked", need=Amount(Decimal(7), 8), staked=Amount(Decimal(10), 8),
                                         locked=Amount(Decimal(4), 8), available=Amount(Decimal(6), 8),
                                         staked_symbol="sMAG7.ssi"), refused.rendered.text
    assert "4 of your 10 sMAG7.ssi is locked" in refused.rendered.text and "6 can be unstaken now" in refused.rendered.text
    await nothing_signed(app, uid, address, nonce, before)

    offer = await say(app, "/unstake MAG7 all")  # all that can move: 6; the offer says 4 stay locked
    assert "Unstake 6 sMAG7.ssi:" in offer.rendered.text, offer.rendered.text
    assert text(app, "unstake.locked", locked=Amount(Decimal(4), 8), available=Amount(Decimal(6), 8),
                staked_symbol="sMAG7.ssi") in offer.rendered.text
    done = await click(app, offer, "Confirm")
    assert "Confirmed in block" in done.rendered.text, done.rendered.text
    assert await token_balance(app, staking, address) == 4 * UNIT  # the locked part stays staked


async def test_everything_locked_is_said_so(app: App) -> None:
    uid, address = await holder(app)
    await confirmed(app, "/stake MAG7 3")
    await lock(app, "sMAG7.ssi", address, "3")
    nonce, before = await app.chain.nonce(address), len(await trading(app).intents.of_user(uid))
    reply = await say(app, "/unstake MAG7 all")
    assert reply.rendered.text == text(app, "error.unstake.all_locked", staked=Amount(Decimal(3), 8),
                                       locked=Amount(Decimal(3), 8), staked_symbol="sMAG7.ssi")
    await nothing_signed(app, uid, address, nonce, before)


async def test_a_locked_ssoso_balance_gets_a_clear_answer_on_boost_remove(app: App) -> None:
    assert app.profile.soso is not None and app.profile.soso_staking is not None
    uid, address = await funded_user(app)
    await mint(app, app.profile.soso.address, address, 50 * SOSO, kind="TestToken")
    await confirmed(app, "/boost add 50")
    await lock(app, "sSOSO", address, "30")  # a vote holds 30 of them
    nonce, before = await app.chain.nonce(address), len(await trading(app).intents.of_user(uid))
    reply = await say(app, "/boost remove 40")
    assert reply.rendered.text.startswith(starts("error.unstake.locked"))
    assert "30 of your 50 sSOSO is locked" in reply.rendered.text and "20 can be unstaken now" in reply.rendered.text
    await nothing_signed(app, uid, address, nonce, before)
    fine = await say(app, "/boost remove 20")
    assert "Confirm" in labels(fine) and "30 sSOSO of yours is locked" in fine.rendered.text, fine.rendered.text


async def test_a_lock_after_the_offer_is_refused_at_confirm_before_anything_is_signed(app: App) -> None:
    uid, address = await holder(app)
    await confirmed(app, "/stake MAG7 10")
    offer = await say(app, "/unstake MAG7 8")
    await lock(app, "sMAG7.ssi", address, "5")
    nonce = await app.chain.nonce(address)
    late = await click(app, offer, "Confirm")
    assert late.rendered.text.startswith(starts("error.unstake.locked")), late.rendered.text
    assert await app.chain.nonce(address) == nonce
    states = [i.state for i in await trading(app).intents.of_user(uid)]
    assert states[0] is State.CANCELLED  # newest first


async def test_an_estimate_the_contract_refuses_is_explained_by_its_custom_error(app: App) -> None:
    uid, address = await holder(app)
    _, staking = mag7(app)
    await confirmed(app, "/stake MAG7 10")
    await lock(app, "sMAG7.ssi", address, "9")
    with pytest.raises(UserError) as refused:  # what an unstake beyond the available balance meets at its estimate
        await trading(app).estimate(address, staking, p.UNSTAKE.encode(5 * UNIT), 100_000)
    assert refused.value.key == "error.tx.would_revert"
    assert refused.value.params["reason"] == Msg("revert.e.insufficient_available", {
        "available": "100000000", "required": "500000000", "symbol": ""})
    shown = text(app, "error.tx.would_revert", reason=refused.value.params["reason"])
    assert "only 100000000 can move now" in shown and "went wrong" not in shown


async def test_a_stake_behind_an_unmined_approval_gets_an_estimated_limit_that_covers_it(app: App) -> None:
    uid, address = await holder(app)
    token, staking = mag7(app)
    await confirmed(app, "/stake MAG7 4")  # allowance 0: exact approval, then the stake, signed together
    (intent,) = await trading(app).intents.of_user(uid)
    limits = intent.params["gas_limits"]
    txs = await trading(app).intents.txs(intent.id)
    receipts = await app.chain.receipts([t.tx_hash for t in txs])
    used = int(receipts[txs[1].tx_hash]["gasUsed"])
    assert limits[1] != STAKE_GAS_BOUND  # estimated, not the bound
    assert used < limits[1] <= with_margin(used) + 25_000  # enough, and not a wild guess
    # the slot found is the devnet ERC20's allowance mapping (storage slot 4) and the override reads back
    slot = await trading(app).allowance_slots.slot(app.chain, token, address, staking)
    assert slot == gas.mapping_slot(4, address, staking)
    raw = await app.chain.call_with_override({"to": token, "data": "0x" + p.ALLOWANCE.encode(address, staking).hex()},
                                             gas.override(token, slot, 12345))
    assert int.from_bytes(raw[:32], "big") == 12345


async def test_a_token_whose_allowance_cannot_be_found_keeps_the_bound(app: App) -> None:
    uid, address = await holder(app)
    _, staking = mag7(app)
    multicall = app.profile.multicall3  # no allowance() at all: every probe fails
    assert await trading(app).allowance_slots.slot(app.chain, multicall, address, staking) is None
    assert await trading(app).estimate_behind_approval(address, staking, p.STAKE.encode(UNIT), multicall, staking, UNIT,
                                                       STAKE_GAS_BOUND) == STAKE_GAS_BOUND


@pytest.mark.parametrize(("args", "error"), [
    (("sBTC", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "1"), "no staking token"),
    (("sSOSO", "0x1234", "1"), "not an address"),
    (("sSOSO", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "0"), "must be positive"),
    (("sSOSO", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "-2"), "must be positive"),
])
async def test_devnet_lock_refuses_bad_input_and_changes_nothing(app: App, args: tuple[str, str, str], error: str) -> None:
    async with connect(app.profile.rpc_urls[0]) as w3:
        block = await w3.eth.block_number
    with pytest.raises(op.OperatorError, match=error):
        await op.lock_staked(app.profile, args[0], args[1], Decimal(args[2]))
    async with connect(app.profile.rpc_urls[0]) as w3:
        assert await w3.eth.block_number == block


async def test_a_lock_between_signing_and_mining_reverts_and_is_explained_in_plain_words(app: App) -> None:
    """The estimate ran before the lock, so the unstake is sent and reverts on chain with
    InsufficientAvailableBalance: the reply says so in words, with the amounts in sMAG7.ssi."""
    uid, address = await holder(app)
    await confirmed(app, "/stake MAG7 10")
    offer = await say(app, "/unstake MAG7 8")
    x = trading(app)

    async def lock_before_broadcast(point: str) -> None:
        if point == "after_store":  # signed and stored, not yet sent: a vote locks 5 meanwhile
            await lock(app, "sMAG7.ssi", address, "5")

    x.fault = lock_before_broadcast
    done = await click(app, offer, "Confirm")
    reason = Msg("revert.e.insufficient_available", {"available": Amount(Decimal(5), 8), "required": Amount(Decimal(8), 8),
                                                     "symbol": "sMAG7.ssi"})
    assert done.rendered.text.startswith(text(app, "trade.reverted", reason=reason)), done.rendered.text
    assert "part of your sMAG7.ssi is locked: only 5 can move now, and 8 was asked" in done.rendered.text
    (intent, *_) = await x.intents.of_user(uid)
    assert intent.state is State.REVERTED and str(intent.result["revert"]).startswith("0x")  # type: ignore[index]
    assert await token_balance(app, mag7(app)[1], address) == 10 * UNIT



async def test_positions_shows_what_is_locked(app: App) -> None:
    uid, address = await holder(app)
    await confirmed(app, "/stake MAG7 10")
    plain = await say(app, "/positions")
    assert "Locked:" not in plain.rendered.text
    await lock(app, "sMAG7.ssi", address, "4")
    await app.head.poll_once()
    shown = (await say(app, "/positions")).rendered.text
    assert text(app, "positions.locked", amount=Amount(Decimal(4), 8)) in shown, shown
    assert "Locked: 4\n  of sMAG7.ssi, held by a vote" in shown


async def test_a_revert_behind_the_senders_own_unmined_transaction_keeps_the_fallback(app: App) -> None:
    """The estimate sees the state before the sender's unmined transactions (an unstake right after an unmined
    stake would revert there): it is not taken as the contract's answer; once they are mined, it is."""
    from devnet import anvil as anvil_rpc
    from devnet.rpc import DEV_KEYS, Sender

    _, staking = mag7(app)
    async with connect(app.profile.rpc_urls[0]) as w3:
        sender = Sender(w3, DEV_KEYS[1], chain_id=app.profile.chain_id)
        await anvil_rpc.node_call(w3, "evm_setAutomine", False)
        try:
            await sender._send(sender.address, "0x", 1, 21_000)  # unmined
            assert await trading(app).estimate(sender.address, staking, p.UNSTAKE.encode(UNIT), 777) == 777
        finally:
            await anvil_rpc.node_call(w3, "evm_setAutomine", True)
            await anvil_rpc.mine(w3)
    with pytest.raises(UserError) as refused:
        await trading(app).estimate(sender.address, staking, p.UNSTAKE.encode(UNIT), 777)
    assert refused.value.params["reason"] == Msg("revert.s.not_enough_to_unstake", {"reason": "not enough to unstake"})
