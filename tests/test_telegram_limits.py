"""Telegram's flood limits: kept by the bot's rate limiter (bot/frontends/adapters/telegram_limits.py), enforced by the
Bot API emulator. Messages go the real way: the app's outbox, its dispatcher, TelegramFrontend, python-telegram-
bot, the limiter, HTTP. Limits are time-scaled (`scale` multiplies every rate) so each test takes a second or two.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
from telegram.error import RetryAfter

from bot.frontends.adapters.telegram import TelegramFrontend
from bot.frontends.adapters.telegram_limits import Bucket, TelegramLimits, TelegramRateLimiter, Window
from bot.app import App
from bot.core.messages import Msg, Reply
from bot.storage.outbox import NewMessage
from bot.delivery.outbox import codec
from telegram_emulator import BotApiEmulator, Call, EmulatedLimits

HELP = Reply.of(Msg("help.title"))


async def limited(app: App, scale: float) -> tuple[BotApiEmulator, TelegramFrontend]:
    emulator = await BotApiEmulator(limits=EmulatedLimits(scale=scale)).start()
    front = TelegramFrontend(app, emulator.token, emulator.url, limits=TelegramLimits(scale=scale))
    await front.start()
    app.notices.attach(front)
    return emulator, front


@pytest.fixture
async def fast(app: App) -> AsyncIterator[tuple[BotApiEmulator, TelegramFrontend]]:
    """Limits ten times Telegram's: 300 messages/s overall, 10/s per private chat, 200/min per group."""
    emulator, front = await limited(app, 10)
    yield emulator, front
    await app.notices.detach(front)
    await front.stop()
    await emulator.stop()


@pytest.fixture
async def busy(app: App) -> AsyncIterator[tuple[BotApiEmulator, TelegramFrontend]]:
    """Limits three times Telegram's: 90 messages/s, which the bot and the emulator sharing one event loop (one
    core) fill with room to spare on a busy machine; bench/broadcast.py runs them apart at higher rates."""
    emulator, front = await limited(app, 3)
    yield emulator, front
    await app.notices.detach(front)
    await front.stop()
    await emulator.stop()


@pytest.fixture
async def real(app: App) -> AsyncIterator[tuple[BotApiEmulator, TelegramFrontend]]:
    """Telegram's own limits (30 messages/s)."""
    emulator, front = await limited(app, 1)
    yield emulator, front
    await app.notices.detach(front)
    await front.stop()
    await emulator.stop()


def fan_out(chats: list[int], kind: str = "announcement") -> list[NewMessage]:
    priority = 2 if kind == "announcement" else 1
    return [NewMessage("telegram", str(chat), None, kind, priority, codec.dumps(HELP), dedupe=f"{kind}:{chat}:{i}")
            for i, chat in enumerate(chats)]


async def queue(app: App, messages: list[NewMessage]) -> None:
    assert await app.outbox.rows.add_many(messages) == len(messages)
    app.outbox.wake("telegram")


async def settled(app: App, timeout: float = 5.0) -> None:
    """Until the outbox has recorded an answer for every message."""
    deadline = time.monotonic() + timeout
    while (row := await app.db.fetch_one("SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')")) and row[0]:
        assert time.monotonic() < deadline, f"{row[0]} messages still unanswered"
        await asyncio.sleep(0.02)


def sends(emulator: BotApiEmulator, since: int = 0) -> list[Call]:
    return [c for c in emulator.calls_to("sendMessage", since) if c.result and "message_id" in c.result]


# -- the limiter alone -----------------------------------------------------------------------------------


def test_window_counts_each_request_from_its_answer() -> None:
    window = Window(2, 1.0)
    assert window.ready_at(0.0) == 0.0
    window.start()
    window.start()
    assert window.ready_at(0.1) == float("inf")  # both in flight: only an answer frees a place
    window.finish(0.3)
    assert window.ready_at(0.4) == 1.3  # a full period after the first answer
    window.finish(0.5)
    assert window.ready_at(1.2) == 1.3 and window.ready_at(1.3) == 1.3
    window.start()
    assert window.ready_at(1.4) == 1.5
    assert not window.idle(5.0)
    window.finish(1.6)
    assert window.idle(2.6) and not window.idle(2.5)


