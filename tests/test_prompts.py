"""Questions (`Reply.ask`): the router stores one per user and chat, the next plain message there answers it, a
command wins over it, Cancel ends it, it times out, another user's reply is not its answer; over a real database on
both engines, across a restart and across two processes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from io import StringIO

from auxil.clock import Clock
from auxil.trading import PIN, custodial_user
from bot.app import App
from bot.config import ConfigError, load_config
from bot.core.errors import UserError
from bot.core.messages import Ask, Count, Msg, Reply
from bot.core.request import Caller, Request
from bot.core.router import Outcome, Router
from bot.frontends.adapters.base import PlainMarkup
from bot.frontends.adapters.console import ConsoleFrontend
from bot.i18n import Catalogs
from bot.storage.db import Database
from bot.delivery.housekeeping import DAY, Housekeeping, Retention
from bot.storage.prompts import PromptRows
from bot.storage.purge import PurgeRows
from bot.storage.repositories import ButtonRows, UserRows
from bot.storage.schema import prompts

MARKUP = PlainMarkup()
CATALOGS = Catalogs()
MINUTE = 60


@dataclass
class Answers:
    """What the test prompts were told: (prompt, text, state) per answer taken."""

    taken: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def make_router(db: Database, clock: Clock, answers: Answers) -> Router:
    """A router with `/count` (asks a number), `/pin_test` (asks a PIN) and `/other` (a plain command)."""
    router = Router(UserRows(db, clock), ButtonRows(db, clock), CATALOGS, clock=clock,
                    prompts=PromptRows(db, clock), prompt_seconds=5 * MINUTE)

    async def count(caller: Caller) -> Reply:
        return Reply.of(Msg("withdraw.ask.asset"), ask=Ask("test.number", ("kept",), Msg("prompt.field.amount")))

    async def pin_test(caller: Caller) -> Reply:
        return Reply.of(Msg("pin.ask.current"), ask=Ask("test.pin", (), Msg("prompt.field.pin"), secret="pin"))

    async def other(caller: Caller) -> Reply:
        return Reply.of(Msg("help.title"))

    async def number(caller: Caller, text: str, state: tuple[str, ...]) -> Reply:
        if not text.isdigit():
            raise UserError("error.amount.format", value=text)
        answers.taken.append(("test.number", text, state))
        return Reply.of(Msg("lang.set", {"language": text}))

    async def number_again(caller: Caller, state: tuple[str, ...]) -> Reply:
        return Reply.of(Msg("withdraw.ask.asset"), ask=Ask("test.number", state, Msg("prompt.field.amount")))

    async def pin(caller: Caller, text: str, state: tuple[str, ...]) -> Reply:
        if len(text) != 6:
            raise UserError("error.pin.length", min=4, count=Count(8))
        answers.taken.append(("test.pin", "******", state))
        return Reply.of(Msg("pin.set"))

    async def pin_again(caller: Caller, state: tuple[str, ...]) -> Reply:
        return Reply.of(Msg("pin.ask.current"), ask=Ask("test.pin", state, Msg("prompt.field.pin"), secret="pin"))

    router.command("count", count)
    router.command("pin_test", pin_test)
    router.command("other", other)
    router.prompt("test.number", number, number_again)
    router.prompt("test.pin", pin, pin_again)
    return router


def typed(text: str, answers: Answers | None = None, user: str = "u1", chat: str = "c1",
          chat_type: str = "private", platform: str = "telegram") -> Request:
    """A message as Telegram's adapter makes it: a /command, or plain text (a possible answer)."""
    words = tuple(text.split())
    command = words[0][1:] if text.startswith("/") else None
    args = words[1:] if command else words

    async def delete() -> bool:
        if answers is not None:
            answers.deleted.append(text)
        return True

    return Request(platform=platform, user_id=user, chat_id=chat, chat_type=chat_type, locale="en",  # type: ignore[arg-type]
                   command=command, args=args, text=text, text_length=len(text), delete_message=delete)


def pressed(token: str, user: str = "u1", chat: str = "c1") -> Request:
    return Request(platform="telegram", user_id=user, chat_id=chat, chat_type="private", locale="en", button_token=token)


def said(key: str, **params: object) -> str:
    """A catalog sentence as the console shows it (the router alone, no app)."""
    return CATALOGS.render_msg(Msg(key, params), "en", MARKUP.escape)  # type: ignore[arg-type]


def cancel_of(outcome: Outcome) -> str:
    (button,) = [b for row in outcome.rendered.buttons for b in row if b.label == "Cancel"]
    return button.token


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def answers() -> Answers:
    return Answers()


@pytest.fixture
def router(db: Database, clock: Clock, answers: Answers) -> Router:
    return make_router(db, clock, answers)


