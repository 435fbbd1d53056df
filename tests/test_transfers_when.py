"""When transfers are looked for, on the devnet. The daily digest reconciles them first: tokens that came in since the
last `portfolio:transfers` sweep are in the digest's PnL, and the digests due at the same minute read their wallets
together (one Multicall3 call for all of them, as the sweep's), never one read per user. The sweep runs every
`[portfolio] transfers_seconds` of the config file."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from test_points_commands import holder
from test_points_ledger import pts
from auxil.catalog import text as line
from auxil.chain import mint
from auxil.trading import Recorder

from bot.app import App
from bot.config import load_config
from bot.core.messages import Pct, Usd
from bot.market.positions import Positions
from bot.portfolio.pnl import TRANSFER_IN, pnl_of
from bot.portfolio.transfers import JOB
from conftest import make_config
from devnet.harness import Devnet

INDEX = "MAG7.ssi"
UNIT = 10**8
DAY = date(2026, 11, 20)



def counted_reads(app: App, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The wallets of every balance read (`PositionReader.read_many`) from now on, one list per read."""
    reads: list[list[str]] = []
    real = app.services.positions.read_many

    async def counted(addresses: Sequence[str]) -> list[Positions]:
        reads.append(list(addresses))
        return await real(addresses)

    monkeypatch.setattr(app.services.positions, "read_many", counted)
    return reads

async def test_a_transfer_in_since_the_last_sweep_is_in_the_digest_read_with_the_others_due(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    digests, rows = app.services.digests, app.services.ledger.rows
    token = app.profile.index(INDEX).token.address
    first = await holder(app, "t1", "", 2 * UNIT)
    await app.head.poll_once()
    assert await app.services.transfers.sweep() == 1  # the job ran: the first holder's tokens are in the ledger
    second = await holder(app, "t2", "", UNIT)  # since then: a new holder, and more for the first
    first_wallet = (await app.services.wallets.account(first)).address
    second_wallet = (await app.services.wallets.account(second)).address
    await mint(app, token, first_wallet, 3 * UNIT)
    await pts(app).snapshot.run(DAY)
    await app.head.poll_once()
    assert [f.received_units for f in await rows.all(first)] == [2 * UNIT] and await rows.count(second) == 0

    reads = counted_reads(app, monkeypatch)
    told = Recorder()
    app.notices.attach(told)
    try:
        sent = await asyncio.gather(digests.send(first), digests.send(second))  # due at the same minute
        for message in sent:
            assert message is not None and (await app.outbox.result(message, timeout=5)) is not None
    finally:
        await app.notices.detach(told)
    assert reads == [[first_wallet, second_wallet]]  # one read for both digests

    snap = await app.services.market.snapshot()
    prices = {s: st.price for s, st in snap.indexes.items() if st.price is not None}
    by_chat = {chat: text.splitlines() for chat, text, _ in told.sent}
    for uid, chat, came_in in ((first, "t1", [2 * UNIT, 3 * UNIT]), (second, "t2", [UNIT])):
        ledger = await rows.all(uid)
        assert [(f.kind, f.received_units) for f in ledger] == [(TRANSFER_IN, units) for units in came_in]
        pnl = pnl_of(ledger, prices, snap.prices.get("BTC"))[INDEX]
        assert pnl.tokens == Decimal(sum(came_in)).scaleb(-8)
        total = pnl.total
        assert total is not None
        expected = line(app, "digest.pnl", index=INDEX, usd=Usd(total), pct=Pct(pnl.pct(total) or Decimal(0), signed=True))
        assert expected in by_chat[chat], by_chat[chat]


async def test_a_digest_alone_waits_only_for_its_own_wallets(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """One user's digest reads that user's wallets only (not every wallet, as the sweep does)."""
    only = await holder(app, "t3", "", UNIT)
    other = await holder(app, "t4", "", UNIT)
    reads = counted_reads(app, monkeypatch)
    await app.head.poll_once()
    await app.services.transfers.settle(only)
    assert reads == [[(await app.services.wallets.account(only)).address]]
    assert await app.services.ledger.rows.count(only) == 1 and await app.services.ledger.rows.count(other) == 0


async def test_the_sweep_runs_every_transfers_seconds_of_the_config_file(chain: Devnet, tmp_path: Path) -> None:
    toml = tmp_path / "indexbot.toml"
    toml.write_text("[portfolio]\ntransfers_seconds = 45\n")
    every = load_config({"INDEXBOT_CONFIG": str(toml)}).transfers_seconds
    app = await App.start(make_config(chain, tmp_path / "home", transfers_seconds=every))
    try:
        await app.start_schedule()
        assert app.schedule is not None
        due = app.schedule.when(JOB)
        assert due is not None
        ahead = (due - datetime.now(UTC)).total_seconds()
        assert 40 < ahead <= 45, ahead  # the default would be 300
    finally:
        await app.stop()


async def test_an_unreadable_chain_lets_the_digest_go_out_with_what_is_recorded(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    uid = await holder(app, "t5", "", UNIT)
    await pts(app).snapshot.run(DAY)

    async def down(addresses: Sequence[str]) -> list[Positions]:
        raise ConnectionError("node down")

    monkeypatch.setattr(app.services.positions, "read_many", down)
    told = Recorder()
    app.notices.attach(told)
    try:
        message = await asyncio.wait_for(app.services.digests.send(uid), timeout=10)
        assert message is not None and (await app.outbox.result(message, timeout=5)) is not None
    finally:
        await app.notices.detach(told)
    ((_, text, _),) = told.sent
    assert line(app, "digest.settings") in text and "so far" not in text  # no PnL line: nothing recorded
    assert await app.services.ledger.rows.count(uid) == 0
