"""A stop-loss or take-profit tapped from a position (/positions, and Positions on the home screen), or a limit buy or
sell tapped from a pool quote (Limit… under /buy's or /sell's Confirm): asked step by step with buttons, so the user
types nothing but a custom price and the PIN.

    the share of the holding (25 / 50 / 100 %) → the trigger (−5 / −10 / −20 % below NAV per token now for a stop,
    +10 / +25 / +50 % above it for a take-profit, a trailing stop, or a price typed) → the expiry (1 day, 1 week, good
    till cancelled) → the summary and the PIN → the order, set exactly as /stop or /takeprofit typed in full sets it
    (a connected wallet: the summary with Confirm, as the typed order offers it; it signs when the order fires).

    Limit… under a quote: the quote's USDC (a buy) or its share of the holding (a sell) → the trigger (−1 / −2 / −5 %
    below the pool price now for a buy, +1 / +2 / +5 % above it for a sell, the premium to NAV at −1 % / +1 % as
    `/limit buy MAG7 100 USDC premium -1%` sets, or a price typed) → the expiry → the summary and the PIN, as /limit.

Each step's state is the words chosen so far (index, kind, percent or USDC, trigger, expiry), kept by the router with
the button or the question, so a step survives a restart. The trigger word is `l:<price>` (a price, fixed when chosen
and shown in the summary), `t:<percent>` (trailing: its first line is read from NAV when the order is set) or
`p:<percent>` (the pool price's premium to NAV, a limit buy or sell). Every step
vets the order again (bot.limits.book.vet): a refusal says why and changes nothing; one that would fire at once offers
to trade now instead, as the typed form does.
"""

import time
from dataclasses import replace
from decimal import Decimal
from functools import partial

from bot.chain.profile import IndexRef
from bot.core.errors import UserError
from bot.core.messages import Amount, Ask, Button, Count, Msg, Pct, Reply, Usd
from bot.core.request import Caller
from bot.core.router import Router
from bot.core.secrets import PIN_DIGITS, is_pin
from bot.services import Services
from bot.storage.limit_orders import OrderKind, Watch
from handlers.shared.limit_orders import (GUIDE, MET, connected_offer, parse_expiry, parse_line, pin_question, placed,
                                          trade_now)

HUNDRED = Decimal(100)
KINDS: dict[str, OrderKind] = {"stop": "stop", "takeprofit": "takeprofit", "buy": "buy", "sell": "sell"}
LIMITS = ("buy", "sell")  # started from a quote, with its amount: no share asked
SHARES = ("25", "50", "100")
PRESETS = {"stop": (-5, -10, -20), "takeprofit": (10, 25, 50),  # percent from NAV per token now
           "buy": (-1, -2, -5), "sell": (1, 2, 5)}  # percent from the pool price now
PREMIUMS = {"buy": -1, "sell": 1}  # the premium to NAV a limit buy or sell is offered, in percent
TRAILS = (5, 10, 20)  # a trailing stop's distance below the highest NAV, in percent
EXPIRY_WORDS = ("1d", "1w", "gtc")
CENT = Decimal("0.01")


def _index(services: Services, state: tuple[str, ...]) -> tuple[IndexRef, OrderKind]:
    """The index and kind a step's state names; a state no step made (an old button) is refused."""
    ref = services.find_index(state[0]) if len(state) >= 2 else None
    if ref is None or ref.symbol != state[0] or state[1] not in KINDS:
        raise UserError("error.button.expired")
    return ref, KINDS[state[1]]


def _amount(services: Services, kind: OrderKind, word: str) -> Decimal:
    """The order's amount a state names: a share of the holding, up to 100 % (a stop, a take-profit or a limit sell),
    or USDC (a limit buy)."""
    amount = Decimal(word)  # a preset share, or one typed in /stop or /takeprofit without its PIN
    top = services.limits.max_usdc if kind == "buy" else HUNDRED
    if not 0 < amount <= top or amount != amount.quantize(CENT):
        raise UserError("error.button.expired")
    return amount


