"""/limit, /stop, /takeprofit and /limits: orders that act by themselves (bot.limits), one line each.

    /limit buy MAG7 100 at 98 [1d|1w|gtc] PIN       buy 100 USDC of MAG7 when the pool price is $98 or less
    /limit sell MAG7 50% at 120 [expiry] PIN        sell half the holding when the pool price is $120 or more
    /limit buy MAG7 100 USDC premium -1% [expiry] PIN   buy when the pool trades 1 % or more below NAV per token
    /limit sell MAG7 50% premium 2% [expiry] PIN    sell half when the pool trades 2 % or more above NAV per token
    /stop MAG7 50% below 90 [expiry] PIN            stop-loss: sell half when NAV per token falls to $90
    /stop MAG7 50% trail 10% [expiry] PIN           trailing: 10 % below the highest NAV seen since it was set
    /takeprofit MAG7 100% above 130 [expiry] PIN    sell everything when NAV per token reaches $130
    /limits                                         the open orders, each with a Cancel button
    /limits cancel 3                                cancel order #3

(`/orders` lists these with the factory's issuance requests; a stop-loss or take-profit can also be tapped from
/positions, handlers.order_buttons.) The PIN is the last word and the message is deleted; typed without it, the order
is summarized and the PIN asked for, as a tapped order asks (handlers.order_buttons.pin_typed sets it). Expiry:
1d, 1w (the default), gtc, or a number of hours, days or weeks (`12h`, `3d`, `2w`). Everything is checked before
the PIN, and bad input changes nothing. A connected wallet types no PIN (the bot holds no key of theirs): the order's
summary comes with Confirm / Cancel, and Confirm (vetted again) sets it; it sends a signing link when it triggers.
"""

from __future__ import annotations

import time
from dataclasses import replace
from decimal import Decimal
from functools import partial

from bot.core.amounts import parse_amount
from bot.core.errors import UserError
from bot.core.messages import Button, Msg, Pct, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.core.secrets import is_pin
from bot.limits.book import DEFAULT_EXPIRY
from bot.services import Services
from bot.storage.limit_orders import OrderKind, Watch
from handlers.shared.confirm import confirm_buttons
from handlers.shared.limit_orders import (MET, book_lines, cancel_order, connected_offer, parse_expiry, parse_line,
                                          pin_question, placed, trade_now)
from handlers.shared.nav import nav_row
from handlers.shared.quotes import quote_lines

HUNDRED = Decimal(100)
WORDS = {"buy": "at", "sell": "at", "stop": "below", "takeprofit": "above"}  # the word before the line


def secret_in(args: tuple[str, ...]) -> str | None:
    return "pin" if args and is_pin(args[-1]) else None


def usage(kind: OrderKind) -> Msg:
    return Msg(f"limits.usage.{kind}")


MINUS = ("-", "\u2212")  # a hyphen, or the minus sign a phone keyboard may type


def parse_premium(raw: str, locale: str, bound: Decimal) -> Decimal:
    """`-1%`, `2%`, `+0.5%`: the pool price's premium to NAV per token in percent, negative for a discount, read as
    amounts are in the user's language; how far it may be (`bound`, said when refused) is the core's rule (bot.limits.book)."""
    text = raw.strip().removesuffix("%")
    sign = -1 if text[:1] in MINUS else 1
    try:
        value = parse_amount(text[1:] if text[:1] in (*MINUS, "+") else text, decimals=2, maximum=Decimal(10) ** 12,
                             unit="%", locale=locale)
    except UserError as err:
        if err.key in ("error.amount.ambiguous", "error.amount.too_precise"):
            raise
        if err.key == "error.amount.zero":
            return Decimal(0)
        raise UserError("limits.error.premium", value=raw[:24], max=Pct(bound / HUNDRED, 0)) from None
    return sign * value


