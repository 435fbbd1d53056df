"""Share cards' pictures: `GET /card/{token}.jpg`, what Telegram fetches for an inline photo result (bot.card_links):
the card drawn as a PNG, sent as JPEG, the one format the Bot API names for `photo_url`.

The token names the card (sealed, expiring); the picture is drawn on demand and kept a minute, so Telegram's
fetches of a result's photo and thumbnail draw it once. A token that does not open (altered, expired, made
elsewhere) and a card with nothing to draw get the same bare 404: a refusal says nothing of why.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from io import BytesIO

from aiohttp import web
from PIL import Image

from bot.card_links import PATH, CardLinks, CardRef

KEEP_SECONDS = 60
KEEP_CARDS = 64


class Drawn:
    """The pictures drawn in the last `KEEP_SECONDS`, at most `KEEP_CARDS` of them, the oldest forgotten first."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._kept: OrderedDict[CardRef, tuple[float, bytes]] = OrderedDict()
        self._clock = clock

    def get(self, ref: CardRef) -> bytes | None:
        kept = self._kept.get(ref)
        if kept is None or kept[0] < self._clock():
            self._kept.pop(ref, None)
            return None
        return kept[1]

    def put(self, ref: CardRef, png: bytes) -> None:
        self._kept[ref] = (self._clock() + KEEP_SECONDS, png)
        self._kept.move_to_end(ref)
        while len(self._kept) > KEEP_CARDS:
            self._kept.popitem(last=False)


def routes(links: CardLinks) -> list[web.RouteDef]:
    drawn = Drawn()

    async def card(request: web.Request) -> web.Response:
        ref = links.open(request.match_info["token"])
        if ref is None:
            raise web.HTTPNotFound()
        png = drawn.get(ref)
        if png is None:
            drawing = await links.picture(ref)
            if drawing is None:
                raise web.HTTPNotFound()
            png = await asyncio.to_thread(as_jpeg, drawing)
            drawn.put(ref, png)
        return web.Response(body=png, content_type="image/jpeg")

    return [web.get(PATH + "{token:[A-Za-z0-9_-]{40,300}}.jpg", card)]


def as_jpeg(png: bytes) -> bytes:
    """A drawn card as JPEG (white under any transparency), Pillow's, which matplotlib draws with anyway."""
    with Image.open(BytesIO(png)) as picture:
        out = BytesIO()
        picture.convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()