async def test_the_next_plain_message_answers_the_question(router: Router, answers: Answers) -> None:
    asked = await router.handle(typed("/count"), MARKUP)
    assert asked.rendered.ask is not None and asked.rendered.ask.field == "Amount"
    assert [b.label for row in asked.rendered.buttons for b in row] == ["Cancel"]
    answered = await router.handle(typed("42"), MARKUP)
    assert answered.rendered.text == said("lang.set", language="42")
    assert answers.taken == [("test.number", "42", ("kept",))]
    again = await router.handle(typed("43"), MARKUP)  # answered once: the question is closed
    assert again.rendered.text == said("error.command.unknown", command="")
    assert len(answers.taken) == 1


async def test_a_refused_answer_is_said_and_the_question_asked_again(router: Router, answers: Answers) -> None:
    await router.handle(typed("/count"), MARKUP)
    refused = await router.handle(typed("ten"), MARKUP)
    assert refused.rendered.text.startswith(said("error.amount.format", value="ten"))
    assert refused.rendered.ask is not None  # still open
    answered = await router.handle(typed("10"), MARKUP)
    assert answers.taken == [("test.number", "10", ("kept",))] and answered.rendered.ask is None


@dataclass(frozen=True)
class Bad:
    """One bad input: what happens between the question and a final valid answer, and what the user is told."""

    name: str
    steps: tuple[str, ...]  # "/count", plain text, "cancel", "later", "other:<text>" (another user in the group)
    told: str  # the catalog entry the last step's reply starts with (rendered with `params`)
    params: dict[str, object] = field(default_factory=dict)
    open_after: bool = False  # the question still takes an answer afterwards
    group: bool = False


BAD = [
    Bad("time-out", ("later", "7"), "prompt.expired", {"count": Count(5)}),
    Bad("cancel", ("cancel",), "prompt.cancelled"),
    Bad("command wins", ("/other",), "prompt.ended"),
    Bad("another user's reply in a group", ("other:7",), "prompt.not_yours", open_after=True, group=True),
    Bad("not a number", ("seven",), "error.amount.format", {"value": "seven"}, open_after=True),
]


@pytest.mark.parametrize("bad", BAD, ids=[b.name for b in BAD])
async def test_bad_input_changes_nothing(router: Router, answers: Answers, clock: Clock, bad: Bad) -> None:
    where = {"chat_type": "group"} if bad.group else {}
    asked = await router.handle(typed("/count", **where), MARKUP)  # type: ignore[arg-type]
    outcome = asked
    for step in bad.steps:
        if step == "later":
            clock.now += 5 * MINUTE + 1
        elif step == "cancel":
            outcome = await router.handle(pressed(cancel_of(asked)), MARKUP)
        elif step.startswith("other:"):
            outcome = await router.handle(typed(step[6:], user="u2", **where), MARKUP)  # type: ignore[arg-type]
        else:
            outcome = await router.handle(typed(step, **where), MARKUP)  # type: ignore[arg-type]
    assert outcome.rendered.text.startswith(said(bad.told, **bad.params))
    assert answers.taken == []  # nothing was answered
    final = await router.handle(typed("8", **where), MARKUP)  # type: ignore[arg-type]
    assert (answers.taken == [("test.number", "8", ("kept",))]) is bad.open_after


async def test_a_pin_answer_is_deleted_whatever_it_holds(router: Router, answers: Answers) -> None:
    await router.handle(typed("/pin_test"), MARKUP)
    short = await router.handle(typed("12", answers), MARKUP)  # the wrong length: refused, deleted, asked again
    assert answers.deleted == ["12"] and answers.taken == []
    assert said("error.pin.length", min=4, count=Count(8)) in short.rendered.text and short.rendered.ask is not None
    assert short.rendered.ask.secret and short.rendered.delete_request
    done = await router.handle(typed("482915", answers), MARKUP)
    assert answers.deleted == ["12", "482915"] and answers.taken == [("test.pin", "******", ())]
    assert "482915" not in done.rendered.text


async def test_an_amount_shaped_like_a_pin_is_not_deleted(router: Router, answers: Answers) -> None:
    """A lone 4-digit number is taken for a PIN and deleted, except as the answer to a question that is no PIN's."""
    await router.handle(typed("/count"), MARKUP)
    await router.handle(typed("1000", answers), MARKUP)
    assert answers.taken == [("test.number", "1000", ("kept",))] and answers.deleted == []
    await router.handle(typed("1000", answers), MARKUP)  # no question open now: a lone PIN, deleted
    assert answers.deleted == ["1000"]


async def test_one_question_per_user_and_chat(router: Router, answers: Answers) -> None:
    await router.handle(typed("/count", chat="c1"), MARKUP)
    await router.handle(typed("/count", chat="c2", user="u2"), MARKUP)
    await router.handle(typed("5", chat="c2", user="u2"), MARKUP)
    await router.handle(typed("6", chat="c1"), MARKUP)
    assert [a[1] for a in answers.taken] == ["5", "6"]


async def test_the_question_survives_a_restart(db: Database, clock: Clock, answers: Answers) -> None:
    await make_router(db, clock, answers).handle(typed("/count"), MARKUP)
    restarted = make_router(db, clock, answers)  # a new process: nothing in memory
    await restarted.handle(typed("9"), MARKUP)
    assert answers.taken == [("test.number", "9", ("kept",))]