def test_a_private_chat_gets_a_burst_then_its_rate() -> None:
    """Three at once after a quiet spell, then one a second; a message in flight counts as taken, and the bucket
    is debited at the answer (never fuller than Telegram's, which debits on arrival)."""
    bucket = Bucket(3, 1.0)
    for _ in range(3):
        assert bucket.ready_at(0.0) == 0.0
        bucket.start()
    assert bucket.ready_at(0.0) == 1.0  # three in flight: the fourth waits for a token to refill
    for _ in range(3):
        bucket.finish(0.5)
    assert bucket.ready_at(0.5) == 1.5  # empty at the answers: one second more
    bucket.start()
    bucket.finish(1.5)
    assert bucket.ready_at(1.5) == 2.5
    assert not bucket.idle(4.4) and bucket.idle(4.5)  # full again three seconds after the last answer


async def test_a_reply_overtakes_a_bulk_backlog_by_one_slot_at_most() -> None:
    limiter = TelegramRateLimiter(TelegramLimits(scale=10))
    order: list[str] = []

    def call(name: str) -> Callable[[], Coroutine[Any, Any, bool]]:
        async def send() -> bool:
            order.append(name)
            await asyncio.sleep(0.002)  # the request on the wire
            return True
        return send

    async def request(name: str, chat: int, priority: int) -> None:
        await limiter.process_request(call(name), (), {}, "sendMessage", {"chat_id": chat}, {"priority": priority})

    backlog = [asyncio.create_task(request(f"bulk{i}", 1000 + i, 2)) for i in range(60)]
    while len(order) < 20:
        await asyncio.sleep(0.001)
    position = len(order)
    await request("reply", 7, 0)
    assert order.index("reply") - position <= 1
    assert len(order) < 40  # the backlog was far from drained
    await asyncio.gather(*backlog)
    assert len(order) == 61


def refusing(at: dict[str, list[float]], refusals: dict[str, int]) -> Callable[[str], Callable[[], Coroutine[Any, Any, bool]]]:
    """A request named `name` that Telegram refuses with 429 (retry after 1) `refusals[name]` times."""
    def call(name: str) -> Callable[[], Coroutine[Any, Any, bool]]:
        async def send() -> bool:
            at.setdefault(name, []).append(time.monotonic())
            if refusals.get(name, 0) > 0:
                refusals[name] -= 1
                raise RetryAfter(1)
            return True
        return send
    return call


async def test_a_chats_429_pauses_that_chat_only_and_the_refused_one_is_retried() -> None:
    limiter = TelegramRateLimiter(TelegramLimits(scale=10), max_retries=1)
    at: dict[str, list[float]] = {}
    call = refusing(at, {"a": 1, "never": 5})

    async def request(name: str, chat: int, endpoint: str = "sendMessage") -> None:
        await limiter.process_request(call(name), (), {}, endpoint, {"chat_id": chat}, {"priority": 2})

    await request("a", 1)
    assert at["a"][1] - at["a"][0] >= 0.99  # retried after its chat's pause, once
    refused = asyncio.create_task(request("never", 2))  # refused twice: the error goes to the caller
    await asyncio.sleep(0.01)
    other = asyncio.create_task(request("other", 3))  # another chat's message is not held by chat 2's pause
    probe = asyncio.create_task(request("probe", 4, "getMe"))
    same = asyncio.create_task(request("same", 2))  # chat 2's next message waits out chat 2's pause
    await asyncio.gather(other, probe)
    assert at["other"][0] - at["never"][0] < 0.5 and at["probe"][0] - at["never"][0] < 0.5
    with pytest.raises(RetryAfter):
        await refused
    await same
    assert at["same"][0] - at["never"][0] >= 0.99
    assert len(at["never"]) == 2 and limiter.pauses == 0 and limiter.chat_pauses == 3


async def test_429s_from_several_chats_or_for_no_chat_pause_everything() -> None:
    """Telegram's 429 does not say which limit it was: refusals for two chats within one pause are the overall
    limit, as is a refusal of a request that goes to no chat."""
    limiter = TelegramRateLimiter(TelegramLimits(scale=10))
    at: dict[str, list[float]] = {}
    call = refusing(at, {"x": 1, "y": 1, "answer": 1})

    async def request(name: str, chat: int | None, endpoint: str = "sendMessage") -> None:
        data = {"chat_id": chat} if chat is not None else {}
        await limiter.process_request(call(name), (), {}, endpoint, data, {"priority": 2})

    x, y = asyncio.create_task(request("x", 11)), asyncio.create_task(request("y", 12))
    await asyncio.sleep(0.05)
    other = asyncio.create_task(request("other", 13))
    await asyncio.gather(x, y, other)
    assert limiter.pauses == 1 and at["other"][0] - at["y"][0] >= 0.95
    started = time.monotonic()
    await request("answer", None, "answerCallbackQuery")
    await request("after", 14)
    assert limiter.pauses == 2 and at["after"][0] - started >= 0.99


