"""What the one-line orders (handlers.limits) and the tapped ones (handlers.order_buttons) share: reading a trigger
price, the answer once an order is set, a connected wallet's Confirm in place of the PIN, the offer to trade now when it
would fire at once, and the buttons that start an order under a position (handlers.positions, the Sell screen) or under
a pool quote (handlers.shared.offers: Limit…)."""

import re
import secrets
from decimal import Decimal

from bot.core.amounts import parse_amount, parse_id
from bot.core.errors import UserError
from bot.core.messages import Ask, Button, Msg, Reply, When
from bot.core.request import Caller
from bot.chain.profile import IndexRef
from bot.limits.book import EXPIRIES, describe, summary
from bot.services import Services
from bot.storage.limit_orders import LimitOrder, OrderKind, Watch
from bot.trading.intents import State
from bot.trading.present import wallet_line
from handlers.shared.nav import nav_row

MET = frozenset({"limits.error.met", "limits.error.premium_met"})  # it would fire at once: a trade now is offered
GUIDE = "limits.guide"  # the action that asks an order step by step (handlers.order_buttons)
MAX_LINE = Decimal(10) ** 12  # USD per token: a sanity bound; a line far from the price is refused after, by ratio
LINE_DECIMALS = 8
LENGTH = re.compile(r"^([0-9]{1,4})([hdw])$")  # ASCII digits: `\d` would take ١٢ as 12
UNIT_SECONDS = {"h": 3600, "d": 86_400, "w": 7 * 86_400}
MAX_EXPIRY = 365 * 86_400


def parse_line(raw: str, locale: str) -> Decimal:
    """A positive USD price per token (`98`, `$98.5`), read as amounts are in the user's language (`parse_amount`:
    ASCII digits, the user's decimal mark, no exponents)."""
    try:
        return parse_amount(raw.removeprefix("$"), decimals=LINE_DECIMALS, maximum=MAX_LINE, unit="USD", locale=locale)
    except UserError as err:
        if err.key == "error.amount.ambiguous":
            raise
        if err.key in ("error.amount.zero", "error.amount.negative"):
            raise UserError("limits.error.line") from None
        raise UserError("limits.error.number", value=raw[:24]) from None


def parse_expiry(raw: str) -> int | None:
    """Seconds until it expires (None: good till cancelled): `1d`, `1w`, `gtc`, or hours, days or weeks (`12h`,
    `3d`, `2w`) up to a year."""
    word = raw.lower()
    if word in EXPIRIES:
        return EXPIRIES[word]
    if word.startswith("-") or word.startswith("0"):
        raise UserError("limits.error.expiry_past", value=raw[:24])
    match = LENGTH.match(word)
    if match is None or int(match[1]) * UNIT_SECONDS[match[2]] > MAX_EXPIRY:
        raise UserError("limits.error.expiry", value=raw[:24])
    return int(match[1]) * UNIT_SECONDS[match[2]]


def lasts(expiry: str, now: int) -> Msg:
    """How long an order about to be set lasts: the guide's own words for its buttons' expiries, else when it expires
    if set `now` (shown to the minute: the PIN that sets it follows within the question's time-out)."""
    seconds = parse_expiry(expiry)
    if seconds is None:
        return Msg("limits.expires.never")
    if expiry in EXPIRIES:
        return Msg(f"limits.guide.lasts.{expiry}")
    return Msg("limits.expires.at", {"time": When(now + seconds)})


def pin_question(ref: IndexRef, kind: OrderKind, amount: Decimal, line: Decimal, trail: Decimal | None, watch: Watch,
                 state: tuple[str, ...], now: int, edit: bool = False) -> Reply:
    """A custodial wallet's order as it will act and until when, and the question for the PIN that sets it; `state`
    (index, kind, amount, trigger word, expiry word) is what the answer sets (handlers.order_buttons.pin_typed)."""
    return Reply.of(Msg("limits.guide.summary", {"order": summary(ref.symbol, kind, amount, line, trail, watch)}),
                    lasts(state[4], now), Msg("limits.guide.ask.pin"), edit=edit,
                    ask=Ask(f"{GUIDE}.pin", state, Msg("prompt.field.pin"), secret="pin"))


def cancel_button(order_id: int) -> Button:
    return Button(Msg("limits.button.cancel", {"id": order_id}), "limits.cancel", (str(order_id),))


