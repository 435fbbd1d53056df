"""The router over a real SQLite file: commands, errors as localized replies, buttons kept server-side."""

from pathlib import Path

import pytest

from bot.frontends.adapters.base import PlainMarkup
from bot.core.errors import UserError
from bot.core.messages import Button, Msg, Reply
from bot.core.request import Caller, PrivateLinks, Request
from bot.core.router import MAX_MESSAGE_CHARS, Router, Suggestion
from bot.i18n import Catalogs
from bot.storage.db import Database
from bot.storage.migrate import head
from bot.storage.repositories import ButtonRows, UserRows

MARKUP = PlainMarkup()


@pytest.fixture
async def router(db: Database) -> Router:
    r = Router(UserRows(db), ButtonRows(db), Catalogs())
    pressed: list[tuple[str, ...]] = []

    async def offer(caller: Caller) -> Reply:
        return Reply.of(Msg("help.title"), buttons=((Button(Msg("button.refresh"), "test.press", ("a", "b")),),))

    async def press(caller: Caller, args: tuple[str, ...]) -> Reply:
        pressed.append(args)
        return Reply.of(Msg("lang.set", {"language": "|".join(args)}))

    async def fails(caller: Caller) -> Reply:
        raise RuntimeError("boom")

    async def refuses(caller: Caller) -> Reply:
        raise UserError("error.amount.zero", unit="USDC")

    r.command("offer", offer)
    r.command("fails", fails)
    r.command("refuses", refuses)
    r.command("secret", offer, private_only=True)
    r.action("test.press", press)
    r.pressed = pressed  # type: ignore[attr-defined]
    return r


def req(user: str = "1", **kw: object) -> Request:
    base: dict[str, object] = dict(platform="console", user_id=user, chat_id="c", chat_type="private", locale="en")
    base.update(kw)
    return Request(**base)  # type: ignore[arg-type]


async def test_migrations_applied_once_and_wal(tmp_path: Path) -> None:
    for _ in range(2):  # reopening applies nothing twice
        database = await Database.open(tmp_path / "m.sqlite3")
        versions = [r[0] for r in await database.fetch_all("SELECT version_num FROM alembic_version")]
        mode = (await database.fetch_all("PRAGMA journal_mode"))[0][0]
        await database.close()
        assert versions == [head()]
        assert mode == "wal"


async def test_button_carries_only_an_opaque_token(router: Router) -> None:
    out = await router.handle(req(command="offer"), MARKUP)
    (button,) = out.rendered.buttons[0]
    assert button.label == "Refresh"
    assert "test.press" not in button.token and "a" != button.token and len(button.token) >= 20
    pressed = await router.handle(req(button_token=button.token), MARKUP)
    assert pressed.rendered.text == "Language set to a|b."
    assert router.pressed == [("a", "b")]  # type: ignore[attr-defined]


async def test_someone_elses_button_is_refused(router: Router) -> None:
    out = await router.handle(req(user="owner", command="offer"), MARKUP)
    token = out.rendered.buttons[0][0].token
    stolen = await router.handle(req(user="thief", button_token=token), MARKUP)
    assert stolen.ephemeral
    assert stolen.rendered.text == Catalogs().text("error.button.not_yours", "en")
    assert router.pressed == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("token", ["nonsense", "", "x" * 500, "'; DROP TABLE buttons; --"])
async def test_forged_tokens_are_refused(router: Router, token: str) -> None:
    out = await router.handle(req(button_token=token), MARKUP)
    assert out.ephemeral and out.rendered.text == Catalogs().text("error.button.expired", "en")


async def test_expired_button(router: Router, db: Database) -> None:
    out = await router.handle(req(command="offer"), MARKUP)
    token = out.rendered.buttons[0][0].token
    async with db.transaction() as tx:
        await tx.execute("UPDATE buttons SET expires_at = 0")
    late = await router.handle(req(button_token=token), MARKUP)
    assert late.rendered.text == Catalogs().text("error.button.expired", "en")
    assert await ButtonRows(db).purge_expired() == 1


