"""Nonces never beyond the chain's pending count plus the wallet's own in-flight transactions, and a gap found at
start-up repaired (moved down, re-signed from our own stored transaction), never waited on and never repeated.
Real anvil, real SQLite, the real pipeline (issue 14 §4)."""

from __future__ import annotations

import asyncio

from pathlib import Path

import pytest
from conftest import make_config
from auxil.trading import settled, click, funded_user, say, token_balance

from bot.app import App
from bot.trading.executor import Crash
from bot.trading.intents import State
from bot.trading import nonces
from devnet.harness import Devnet

# (the chain's pending count, nonces in flight) -> (the first free nonce, the holes)
CASES = [
    ((0, []), (0, [])),
    ((5, []), (5, [])),
    ((5, [5, 6]), (7, [])),
    ((5, [6]), (5, [5])),
    ((5, [5, 8]), (6, [6, 7])),
    ((5, [2, 3]), (5, [])),  # below the chain: used already, the follower settles them
    ((0, [10, 11]), (0, list(range(10)))),  # a database remembering another chain's nonces
]


@pytest.mark.parametrize(("given", "want"), CASES)
def test_first_free_nonce_and_gaps(given: tuple[int, list[int]], want: tuple[int, list[int]]) -> None:
    pending, flying = given
    assert (nonces.first_free(pending, flying), nonces.gaps(pending, flying)) == want
    assert nonces.first_free(pending, flying) <= pending + len(flying)


async def test_a_database_remembering_higher_nonces_does_not_push_the_next_one(app: App) -> None:
    """Mined rows the chain does not have (a devnet that lost its last blocks, a database from before the chain
    binding) once made the next buy sign nonce 10 on a chain at 2 and stay "Submitted" forever."""
    user, address = await funded_user(app)
    first = await click(app, await say(app, "/buy MAG7.ssi 100"), "Confirm")
    assert first.rendered.text.startswith("Confirmed in block"), first.rendered.text
    x = app.services.desks.home
    assert x is not None
    mined = await app.chain.nonce(address, "latest")
    async with app.db.transaction() as tx:
        await tx.execute("UPDATE intent_txs SET nonce = nonce + 10 WHERE address = :address", {"address": address})
    x.nonces.forget(address)
    assert await x.nonces.upcoming(address) == mined  # the chain's count, not 13
    second = await click(app, await say(app, "/buy MAG7.ssi 50"), "Confirm")
    assert second.rendered.text.startswith("Confirmed in block"), second.rendered.text
    intent = (await x.intents.of_user(user))[0]
    assert [r.nonce for r in await x.intents.txs(intent.id)] == list(range(mined, await app.chain.nonce(address, "latest")))


async def test_a_gap_found_at_start_up_is_repaired_and_nothing_is_repeated(chain: Devnet, tmp_path: Path) -> None:
    """Two buys signed and stored, neither broadcast (the process died after storing each); the first one's
    transactions are then dropped (as a node refusing them leaves them), so the second's sit above a hole. The
    next start moves the second down into the hole, sends it once, and it confirms; the first stays dropped."""
    config = make_config(chain, tmp_path)
    first = await App.start(config)
    user, address = await funded_user(first)
    x = first.services.desks.home
    assert x is not None

    async def die(where: str) -> None:
        if where == "after_store":
            raise Crash(where)

    x.fault = die
    for amount in (100, 40):
        with pytest.raises(Crash):
            await click(first, await say(first, f"/buy MAG7.ssi {amount}"), "Confirm")
    b, a = await x.intents.of_user(user)  # newest first
    a_rows, b_rows = await x.intents.txs(a.id), await x.intents.txs(b.id)
    assert min(r.nonce for r in b_rows) == max(r.nonce for r in a_rows) + 1  # type: ignore[type-var, operator]
    for row in a_rows:  # the first buy's transactions refused: dropped, their nonces free again
        await x.intents.settle_tx(row, "dropped", None)
    await x.intents.move(a.id, State.SIGNED, State.SENT)
    await x.intents.move(a.id, State.SENT, State.DROPPED, result={"reason": "refused"})
    await first.stop()

    usdc = first.profile.usdc.address
    second = await App.start(config)
    try:
        before = await token_balance(second, usdc, address)
        await second.reconcile()
        assert await settled(second, b.id) is State.MINED
        rows = await second.services.desks.home.intents.txs(b.id)  # type: ignore[union-attr]
        live = sorted((r.nonce, r.state) for r in rows if r.state != "replaced")
        assert live == [(n, "mined") for n in range(len(b_rows))]  # moved down to the chain's first nonces
        assert sorted(r.nonce for r in rows if r.state == "replaced") == sorted(r.nonce for r in b_rows)  # type: ignore[type-var]
        assert await second.chain.nonce(address, "latest") == len(b_rows)  # sent once: nothing repeated
        assert before - await token_balance(second, usdc, address) == 40 * 10**6  # the second buy, paid once
        assert (await second.services.desks.home.intents.get(a.id)).state is State.DROPPED  # type: ignore[union-attr]
    finally:
        await second.stop()


async def test_blocks_the_devnet_lost_are_replayed_at_start_up(chain: Devnet, tmp_path: Path) -> None:
    """A crash lost the devnet's last seconds (here: reverted to before a buy) while the database recorded the
    buy mined. The next start sends our own signed transactions from the lost blocks again (byte for byte: they
    can run only once), so the funds match the database and the next buy takes the next nonce and confirms."""
    config = make_config(chain, tmp_path)
    first = await App.start(config)
    user, address = await funded_user(first)
    snap = await chain.snapshot()
    done = await click(first, await say(first, "/buy MAG7.ssi 100"), "Confirm")
    assert done.rendered.text.startswith("Confirmed in block"), done.rendered.text
    mined = await first.chain.nonce(address, "latest")
    mag7 = first.profile.index("MAG7.ssi").token.address
    held = await token_balance(first, mag7, address)
    await first.stop()
    assert await chain.revert(snap)  # the chain as it was saved before the crash
    second = await App.start(config)
    try:
        assert await second.chain.nonce(address, "latest") == 0 and await token_balance(second, mag7, address) == 0
        await second.reconcile()
        for _ in range(100):  # sent again; anvil mines a moment after it answers (longer on a loaded machine)
            if await second.chain.nonce(address, "latest") == mined:
                break
            await asyncio.sleep(0.05)
        assert await second.chain.nonce(address, "latest") == mined  # the same transactions, once each
        assert await token_balance(second, mag7, address) == held
        again = await click(second, await say(second, "/buy MAG7.ssi 10"), "Confirm")
        assert again.rendered.text.startswith("Confirmed in block"), again.rendered.text
    finally:
        await second.stop()