def parse_percent(raw: str, locale: str, refusal: str = "limits.error.percent") -> Decimal:
    """`50%`: more than 0, at most 100, at most two decimals, read as amounts are in the user's language; `refusal`:
    what a bad one is said to be (a share of the holding, or a trailing stop's distance)."""
    try:
        return parse_amount(raw.removesuffix("%"), decimals=2, maximum=HUNDRED, unit="%", locale=locale)
    except UserError as err:
        if err.key == "error.amount.ambiguous":
            raise
        raise UserError(refusal, value=raw[:24]) from None


async def set_order(services: Services, kind_of: str | None, caller: Caller) -> Reply:
    """Parse, vet, check the PIN, store; the order as it will act."""
    args = list(caller.request.args)
    if kind_of is None:  # /limit buy|sell ...
        if not args or args[0].lower() not in ("buy", "sell"):
            raise UserError("limits.error.usage", usage=Msg("limits.usage.buy"))
        kind_of = args.pop(0).lower()
    kind: OrderKind = "buy" if kind_of == "buy" else "sell" if kind_of == "sell" else "stop" if kind_of == "stop" else "takeprofit"
    pin = args.pop() if args and is_pin(args[-1]) else None
    if kind == "buy" and len(args) > 2 and args[2].upper() == services.profile.usdc.symbol.upper():
        del args[2]  # `100 USDC`: the unit, as /buy takes it
    if len(args) < 4:
        raise UserError("limits.error.usage", usage=usage(kind))
    ref = services.find_index(args[0])
    if ref is None:
        raise UserError("error.index.unknown", value=args[0][:24], valid=services.index_list())
    if kind == "buy":
        amount = parse_amount(args[1], decimals=2, maximum=services.limits.max_usdc, unit="USDC", locale=caller.locale)
    else:
        amount = parse_percent(args[1], caller.locale)
    trail = None
    watch: Watch = "price"
    word = args[2].lower()
    if kind == "stop" and word == "trail":
        trail = parse_percent(args[3], caller.locale, "limits.error.trail")
        if trail >= HUNDRED:
            raise UserError("limits.error.trail", value=args[3][:24])
    elif kind in ("buy", "sell") and word == "premium":
        watch = "premium"
    elif word != WORDS[kind]:
        raise UserError("limits.error.usage", usage=usage(kind))
    rest = args[4:]
    if len(rest) > 1:
        raise UserError("limits.error.usage", usage=usage(kind))
    expiry_word = rest[0].lower() if rest else DEFAULT_EXPIRY
    expiry = parse_expiry(expiry_word)
    book = services.limit_orders
    if watch == "premium":
        line = parse_premium(args[3], caller.locale, book.settings.max_premium)
    else:
        line = parse_line(args[3], caller.locale) if trail is None else await book.trailing_start(ref, trail)
    try:
        await book.vet(caller.user_key, ref, kind, line, watch)
    except UserError as err:
        if err.key not in MET:
            raise
        return trade_now(err, ref.symbol, kind, amount)  # it would fire at once: nothing stored, a trade offered
    who = await book.wallet(caller.user_key)
    if who.kind == "connected":  # no key to unlock: the user's Confirm on the summary is the deliberate act
        return connected_offer(ref, kind, amount, line, trail, expiry, who.address, watch)
    if pin is None:  # typed without it: asked for, as a tapped order asks (the answer is deleted at once)
        trigger = f"t:{trail}" if trail is not None else f"p:{line}" if watch == "premium" else f"l:{line}"
        return pin_question(ref, kind, amount, line, trail, watch, (ref.symbol, kind, str(amount), trigger, expiry_word),
                            int(time.time()))
    await services.pins.check_pin(caller.user_key, pin)
    req = caller.request
    order = await book.add(caller.user_key, req.platform, req.news_chat, ref, kind, amount, line, trail, expiry, watch=watch)
    return placed(order)


KINDS: dict[str, OrderKind] = {"buy": "buy", "sell": "sell", "stop": "stop", "takeprofit": "takeprofit"}
WATCHES: dict[str, Watch] = {"price": "price", "premium": "premium"}


