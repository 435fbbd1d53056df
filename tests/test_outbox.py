"""The outbox on its own: stored before sending, sent once, in priority order, batched per reader, held by quiet
hours, never resent after a crash; blocked users are marked and skipped. A scripted front end stands in for a
platform; the database, router, renderer and catalogs are the app's own."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot.frontends.adapters.base import PlainMarkup
from bot.app import App
from bot.core.delivery import Delivery, Leaving
from bot.core.messages import Amount, Button, Msg, Pct, Rendered, Reply, Usd, When
from bot.delivery.outbox import Outbox, codec
from bot.delivery.outbox.dispatch import MAX_ATTEMPTS
from bot.delivery.outbox.quiet import quiet_until
from bot.delivery.outbox.render import Renderer
from bot.storage.outbox import NewMessage, OutboxRows
from bot.storage.repositories import ButtonRows
from auxil.trading import ask
from auxil.catalog import text
from auxil.clock import Clock


@dataclass
class Platform:
    """A front end whose answers are scripted: `answers` are used in order, then every send succeeds."""

    name: str = "console"
    markup: PlainMarkup = field(default_factory=PlainMarkup)
    sends_at_once: int = 4
    answers: list[Delivery] = field(default_factory=list)
    shown: list[tuple[str, str]] = field(default_factory=list)  # (chat, text) the platform took
    tried: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    turn: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.turn.set()  # no wait for a turn unless a test clears it

    async def deliver(self, chat_id: str, rendered: Rendered, edit_ref: str | None = None) -> str | None:
        return (await self.post(chat_id, rendered, edit_ref)).ref

    async def post(self, chat_id: str, rendered: Rendered, edit_ref: str | None = None, *, bulk: bool = False,
                   leaving: Leaving | None = None) -> Delivery:
        await self.turn.wait()  # the platform's limits let it go
        if leaving is not None and not await leaving():
            return Delivery("withdrawn")
        self.tried += 1
        answer = self.answers.pop(0) if self.answers else Delivery.sent(f"m{self.tried}")
        if answer.ok:
            self.shown.append((chat_id, rendered.text))
        self.arrived.set()
        return answer

    async def wait(self, count: int, timeout: float = 5.0) -> None:
        async def enough() -> None:
            while len(self.shown) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), timeout)


async def user_with_chat(app: App, name: str) -> int:
    """A user who wrote to the bot privately (so the outbox knows their chat)."""
    await app.router.handle(ask("/help", user=name), PlainMarkup())
    row = await app.services.users.seen("console", name)
    return row.id


def outbox_of(app: App, clock: Clock | None = None) -> Outbox:
    renderer = Renderer(app.services.users, ButtonRows(app.db), app.services.catalogs, zones=app.services.settings.zone_of)
    return Outbox(OutboxRows(app.db), renderer, **({"clock": clock} if clock else {}))


async def states(app: App) -> list[str]:
    return [r[0] for r in await app.db.fetch_all("SELECT state FROM outbox ORDER BY id")]


async def settled(app: App) -> None:
    """Until no message is being sent (the platform has answered every request and its answer is recorded)."""
    for _ in range(100):
        if "sending" not in await states(app):
            return
        await asyncio.sleep(0.02)


def test_a_reply_survives_the_database_with_its_types() -> None:
    reply = Reply.of(
        Msg("x.title", style="title"),
        Msg("x.body", {"usd": Usd(Decimal("1234.5")), "n": Amount(Decimal("0.000001"), 8), "p": Pct(Decimal("-0.012"), 1, True),
                       "at": When(1_700_000_000), "zone": When(5, "Asia/Shanghai"), "count": 3, "raw": Decimal("1e-30"),
                       "who": "<b>Ann</b>", "inner": Msg("y", {"d": Decimal("2.50")})}),
        buttons=((Button(Msg("button.claim"), "stake.claim", ("MAG7.ssi", "all")),),),
        image=b"\x89PNG\x00\xff",
    )
    back = codec.loads(codec.dumps(reply))
    assert back == reply
    assert isinstance(back.lines[1].params["raw"], Decimal) and "\"1E-30\"" in codec.dumps(reply)  # a string, never a float


@pytest.mark.parametrize(
    ("local", "window", "held_until"),
    [
        ("2026-11-21 23:30", (22 * 60, 7 * 60), "2026-11-22 07:00"),  # wraps past midnight
        ("2026-11-22 06:59", (22 * 60, 7 * 60), "2026-11-22 07:00"),
        ("2026-11-22 07:00", (22 * 60, 7 * 60), None),  # the end is not quiet
        ("2026-11-21 21:59", (22 * 60, 7 * 60), None),
        ("2026-11-21 13:00", (12 * 60, 14 * 60), "2026-11-21 14:00"),
        ("2026-11-21 13:00", (14 * 60, 14 * 60), None),  # an empty window is no quiet hours
        ("2026-11-21 13:00", None, None),
    ],
)
def test_quiet_hours_end_in_the_readers_zone(local: str, window: tuple[int, int] | None, held_until: str | None) -> None:
    from zoneinfo import ZoneInfo

    zone = "Asia/Shanghai"
    now = int(datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo(zone)).timestamp())
    want = int(datetime.strptime(held_until, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo(zone)).timestamp()) if held_until else None
    assert quiet_until(now, zone, window) == want


async def test_a_message_is_stored_then_sent_once_and_its_key_makes_it_idempotent(app: App) -> None:
    user = await user_with_chat(app, "o1")
    platform = Platform()
    box = outbox_of(app)
    box.attach(platform)
    first = await box.put(user, Reply.of(Msg("help.title")), "price", key="price:1:0")
    again = await box.put(user, Reply.of(Msg("help.title")), "price", key="price:1:0")  # a job that ran twice
    assert first is not None and again is None
    await platform.wait(1)
    delivery = await box.result(first)
    assert delivery is not None and delivery.ok
    row = await app.db.fetch_one("SELECT state, sent_ref, chat_id FROM outbox WHERE id = :id", {"id": first})
    assert row is not None and (row[0], row[1], row[2]) == ("sent", "m1", "o1")
    await asyncio.sleep(0.1)
    assert platform.shown == [("o1", text(app, "help.title"))]
    await box.stop()


async def test_who_gets_nothing(app: App) -> None:
    box = outbox_of(app)
    silent = await user_with_chat(app, "o2")
    async with app.db.transaction() as tx:
        await tx.execute("INSERT INTO alert_settings (user_id, rebalance) VALUES (:user, 0)", {"user": silent})
    assert await box.put(silent, Reply.of(Msg("help.title")), "rebalance") is None  # switched off in /alerts
    assert await box.put(silent, Reply.of(Msg("help.title")), "price") is not None  # other kinds still on
    group_only = (await app.services.users.seen("console", "o3")).id  # never wrote privately: no chat to use
    assert await box.put(group_only, Reply.of(Msg("help.title")), "price") is None
    await box.rows.block_user(silent)
    assert await box.put(silent, Reply.of(Msg("help.title")), "price") is None


async def test_most_pressing_first_and_alerts_for_one_reader_as_one_message(app: App) -> None:
    a, b = await user_with_chat(app, "o4"), await user_with_chat(app, "o5")
    box = outbox_of(app)
    await box.put_chat("console", "o4", Reply.of(Msg("help.title")), "announcement", user_id=a, key="ann:o4")
    await box.put(a, Reply.of(Msg("timezone.set", {"zone": "A", "now": When(0, "UTC")})), "cooldown")
    await box.put(a, Reply.of(Msg("timezone.set", {"zone": "B", "now": When(0, "UTC")})), "price")
    await box.put_chat("console", "o5", Reply.of(Msg("help.title")), "trade", user_id=b)
    platform = Platform(sends_at_once=1)  # one at a time, so the order is the outbox's
    box.attach(platform)
    await platform.wait(3)
    chats = [chat for chat, _ in platform.shown]
    assert chats == ["o5", "o4", "o4"]  # the trade first, then o4's alerts (merged), then the bulk announcement
    merged = platform.shown[1][1]
    assert "A" in merged and "B" in merged and merged.count("\n\n") >= 1
    assert platform.shown[2][1] == text(app, "help.title")
    await settled(app)
    assert await states(app) == ["sent"] * 4
    await box.stop()


async def test_quiet_hours_hold_what_is_not_urgent(app: App) -> None:
    user = await user_with_chat(app, "o6")
    await app.services.settings.set_timezone(user, "Asia/Shanghai")
    async with app.db.transaction() as tx:  # 22:00-07:00 in Shanghai
        await tx.execute("INSERT INTO alert_settings (user_id, quiet_start, quiet_end) VALUES (:user, 1320, 420)", {"user": user})
    clock = Clock(datetime(2026, 11, 21, 16, 0, tzinfo=UTC))  # 00:00 in Shanghai
    box = outbox_of(app, clock)
    held = await box.put(user, Reply.of(Msg("help.title")), "rebalance")
    urgent = await box.put(user, Reply.of(Msg("help.title")), "price", urgent=True)
    platform = Platform()
    box.attach(platform)
    await platform.wait(1)
    await asyncio.sleep(0.2)
    assert len(platform.shown) == 1
    row = await app.db.fetch_one("SELECT state, due_at FROM outbox WHERE id = :id", {"id": held})
    assert row is not None and row[0] == "pending"
    assert row[1] == int(datetime(2026, 11, 21, 23, 0, tzinfo=UTC).timestamp())  # 07:00 in Shanghai
    assert (await app.db.fetch_one("SELECT state FROM outbox WHERE id = :id", {"id": urgent}))[0] == "sent"  # type: ignore[index]
    clock.now = datetime(2026, 11, 21, 23, 0, 1, tzinfo=UTC).timestamp()
    box.wake()
    await platform.wait(2)
    await box.stop()


async def test_after_a_crash_what_was_in_flight_is_never_sent_again(app: App) -> None:
    user = await user_with_chat(app, "o7")
    box = outbox_of(app)
    in_flight = await box.put(user, Reply.of(Msg("help.title")), "digest")
    waiting = await box.put(user, Reply.of(Msg("help.title")), "price")
    assert in_flight is not None and waiting is not None
    await box.rows.claim([in_flight])  # the process died after marking it, before the platform answered
    restarted = outbox_of(app)
    platform = Platform()
    restarted.attach(platform)
    await platform.wait(1)
    await asyncio.sleep(0.2)
    assert len(platform.shown) == 1 and platform.tried == 1
    assert await states(app) == ["unknown", "sent"]
    await restarted.stop()


async def test_a_crash_while_a_message_waits_for_its_turn_leaves_it_to_be_sent_after_the_restart(app: App) -> None:
    user = await user_with_chat(app, "o10")
    box = outbox_of(app)
    stuck = Platform()
    stuck.turn.clear()  # the rate limiter holds it
    box.attach(stuck)
    waiting = await box.put(user, Reply.of(Msg("help.title")), "price")
    await asyncio.sleep(0.2)
    assert await states(app) == ["pending"]  # not 'sending': it has not left
    await box.stop()  # the process dies (its requests never left)
    restarted = outbox_of(app)
    platform = Platform()
    restarted.attach(platform)
    await platform.wait(1)
    assert waiting is not None and (await restarted.result(waiting, timeout=5)).ok  # type: ignore[union-attr]
    assert platform.shown == [("o10", text(app, "help.title"))] and stuck.tried == 0
    await restarted.stop()


async def test_a_blocked_reader_is_marked_and_skipped_from_then_on(app: App) -> None:
    user = await user_with_chat(app, "o8")
    box = outbox_of(app)
    platform = Platform(answers=[Delivery("blocked", error="Forbidden: bot was blocked by the user")])
    box.attach(platform)
    first = await box.put(user, Reply.of(Msg("help.title")), "price")
    assert first is not None
    assert (await box.result(first, timeout=5)).status == "blocked"  # type: ignore[union-attr]
    assert await box.put(user, Reply.of(Msg("help.title")), "price") is None
    row = await app.db.fetch_one("SELECT blocked_at FROM users WHERE id = :id", {"id": user})
    assert row is not None and row[0] is not None
    await app.router.handle(ask("/help", user="o8"), PlainMarkup())  # writing to the bot again lifts it
    assert await box.put(user, Reply.of(Msg("help.title")), "price") is not None
    await box.stop()


async def test_later_means_later_and_too_many_refusals_fail(app: App) -> None:
    user = await user_with_chat(app, "o9")
    clock = Clock(datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
    box = outbox_of(app, clock)
    platform = Platform(answers=[Delivery("retry", retry_after=30, error="flood control")])
    box.attach(platform)
    message = await box.put(user, Reply.of(Msg("help.title")), "price")
    for _ in range(50):
        row = await app.db.fetch_one("SELECT state, due_at, attempts FROM outbox WHERE id = :id", {"id": message})
        if row is not None and row[2] == 1 and row[0] == "pending":
            break
        await asyncio.sleep(0.02)
    assert row is not None and (row[0], row[1]) == ("pending", int(clock.now) + 30)
    clock.now += 30
    box.wake()
    assert message is not None
    assert (await box.result(message, timeout=5)).ok  # type: ignore[union-attr]
    assert await states(app) == ["sent"] and platform.tried == 2
    await box.stop()

    stubborn = Platform(answers=[Delivery("retry", retry_after=1)] * MAX_ATTEMPTS)
    box = outbox_of(app, clock)
    box.attach(stubborn)
    doomed = await box.put(user, Reply.of(Msg("help.title")), "price")
    assert doomed is not None
    for attempt in range(1, MAX_ATTEMPTS):  # each refusal recorded (pending again, a second later), then that second
        for _ in range(250):  # passes: not a fixed sleep, which a slower database (PostgreSQL, a busy machine) outruns
            row = await app.db.fetch_one("SELECT state, attempts FROM outbox WHERE id = :id", {"id": doomed})
            if row is not None and (row[0], row[1]) == ("pending", attempt):
                break
            await asyncio.sleep(0.02)
        clock.now += 1
        box.wake()
    assert (await box.result(doomed, timeout=5)).status == "failed"  # type: ignore[union-attr]
    assert stubborn.tried == MAX_ATTEMPTS and stubborn.shown == []
    await box.stop()


async def test_a_fan_out_is_stored_at_once_and_resumable(app: App) -> None:
    users = [await user_with_chat(app, f"f{i}") for i in range(5)]
    box = outbox_of(app)
    messages = [NewMessage("console", f"f{i}", u, "announcement", 2, codec.dumps(Reply.of(Msg("help.title"))), dedupe=f"ann:1:{u}")
                for i, u in enumerate(users)]
    assert await box.rows.add_many(messages[:3]) == 3
    assert await box.rows.add_many(messages) == 2  # a resumed fan-out stores only what is missing
    platform = Platform()
    box.attach(platform)
    await platform.wait(5)
    assert sorted(chat for chat, _ in platform.shown) == [f"f{i}" for i in range(5)]
    await box.stop()
