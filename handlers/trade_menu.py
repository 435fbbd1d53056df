"""The Buy and Sell screens of the home menu: tap an index, then an amount, then Confirm on the quote.

Buy lists each index once by name; a name on several chains (MAG7.ssi on Base, MAG7.nex on Ethereum) opens the
home chain's, with the other offered on its amount screen. The amounts are the user's presets (Settings) and Custom (asked for: the
user's next message).
Sell lists what the user holds, then 25 % / 50 % / 100 % / Custom of it (an amount or "all", asked for), or a Stop-loss /
Take-profit on it (handlers.order_buttons). Each step edits the pressed message.
"""

from decimal import Decimal
from functools import partial

from bot.core.amounts import from_base_units, parse_amount
from bot.core.errors import UserError
from bot.core.messages import Amount, Ask, Button, Msg, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.chain.profile import IndexRef
from bot.services import Services
from handlers.shared.limit_orders import position_buttons
from handlers.shared.nav import screen, share_of
from handlers.shared.offers import offer, sell_amount

SELL_SHARES = (25, 50, 100)


def _stem(symbol: str) -> str:
    return symbol.split(".", 1)[0].upper()


def _index(services: Services, args: tuple[str, ...], count: int) -> IndexRef:
    """The index a menu button names (its exact symbol, as stored with the button)."""
    ref = next((r for r in services.all_indexes if len(args) == count and r.symbol == args[0]), None)
    if ref is None:
        raise UserError("error.button.expired")
    return ref


def preset_label(amount: Decimal) -> str:
    """25 -> "25", 20.5 -> "20.50": whole dollars bare, else cents (a button is short)."""
    return format(amount, "f") if amount == amount.to_integral() else format(amount.quantize(Decimal("0.01")), "f")


def _index_button(services: Services, ref: IndexRef, action: str) -> Button:
    return Button(Msg("button.index_pick", {"index": ref.symbol, "chain": services.chain_of(ref).chain_label}), action, (ref.symbol,))


async def buy_menu(services: Services, caller: Caller, _: tuple[str, ...]) -> Reply:
    """One button per index name, the home chain's index where a name is on several chains."""
    shown: dict[str, IndexRef] = {}
    for ref in services.all_indexes:  # the home chain's first
        shown.setdefault(_stem(ref.symbol), ref)
    rows = tuple((_index_button(services, ref, "menu.buy.index"),) for ref in shown.values())
    return screen(Reply.of(Msg("menu.buy.pick"), buttons=rows))


