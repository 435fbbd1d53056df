"""Cooldown-end alerts on the devnet: a mined unstake starts a watch and job `cooldown:<user>:<token>`; once chain
time passes the end (moved with devnet.operator.advance, as `indexbot devnet advance` does) the periodic check
sends one alert with a Claim button that claims; a second unstake moves the job; a restart re-creates the jobs
and never sends an alert twice."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import make_config
from test_staking_txs import confirmed, cooldown_info, holder, mag7
from auxil.requests import labels
from auxil.trading import Recorder, click, press, say, token_balance

from bot.frontends.adapters.base import PlainMarkup
from bot.delivery.alerts import cooldowns as cooldowns_module
from bot.delivery.alerts.cooldowns import CooldownAlerts
from bot.app import App
from bot.core.messages import Rendered
from bot.storage.cooldowns import CooldownWatch
from devnet.harness import Devnet
from devnet.operator import advance

UNIT = 10**8
DAY = 24 * 3600
WEEK = 7 * DAY  # the devnet's cooldown


@dataclass
class Inbox(Recorder):
    """A recording front end that keeps each rendered message, buttons included."""

    shown: list[Rendered] = field(default_factory=list)

    async def deliver(self, chat_id: str, rendered: Rendered, edit_ref: str | None = None) -> str | None:
        self.shown.append(rendered)
        return await super().deliver(chat_id, rendered, edit_ref)

    def alerts(self) -> list[Rendered]:
        return [r for r in self.shown if "Your cooldown is over" in r.text]


async def arrived(inbox: Inbox, count: int, seconds: float = 15.0) -> list[Rendered]:
    deadline = time.monotonic() + seconds
    while len(inbox.alerts()) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return inbox.alerts()


def alerts_of(app: App) -> CooldownAlerts:
    assert app.services.cooldowns is not None
    return app.services.cooldowns


async def test_an_unstake_is_alerted_soon_after_the_chain_passes_its_end_and_claim_claims(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cooldowns_module, "CHECK_SECONDS", 1)  # the real job, at a pace a test can wait for
    inbox = Inbox()
    app.notices.attach(inbox)
    await app.start_schedule()
    uid, address = await holder(app)
    token, staking = mag7(app)
    await confirmed(app, "/stake MAG7 10")
    await confirmed(app, "/unstake MAG7 3")
    amount, end = await cooldown_info(app, staking, address)
    alerts = alerts_of(app)
    assert await alerts.watches.get(uid, staking) == CooldownWatch(uid, staking, address, end, None)
    name = f"cooldown:{uid}:{staking}"
    assert app.schedule is not None and app.schedule.names("cooldown") == sorted(["cooldowns:due", name])
    lead = await alerts.chain_now() - time.time()  # chain time may run ahead of the wall clock on this devnet
    when = app.schedule.when(name)
    assert when is not None and abs(when.timestamp() - (end - lead + 1)) <= 3
    await asyncio.sleep(1.5)
    assert inbox.alerts() == []  # not over yet: nothing said

    await advance(app.profile.rpc_urls[0], WEEK)  # what `indexbot devnet advance 7d` runs; the wall clock stays
    (alert,) = await arrived(inbox, 1)
    assert "Your cooldown is over: 3 MAG7.ssi (unstaked from sMAG7.ssi) can be claimed since" in alert.text, alert.text
    assert "type /claim MAG7.ssi" in alert.text
    assert [[b.label for b in row] for row in alert.buttons] == [["Claim"]]
    watch = await alerts.watches.get(uid, staking)
    assert watch is not None and watch.notified_end == end == watch.ends_at and amount == 3 * UNIT
    assert app.schedule.names("cooldown") == ["cooldowns:due"]  # the watch's own job is done

    # the check and the job running again say nothing more
    assert await alerts.check_due() == 0 and await alerts.fire(uid, staking) == 0
    await asyncio.sleep(1.5)
    assert len(inbox.alerts()) == 1

    # Claim = /claim MAG7 all: the same offer, then Confirm claims on-chain
    offer = await app.router.handle(press(alert.buttons[0][0].token), PlainMarkup())
    assert "Claim 3 MAG7.ssi from sMAG7.ssi" in offer.rendered.text, offer.rendered.text
    assert labels(offer) == ["Confirm", "Cancel"]
    done = await click(app, offer, "Confirm")
    assert "claimed 3 MAG7.ssi" in done.rendered.text, done.rendered.text
    assert await token_balance(app, token, address) == 3 * UNIT
    assert await cooldown_info(app, staking, address) == (0, end)


async def test_a_second_unstake_moves_the_job_and_a_moved_end_is_rescheduled_not_alerted(app: App) -> None:
    inbox = Inbox()
    app.notices.attach(inbox)
    await app.start_schedule()
    assert app.schedule is not None
    uid, address = await holder(app)
    _, staking = mag7(app)
    alerts = alerts_of(app)
    name = f"cooldown:{uid}:{staking}"
    await confirmed(app, "/stake MAG7 10")
    await confirmed(app, "/unstake MAG7 3")
    _, first_end = await cooldown_info(app, staking, address)
    first_job = app.schedule.when(name)

    await advance(app.profile.rpc_urls[0], 2 * DAY)
    await confirmed(app, "/unstake MAG7 2", label="Restart cooldown and unstake")
    amount, second_end = await cooldown_info(app, staking, address)
    assert amount == 5 * UNIT and second_end >= first_end + 2 * DAY
    watch = await alerts.watches.get(uid, staking)
    assert watch is not None and watch.ends_at == second_end
    lead = await alerts.chain_now() - time.time()
    moved = app.schedule.when(name)
    assert first_job is not None and moved is not None and abs(moved.timestamp() - (second_end - lead + 1)) <= 3
    assert app.schedule.names("cooldown:") == [name]  # replaced, not a second job

    # a watch still holding the old end (say the hook was missed) finds the moved end when its time comes
    await alerts.watches.watch(uid, staking, address, first_end)
    await advance(app.profile.rpc_urls[0], WEEK - 2 * DAY + 60)  # past the first end, before the second
    assert await alerts.check_due() == 0
    watch = await alerts.watches.get(uid, staking)
    assert watch is not None and watch.ends_at == second_end and watch.notified_end is None
    assert app.schedule.names("cooldown:") == [name]

    await advance(app.profile.rpc_urls[0], 2 * DAY)
    assert await alerts.check_due() == 1
    (alert,) = await arrived(inbox, 1)
    assert "Your cooldown is over: 5 MAG7.ssi" in alert.text


async def test_nothing_is_alerted_when_the_cooldown_was_claimed_meanwhile_or_the_user_switched_it_off(app: App) -> None:
    inbox = Inbox()
    app.notices.attach(inbox)
    uid, address = await holder(app)
    _, staking = mag7(app)
    alerts = alerts_of(app)
    await confirmed(app, "/stake MAG7 10")
    await confirmed(app, "/unstake MAG7 3")
    await advance(app.profile.rpc_urls[0], WEEK)
    await confirmed(app, "/claim MAG7")  # before the check came round
    assert await alerts.check_due() == 0
    assert await alerts.watches.get(uid, staking) is None
    assert inbox.alerts() == []


async def test_a_restart_recreates_the_jobs_and_never_sends_an_alert_twice(chain: Devnet, tmp_path: Path) -> None:
    config = make_config(chain, tmp_path)
    first = await App.start(config)
    try:
        uid, address = await holder(first)
        _, staking = mag7(first)
        await confirmed(first, "/stake MAG7 10")
        await confirmed(first, "/unstake MAG7 3")
        _, end = await cooldown_info(first, staking, address)
    finally:
        await first.stop()

    second = await App.start(config)
    try:
        inbox = Inbox()
        second.notices.attach(inbox)
        await second.start_schedule()
        name = f"cooldown:{uid}:{staking}"
        assert second.schedule is not None and second.schedule.names("cooldown") == sorted(["cooldowns:due", name])
        await advance(second.profile.rpc_urls[0], WEEK)
        alerts = alerts_of(second)

        # queued, then the bot dies before the watch is marked: the next check queues the same key, stored once
        real = alerts.watches.notified

        async def crash(*args: object) -> None:
            raise RuntimeError("killed")

        alerts.watches.notified = crash  # type: ignore[method-assign]
        assert await alerts.check_due() == 0  # the failure is logged; the alert was queued
        alerts.watches.notified = real  # type: ignore[method-assign]
        assert await alerts.check_due() == 0  # queued again under the same key: not stored twice
        watch = await alerts.watches.get(uid, staking)
        assert watch is not None and watch.notified_end == end
        (alert,) = await arrived(inbox, 1)
        await asyncio.sleep(0.5)
        assert len(inbox.alerts()) == 1 and "3 MAG7.ssi" in alert.text
    finally:
        await second.stop()
