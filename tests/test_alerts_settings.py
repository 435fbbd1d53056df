"""/alerts (kinds on and off, quiet hours, digest time) and the daily points digest it schedules, on the real
devnet and SQLite: a holder credited by the snapshot gets one digest per day, with balance, the day's points and
the rank's move."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from test_points_commands import holder
from test_points_ledger import pts
from auxil.chain import mint
from auxil.trading import Recorder, click, say

from bot.app import App
from bot.core.messages import Day, Msg, Param, Pct, Reply, Usd
from bot.storage.alert_settings import DEFAULT_DIGEST_AT
from bot.storage.outbox import KIND_SWITCHES, OPT_IN
from handlers.points import shown
from auxil.catalog import text as line

UNIT = 10**8
DAY = date(2026, 11, 20)


def settings(app: App):  # type: ignore[no-untyped-def]
    assert app.services.alert_settings is not None
    return app.services.alert_settings


async def test_the_overview_shows_every_kind_and_its_buttons_switch_them(app: App) -> None:
    shown_ = await say(app, "/alerts", "s1")
    text = shown_.rendered.text.splitlines()
    assert text[0] == line(app, "alerts.title")
    for i, kind in enumerate(KIND_SWITCHES, start=1):  # every kind on until switched off, but the opt-in ones
        state = "alerts.kind.off" if kind in OPT_IN else "alerts.kind.on"
        assert text[i] == line(app, state, kind=Msg(f"alerts.kind.{kind}"))
    assert line(app, "alerts.quiet.none") in text and line(app, "alerts.digest_at", time="09:00", zone="UTC") in text
    label = line(app, "alerts.button.off", kind=Msg("alerts.kind.price"))
    after = await click(app, shown_, label, user="s1")
    assert after.rendered.edit and line(app, "alerts.kind.off", kind=Msg("alerts.kind.price")) in after.rendered.text
    uid = (await app.services.users.seen("console", "s1")).id
    assert (await settings(app).get(uid)).switches["price"] is False
    assert await app.outbox.put(uid, Reply.of(Msg("help.title")), "price") is None  # the outbox honours it
    back = await click(app, after, line(app, "alerts.button.on", kind=Msg("alerts.kind.price")), user="s1")
    assert line(app, "alerts.kind.on", kind=Msg("alerts.kind.price")) in back.rendered.text


async def test_quiet_hours_and_digest_time_are_set_in_the_users_zone(app: App) -> None:
    await say(app, "/timezone Asia/Shanghai", "s2")
    reply = (await say(app, "/alerts quiet 22:30-7:00", "s2")).rendered.text
    assert line(app, "alerts.quiet.on", start="22:30", end="07:00", zone="Asia/Shanghai") in reply
    reply = (await say(app, "/alerts digest 08:15", "s2")).rendered.text
    assert line(app, "alerts.digest_at", time="08:15", zone="Asia/Shanghai") in reply
    uid = (await app.services.users.seen("console", "s2")).id
    stored = await settings(app).get(uid)
    assert stored.quiet == (22 * 60 + 30, 7 * 60) and stored.digest_at == 8 * 60 + 15
    await say(app, "/alerts quiet off", "s2")
    await say(app, "/alerts DCA Off", "s2")
    stored = await settings(app).get(uid)
    assert stored.quiet is None and stored.switches["dca"] is False


@pytest.mark.parametrize(
    ("typed", "key", "params"),
    [
        ("/alerts prices off", "alerts.error.kind", {"value": "prices", "kinds": ", ".join(KIND_SWITCHES)}),
        ("/alerts price maybe", "alerts.error.state", {"value": "maybe"}),
        ("/alerts quiet 22:00", "alerts.error.quiet", {"value": "22:00"}),
        ("/alerts quiet 07:00-07:00", "alerts.error.quiet", {"value": "07:00-07:00"}),
        ("/alerts quiet 24:00-07:00", "alerts.error.time", {"value": "24:00"}),
        ("/alerts quiet 22:00-7", "alerts.error.time", {"value": "7"}),
        ("/alerts digest 9", "alerts.error.time", {"value": "9"}),
        ("/alerts digest 09:60", "alerts.error.time", {"value": "09:60"}),
        ("/alerts price", "alerts.error.missing", {"usage": Msg("usage.alerts")}),
        ("/alerts price off now", "error.args.extra", {"usage": Msg("usage.alerts")}),
    ],
)
async def test_bad_settings_say_what_is_valid_and_change_nothing(app: App, typed: str, key: str, params: dict[str, Param]) -> None:
    reply = await say(app, typed, "s3")
    assert reply.rendered.text == line(app, key, **params)
    uid = (await app.services.users.seen("console", "s3")).id
    stored = await settings(app).get(uid)
    assert stored.switches == {k: k not in OPT_IN for k in KIND_SWITCHES} and stored.quiet is None and stored.digest_at == DEFAULT_DIGEST_AT
    assert await app.db.fetch_one("SELECT 1 FROM alert_settings WHERE user_id = :user", {"user": uid}) is None


async def test_a_holder_gets_one_digest_per_credited_day_with_balance_points_and_rank(app: App) -> None:
    digests = app.services.digests
    assert digests is not None and app.schedule is not None
    first = await holder(app, "d1", "", 2 * UNIT)
    second = await holder(app, "d2", "", UNIT)
    await pts(app).snapshot.run(DAY)
    await digests.after_snapshot()  # what the snapshot job runs after crediting
    assert {"digest:%d" % first, "digest:%d" % second} <= set(app.schedule.names("digest:"))
    told = Recorder()
    app.notices.attach(told)
    message = await digests.send(second)
    assert message is not None and (await app.outbox.result(message, timeout=5)) is not None
    standing = await pts(app).ledger.standing(second, "1")
    ((chat, text, _),) = told.sent
    assert chat == "d2"
    # the tokens minted to the wallet are a transfer in, reconciled before the digest: its PnL line (nothing gained)
    (came_in,) = await app.services.ledger.rows.all(second)
    assert came_in.received_units == UNIT
    assert text.splitlines() == [
        line(app, "digest.title", day=Day(DAY)),
        line(app, "digest.balance", points=shown(standing.points), epoch="1"),
        line(app, "digest.earned", points=shown(standing.points), day=Day(DAY)),
        line(app, "digest.rank", rank=2, ranked=2, change=Msg("digest.rank.new")),
        line(app, "digest.pnl", index="MAG7.ssi", usd=Usd(Decimal(0)), pct=Pct(Decimal(0), signed=True)),
        line(app, "digest.settings"),
    ]
    assert await digests.send(second) is None  # the same day again: nothing (job ran twice, or no new snapshot)

    # The next day the smaller holder buys more and overtakes: their digest says so.
    address = (await app.services.wallets.account(second)).address
    await mint(app, app.profile.index("MAG7.ssi").token.address, address, 5 * UNIT)
    await pts(app).snapshot.run(DAY + timedelta(days=1))
    message = await digests.send(second)
    assert message is not None and (await app.outbox.result(message, timeout=5)) is not None
    text = told.sent[-1][1].splitlines()
    assert text[3] == line(app, "digest.rank", rank=1, ranked=2, change=Msg("digest.rank.up", {"places": 1}))
    await app.notices.detach(told)


async def test_the_digest_job_follows_the_users_time_and_switch(app: App) -> None:
    digests = app.services.digests
    assert digests is not None and app.schedule is not None
    uid = await holder(app, "d3", "", UNIT)
    await pts(app).snapshot.run(DAY)
    await say(app, "/timezone Asia/Shanghai", "d3")
    await say(app, "/alerts digest 07:45", "d3")
    job = app.schedule.scheduler.get_job(f"digest:{uid}")
    assert job is not None and str(job.trigger.timezone) == "Asia/Shanghai"
    assert (job.trigger.fields[5].expressions[0].first, job.trigger.fields[6].expressions[0].first) == (7, 45)  # hour, minute
    await say(app, "/alerts digest off", "d3")
    assert app.schedule.scheduler.get_job(f"digest:{uid}") is None
    assert await digests.send(uid) is None  # switched off: the outbox refuses it