async def buy_index(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """The amounts for one index: the user's presets, Custom, and the same name on other chains."""
    ref = _index(services, args, 1)
    presets = await services.settings.get_buy_presets(caller.user_key)
    amounts = tuple(Button(Msg("menu.preset", {"amount": preset_label(p)}), "menu.buy.amount", (ref.symbol, str(p)))
                    for p in presets)
    rows: list[tuple[Button, ...]] = [(*amounts, Button(Msg("button.custom"), "menu.buy.custom", (ref.symbol,)))]
    rows += [(_index_button(services, other, "menu.buy.index"),) for other in services.all_indexes
             if other != ref and _stem(other.symbol) == _stem(ref.symbol)]
    chain = services.chain_of(ref).chain_label
    return screen(Reply.of(Msg("menu.buy.amount", {"index": ref.symbol, "chain": chain}), buttons=tuple(rows)), "menu.buy")


async def buy_amount(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    ref = _index(services, args, 2)
    reply = await offer(services, caller, ref, "buy", Decimal(args[1]))
    return screen(reply, "menu.buy.index", (ref.symbol,))


async def ask_custom(services: Services, caller: Caller, state: tuple[str, ...], edit: bool = True) -> Reply:
    """Custom: the amount asked for (the user's next message), the way it would be typed after `/buy MAG7` or
    `/sell MAG7` (`state`: the side and the index's symbol)."""
    side, ref = state[0], _index(services, state[1:], 1)
    unit = services.profile.usdc.symbol if side == "buy" else ref.symbol
    reply = Reply.of(Msg(f"menu.custom.{side}", {"index": ref.symbol, "unit": unit}), ask=Ask("menu.custom", state, Msg("prompt.field.amount")))
    return screen(reply, f"menu.{side}.index", (ref.symbol,)) if edit else reply


async def answer_custom(services: Services, caller: Caller, text: str, state: tuple[str, ...]) -> Reply:
    """The typed amount, parsed as `/buy` and `/sell` parse theirs (a sell may say "all"), then the quote."""
    side, ref = state[0], _index(services, state[1:], 1)
    if side == "sell":
        return await offer(services, caller, ref, "sell", await sell_amount(services, caller, ref, text))
    usdc = services.profile.usdc
    amount = parse_amount(text, decimals=usdc.decimals, maximum=services.limits.max_usdc, unit=usdc.symbol, locale=caller.locale)
    return await offer(services, caller, ref, "buy", amount)


async def buy_custom(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    return await ask_custom(services, caller, ("buy", _index(services, args, 1).symbol))


async def _held(services: Services, caller: Caller, ref: IndexRef) -> int:
    desk = services.issuance.desk(ref) if ref.venue == "issuance" else services.desks.home
    return await desk.balance((await desk.sender(caller.user_key)).address, ref.token)


async def sell_menu(services: Services, caller: Caller, _: tuple[str, ...]) -> Reply:
    """The indexes the user holds, with how much."""
    rows = []
    for ref in services.all_indexes:
        if ref not in services.profile.indexes and ref.venue != "issuance":  # traded on the home chain's desk only
            continue
        units = await _held(services, caller, ref)
        if units:
            label = Msg("menu.sell.holding", {"index": ref.symbol, "amount": Amount(from_base_units(units, ref.token.decimals))})
            rows.append((Button(label, "menu.sell.index", (ref.symbol,)),))
    if not rows:
        return screen(Reply.of(Msg("menu.sell.none"), buttons=((Button(Msg("home.button.buy"), "menu.buy"),),)))
    return screen(Reply.of(Msg("menu.sell.pick"), buttons=tuple(rows)))


async def sell_index(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    ref = _index(services, args, 1)
    units = await _held(services, caller, ref)
    shares = tuple(Button(Msg("menu.share", {"pct": pct}), "menu.sell.share", (ref.symbol, str(pct))) for pct in SELL_SHARES)
    held = Amount(from_base_units(units, ref.token.decimals))
    later = (position_buttons(ref.symbol),) if units > 0 and services.find_index(ref.symbol) == ref else ()  # or sell later
    return screen(Reply.of(Msg("menu.sell.amount", {"index": ref.symbol, "amount": held}),
                           buttons=((*shares, Button(Msg("button.custom"), "menu.sell.custom", (ref.symbol,))), *later)), "menu.sell")


async def sell_share(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    ref = _index(services, args, 2)
    if args[1] not in {str(pct) for pct in SELL_SHARES}:
        raise UserError("error.button.expired")
    units = share_of(await _held(services, caller, ref), int(args[1]))
    if not units:
        raise UserError("error.sell.nothing", index=ref.symbol)
    reply = await offer(services, caller, ref, "sell", from_base_units(units, ref.token.decimals))
    return screen(reply, "menu.sell.index", (ref.symbol,))


async def sell_custom(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    return await ask_custom(services, caller, ("sell", _index(services, args, 1).symbol))


def register(router: Router, services: Services) -> None:
    for name, run in (("menu.buy", buy_menu), ("menu.buy.index", buy_index), ("menu.buy.amount", buy_amount),
                      ("menu.buy.custom", buy_custom), ("menu.sell", sell_menu), ("menu.sell.index", sell_index),
                      ("menu.sell.share", sell_share), ("menu.sell.custom", sell_custom)):
        router.action(name, partial(run, services), personal=True)
    router.prompt("menu.custom", partial(answer_custom, services), partial(ask_custom, services, edit=False))