async def test_errors_become_localized_replies(router: Router) -> None:
    zh = await router.handle(req(command="refuses", locale="zh-CN"), MARKUP)
    assert zh.rendered.text == "USDC 金额必须大于零。"
    crash = await router.handle(req(command="fails"), MARKUP)
    assert crash.rendered.text == Catalogs().text("error.internal", "en")
    unknown = await router.handle(req(command="nope"), MARKUP)
    assert '"nope"' in unknown.rendered.text and "/help" in unknown.rendered.text


async def test_too_long_and_private_only(router: Router) -> None:
    long = await router.handle(req(command="offer", text_length=4000), MARKUP)
    assert f"at most {MAX_MESSAGE_CHARS:,} characters" in long.rendered.text and not long.rendered.buttons  # grouped: 1,000
    group = await router.handle(req(command="secret", chat_type="group"), MARKUP)
    assert group.rendered.text == Catalogs().text("error.private_only", "en")


async def test_concurrent_updates_share_one_connection_safely(router: Router, db: Database) -> None:
    """Hundreds of users at once, each creating a user row and storing buttons, on one connection."""
    import asyncio

    outcomes = await asyncio.gather(*(router.handle(req(user=f"u{i}", command="offer"), MARKUP) for i in range(300)))
    assert all(o.rendered.buttons and o.rendered.text == "Commands" for o in outcomes)
    users = await db.fetch_one("SELECT COUNT(*) FROM users")
    buttons = await db.fetch_one("SELECT COUNT(*) FROM buttons")
    assert (users[0], buttons[0]) == (300, 300)  # type: ignore[index]


async def test_a_failed_transaction_changes_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO users (platform, platform_user_id, created_at, last_seen_at) VALUES ('x', '1', 0, 0)")
            raise RuntimeError("crash mid-transaction")
    assert (await db.fetch_one("SELECT COUNT(*) FROM users"))[0] == 0  # type: ignore[index]


async def test_storage_failure_is_answered_not_raised(router: Router, db: Database) -> None:
    await db.close()
    out = await router.handle(req(user="new-user", command="offer"), MARKUP)
    assert out.rendered.text == Catalogs().text("error.internal", "en") and not out.rendered.buttons


async def test_private_only_in_a_group_is_answered_privately_where_the_platform_can(router: Router) -> None:
    refused = await router.handle(req(command="secret", chat_type="group"), MARKUP)
    assert refused.rendered.text == Catalogs().text("error.private_only", "en") and not refused.ephemeral
    ephemeral = await router.handle(req(command="secret", chat_type="group", private_reply=True), MARKUP)
    assert ephemeral.rendered.text == "Commands" and ephemeral.ephemeral
    direct = await router.handle(req(command="secret"), MARKUP)
    assert direct.rendered.text == "Commands" and not direct.ephemeral
    public = await router.handle(req(command="offer", chat_type="group", private_reply=True), MARKUP)
    assert not public.ephemeral  # only private-only commands are hidden


async def test_messages_carrying_secrets_are_always_deleted_and_refused_where_others_read(router: Router) -> None:
    async def needs_pin(caller: Caller) -> Reply:
        if caller.request.args != ("1357",):
            raise UserError("error.amount.zero", unit="PIN")
        return Reply.of(Msg("help.title"))

    router.command("pinned", needs_pin, private_only=True, secret=lambda args: "pin" if args else None)
    ok = await router.handle(req(command="pinned", args=("1357",)), MARKUP)
    wrong = await router.handle(req(command="pinned", args=("0000",)), MARKUP)
    bare = await router.handle(req(command="pinned"), MARKUP)
    group = await router.handle(req(command="pinned", args=("1357",), chat_type="group"), MARKUP)
    assert ok.rendered.delete_request and wrong.rendered.delete_request  # success or refusal alike
    assert not bare.rendered.delete_request  # nothing secret in it
    en = Catalogs().entries["en"]
    assert group.rendered.text == en["secret.public.pin"] + "\n" + en["error.private_only"]
    assert group.rendered.delete_request and "1357" not in group.rendered.text


