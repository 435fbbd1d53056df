"""Sharing in any chat. Telegram's inline mode: `@<bot> mag7` offers MAG7's quote card (NAV, premium, 24 h change),
`@<bot> pnl [index]` the asker's own PnL card. On every platform, the Share button under an index (/indexes MAG7)
posts its quote card as a picture. Each ends with "Buy MAG7 in indexbot", the asker's deep link with their
invite code, so a friend who starts from it is their referral. An inline query is always the asker's own: no one
else's numbers can be offered. What matches nothing gets a hint of what to type, never an error.

Where the web pages have a public https URL, each inline card is the picture (a card link, bot.card_links, drawn
here on demand by `picture`) with its words as the caption; otherwise the words alone, with a text sparkline of the
index's NAV over the day (a quote card, once there are samples)."""

from functools import partial

from bot.card_links import CardKind, CardRef
from bot.cards import spark_text
from bot.core.errors import UserError
from bot.core.messages import Button, Msg, Reply, Shared, Shares
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services
from handlers.shared.cards import Face, buy_line, drawn_face, pnl_face, quote_face, sharer_link
from handlers.shared.portfolio import index_pnl

MAX_CARDS = 10


def shared(services: Services, caller: Caller, kind: CardKind, index: str, face: Face, link: str) -> Shared:
    """One offer: the card's picture (a card link) with its words as the caption, or (no link) its words with a text
    sparkline; the deep link under it."""
    buy = Msg("share.buy.link", {"index": index, "link": link})
    image = services.card_links.link(CardRef(kind, index, caller.user_key, caller.locale))
    spark = spark_text(face.spark) if image is None else ""
    lines = (Msg(face.title.key, face.title.params, style="title"), face.headline, *face.lines,
             *([Msg("card.quote.spark", {"spark": spark})] if spark else []), buy)
    return Shared(f"{kind}:{index}", Msg(f"inline.{kind}.title", {"index": index}), Msg(f"inline.{kind}.description"),
                  lines, Button.link(Msg("button.buy_in_bot", {"index": index}), link), image)


async def pnl_offers(services: Services, caller: Caller, link: str, typed: str | None) -> tuple[Shared, ...]:
    """The asker's PnL on each index they filled (or the one `typed` names)."""
    named = {r.symbol for r in services.find_indexes(typed)} if typed else None
    found = [p for p in (await index_pnl(services, caller.user_key)).values() if named is None or p.index in named]
    return tuple(shared(services, caller, "pnl", p.index, pnl_face(p), link) for p in found[:MAX_CARDS])


async def offers(services: Services, caller: Caller, typed: str) -> Shares:
    """What `typed` (after the bot's name) offers: `pnl [index]`, an index's quote card, or every sampled index's."""
    words = typed.split()
    hint = Shares(hint=Msg("inline.hint.text", {"valid": ", ".join(r.symbol for r in services.navs.indexes)}))
    link = await sharer_link(services, caller.user_key)
    if link is None or len(words) > 2:
        return hint
    if words and words[0].lower() == "pnl":
        cards = await pnl_offers(services, caller, link, words[1] if len(words) == 2 else None)
    elif len(words) == 1:
        refs = services.find_indexes(words[0])
        cards = tuple([shared(services, caller, "quote", r.symbol, await quote_face(services, r), link)
                       for r in refs[:MAX_CARDS]])
    elif not words:
        cards = tuple([shared(services, caller, "quote", r.symbol, await quote_face(services, r), link)
                       for r in services.navs.indexes[:MAX_CARDS]])
    else:
        cards = ()
    return Shares(cards) if cards else hint


async def quote_shared(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """The Share button under an index (/indexes MAG7): its quote card for everyone in the chat (Discord: a public
    message even where the index was shown only to the presser), with the presser's invite."""
    ref = next((r for r in services.find_indexes(args[0]) if r.venue == "pool"), None) if len(args) == 1 else None
    if ref is None:
        raise UserError("error.button.expired")
    face = await quote_face(services, ref)
    png = await drawn_face(services, caller.locale, face)
    return Reply.of(Msg(face.title.key, face.title.params, style="title"), face.headline, *face.lines,
                    await buy_line(services, caller.user_key, ref.symbol), image=png, public=True)


async def picture(services: Services, ref: CardRef) -> bytes | None:
    """A card link's picture, drawn now in its sharer's language: the quote card of its index, or the sharer's own
    PnL card on it (a link names its owner and nobody else can make one); None when there is none to draw."""
    if ref.kind == "quote":
        index = next((r for r in services.all_indexes if r.symbol == ref.index), None)
        face = await quote_face(services, index) if index is not None else None
    else:
        pnl = (await index_pnl(services, ref.user_key)).get(ref.index)
        face = pnl_face(pnl) if pnl is not None else None
    return await drawn_face(services, ref.locale, face) if face is not None else None


def register(router: Router, services: Services) -> None:
    router.shares(partial(offers, services))
    services.card_links.draws(partial(picture, services))
    router.action("share.quote", partial(quote_shared, services))