async def test_two_processes_one_answer(db: Database, other: Database, clock: Clock, answers: Answers) -> None:
    """Two processes of a fleet given the same answer at once (a redelivery): one takes the question."""
    first, second = make_router(db, clock, answers), make_router(other, clock, answers)
    await first.handle(typed("/count"), MARKUP)
    await asyncio.gather(first.handle(typed("3"), MARKUP), second.handle(typed("3"), MARKUP))
    assert answers.taken == [("test.number", "3", ("kept",))]


async def test_prompt_rows(db: Database, clock: Clock) -> None:
    users = UserRows(db, clock)
    user = (await users.seen("telegram", "7")).id
    rows = PromptRows(db, clock)
    await rows.open(user, "chat", "a", ("x",), "prompt.field.amount", None, 60)
    await rows.open(user, "chat", "b", ("y", "z"), "prompt.field.pin", "pin", 60)  # replaces the first
    peeked = await rows.peek(user, "chat")
    assert peeked is not None and (peeked.prompt, peeked.state, peeked.secret) == ("b", ("y", "z"), "pin")
    taken = await rows.take(user, "chat")
    assert taken == peeked and await rows.take(user, "chat") is None
    await rows.open(user, "chat", "c", (), "prompt.field.amount", None, 60)
    assert await rows.end(user, "chat") and not await rows.end(user, "chat")
    await rows.open(user, "chat", "d", (), "prompt.field.amount", None, 60)
    assert await rows.purge_expired(int(clock.now) + 61) == 1 and await rows.peek(user, "chat") is None


# -- the guided commands that ask for PINs, through the console on the devnet -----------------------------------


class Typing:
    """A console user typing lines into the real console front end; what each line printed."""

    def __init__(self, router: Router, user: str) -> None:
        self.out = StringIO()
        self.console = ConsoleFrontend(router, stdin=StringIO(), stdout=self.out, user_id=user)

    async def line(self, typed: str) -> str:
        start = len(self.out.getvalue())
        await self.console.handle_line(typed)
        return self.out.getvalue()[start:]


async def test_pin_asked_twice_and_a_mismatch_says_so(app: App) -> None:
    uid, _ = await custodial_user(app, "p1", pin=None)
    user = Typing(app.router, "p1")
    assert said("pin.ask.new", min=4, count=Count(8)) in await user.line("/pin")
    assert said("error.pin.weak") in await user.line("1234")  # refused, asked again, nothing set
    assert said("pin.ask.again") in await user.line("2580")
    mismatch = await user.line("2581")
    assert said("pin.mismatch") in mismatch and said("pin.ask.new", min=4, count=Count(8)) in mismatch
    assert not await app.services.pins.has_pin(uid)
    await user.line("2580")
    assert said("pin.set") in await user.line("2580")
    await app.services.pins.check_pin(uid, "2580")
    assert said("pin.ask.current") in await user.line("/pin")  # a PIN now: the current one first
    assert said("error.pin.wrong", count=Count(4)) in await user.line("9753")
    await user.line("2580")
    await user.line("8642")
    assert said("pin.changed") in await user.line("8642")
    await app.services.pins.check_pin(uid, "8642")
    stored = await app.db.fetch_all(prompts.select())
    assert stored == []  # nothing kept once answered (and what was kept between steps was sealed, never the PIN)


async def test_wallet_export_asks_the_pin(app: App) -> None:
    uid, address = await custodial_user(app, "p2")
    user = Typing(app.router, "p2")
    assert said("wallet.export.ask") in await user.line("/wallet export")
    assert said("error.pin.length", min=4, count=Count(8)) in await user.line("12")
    shown = await user.line(PIN)
    assert said("wallet.export.title") in shown and "0x" in shown and PIN not in shown


async def test_questions_left_unanswered_are_purged_a_day_after_they_timed_out(db: Database, clock: Clock) -> None:
    user = (await UserRows(db, clock).seen("telegram", "8")).id
    await PromptRows(db, clock).open(user, "c", "a", (), "prompt.field.amount", None, MINUTE)
    soon = await Housekeeping(ButtonRows(db), PurgeRows(db), Retention(), clock=lambda: clock.now + 2 * MINUTE).purge()
    assert soon["questions"] == 0  # a late answer is still told the question timed out
    later = await Housekeeping(ButtonRows(db), PurgeRows(db), Retention(), clock=lambda: clock.now + MINUTE + DAY + 1).purge()
    assert later["questions"] == 1 and await PromptRows(db, clock).peek(user, "c") is None


@pytest.mark.parametrize(("typed", "seconds"), [(None, 300), ("120", 120), ("29", None), ("a day", None)])
def test_how_long_a_question_waits_is_configured(typed: str | None, seconds: int | None) -> None:
    env = {"INDEXBOT_PROMPT_SECONDS": typed} if typed is not None else {}
    if seconds is None:
        with pytest.raises(ConfigError, match="INDEXBOT_PROMPT_SECONDS"):
            load_config(env)
    else:
        assert load_config(env).prompt_seconds == seconds