# -- through the outbox, against the emulator's limits -----------------------------------------------------


async def test_a_bulk_burst_never_breaks_the_limit(app: App, busy: tuple[BotApiEmulator, TelegramFrontend]) -> None:
    """How close to the limit a burst gets depends on the machine: bench/broadcast.py measures it. Here: never
    above it (the emulator would answer 429), each recipient once."""
    emulator, _ = busy
    n = 180
    await queue(app, fan_out(list(range(10_000, 10_000 + n))))
    await emulator.wait_count("sendMessage", n, timeout=20)
    sent = sends(emulator)
    rate = (len(sent) - 1) / (sent[-1].at - sent[0].at)
    assert emulator.too_many == 0
    assert len(emulator.sent_to) == n and set(emulator.sent_to.values()) == {1}
    assert rate <= 90.0


@pytest.mark.platform  # starts a chat platform's stand-in or front end itself
async def test_per_chat_and_per_group_limits_hold(app: App) -> None:
    emulator, front = await limited(app, 30)  # 1 per 33 ms per private chat, 20 per 2 s per group
    try:
        private, group = 4242, -100_777
        await queue(app, fan_out([private] * 4 + [group] * 23, kind="notice"))
        await emulator.wait_count("sendMessage", 27, timeout=20)
        assert emulator.too_many == 0
        to_private = [c.at for c in sends(emulator) if c.chat_id == private]
        to_group = [c.at for c in sends(emulator) if c.chat_id == group]
        assert len(to_private) == 4 and len(to_group) == 23
        assert to_private[3] - to_private[0] >= 1 / 30  # a burst of three, then the chat's pace
        assert min(b - a for a, b in zip(to_group, to_group[20:])) >= 2.0
        assert to_group[19] - to_group[0] < 1.0  # the first 20 did not wait
    finally:
        await app.notices.detach(front)
        await front.stop()
        await emulator.stop()


async def test_a_direct_reply_is_answered_before_the_backlog_drains(app: App, fast: tuple[BotApiEmulator, TelegramFrontend]) -> None:
    emulator, _ = fast
    n = 600  # two seconds of backlog at the scaled limit
    await queue(app, fan_out(list(range(20_000, 20_000 + n))))
    await emulator.wait_count("sendMessage", 60, timeout=10)
    asked = emulator.mark()
    emulator.send_text(31337, 31337, "/help")
    reply = await emulator.wait_for("sendMessage", lambda c: c.chat_id == 31337, since=asked, timeout=10)
    bulk_before = sum(1 for c in emulator.calls_to("sendMessage", asked) if c.chat_id != 31337 and c.at < reply.at)
    await emulator.wait_count("sendMessage", n + 1, timeout=20)
    bulk_after = sum(1 for c in sends(emulator) if c.chat_id != 31337 and c.at > reply.at)
    assert emulator.too_many == 0
    assert app.services.catalogs.render_msg(Msg("help.title"), "en", str) in reply.params["text"]  # type: ignore[arg-type]
    # Between the update and its answer only what the handler's own work lets through: a few slots of 3.4 ms.
    assert bulk_before <= 15, bulk_before
    assert bulk_after >= n - 60 - bulk_before - 30  # it did not wait for the backlog


