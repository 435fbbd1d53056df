"""Telegram's inline mode (`@<bot> mag7` typed in any chat): the router's share cards (bot.core.router.Router.share)
as inline query results.

Each card with a picture link (`RenderedShare.image`: a signed, expiring https link the bot's web server draws,
bot.card_links) is an `InlineQueryResultPhoto`: the picture, the card's words as its HTML caption, and a "Buy MAG7
in indexbot" URL button with the asker's deep link. Telegram's servers fetch `photo_url` themselves, so it must be
public https: without one (the devnet, a home server) the card has no image and is an `InlineQueryResultArticle`,
its words as an HTML message under the same button. (A cached photo would need a `file_id`, which only an upload
to some chat gives.) Nothing matched: no results, and the hint as the button above them (it opens the bot with
`/start private`), never an error. Results are personal (`is_personal`): a PnL card must never be cached for
another user.
"""

from __future__ import annotations

import logging

from telegram import (InlineKeyboardButton, InlineKeyboardMarkup, InlineQueryResult, InlineQueryResultArticle,
                      InlineQueryResultPhoto, InlineQueryResultsButton, InputTextMessageContent)
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.core.messages import RenderedShare
from bot.core.request import Request
from bot.core.router import Markup, Router

log = logging.getLogger(__name__)

CACHE_SECONDS = 30  # a quote changes; Telegram caches answers per query (and per user: is_personal)
PHOTO_WIDTH, PHOTO_HEIGHT = 800, 450  # bot.cards' size: clients lay the results out by this ratio
HINT_START = "private"  # the hint button opens the bot with /start private (handlers.privately): no referral note


def result(card: RenderedShare) -> InlineQueryResult:
    """The card's picture with its words as the caption, or (no picture link) its words as an article."""
    buttons = InlineKeyboardMarkup([[InlineKeyboardButton(card.link.label, url=card.link.url)]])
    if card.image is not None:
        return InlineQueryResultPhoto(card.id, card.image, card.image, photo_width=PHOTO_WIDTH, photo_height=PHOTO_HEIGHT,
                                      title=card.title, description=card.about, caption=card.text,
                                      parse_mode=ParseMode.HTML, reply_markup=buttons)
    return InlineQueryResultArticle(card.id, card.title, InputTextMessageContent(card.text, parse_mode=ParseMode.HTML),
                                    reply_markup=buttons, description=card.about)


async def answer_inline(router: Router, markup: Markup, request: Request, query_id: str, typed: str,
                        answer: object) -> None:
    """Answer one inline query with `answer` (the bot's `answer_inline_query`)."""
    cards, hint = await router.share(request, typed, markup)
    button = InlineQueryResultsButton(hint[:64], start_parameter=HINT_START) if hint else None
    try:
        await answer(query_id, [result(c) for c in cards], cache_time=CACHE_SECONDS, is_personal=True,  # type: ignore[operator]
                     button=button)
    except TelegramError as err:  # the query expired (a user typing on): nothing to tell
        log.info("telegram: inline query %s not answered: %s", query_id, err)
