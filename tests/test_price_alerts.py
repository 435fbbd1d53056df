"""/alert against the real devnet: bad input is refused with what is valid and changes nothing; an alert fires once
when NAV crosses its line (moved with the devnet's price feeds), not again on the next check, and again only after
re-arming; a premium alert watches the pool price against NAV; the list, its Delete buttons and `/alert delete`.
The `alerts:prices` job's coroutine (`PriceAlerts.check`) is called directly."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal

import pytest

from bot.delivery.alerts.config import AlertsConfig, AlertsConfigError, parse_alerts
from bot.app import App
from bot.delivery.outbox import codec
from devnet import operator as op
from auxil.trading import Recorder, ask, click, say
from bot.frontends.adapters.base import PlainMarkup

D = Decimal
MAG7 = "MAG7.ssi"


async def user(app: App, name: str = "u1") -> int:
    """A user who wrote to the bot privately (alerts reach them)."""
    await say(app, "/help", name)
    return (await app.services.users.seen("console", name)).id


async def nav(app: App) -> Decimal:
    await app.head.poll_once()
    return (await app.services.market.snapshot()).indexes[MAG7].nav


async def move_nav(app: App, target: Decimal) -> None:
    """Move MAG7's NAV to `target` by moving BTC's feed (NAV is linear in it)."""
    await app.head.poll_once()
    snap = await app.services.market.snapshot()
    state = snap.indexes[MAG7]
    btc = next(e for e in state.tokenset if e.symbol == "BTC")
    price = snap.prices["BTC"] + (target - state.nav) / btc.units
    await op.set_price(app.profile, "BTC", price.quantize(D("0.00000001")))
    await app.head.poll_once()


async def check(app: App) -> tuple[int, int]:
    assert app.services.price_alerts is not None
    result = await app.services.price_alerts.check()
    return result.fired, result.rearmed


async def price_messages(app: App) -> list[tuple[str, object]]:
    rows = await app.db.fetch_all("SELECT dedupe, payload, urgent FROM outbox WHERE kind = 'price' ORDER BY id")
    return [(str(r[0]), codec.loads(str(r[1]))) for r in rows if r[2] == 1]


async def alert_rows(app: App) -> int:
    row = await app.db.fetch_one("SELECT COUNT(*) FROM price_alerts")
    return int(row[0]) if row else -1


# -- bad input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("/alert FOO above 100", 'There is no index called "FOO". Available: MAG7.ssi'),
        ("/alert MAG7", "Not enough arguments. Usage: /alert <index> above|below <usd>"),
        ("/alert MAG7 above", "Not enough arguments"),
        ("/alert MAG7 above 100 now", "Too many arguments. Usage: /alert <index> above|below <usd>"),
        ("/alert MAG7 sideways 100", '"sideways" is not a condition. Use one of: above, below, premium.'),
        ("/alert MAG7 above abc", '"abc" is not an amount'),
        ("/alert MAG7 above 1e5", '"1e5" is not an amount'),
        ("/alert MAG7 below -5", "cannot be negative"),
        ("/alert MAG7 above 0", "The amount of USD must be more than zero."),
        ("/alert MAG7 above 100.1234567", "USD has at most 6 decimal places"),
        ("/alert MAG7 above 1000000", "A price line must be below $1,000,000."),
        ("/alert MAG7 above $5,000,000", "A price line must be below $1,000,000."),
        ("/alert MAG7 premium 0", "A premium line must be between -50 and 50 percent, and not 0."),
        ("/alert MAG7 premium 50.5", "between -50 and 50 percent"),
        ("/alert MAG7 premium -51", "between -50 and 50 percent"),
        ("/alert MAG7 premium lots", '"lots" is not a percentage. Type e.g. 2 for a 2 % premium or -1.5 for a 1.5 % discount'),
        ("/alert MAG7 premium 1.234", "A premium line has at most 2 decimal places."),
        ("/alert MAG7 premium --2", '"--2" is not a percentage'),
        ("/alert delete", "Usage: /alert delete <number>"),
        ("/alert delete 1 2", "Usage: /alert delete <number>"),
        ("/alert delete x", '"x" is not an alert number'),
        ("/alert delete 999", "You have no alert #999."),
    ],
)
async def test_bad_input_says_what_is_valid_and_changes_nothing(app: App, text: str, says: str) -> None:
    await user(app)
    out = await say(app, text)
    assert says in out.rendered.text
    assert await alert_rows(app) == 0


async def test_bad_input_is_localized(app: App) -> None:
    await say(app, "/lang zh_CN")
    out = await say(app, "/alert MAG7 premium 0")
    assert "溢价价位必须在 -50 到 50 之间" in out.rendered.text
    assert await alert_rows(app) == 0


PREMIUM_BY_LANGUAGE = [  # (language, typed premium, the key of the refusal, or the line made)
    ("vi", "1.500", "error.amount.ambiguous"),  # 1.5 or 1500 where a comma is the decimal mark: refused
    ("vi", "-1.500%", "error.amount.ambiguous"),
    ("es", "2,5", D("2.5")),  # a decimal comma where the language writes one
    ("ru", "+1.000", "error.amount.ambiguous"),
    ("ru", "-0,75%", D("-0.75")),
    ("es", "2,5x", "alert.error.percent_format"),
    ("ru", "0", "alert.error.percent_range"),
    ("es", "1.255", "error.amount.ambiguous"),
    ("en", "1.255", "alert.error.percent_precise"),  # a decimal point here: 1.255 has three decimals
    ("en", "1,5", "alert.error.percent_format"),
    ("en", "51", "alert.error.percent_range"),
    ("vi", "-1.5", D("-1.5")),
    ("es", "+0.75%", D("0.75")),
    ("en", "1.500", D("1.5")),
]


@pytest.mark.parametrize(("locale", "typed", "outcome"), PREMIUM_BY_LANGUAGE)
async def test_a_premium_is_read_by_the_users_decimal_mark(app: App, locale: str, typed: str, outcome: str | Decimal) -> None:
    await user(app)
    await say(app, f"/lang {locale}")
    out = await say(app, f"/alert MAG7 premium {typed}")
    assert out.reply is not None and "{" not in out.rendered.text
    if isinstance(outcome, str):
        assert out.reply.lines[0].key == outcome, out.rendered.text
        assert await alert_rows(app) == 0
        return
    row = await app.db.fetch_one("SELECT threshold FROM price_alerts WHERE deleted_at IS NULL")
    assert row is not None and D(str(row[0])) == outcome, out.rendered.text


async def test_at_most_max_per_user_alerts_and_only_your_own_can_be_deleted(app: App) -> None:
    limit = app.config.alerts.max_per_user
    for i in range(limit):
        assert "set" in (await say(app, f"/alert MAG7 above {200 + i}")).rendered.text
    out = await say(app, "/alert MAG7 above 500")
    assert f"You have {limit} alerts, the most allowed." in out.rendered.text
    assert await alert_rows(app) == limit
    refused = await say(app, "/alert delete 1", user="someone-else")
    assert "You have no alert #1." in refused.rendered.text
    live = await app.db.fetch_one("SELECT COUNT(*) FROM price_alerts WHERE deleted_at IS NULL")
    assert live is not None and live[0] == limit


@pytest.mark.parametrize(
    ("table", "error"),
    [
        ({"prices_every_seconds": 0}, "at least 1"),
        ({"max_premium_pct": "120"}, "between 0 and 100"),
        ({"rearm_usd_fraction": "x"}, "not a number"),
        ({"max_per_user": 2.5}, "not a whole number"),
        ({"reorg_depth": -1}, "reorg_depth"),
        ({"speed": 3}, "unknown setting"),
    ],
)
def test_bad_alerts_config_is_refused(table: dict[str, object], error: str) -> None:
    with pytest.raises(AlertsConfigError, match=error):
        parse_alerts(table)


def test_alerts_config_overrides_defaults() -> None:
    config = parse_alerts({"prices_every_seconds": 10, "rearm_usd_fraction": "0.02", "max_usd": 500})
    assert config == AlertsConfig(prices_every_seconds=10, rearm_usd_fraction=D("0.02"), max_usd=D(500))


# -- firing and re-arming --------------------------------------------------------------------------------


async def test_an_above_alert_fires_once_and_again_only_after_re_arming(app: App) -> None:
    me = await user(app)
    start = await nav(app)
    line = (start * D("1.05")).quantize(D("0.01"))
    made = await say(app, f"/alert mag7 above {line}")
    text = made.rendered.text
    assert f"Alert #1 set: MAG7.ssi: NAV per token at or above ${line:,}" in text
    assert "Uniswap price" in text and "re-arms only after the value is back at or below" in text
    assert await check(app) == (0, 0)  # below the line: nothing

    await move_nav(app, line + 1)
    assert await check(app) == (1, 0)
    sent = await price_messages(app)
    assert [key for key, _ in sent] == ["price:1:1"]
    row = await app.db.fetch_one("SELECT armed, fired_count, sent_count, user_id FROM price_alerts WHERE id = 1")
    assert row is not None and tuple(row) == (0, 1, 1, me)

    assert await check(app) == (0, 0)  # still above: no second alert
    await move_nav(app, line * D("0.995"))  # back under the line, but within the 1 % re-arm margin
    assert await check(app) == (0, 0)
    await move_nav(app, line + 1)
    assert await check(app) == (0, 0)  # not re-armed: crossing again says nothing
    assert len(await price_messages(app)) == 1

    await move_nav(app, line * D("0.98"))  # past the margin: re-armed
    assert await check(app) == (0, 1)
    await move_nav(app, line + 2)
    assert await check(app) == (1, 0)
    assert [key for key, _ in await price_messages(app)] == ["price:1:1", "price:1:2"]


async def test_the_alert_message_reaches_the_private_chat_and_says_when_it_re_arms(app: App) -> None:
    front = Recorder()
    app.notices.attach(front)
    await user(app)
    line = (await nav(app) * D("0.9")).quantize(D("0.01"))
    await say(app, f"/alert MAG7 below {line}")
    await move_nav(app, line - 1)
    assert await check(app) == (1, 0)
    for _ in range(100):
        if front.sent:
            break
        await asyncio.sleep(0.05)
    assert len(front.sent) == 1
    chat, text, _ = front.sent[0]
    assert chat == "u1"
    assert "Price alert #1: MAG7.ssi" in text
    assert f"Your line: MAG7.ssi: NAV per token at or below ${line:,}" in text
    rearm = (line * D("1.01")).quantize(D("0.01"))
    assert f"it re-arms when the value is back at or above ${rearm:,}" in text


async def test_an_alert_made_past_its_line_waits_for_the_next_crossing(app: App) -> None:
    await user(app)
    line = (await nav(app) * D("1.1")).quantize(D("0.01"))
    out = await say(app, f"/alert MAG7 below {line}")
    assert "The line is already crossed now" in out.rendered.text
    assert await check(app) == (0, 0)
    assert await price_messages(app) == []


async def test_a_discount_alert_watches_the_pool_price_against_nav(app: App) -> None:
    await user(app)
    await nav(app)
    out = await say(app, "/alert MAG7 premium -2")
    assert "Uniswap price at 2% discount to NAV or beyond" in out.rendered.text
    assert "re-arms only after the value is back at or above 1.75% discount to NAV" in out.rendered.text
    assert await check(app) == (0, 0)
    await move_nav(app, await nav(app) * D("1.03"))  # the pool does not follow: about a 2.9 % discount
    assert await check(app) == (1, 0)
    (key, reply), = await price_messages(app)
    assert key == "price:1:1"
    fired = {m.key: m for m in reply.lines}  # type: ignore[attr-defined]
    assert "alert.fired.premium" in fired and "alert.rearm.up" in fired


async def test_the_list_shows_each_alert_with_a_delete_button(app: App) -> None:
    await user(app)
    await say(app, "/alert MAG7 above 500")
    await say(app, "/alert USSI premium 1.5")
    listed = await say(app, "/alert")
    text = listed.rendered.text
    assert "Your price alerts (2 of 10)" in text
    assert "#1 MAG7.ssi: NAV per token at or above $500.00 (armed)" in text
    assert "#2 USSI: Uniswap price at" in text
    assert [b.label for row in listed.rendered.buttons for b in row] == ["Delete #1", "Delete #2", "New alert"]
    gone = await click(app, listed, "Delete #1")
    assert "Alert #1 deleted" in gone.rendered.text
    again = await say(app, "/alert delete 2")
    assert "Alert #2 deleted" in again.rendered.text
    assert "You have no price alerts" in (await say(app, "/alert")).rendered.text
    assert await check(app) == (0, 0)  # nothing live: nothing read


async def test_the_jobs_are_scheduled_at_start(app: App) -> None:
    assert app.schedule is not None
    await app.start_schedule()
    assert app.schedule.names("alerts:") == ["alerts:prices", "alerts:rebalance", "alerts:reserves"]
    cursors = await app.db.fetch_all("SELECT token FROM rebalance_cursor ORDER BY token")
    assert sorted(r[0] for r in cursors) == sorted(ref.token.address for ref in app.profile.indexes)  # watching from now


async def test_an_alert_fired_just_before_a_crash_is_queued_by_the_next_check_once(app: App) -> None:
    await user(app)
    line = (await nav(app) * D("1.02")).quantize(D("0.01"))
    await say(app, f"/alert MAG7 above {line}")
    await move_nav(app, line + 1)
    assert await check(app) == (1, 0)
    async with app.db.transaction() as tx:  # as if the process died after firing, before queueing
        await tx.execute("DELETE FROM outbox WHERE kind = 'price'")
        await tx.execute("UPDATE price_alerts SET sent_count = 0")
    assert await check(app) == (0, 0)
    assert [key for key, _ in await price_messages(app)] == ["price:1:1"]
    async with app.db.transaction() as tx:  # queued, but died before recording it: the key keeps it once
        await tx.execute("UPDATE price_alerts SET sent_count = 0")
    await check(app)
    assert [key for key, _ in await price_messages(app)] == ["price:1:1"]
    row = await app.db.fetch_one("SELECT fired_count, sent_count FROM price_alerts WHERE id = 1")
    assert row is not None and tuple(row) == (1, 1)


async def test_new_alert_asked_step_by_step(app: App) -> None:
    """/alert, New alert, the index and the condition by buttons, the line typed (a bad one refused and asked again)."""
    await user(app)
    listed = await say(app, "/alert")
    index = await click(app, listed, "New alert")
    assert index.rendered.edit and "MAG7.ssi" in [b.label for row in index.rendered.buttons for b in row]
    condition = await click(app, index, "MAG7.ssi")
    line = await click(app, condition, "NAV rises to a price")
    assert line.rendered.ask is not None and line.rendered.ask.field == "Price (USD)"
    bad = await app.router.handle(replace(ask("-5"), command=None, args=("-5",), text="-5"), PlainMarkup())
    assert "cannot be negative" in bad.rendered.text and bad.rendered.ask is not None
    assert await app.services.price_alerts.of_user((await app.services.users.seen("console", "u1")).id) == []
    made = await app.router.handle(replace(ask("500"), command=None, args=("500",), text="500"), PlainMarkup())
    assert "MAG7.ssi: NAV per token at or above $500.00" in made.rendered.text, made.rendered.text
    assert len(await app.services.price_alerts.of_user((await app.services.users.seen("console", "u1")).id)) == 1
