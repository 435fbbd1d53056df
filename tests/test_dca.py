"""/dca on the devnet: input refused with what is valid (and nothing stored), set-up with the PIN in the user's
zone, list / pause / resume / cancel, runs that buy once even when fired twice, and failures that pause a plan."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from test_cooldown_alerts import Inbox
from test_trading_connected import connected_user, trading
from auxil.console import console_lines
from auxil.trading import PIN as CUSTODIAL_PIN, click, funded_user, say, token_balance

from bot.app import App
from bot.core.messages import Msg
from bot.dca.cadence import last_due
from bot.dca.plans import Dca
from bot.i18n import Catalogs
from bot.storage.dca import Plan
from bot.trading.intents import State
from devnet.operator import fund
from auxil.catalog import text
from auxil.requests import labels

EN = Catalogs().entries["en"]
PIN = "4821"
DAY = 24 * 3600


def dca_of(app: App) -> Dca:
    assert app.services.dca is not None
    return app.services.dca


def start_of(key: str) -> str:
    return EN[key].split("{")[0]


async def with_pin(app: App, user: str = "u1", usdc: Decimal = Decimal(10_000)) -> int:
    uid, _ = await funded_user(app, user, usdc=usdc, pin=None)
    answer = await say(app, f"/pin {PIN}", user)
    assert answer.rendered.text == "PIN set. Export and withdraw now ask for it."
    return uid


async def plans_of(app: App, uid: int) -> list[Plan]:
    return await dca_of(app).of_user(uid)


def dca_jobs(app: App) -> list[str]:
    assert app.schedule is not None
    return app.schedule.names("dca:")


BAD_INPUT = [
    ("/dca FOO 100 daily 4821", "error.index.unknown"),
    ("/dca MAG7 abc daily 4821", "error.amount.format"),
    ("/dca MAG7 0 daily 4821", "error.amount.zero"),
    ("/dca MAG7 -5 daily 4821", "error.amount.negative"),
    ("/dca MAG7 20000000 daily 4821", "error.amount.too_large"),
    ("/dca MAG7 1.1234567 daily 4821", "error.amount.too_precise"),
    ("/dca MAG7 100 dialy 4821", "dca.error.cadence"),
    ("/dca MAG7 100 daily at 25:00 4821", "dca.error.time"),
    ("/dca MAG7 100 daily at 9am 4821", "dca.error.time"),
    ("/dca MAG7 100 daily 9:60 4821", "dca.error.time"),
    ("/dca MAG7 100", "dca.error.usage"),
    ("/dca 482913 100 daily", "dca.error.usage"),  # a PIN in the index's place: never echoed as an unknown index
    ("/dca MAG7 100 daily at", "dca.error.usage"),
    ("/dca MAG7 100 daily at 4821", "dca.error.usage"),
    ("/dca MAG7 100 daily at 09:00 4821 extra", "dca.error.usage"),
    ("/dca MAG7 100 daily 5555", "error.pin.wrong"),
    ("/dca pause 99", "dca.error.plan"),
    ("/dca resume x", "dca.error.plan"),
    ("/dca cancel", "dca.error.usage"),
]


@pytest.mark.parametrize(("typed", "key"), BAD_INPUT)
async def test_bad_input_is_refused_with_what_is_valid_and_changes_nothing(app: App, typed: str, key: str) -> None:
    uid = await with_pin(app)
    answer = await say(app, typed)
    assert start_of(key) in answer.rendered.text, answer.rendered.text
    if key in ("error.index.unknown", "dca.error.usage"):
        assert "MAG7.ssi" in answer.rendered.text  # says which indexes there are
    if key == "dca.error.cadence":
        assert "daily, weekly" in answer.rendered.text
    assert await plans_of(app, uid) == [] and dca_jobs(app) == []


@pytest.mark.parametrize(("typed", "at"), [("/dca MAG7 100 weekly at 09:30", 9 * 60 + 30), ("/dca MAG7 25 daily", None)])
async def test_a_plan_typed_without_its_pin_asks_for_it(app: App, typed: str, at: int | None) -> None:
    """Everything but the PIN typed: checked, then the PIN asked for as the guided set-up asks it; a wrong one sets
    nothing, the right one sets the plan as typed."""
    uid = await with_pin(app)
    line = console_lines(app, "u1")
    asked = await line(typed)
    assert text(app, "dca.ask.pin") in asked and "PIN:" in asked, asked
    amount, cadence = typed.split()[2:4]
    said = f"Your plan: {amount} USDC into MAG7.ssi, " + ("every " if cadence == "weekly" else "daily at ")
    assert said in asked and (at is None or "at 09:30 (UTC)." in asked), asked  # what the PIN sets up, first
    assert await plans_of(app, uid) == []
    assert start_of("error.pin.wrong") in await line("5555")
    assert await plans_of(app, uid) == []
    set_up = await line(PIN)
    assert PIN not in set_up and text(app, "dca.ask.pin") not in set_up, set_up
    [plan] = await plans_of(app, uid)
    assert plan.token == "MAG7.ssi" and plan.cadence == typed.split()[3]
    if at is not None:
        assert plan.at_minute == at


async def test_wallets_and_chats_that_cannot_have_a_plan(app: App) -> None:
    # no wallet
    answer = await say(app, "/dca MAG7 100 daily 4821", "nowallet")
    assert start_of("error.wallet.none") in answer.rendered.text
    # a connected wallet signs every transaction itself: refused before the PIN is even looked at
    uid, _ = await connected_user(app, "w1")
    answer = await say(app, "/dca MAG7 100 daily 4821", "w1")
    assert answer.rendered.text == text(app, "dca.error.connected")
    assert await plans_of(app, uid) == []
    # a group: the PIN was posted where others read it
    uid = await with_pin(app)
    answer = await say(app, "/dca MAG7 100 daily 4821", chat_type="group")
    assert start_of("secret.public.pin") in answer.rendered.text and start_of("error.private_only") in answer.rendered.text
    assert answer.rendered.delete_request
    answer = await say(app, "/dca", chat_type="group")
    assert answer.rendered.text == text(app, "error.private_only")
    assert await plans_of(app, uid) == [] and dca_jobs(app) == []


async def test_set_up_in_the_users_zone_then_list_pause_resume_and_cancel(app: App) -> None:
    uid = await with_pin(app)
    await say(app, "/timezone Asia/Shanghai")
    answer = await say(app, f"/dca mag7 25.5 weekly at 09:00 {PIN}")
    shown = answer.rendered.text
    (plan,) = await plans_of(app, uid)
    zone = ZoneInfo("Asia/Shanghai")
    weekday = datetime.now(zone).weekday()
    assert (plan.token, plan.usdc_units, plan.cadence, plan.at_minute, plan.weekday, plan.zone, plan.state) == (
        "MAG7.ssi", 25_500_000, "weekly", 9 * 60, weekday, "Asia/Shanghai", "active")
    day_name = EN[f"dca.weekday.{weekday}"]
    assert f"Plan #{plan.id} is set up: 25.5 USDC into MAG7.ssi, every {day_name} at 09:00 (Asia/Shanghai)." in shown, shown
    assert "your slippage (0.5%)" in shown and "3 failures in a row pause the plan" in shown
    assert answer.rendered.delete_request  # the message with the PIN goes
    assert labels(answer) == [f"Pause #{plan.id}", f"Cancel #{plan.id}"]
    assert app.schedule is not None and dca_jobs(app) == [f"dca:{plan.id}"]
    nxt = dca_of(app).next_run(plan)
    assert nxt is not None
    local = datetime.fromtimestamp(nxt, zone)
    assert (local.weekday(), local.hour, local.minute) == (weekday, 9, 0)

    listed = await say(app, "/dca")
    assert (f"#{plan.id} MAG7.ssi · active\n  25.5 USDC a run\n  every {day_name} at 09:00 (Asia/Shanghai)\n  next run: "
            in listed.rendered.text), listed.rendered.text  # a card per plan
    assert "  failures in a row: 0" in listed.rendered.text
    paused = await click(app, listed, f"Pause #{plan.id}")
    assert paused.rendered.text == text(app, "dca.paused", id=plan.id)
    assert dca_jobs(app) == [] and (await plans_of(app, uid))[0].state == "paused"
    again = await say(app, f"/dca pause {plan.id}")
    assert again.rendered.text == text(app, "dca.error.state", id=plan.id, state=Msg("dca.state.paused"))
    listed = await say(app, "/dca")
    assert " · paused\n" in listed.rendered.text and "  next run: none while paused\n" in listed.rendered.text
    resumed = await click(app, listed, f"Resume #{plan.id}")
    assert start_of("dca.resumed").format() in resumed.rendered.text and dca_jobs(app) == [f"dca:{plan.id}"]
    cancelled = await say(app, f"/dca cancel #{plan.id}")
    assert cancelled.rendered.text == text(app, "dca.cancelled", id=plan.id)
    assert dca_jobs(app) == [] and await plans_of(app, uid) == []
    assert (await say(app, "/dca")).rendered.text == text(app, "dca.list.empty")
    # someone else's plan number is not theirs to touch
    other = await with_pin(app, "u2")
    mine = await say(app, f"/dca MAG7 10 daily {PIN}", "u2")
    assert "is set up" in mine.rendered.text
    (theirs,) = await plans_of(app, other)
    refused = await say(app, f"/dca cancel {theirs.id}")
    assert refused.rendered.text == text(app, "dca.error.plan", value=str(theirs.id))
    assert (await plans_of(app, other))[0].state == "active"


async def test_a_run_buys_once_even_when_the_job_fires_twice(app: App) -> None:
    inbox = Inbox()
    app.notices.attach(inbox)
    uid = await with_pin(app)
    await say(app, f"/dca MAG7 100 daily at 00:00 {PIN}")
    (plan,) = await plans_of(app, uid)
    dca = dca_of(app)
    address = (await trading(app).sender(uid)).address
    mag7 = app.profile.index("MAG7.ssi").token.address

    outcomes = await asyncio.gather(dca.run(plan.id), dca.run(plan.id))
    assert sorted(outcomes) == ["done", "skipped"]
    assert await dca.run(plan.id) == "skipped"  # later the same day: the same run
    intents = await trading(app).intents.of_user(uid)
    assert [(i.kind, i.state) for i in intents] == [("buy", State.MINED)]
    assert intents[0].params["amount_in"] == 100_000_000 and intents[0].chat_id == "u1"
    (run,) = await dca.plans.runs(plan.id)
    assert (run.intent_id, run.outcome, run.due_at) == (intents[0].id, "done", last_due(plan, dca.clock()))
    assert await token_balance(app, mag7, address) > 0
    for _ in range(100):
        if any("DCA plan #" in r.text for r in inbox.shown):
            break
        await asyncio.sleep(0.05)
    (told,) = [r for r in inbox.shown if "DCA plan #" in r.text]
    assert f"DCA plan #{plan.id}: 100 USDC into MAG7.ssi." in told.text and "Confirmed in block" in told.text, told.text


async def test_three_failures_in_a_row_pause_the_plan_and_a_success_resets_the_count(app: App) -> None:
    inbox = Inbox()
    app.notices.attach(inbox)
    uid = await with_pin(app, usdc=Decimal(50))  # less than a run takes
    await say(app, f"/dca MAG7 100 daily at 00:00 {PIN}")
    (plan,) = await plans_of(app, uid)
    dca = dca_of(app)
    start = dca.clock()
    days = iter(range(10))

    async def run_next_day() -> str:
        day = next(days)
        dca.clock = lambda: start + day * DAY
        return await dca.run(plan.id)

    assert [await run_next_day(), await run_next_day()] == ["failed", "failed"]
    assert (await plans_of(app, uid))[0].failures == 2
    address = (await trading(app).sender(uid)).address
    await fund(app.profile, address, usdc=Decimal(100))
    assert await run_next_day() == "done"
    assert (await plans_of(app, uid))[0].failures == 0  # a success resets the count

    assert [await run_next_day() for _ in range(3)] == ["failed"] * 3
    (paused,) = await plans_of(app, uid)
    assert (paused.state, paused.failures) == ("paused", 3) and dca_jobs(app) == []
    assert await run_next_day() == "skipped"  # a paused plan buys nothing
    runs = await dca.plans.runs(plan.id)
    assert [r.outcome for r in runs] == ["failed", "failed", "done", "failed", "failed", "failed"]
    assert {r.error for r in runs if r.outcome == "failed"} == {"error.trade.short"}
    assert [i.kind for i in await trading(app).intents.of_user(uid)] == ["buy"]  # only the run that could pay

    for _ in range(100):
        if sum("bought nothing" in r.text for r in inbox.shown) >= 5:
            break
        await asyncio.sleep(0.05)
    failed = [r for r in inbox.shown if "This run bought nothing" in r.text]
    assert len(failed) == 5 and all("Not enough USDC: you need 100" in r.text for r in failed)
    last = failed[-1]
    assert "That is 3 failures in a row, so the plan is paused." in last.text, last.text
    assert [[b.label for b in row] for row in last.buttons] == [[f"Resume #{plan.id}"]]
    assert all("paused" not in r.text for r in failed[:-1])


async def test_a_new_plan_asked_step_by_step(app: App) -> None:
    """/dca, New plan, the index (button), the amount (typed; a bad one refused and asked again), Daily, the time
    (typed; a bad one refused), the PIN (deleted); through the console's next lines."""
    uid, _ = await funded_user(app, "d9")
    line = console_lines(app, "d9")

    assert "] New plan" in await line("/dca")
    assert "] MAG7.ssi" in await line("New plan")
    assert text(app, "dca.ask.amount", index="MAG7.ssi", usdc="USDC") in await line("MAG7.ssi")
    refused = await line("lots")
    assert '"lots" is not an amount' in refused and text(app, "dca.ask.amount", index="MAG7.ssi", usdc="USDC") in refused
    assert "] Daily" in await line("25")
    assert text(app, "dca.ask.time") in await line("Daily")
    assert text(app, "dca.ask.time") in await line("25:61")  # refused, asked again
    assert text(app, "dca.ask.pin") in await line("09:30")
    assert await dca_of(app).of_user(uid) == []  # nothing stored before the PIN
    done = await line(CUSTODIAL_PIN)
    assert CUSTODIAL_PIN not in done
    (plan,) = await dca_of(app).of_user(uid)
    assert (plan.token, plan.cadence, plan.at_minute) == ("MAG7.ssi", "daily", 9 * 60 + 30)