def placed(order: LimitOrder, rule: str = "limits.rule") -> Reply:
    """The answer once an order is stored: what it will do, until when, the `rule` it follows (a custodial wallet's, or
    a connected one's), and Cancel."""
    expires = Msg("limits.expires.never") if order.expires_at is None else Msg("limits.expires.at", {"time": When(order.expires_at)})
    return Reply.of(Msg("limits.set", {"id": order.id, "order": describe(order)}, style="title"), expires,
                    Msg(rule), buttons=((cancel_button(order.id),), nav_row()))


def connected_offer(ref: IndexRef, kind: OrderKind, amount: Decimal, line: Decimal, trail: Decimal | None,
                    expiry: int | None, address: str, watch: Watch = "price") -> Reply:
    """A connected wallet's order before it is set: what it does, from which wallet, and Confirm / Cancel. The
    Confirm carries the order's parts and a random key, so a second press sets nothing more."""
    parts = (ref.symbol, kind, str(amount), str(line), "" if trail is None else str(trail),
             "" if expiry is None else str(expiry), secrets.token_urlsafe(12), watch)
    buttons = (Button(Msg("button.confirm"), "limits.confirm", parts), Button(Msg("button.cancel"), "limits.drop"))
    return Reply.of(Msg("limits.offer", {"order": summary(ref.symbol, kind, amount, line, trail, watch)}, style="title"),
                    wallet_line("connected", address), Msg("limits.rule.connected"), buttons=(buttons,))


def trade_now(err: UserError, symbol: str, kind: OrderKind, amount: Decimal) -> Reply:
    """An order that would fire at once: nothing stored, why, and Execute now (the same trade quoted now)."""
    now = Button(Msg("limits.button.now"), "limits.now", (symbol, kind, str(amount)))
    return Reply.of(err.msg, buttons=((now,), nav_row()))


CENT = Decimal("0.01")


async def quote_limit_row(services: Services, ref: IndexRef, side: str, amount: Decimal, address: str) -> tuple[tuple[Button, ...], ...]:
    """Under a pool quote: Limit…, the same trade as an order asked step by step (handlers.order_buttons): a buy of
    the same USDC, a sell of the same share of what `address` holds now (to the nearest 0.01 %, as orders take it).
    None where the order could not be that trade: an index orders do not watch, cents beyond the second decimal, or
    nothing held."""
    if services.find_index(ref.symbol) != ref:
        return ()
    if side == "buy":
        if amount != amount.quantize(CENT) or amount > services.limits.max_usdc:
            return ()
        word = amount
    else:
        held = await services.desks.home.balance(address, ref.token)
        units = int(amount.scaleb(ref.token.decimals))
        word = (Decimal(min(units, held)) * 100 / held).quantize(CENT) if held > 0 else Decimal(0)
        if word <= 0:
            return ()
    return ((Button(Msg("limits.button.limit"), GUIDE, (ref.symbol, side, format(word, "f"))),),)


def position_buttons(symbol: str) -> tuple[Button, ...]:
    """Under a held index: a stop-loss or a take-profit on it, asked step by step."""
    return (Button(Msg("limits.button.stop", {"index": symbol}), GUIDE, (symbol, "stop")),
            Button(Msg("limits.button.takeprofit", {"index": symbol}), GUIDE, (symbol, "takeprofit")))


async def book_lines(services: Services, user_key: int) -> tuple[list[Msg], list[tuple[Button, ...]]]:
    """The user's live orders (/limits, /orders): a title and one line each, a Cancel under each open one; nothing
    when there are none. A connected wallet's triggered order says it waits for their signature."""
    mine = await services.limit_orders.of_user(user_key)
    if not mine:
        return [], []
    intents = services.desks.home.intents
    lines = [Msg("limits.title", {"count": len(mine), "max": services.limit_orders.settings.max_open}, style="title")]
    for order in mine:
        state = f"limits.state.{order.state}"
        if order.state == "firing" and order.intent_id is not None:
            intent = await intents.get(order.intent_id)
            if intent is not None and intent.connected and intent.state is State.CONFIRMED:
                state = "limits.state.signing"
        lines.append(Msg("limits.item", {"id": order.id, "order": describe(order), "state": Msg(state)}))
    return lines, [(cancel_button(o.id),) for o in mine if o.state == "open"]


async def cancel_order(services: Services, caller: Caller, typed: str, edit: bool = False) -> Reply:
    """Cancel the user's order #`typed` (`/limits cancel 3`, `/orders cancel 3`, or its Cancel button: `edit`)."""
    order_id = parse_id(typed)
    if order_id is None:
        raise UserError("limits.error.id", value=typed[:24])
    await services.limit_orders.cancel(caller.user_key, order_id)
    return Reply.of(Msg("limits.cancelled", {"id": order_id}), edit=edit)
