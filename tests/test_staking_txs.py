"""Stake, unstake (with the cooldown-restart warning), claim and /boost add|remove through the router on the
devnet, custodial and connected; time moved with evm_increaseTime. Every number checked against the contract."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import make_config
from eth_abi.abi import decode
from test_trading_connected import connected_user, send, settled, trading
from auxil.trading import Recorder, click, funded_user, say, token_balance

from bot.chain import protocol as p
from bot.app import App
from bot.core.errors import UserError
from bot.core.messages import Amount, When
from bot.core.router import Outcome
from bot.i18n import Catalogs
from bot.trading.executor import Crash
from bot.trading.intents import State
from bot.trading.stake import duration_parts
from devnet.harness import Devnet
from devnet.operator import advance
from devnet.rpc import Sender, connect, contract
from auxil.catalog import starts, text
from auxil.requests import labels
from auxil.chain import mint

EN = Catalogs().entries["en"]
UNIT = 10**8  # an index token's base units
WEEK = 7 * 24 * 3600


async def pause(app: App, staking: str) -> None:
    async with connect(app.profile.rpc_urls[0]) as w3:
        await Sender(w3, chain_id=app.profile.chain_id).transact(contract(w3, "StakeToken", staking).functions.pause())


async def cooldown_info(app: App, staking: str, address: str) -> tuple[int, int]:
    amount, end = await app.chain.call(staking, p.COOLDOWN_INFOS, address)
    return int(amount), int(end)


async def holder(app: App, user: str = "u1", tokens: int = 10) -> tuple[int, str]:
    uid, address = await funded_user(app, user)
    await mint(app, app.profile.index("MAG7.ssi").token.address, address, tokens * UNIT)
    return uid, address


def mag7(app: App) -> tuple[str, str]:
    ref = app.profile.index("MAG7.ssi")
    assert ref.staking is not None
    return ref.token.address, ref.staking.address


async def confirmed(app: App, text_: str, label: str = "Confirm", user: str = "u1") -> Outcome:
    offer = await say(app, text_, user)
    assert label in labels(offer), offer.rendered.text
    done = await click(app, offer, label, user)
    assert "Confirmed in block" in done.rendered.text, done.rendered.text
    return done


async def test_stake_approves_exactly_then_stakes_one_to_one(app: App) -> None:
    uid, address = await holder(app)
    token, staking = mag7(app)
    offer = await say(app, "/stake MAG7 4")
    assert "Stake 4 MAG7.ssi into sMAG7.ssi" in offer.rendered.text and labels(offer) == ["Confirm", "Cancel"]
    done = await click(app, offer, "Confirm")
    shown = done.rendered.text
    assert "staked 4 MAG7.ssi" in shown and "Staked now: 4 sMAG7.ssi" in shown, shown
    assert "3X while held → 15X once staked (no SOSO boost yet" in shown  # the table's bases, no SOSO staked
    assert await token_balance(app, staking, address) == 4 * UNIT
    assert await token_balance(app, token, address) == 6 * UNIT
    (intent,) = await trading(app).intents.of_user(uid)
    assert intent.kind == "stake" and intent.state is State.MINED
    txs = await trading(app).intents.txs(intent.id)
    assert [t.purpose for t in txs] == ["approve", "stake"]
    approve = await app.chain.transaction(txs[0].tx_hash)
    assert approve is not None
    spender, amount = decode(["address", "uint256"], bytes(approve["input"])[4:])
    assert spender.lower() == staking.lower() and amount == 4 * UNIT  # exactly the amount staked
    staked = await app.chain.transaction(txs[1].tx_hash)
    assert staked is not None and bytes(staked["input"]) == p.STAKE.encode(4 * UNIT)

    # all the rest; the allowance was used up, so another exact approval comes first
    done = await confirmed(app, "/stake MAG7 all")
    assert "Staked now: 10 sMAG7.ssi" in done.rendered.text
    assert await token_balance(app, staking, address) == 10 * UNIT and await token_balance(app, token, address) == 0


async def test_unstake_shows_the_cooldown_and_a_second_one_warns_and_needs_the_distinct_button(app: App) -> None:
    uid, address = await holder(app)
    token, staking = mag7(app)
    await confirmed(app, "/stake MAG7 10")
    offer = await say(app, "/unstake MAG7 3")
    length = text(app, "time.duration", **duration_parts(WEEK))
    assert f"Cooldown (read from the contract): {length}." in offer.rendered.text, offer.rendered.text
    assert labels(offer) == ["Confirm", "Cancel"] and "Warning" not in offer.rendered.text
    done = await click(app, offer, "Confirm")
    first_amount, first_end = await cooldown_info(app, staking, address)
    assert first_amount == 3 * UNIT and await token_balance(app, staking, address) == 7 * UNIT
    assert text(app, "stake.mined.cooling", amount=Amount(Decimal(3), 8), symbol="MAG7.ssi", end=When(first_end)) in done.rendered.text

    await advance(app.profile.rpc_urls[0], 2 * 24 * 3600)
    offer = await say(app, "/unstake MAG7 2")
    shown = offer.rendered.text
    x = trading(app)
    intent = (await x.intents.of_user(uid, 1))[0]
    assert int(intent.params["pending_end"]) == first_end  # the old end shown is the contract's
    assert "Warning: 3 MAG7.ssi is already cooling down until" in shown, shown
    assert labels(offer) == ["Restart cooldown and unstake", "Cancel"]  # no plain Confirm

    # without the explicit acknowledgement nothing is sent, and the offer stays open
    nonce = await app.chain.nonce(address)
    with pytest.raises(UserError) as refused:
        await x.confirm(intent.id, uid, "msg-1", "u1")
    assert refused.value.key == "error.unstake.restart_unconfirmed"
    assert await app.chain.nonce(address) == nonce
    assert (await x.intents.get(intent.id)).state is State.QUOTED  # type: ignore[union-attr]

    done = await click(app, offer, "Restart cooldown and unstake")
    assert "Confirmed in block" in done.rendered.text, done.rendered.text
    amount, end = await cooldown_info(app, staking, address)
    assert amount == 5 * UNIT and end > first_end  # the whole pending amount, with a later end
    block = await app.chain.w3.eth.get_block("latest")
    assert end == int(block["timestamp"]) + WEEK


async def test_restart_warning_names_pending_amount_and_both_end_times(app: App) -> None:
    uid, address = await holder(app)
    _, staking = mag7(app)
    await confirmed(app, "/stake MAG7 10")
    await confirmed(app, "/unstake MAG7 3")
    _, old_end = await cooldown_info(app, staking, address)
    offer = await say(app, "/unstake MAG7 2")
    intent = (await trading(app).intents.of_user(uid, 1))[0]
    now = int((await app.chain.w3.eth.get_block("latest"))["timestamp"])
    expected = text(app, "unstake.restart", pending=Amount(Decimal(3), 8), symbol="MAG7.ssi", old_end=When(old_end),
                    new_end=When(now + WEEK), total=Amount(Decimal(5), 8))
    assert expected in offer.rendered.text, offer.rendered.text
    assert intent.params["restart"] is True


async def test_claim_before_the_end_sends_nothing_and_after_it_withdraws(app: App) -> None:
    uid, address = await holder(app)
    token, staking = mag7(app)
    await confirmed(app, "/stake MAG7 10")
    await confirmed(app, "/unstake MAG7 4")
    _, end = await cooldown_info(app, staking, address)
    nonce = await app.chain.nonce(address)
    intents = len(await trading(app).intents.of_user(uid))
    early = await say(app, "/claim MAG7")
    now = int((await app.chain.w3.eth.get_block("latest"))["timestamp"])
    left = text(app, "time.duration", **duration_parts(end - now))
    assert early.rendered.text == text(app, "error.claim.early", amount=Amount(Decimal(4), 8), symbol="MAG7.ssi",
                                       left=left, end=When(end)), early.rendered.text
    assert await app.chain.nonce(address) == nonce and len(await trading(app).intents.of_user(uid)) == intents

    await advance(app.profile.rpc_urls[0], WEEK + 1)
    done = await confirmed(app, "/claim MAG7 1")
    assert "claimed 1 MAG7.ssi" in done.rendered.text
    assert await cooldown_info(app, staking, address) == (3 * UNIT, end)
    done = await confirmed(app, "/claim MAG7 all")
    assert await cooldown_info(app, staking, address) == (0, end)
    assert await token_balance(app, token, address) == 4 * UNIT and await token_balance(app, staking, address) == 6 * UNIT


async def test_a_paused_staking_token_is_refused_before_anything_is_signed(app: App) -> None:
    uid, address = await holder(app)
    _, staking = mag7(app)
    offer = await say(app, "/stake MAG7 1")  # offered while running, paused before Confirm
    await pause(app, staking)
    nonce = await app.chain.nonce(address)
    late = await click(app, offer, "Confirm")
    assert late.rendered.text == text(app, "error.stake.paused", token="sMAG7.ssi")
    reply = await say(app, "/stake MAG7 1")
    assert reply.rendered.text == text(app, "error.stake.paused", token="sMAG7.ssi")
    assert await app.chain.nonce(address) == nonce
    states = [i.state for i in await trading(app).intents.of_user(uid)]
    assert states == [State.CANCELLED]


BAD = [
    ("/unstake MAG7 5", "error.unstake.short"),  # 1 staked
    ("/claim MAG7 5", "error.claim.short"),  # 1 cooled down
    ("/stake MAG7 100", "error.stake.short"),
    ("/stake MAG7 0", "error.amount.zero"),
    ("/unstake MAG7 -1", "error.amount.negative"),
    ("/stake MAG7 abc", "error.amount.format"),
    ("/stake MAG7 0.123456789", "error.amount.too_precise"),
    ("/stake BTC 1", "error.index.unknown"),
    ("/claim DOGE", "error.index.unknown"),
    ("/stake MAG7 1 2", "error.stake.usage"),
    ("/unstake MAG7", "error.unstake.usage"),
    ("/claim MAG7 1 2", "error.claim.usage"),
    ("/claim", "error.claim.usage"),
    ("/unstake USSI all", "error.unstake.nothing"),
    ("/claim USSI", "error.claim.nothing"),
    ("/boost add 1 2", "error.args.extra"),
    ("/boost add", "error.amount.missing"),
    ("/boost remove 5", "error.unstake.short"),
]


@pytest.mark.parametrize(("typed", "key"), BAD, ids=[k + ":" + t for t, k in BAD])
async def test_bad_staking_input_is_explained_and_sends_nothing(app: App, typed: str, key: str) -> None:
    uid, address = await holder(app, tokens=10)
    await confirmed(app, "/stake MAG7 2")
    await confirmed(app, "/unstake MAG7 1")
    await advance(app.profile.rpc_urls[0], WEEK + 1)
    nonce, before = await app.chain.nonce(address), len(await trading(app).intents.of_user(uid))
    reply = await say(app, typed)
    assert reply.rendered.text.startswith(starts(key)), reply.rendered.text
    assert await app.chain.nonce(address) == nonce
    assert len(await trading(app).intents.of_user(uid)) == before


async def test_another_users_buttons_are_refused(app: App) -> None:
    uid, address = await holder(app)
    await holder(app, "mallory")
    await confirmed(app, "/stake MAG7 9")
    offer = await say(app, "/stake MAG7 1")
    await confirmed(app, "/unstake MAG7 1")
    restart = await say(app, "/unstake MAG7 1")
    nonce = await app.chain.nonce(address)
    stolen = await click(app, offer, "Confirm", user="mallory")
    assert stolen.rendered.text.startswith(starts("error.button.not_yours")) and stolen.ephemeral
    stolen = await click(app, restart, "Restart cooldown and unstake", user="mallory")
    assert stolen.rendered.text.startswith(starts("error.button.not_yours")) and stolen.ephemeral
    cancel = await click(app, restart, "Cancel", user="mallory")
    assert cancel.rendered.text.startswith(starts("error.button.not_yours"))
    assert await app.chain.nonce(address) == nonce


async def test_boost_add_and_remove_stake_and_unstake_soso(app: App) -> None:
    assert app.profile.soso is not None and app.profile.soso_staking is not None
    uid, address = await funded_user(app)
    await mint(app, app.profile.soso.address, address, 50 * 10**18, kind="TestToken")
    small = await say(app, "/boost add 20")
    assert "Your boost stays at no level" in small.rendered.text  # no index held: no ratio, no level
    await mint(app, app.profile.index("MAG7.ssi").token.address, address, 10 * UNIT)  # $1,000 of index at NAV
    await app.head.poll_once()
    offer = await say(app, "/boost add 20")  # 20 SOSO at $0.60 = $12, 1.2 % of $1,000: level 1
    assert "Your boost: no level → level 1." in offer.rendered.text, offer.rendered.text
    done = await click(app, offer, "Confirm")
    assert "Staked now: 20 sSOSO" in done.rendered.text and "Your boost: no level → level 1." in done.rendered.text
    boosted = await say(app, "/stake MAG7 1")
    assert "6X while held → 30X once staked (boost level 1, ×2" in boosted.rendered.text  # 3X and 15X, ×2
    assert await token_balance(app, app.profile.soso_staking.address, address) == 20 * 10**18
    await confirmed(app, "/boost remove 5")
    offer = await say(app, "/boost remove 5")
    assert "Warning: 5 SOSO is already cooling down" in offer.rendered.text
    early = await say(app, "/claim SOSO")
    assert early.rendered.text.startswith(starts("error.claim.early"))


async def test_a_connected_wallet_stakes_through_a_signing_link(app: App) -> None:
    told = Recorder()
    app.notices.attach(told)
    uid, account = await connected_user(app)
    token, staking = mag7(app)
    await mint(app, token, account.address, 5 * UNIT)
    offer = await say(app, "/stake MAG7 2", "w1")
    reply = await click(app, offer, "Confirm", "w1", message_ref="quote-msg")
    assert reply.rendered.text.startswith("Open this link to sign in your wallet: http://127.0.0.1:")
    x = trading(app)
    (intent,) = await x.intents.of_user(uid, 1)
    assert intent.state is State.CONFIRMED and [w["purpose"] for w in intent.params["requests"]] == ["approve", "stake"]
    for step, want in enumerate(intent.params["requests"]):
        await x.on_hash(intent.id, step, await send(app, account, want))
    final = await settled(app, intent.id, told)
    assert final.state is State.MINED
    assert await token_balance(app, staking, account.address) == 2 * UNIT
    assert "Staked now: 2 sMAG7.ssi" in told.sent[-1][1]


async def test_an_unstake_offered_without_the_warning_is_refused_if_a_cooldown_started_meanwhile(app: App) -> None:
    uid, address = await holder(app)
    _, staking = mag7(app)
    await confirmed(app, "/stake MAG7 10")
    plain = await say(app, "/unstake MAG7 2")  # nothing cooling yet: a plain Confirm
    other = await say(app, "/unstake MAG7 1")  # another device, same moment
    assert labels(plain) == labels(other) == ["Confirm", "Cancel"]
    await click(app, other, "Confirm")
    nonce = await app.chain.nonce(address)
    late = await click(app, plain, "Confirm")
    assert late.rendered.text == text(app, "error.unstake.pending_appeared", amount=Amount(Decimal(1), 8), symbol="MAG7.ssi")
    assert await app.chain.nonce(address) == nonce
    assert (await cooldown_info(app, staking, address))[0] == 1 * UNIT  # only the other unstake went through


async def test_a_crash_after_a_stake_is_stored_is_finished_by_reconciliation(chain: Devnet, tmp_path: Path) -> None:
    config = make_config(chain, tmp_path)
    first = await App.start(config)
    uid, address = await holder(first)
    _, staking = mag7(first)
    offer = await say(first, "/stake MAG7 3")
    x = trading(first)

    async def die(where: str) -> None:
        if where == "after_store":
            raise Crash(where)

    x.fault = die
    with pytest.raises(Crash):
        await click(first, offer, "Confirm", message_ref="quote-msg")
    (intent,) = await x.intents.of_user(uid)
    assert intent.state is State.SIGNED
    await first.stop()

    second = await App.start(config)
    try:
        told = Recorder()
        second.notices.attach(told)
        await second.reconcile()
        for _ in range(200):
            current = await trading(second).intents.get(intent.id)
            if current is not None and current.state.terminal and told.sent:
                break
            await asyncio.sleep(0.05)
        assert current is not None and current.state is State.MINED
        assert await second.chain.nonce(address) == 2  # approve + stake, once
        assert await token_balance(second, staking, address) == 3 * UNIT
        assert "Staked now: 3 sMAG7.ssi" in told.sent[-1][1], told.sent
    finally:
        await second.stop()


async def test_cooldown_times_are_shown_in_the_users_time_zone(app: App) -> None:
    uid, address = await holder(app)
    await app.services.settings.set_timezone(uid, "Asia/Shanghai")
    await confirmed(app, "/stake MAG7 2")
    offer = await say(app, "/unstake MAG7 1")
    assert "It would end about " in offer.rendered.text and "Asia/Shanghai" in offer.rendered.text, offer.rendered.text
