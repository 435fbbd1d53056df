"""The Stake screen of the home menu: Stake / Unstake per index (and SOSO), then 25 % / 50 % / 100 % / Custom of
what can move, then the offer with Confirm, or the distinct "Restart cooldown and unstake" when an unstake would
restart a running cooldown (handlers.shared.staking). Custom asks for the amount (the user's next message: an
amount or "all", read as `/stake` reads it). Each step edits the pressed message."""

from functools import partial

from bot.core.amounts import from_base_units
from bot.core.errors import UserError
from bot.core.messages import Amount, Ask, Button, Msg, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services
from bot.trading.stake import StakeKind, StakeTarget, read, targets
from handlers.shared.nav import screen, share_of
from handlers.shared.staking import offer

KINDS: tuple[StakeKind, ...] = ("stake", "unstake")
SHARES = (25, 50, 100)


def _target(services: Services, args: tuple[str, ...], count: int) -> tuple[StakeKind, StakeTarget]:
    """(kind, target) a menu button names."""
    kind = next((k for k in KINDS if len(args) == count and args[0] == k), None)
    target = next((t for t in targets(services.profile) if len(args) == count and t.symbol == args[1]), None)
    if kind is None or target is None:
        raise UserError("error.button.expired")
    return kind, target


async def stake_menu(services: Services, caller: Caller, _: tuple[str, ...]) -> Reply:
    rows = tuple(tuple(Button(Msg(f"menu.{kind}.button", {"symbol": t.symbol}), "menu.stake.kind", (kind, t.symbol)) for kind in KINDS)
                 for t in targets(services.profile))
    return screen(Reply.of(Msg("menu.stake.pick"), buttons=rows))


async def _movable(services: Services, caller: Caller, kind: StakeKind, target: StakeTarget) -> int:
    """What a stake (held) or an unstake (staked, less what lockers hold) can move now, in base units."""
    desk = services.desks.home
    view = await read(desk.chain, desk.profile, target, (await desk.sender(caller.user_key)).address)
    return view.held if kind == "stake" else view.unstakable


async def stake_kind(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    kind, target = _target(services, args, 2)
    units = await _movable(services, caller, kind, target)
    shares = tuple(Button(Msg("menu.share", {"pct": pct}), "menu.stake.share", (kind, target.symbol, str(pct))) for pct in SHARES)
    custom = Button(Msg("button.custom"), "menu.stake.custom", (kind, target.symbol))
    have = Amount(from_base_units(units, target.token.decimals))
    return screen(Reply.of(Msg(f"menu.{kind}.amount", {"symbol": target.symbol, "amount": have}), buttons=((*shares, custom),)),
                  "menu.stake")


async def stake_share(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    kind, target = _target(services, args[:2], 2)
    if len(args) != 3 or args[2] not in {str(pct) for pct in SHARES}:
        raise UserError("error.button.expired")
    pct, amount = int(args[2]), "all"
    if pct != 100:
        units = share_of(await _movable(services, caller, kind, target), pct)
        if not units:
            raise UserError(f"error.{kind}.nothing", symbol=target.symbol)
        amount = format(from_base_units(units, target.token.decimals), "f")
    reply = await offer(services, caller, kind, target, amount)
    return screen(reply, "menu.stake.kind", (kind, target.symbol))


async def ask_custom(services: Services, caller: Caller, state: tuple[str, ...], edit: bool = True) -> Reply:
    """Custom: the amount asked for (the user's next message), the way it would be typed after `/stake MAG7.ssi` or
    `/unstake SOSO` (`state`: the kind and the token's symbol)."""
    kind, target = _target(services, state, 2)
    reply = Reply.of(Msg(f"menu.custom.{kind}", {"symbol": target.symbol}),
                     ask=Ask("menu.stake.custom", (kind, target.symbol), Msg("prompt.field.amount")))
    return screen(reply, "menu.stake.kind", (kind, target.symbol)) if edit else reply


async def answer_custom(services: Services, caller: Caller, text: str, state: tuple[str, ...]) -> Reply:
    """The typed amount (or "all"), read and checked exactly as `/stake` and `/unstake` read theirs, then the offer."""
    kind, target = _target(services, state, 2)
    return await offer(services, caller, kind, target, text)


def register(router: Router, services: Services) -> None:
    for name, run in (("menu.stake", stake_menu), ("menu.stake.kind", stake_kind), ("menu.stake.share", stake_share),
                      ("menu.stake.custom", ask_custom)):
        router.action(name, partial(run, services), personal=True)
    router.prompt("menu.stake.custom", partial(answer_custom, services), partial(ask_custom, services, edit=False))