def _trigger(kind: OrderKind, word: str) -> tuple[Decimal | None, Decimal | None, Watch]:
    """(line, trail, watch) of a trigger word: `l:98.5` a price, `t:10` a trailing stop, `p:-1` a premium to NAV."""
    tag, _, value = word.partition(":")
    if tag not in ("l", "t" if kind == "stop" else "p" if kind in LIMITS else "l") or not value:
        raise UserError("error.button.expired")
    if tag == "t":
        return None, Decimal(value), "price"
    return Decimal(value), None, "premium" if tag == "p" else "price"


def _stop_button() -> tuple[Button, ...]:
    return (Button(Msg("button.cancel"), f"{GUIDE}.stop"),)


async def ask(services: Services, caller: Caller, state: tuple[str, ...], edit: bool = False) -> Reply:
    """The next question from what was chosen so far: the share, the trigger, the expiry, then the summary and PIN."""
    ref, kind = _index(services, state)
    book = services.limit_orders
    if len(state) == 2 and kind not in LIMITS:
        shares = tuple(Button(Msg("menu.share", {"pct": int(p)}), GUIDE, (*state, p)) for p in SHARES)
        return Reply.of(Msg(f"limits.guide.share.{kind}", {"index": ref.symbol}), buttons=(shares, _stop_button()), edit=edit)
    if len(state) < 3:
        raise UserError("error.button.expired")
    _amount(services, kind, state[2])
    if len(state) == 3 and kind in LIMITS:
        return await _ask_limit(services, ref, kind, state, edit)
    if len(state) == 3:
        nav = await book.nav_now(ref)
        lines = [((HUNDRED + p) * nav / HUNDRED).quantize(CENT) for p in PRESETS[kind]]
        presets = tuple(Button(Msg("limits.guide.button.line", {"change": Pct(Decimal(p) / HUNDRED, 0, signed=True), "line": Usd(line)}),
                               GUIDE, (*state, f"l:{line}")) for p, line in zip(PRESETS[kind], lines))
        trails = (tuple(Button(Msg("limits.guide.button.trail", {"trail": Pct(Decimal(t) / HUNDRED, 0)}), GUIDE, (*state, f"t:{t}"))
                        for t in TRAILS),) if kind == "stop" else ()
        amount = Pct(Decimal(state[2]) / HUNDRED, 0)
        return Reply.of(Msg(f"limits.guide.trigger.{kind}", {"index": ref.symbol, "nav": Usd(nav), "amount": amount}),
                        buttons=(presets, *trails), edit=edit,  # the question brings its own Cancel
                        ask=Ask(f"{GUIDE}.price", state[:3], Msg("prompt.field.usd")))
    _trigger(kind, state[3])
    if len(state) == 4:
        expiries = tuple(Button(Msg(f"limits.guide.button.{word}"), GUIDE, (*state, word)) for word in EXPIRY_WORDS)
        return Reply.of(Msg("limits.guide.expiry"), buttons=(expiries, _stop_button()), edit=edit)
    if state[4] not in EXPIRY_WORDS:
        raise UserError("error.button.expired")
    return await ask_pin(services, caller, state[:5], edit)


async def _ask_limit(services: Services, ref: IndexRef, kind: OrderKind, state: tuple[str, ...], edit: bool) -> Reply:
    """A limit buy's or sell's trigger: a price from the pool price now, the premium to NAV (while NAV is full), or a
    price typed."""
    price, full = await services.limit_orders.pool_now(ref)
    lines = [((HUNDRED + p) * price / HUNDRED).quantize(CENT) for p in PRESETS[kind]]
    presets = tuple(Button(Msg("limits.guide.button.line", {"change": Pct(Decimal(p) / HUNDRED, 0, signed=True), "line": Usd(line)}),
                           GUIDE, (*state, f"l:{line}")) for p, line in zip(PRESETS[kind], lines))
    premium = PREMIUMS[kind]
    nav = ((Button(Msg("limits.guide.button.premium", {"premium": Pct(Decimal(premium) / HUNDRED, 0, signed=True)}),
                   GUIDE, (*state, f"p:{premium}")),),) if full else ()
    amount = Amount(Decimal(state[2]), 2) if kind == "buy" else Pct(Decimal(state[2]) / HUNDRED, 2)
    return Reply.of(Msg(f"limits.guide.trigger.{kind}", {"index": ref.symbol, "price": Usd(price), "amount": amount}),
                    buttons=(presets, *nav), edit=edit,  # the question brings its own Cancel
                    ask=Ask(f"{GUIDE}.price", state[:3], Msg("prompt.field.usd")))


