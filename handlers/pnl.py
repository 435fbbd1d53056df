"""/pnl [index]: the user's PnL on an index as a card (handlers.shared.cards: cost basis, value, realized and
unrealized PnL in USD and %, the same money in BTC or left in USDC), with a Share button; with PnL on several
indexes, /pnl alone shows them all added up on one card (bot.portfolio.pnl.total_of), each still one /pnl <index>
away. Only the owner's press shares: the Share button answers its owner alone (the router's buttons), and posts the
card for everyone in the chat (Discord: a public message instead of the ephemeral one) with the owner's invite
under it."""

from dataclasses import replace
from functools import partial

from bot.core.errors import UserError
from bot.core.messages import Button, Msg, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services
from bot.portfolio.pnl import IndexPnl, total_of
from handlers.shared.cards import buy_line, drawn_face, pnl_card, pnl_face
from handlers.shared.portfolio import index_pnl


ALL = "all"  # the Share button's argument under the card of every index


async def total_card(services: Services, caller: Caller, pnl: dict[str, IndexPnl]) -> bytes:
    face = pnl_face(total_of(pnl.values()))
    return await drawn_face(services, caller.locale, replace(face, title=Msg("card.pnl.title.all", {"count": len(pnl)})))


async def card_of(services: Services, caller: Caller, typed: str | None) -> tuple[str, bytes, dict[str, IndexPnl]]:
    """The index `typed` names (the only one filled when left out; ALL: every one, added up) and its card, with the
    PnL of each index filled; refused when never held."""
    pnl = await index_pnl(services, caller.user_key)  # at every index's price now: a factory's at its NAV
    held = ", ".join(pnl) or "-"
    if typed is None or typed.lower() == ALL:
        if not pnl:
            raise UserError("error.pnl.none", valid=held)
        if len(pnl) > 1:
            return ALL, await total_card(services, caller, pnl), pnl
        index = next(iter(pnl))
    else:
        found = services.find_indexes(typed)
        if not found:
            raise UserError("error.index.unknown", value=typed[:24], valid=services.all_index_list())
        index = next((r.symbol for r in found if r.symbol in pnl), "")
        if not index:
            raise UserError("error.pnl.never_held", index=found[0].symbol, valid=held)
    return index, await pnl_card(services, caller, pnl[index]), pnl


async def pnl(services: Services, caller: Caller) -> Reply:
    """`/pnl [index]`: the card, privately, with Share."""
    args = caller.request.args
    if len(args) > 1:
        raise UserError("error.args.extra", usage=Msg("usage.pnl"))
    index, png, pnl = await card_of(services, caller, args[0] if args else None)
    caption = Msg("pnl.caption.all", {"count": len(pnl), "valid": ", ".join(pnl)}) if index == ALL \
        else Msg("pnl.caption", {"index": index})
    return Reply.of(caption, image=png, buttons=((Button(Msg("button.share"), "pnl.share", (index,)),),))


async def share_pressed(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """Share: the card again, for everyone in the chat, with the owner's invite (their press alone shares it)."""
    if len(args) != 1:
        raise UserError("error.button.expired")
    index, png, pnl = await card_of(services, caller, args[0])
    if index == ALL:  # the invite names the index the owner has the most money in
        biggest = max(pnl.values(), key=lambda p: p.value or p.cost).index
        return Reply.of(Msg("pnl.shared.all", {"count": len(pnl)}), await buy_line(services, caller.user_key, biggest),
                        image=png, public=True)
    return Reply.of(Msg("pnl.shared", {"index": index}), await buy_line(services, caller.user_key, index), image=png,
                    public=True)


def register(router: Router, services: Services) -> None:
    router.command("pnl", partial(pnl, services), personal=True)
    router.action("pnl.share", partial(share_pressed, services))