async def test_a_chats_429_holds_that_chat_only_and_the_message_arrives_once(app: App, real: tuple[BotApiEmulator, TelegramFrontend]) -> None:
    emulator, front = real
    emulator.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    chats = [30_001, 30_002, 30_003, 30_004]
    await queue(app, fan_out(chats))
    await emulator.wait_count("sendMessage", 5, timeout=5)
    refused, *rest = emulator.calls_to("sendMessage")
    assert refused.result["error_code"] == 429
    again = next(c for c in rest if c.chat_id == refused.chat_id)
    others = [c for c in rest if c.chat_id != refused.chat_id]
    assert again.at - refused.at >= 0.95  # that chat waited out its pause
    assert len(others) == 3 and max(c.at for c in others) - refused.at < 0.5  # nobody else did
    assert front.bot.rate_limiter.pauses == 0  # type: ignore[union-attr]
    assert sorted(emulator.sent_to) == chats and set(emulator.sent_to.values()) == {1}
    await settled(app)
    states = await app.db.fetch_all("SELECT state, attempts FROM outbox WHERE chat_id IN ('30001', '30002', '30003', '30004')")
    assert [tuple(r) for r in states] == [("sent", 1)] * 4  # retried inside the limiter: one attempt in the outbox


async def test_429s_for_two_chats_pause_everything(app: App, real: tuple[BotApiEmulator, TelegramFrontend]) -> None:
    emulator, front = real
    for _ in range(2):
        emulator.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    chats = [31_001, 31_002, 31_003, 31_004]
    await queue(app, fan_out(chats))
    await emulator.wait_count("sendMessage", 6, timeout=5)
    first, second, *rest = emulator.calls_to("sendMessage")
    assert first.chat_id != second.chat_id and second.result["error_code"] == 429
    assert min(c.at for c in rest) - second.at >= 0.95
    assert front.bot.rate_limiter.pauses == 1  # type: ignore[union-attr]
    assert sorted(emulator.sent_to) == chats and set(emulator.sent_to.values()) == {1}


async def test_one_user_flooding_holds_only_their_own_replies(app: App, fast: tuple[BotApiEmulator, TelegramFrontend]) -> None:
    """Issue 15: one user's 20 commands at once made Telegram refuse that chat 17 times, and each refusal paused
    every request. Now their replies keep their chat's pace (no 429) and nobody else waits for them."""
    emulator, front = fast  # 10 a second per private chat
    flooder, others = 50_000, list(range(50_001, 50_011))
    asked = emulator.mark()
    for _ in range(20):
        emulator.send_text(flooder, flooder, "/help")
    for chat in others:
        emulator.send_text(chat, chat, "/help")
    # every reply in, then read when each came: counting to "the others' 10 and the flooder's burst of 3" could
    # stop one short of the others' last reply on a loaded machine (the flooder's 4th may come first)
    await emulator.wait_count("sendMessage", 30, timeout=10, since=asked)
    to_others = [c for c in emulator.calls_to("sendMessage", asked) if c.chat_id in others]
    to_flooder = [c.at for c in emulator.calls_to("sendMessage", asked) if c.chat_id == flooder]
    assert emulator.too_many == 0 and front.bot.rate_limiter.pauses == 0  # type: ignore[union-attr]
    assert len(to_others) == 10 and max(c.at for c in to_others) - to_flooder[0] < 0.5
    # their chat's pace: Telegram's bucket (a burst of 3, then 10 a second here) lets k replies span no less than
    # (k - 3) / 10 s, over the whole run (a spell in which the chat's handling was slow refills the bucket, so the
    # replies after it may come closer together than 0.1 s and still keep the limit, as the emulator saw: no 429).
    # 10 ms for arrival times at the emulator, which jitter by a few ms each on a loaded machine.
    burst, rate = front.limits.per_chat_burst, front.limits.per_chat_per_second * front.limits.scale
    assert len(to_flooder) == 20 and to_flooder[-1] - to_flooder[0] >= (len(to_flooder) - burst) / rate - 0.01
    assert to_flooder[burst] - to_flooder[0] >= 1 / rate - 0.01


async def test_a_blocked_chat_marks_the_user(app: App, fast: tuple[BotApiEmulator, TelegramFrontend]) -> None:
    emulator, _ = fast
    user = await app.services.users.seen("telegram", "40404", "Blocker", dm_chat="40404")
    emulator.block(40404)
    message_id = await app.outbox.put(user.id, HELP, "announcement", key="blocked-test")
    assert message_id is not None
    delivery = await app.outbox.result(message_id, timeout=5)
    assert delivery is not None and delivery.status == "blocked"
    assert emulator.calls_to("sendMessage")[-1].result["error_code"] == 403
    row = await app.db.fetch_one("SELECT blocked_at FROM users WHERE id = :id", {"id": user.id})
    assert row is not None and row[0] is not None
    assert await app.outbox.put(user.id, HELP, "announcement", key="blocked-test-2") is None  # skipped from now on