async def _vetted(services: Services, caller: Caller, state: tuple[str, ...]
                  ) -> tuple[IndexRef, OrderKind, Decimal, Decimal, Decimal | None, Watch]:
    """The order a full state describes, vetted now: (index, kind, amount, line, trail, watch)."""
    ref, kind = _index(services, state)
    amount = _amount(services, kind, state[2])
    line, trail, watch = _trigger(kind, state[3])
    book = services.limit_orders
    if trail is not None:
        line = await book.trailing_start(ref, trail)
    assert line is not None
    await book.vet(caller.user_key, ref, kind, line, watch)
    return ref, kind, amount, line, trail, watch


def _met(err: UserError, state: tuple[str, ...]) -> Reply:
    """A trigger already met by the time it is set: the same trade offered now (any other refusal is raised)."""
    if err.key not in MET:
        raise err
    return trade_now(err, state[0], KINDS[state[1]], Decimal(state[2]))


async def ask_pin(services: Services, caller: Caller, state: tuple[str, ...], edit: bool = False) -> Reply:
    """The order as it will act and until when, and the PIN that sets it (a connected wallet: its Confirm instead)."""
    try:
        ref, kind, amount, line, trail, watch = await _vetted(services, caller, state)
    except UserError as err:
        return _met(err, state)
    who = await services.limit_orders.wallet(caller.user_key)
    if who.kind == "connected":  # no PIN: the Confirm under the summary sets it, as for the typed order
        return replace(connected_offer(ref, kind, amount, line, trail, parse_expiry(state[4]), who.address, watch), edit=edit)
    return pin_question(ref, kind, amount, line, trail, watch, state, int(time.time()), edit)


async def pressed(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """A position's Stop-loss / Take-profit, a quote's Limit… and each button of the steps: the next question, in
    place (a quote's Limit… answers as a new message: the quote keeps its Confirm)."""
    if len(args) == 3 and args[1] in LIMITS:
        return await ask(services, caller, args)
    return await ask(services, caller, args[:5], edit=True)


async def price_typed(services: Services, caller: Caller, text: str, state: tuple[str, ...]) -> Reply:
    """A custom trigger price: refused (and asked again) unless it could be the order's line; then the expiry."""
    ref, kind = _index(services, state)
    amount = _amount(services, kind, state[2])
    line = parse_line(text.strip(), caller.locale)
    try:
        await services.limit_orders.vet(caller.user_key, ref, kind, line)
    except UserError as err:
        if err.key not in MET:
            raise
        return trade_now(err, ref.symbol, kind, amount)
    return await ask(services, caller, (*state[:3], f"l:{line}"))


async def pin_typed(services: Services, caller: Caller, text: str, state: tuple[str, ...]) -> Reply:
    """The PIN (a word of the wrong shape costs no try): the order vetted again, then stored."""
    if not is_pin(text):
        raise UserError("error.pin.length", min=PIN_DIGITS[0], count=Count(PIN_DIGITS[1]))
    try:
        ref, kind, amount, line, trail, watch = await _vetted(services, caller, state)
    except UserError as err:
        return _met(err, state)
    await services.pins.check_pin(caller.user_key, text)
    req = caller.request
    order = await services.limit_orders.add(caller.user_key, req.platform, req.news_chat, ref, kind, amount, line, trail,
                                            parse_expiry(state[4]), watch=watch)
    return placed(order)


async def stop(caller: Caller, _: tuple[str, ...]) -> Reply:
    return Reply.of(Msg("prompt.cancelled"), edit=True)


def register(router: Router, services: Services) -> None:
    router.action(GUIDE, partial(pressed, services), private_only=True)
    router.action(f"{GUIDE}.stop", stop, private_only=True)
    router.prompt(f"{GUIDE}.price", partial(price_typed, services), partial(ask, services))
    router.prompt(f"{GUIDE}.pin", partial(pin_typed, services), partial(ask_pin, services))