async def confirm_pressed(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """Confirm on a connected wallet's order summary: vetted again (the price moved meanwhile), then set once."""
    ref = services.find_index(args[0]) if len(args) in (7, 8) and args[1] in KINDS else None
    watch = WATCHES.get(args[7] if len(args) == 8 else "price")  # 7 parts: a Confirm shown before premium orders
    if ref is None or watch is None:
        raise UserError("error.button.expired")
    kind, amount, line = KINDS[args[1]], Decimal(args[2]), Decimal(args[3])
    trail, expiry = Decimal(args[4]) if args[4] else None, int(args[5]) if args[5] else None
    book = services.limit_orders
    await book.vet(caller.user_key, ref, kind, line, watch)
    if (await book.wallet(caller.user_key)).kind != "connected":  # disconnected since: the custodial wallet needs its PIN
        raise UserError("error.wallet.changed")
    req = caller.request
    order = await book.add(caller.user_key, req.platform, req.news_chat, ref, kind, amount, line, trail, expiry, args[6], watch)
    return replace(placed(order, "limits.rule.connected"), edit=True)


async def drop_pressed(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """Cancel on a connected wallet's order summary: nothing was set."""
    return Reply.of(Msg("limits.not_set"), edit=True)


async def show(services: Services, caller: Caller) -> Reply:
    lines, cancels = await book_lines(services, caller.user_key)
    if not lines:
        return Reply.of(Msg("limits.empty"), Msg("limits.usage.all"))
    return Reply.of(*lines, buttons=(*cancels, nav_row()))


async def limits_command(services: Services, caller: Caller) -> Reply:
    """No argument: the list. `cancel <id>`: cancel one."""
    args = caller.request.args
    if not args:
        return await show(services, caller)
    if args[0].lower() != "cancel" or len(args) != 2:
        raise UserError("limits.error.cancel_usage")
    return await cancel_order(services, caller, args[1])


async def cancel_pressed(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """Cancel #n pressed: the message pressed says it was cancelled."""
    return await cancel_order(services, caller, args[0] if args else "", edit=True)


async def now_pressed(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """Execute now (the order would have fired at once): the same trade quoted now, with Confirm / Cancel."""
    ref = services.find_index(args[0]) if len(args) == 3 else None
    if ref is None:
        raise UserError("error.button.expired")
    desk = services.desks.home
    usdc = desk.profile.usdc
    if args[1] == "buy":
        side, amount = "buy", Decimal(args[2])
    else:  # a percent of what the wallet holds now
        who = await desk.sender(caller.user_key)
        units = await desk.balance(who.address, ref.token) * int(Decimal(args[2]) * 100) // 10_000
        if units <= 0:
            raise UserError("limits.error.not_held", index=ref.symbol)
        side, amount = "sell", Decimal(units).scaleb(-ref.token.decimals)
    req = caller.request
    intent_id, quote = await desk.quote_swap(caller.user_key, req.platform, req.news_chat, ref,
                                             "buy" if side == "buy" else "sell", amount)
    return Reply.of(*quote_lines(quote, usdc.symbol, desk.settings.premium_warn_bps), buttons=confirm_buttons(intent_id))


def register(router: Router, services: Services) -> None:
    router.command("limit", partial(set_order, services, None), private_only=True, secret=secret_in)
    router.command("stop", partial(set_order, services, "stop"), private_only=True, secret=secret_in)
    router.command("takeprofit", partial(set_order, services, "takeprofit"), private_only=True, secret=secret_in)
    router.command("limits", partial(limits_command, services), personal=True)
    router.action("limits.cancel", partial(cancel_pressed, services))
    router.action("limits.now", partial(now_pressed, services), personal=True)
    router.action("limits.confirm", partial(confirm_pressed, services), private_only=True)
    router.action("limits.drop", partial(drop_pressed, services))