async def test_private_only_button_pressed_in_a_shared_chat(router: Router) -> None:
    async def balance(caller: Caller, args: tuple[str, ...]) -> Reply:
        return Reply.of(Msg("help.title"))

    router.action("test.private", balance, private_only=True)
    user = await router.users.seen("console", "1")
    [token] = await router.buttons.issue(user.id, [("test.private", ())], 60)
    group = await router.handle(req(button_token=token, chat_type="group"), MARKUP)
    assert group.rendered.text == Catalogs().text("error.private_only", "en")
    [token] = await router.buttons.issue(user.id, [("test.private", ())], 60)
    hidden = await router.handle(req(button_token=token, chat_type="group", private_reply=True), MARKUP)
    assert hidden.rendered.text == "Commands" and hidden.ephemeral


# -- suggestions and personal answers moved aside (Router.suggest, Outcome.aside) --------------------------------------


@pytest.mark.parametrize(("typed", "expected"), [
    ("", [("Commands", "one"), ("two", "two")]),  # a label from the catalogs, else the value itself
    ("COMM", [("Commands", "one")]),  # matched in the label, any case
    ("tw", [("two", "two")]),  # matched in the value
    ("zzz", []),
])
async def test_suggestions_are_those_matching_what_is_typed(router: Router, typed: str, expected: list[tuple[str, str]]) -> None:
    async def offer(caller: Caller, text: str) -> list[Suggestion]:
        return [Suggestion("one", Msg("help.title")), Suggestion("two")]

    router.suggestion("offer", 0, offer)
    assert router.suggests("offer", 0) and not router.suggests("offer", 1)
    assert await router.suggest(req(command="offer"), 0, typed) == expected
    assert await router.suggest(req(command="offer"), 1, typed) == []  # nothing registered there


@pytest.mark.parametrize("error", [UserError("error.wallet.none"), RuntimeError("boom")])
async def test_a_failing_suggestion_offers_nothing(router: Router, error: Exception) -> None:
    async def broken(caller: Caller, text: str) -> list[object]:
        raise error

    router.suggestion("offer", 0, broken)  # type: ignore[arg-type]
    assert await router.suggest(req(command="offer"), 0, "") == []


@pytest.mark.parametrize(("kw", "aside"), [
    ({"command": "mine"}, True),  # personal, in a group, the private chat reachable
    ({"command": "secret"}, True),  # private-only: answered privately rather than refused
    ({"command": "offer"}, False),  # not personal: for the group
    ({"command": "mine", "private_reply": True}, False),  # the platform hides it itself (Discord ephemeral)
    ({"command": "mine", "chat_type": "private", "chat_id": "1"}, False),  # already private
    ({"command": "mine", "private_links": None}, False),  # the adapter cannot reach the private chat
])
async def test_a_personal_answer_asked_for_in_a_group_goes_aside(router: Router, kw: dict[str, object], aside: bool) -> None:
    router.command("mine", router.commands["offer"].run, personal=True)
    links = PrivateLinks("https://t.me/bot", "https://t.me/bot?start=private")
    request = req(**{"chat_type": "group", "chat_id": "-5", "dm_chat": "1", "display_name": "Ann", "private_links": links, **kw})  # type: ignore[arg-type]
    outcome = await router.handle(request, PlainMarkup())
    assert (outcome.aside is not None) == aside
    if outcome.aside is not None:
        assert outcome.aside.chat == "1" and outcome.rendered.text.startswith("Commands") and not outcome.ephemeral
        assert outcome.aside.sent.text == "Ann, I sent you the answer in a private message: https://t.me/bot"
        assert "https://t.me/bot?start=private" in outcome.aside.start.text
