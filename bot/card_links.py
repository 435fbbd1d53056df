"""Card links: the public picture of a share card (Telegram's inline photo results fetch it by URL).

A link is `<public https URL>/card/<token>.jpg` (Telegram's photo results take JPEG only). The token is opaque: the card it names (kind, index, the sharer's
user key and language) and its expiry, sealed with AES-GCM under a key of the bot's own, so nobody learns a user id
or a figure from it, and nobody forges, alters or prolongs one (another user's PnL card included) without the key.
What a token names is drawn on demand by the function the share feature registers (`draws`); nothing is stored.

The key is derived from the master key (`MasterKey.derive`), so every process of a fleet opens every other's links;
without a master key each process draws one at start (its links then end with it, as they would within the hour).
Without an https public URL there are no links (`enabled` is False): Telegram fetches photos over https only.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CardKind = Literal["quote", "pnl"]
KINDS: tuple[CardKind, ...] = ("quote", "pnl")
LINK_SECONDS = 3600  # Telegram fetches the picture when the result is shown and chosen: minutes, not hours
PURPOSE = b"card-links/v1"  # the master key's sub-key for card links
_AAD = b"indexbot/card-link/v1"
NONCE_BYTES = 12
PATH = "/card/"


@dataclass(frozen=True)
class CardRef:
    """The card a link shows: a quote card of `index`, or `user_key`'s PnL card on it, in `locale`."""

    kind: CardKind
    index: str
    user_key: int
    locale: str


Draw = Callable[[CardRef], Awaitable[bytes | None]]


class CardLinks:
    """Issues and opens card links. `base`: the public https URL, or None (no links: the cards stay text)."""

    def __init__(self, base: str | None, key: bytes, clock: Callable[[], float] = time.time,
                 seconds: int = LINK_SECONDS) -> None:
        self.base = base.rstrip("/") if base and base.startswith("https://") else None
        self._cipher = AESGCM(key)
        self._clock = clock
        self.seconds = seconds
        self._draw: Draw | None = None

    @property
    def enabled(self) -> bool:
        return self.base is not None and self._draw is not None

    def draws(self, draw: Draw) -> None:
        """Register what draws a card (the share feature: handlers.share)."""
        self._draw = draw

    def link(self, ref: CardRef) -> str | None:
        """The card's public URL, valid `seconds`; None when links are off."""
        if not self.enabled:
            return None
        body = json.dumps([ref.kind, ref.index, ref.user_key, ref.locale, int(self._clock()) + self.seconds],
                          separators=(",", ":")).encode()
        nonce = secrets.token_bytes(NONCE_BYTES)
        token = base64.urlsafe_b64encode(nonce + self._cipher.encrypt(nonce, body, _AAD)).rstrip(b"=").decode()
        return f"{self.base}{PATH}{token}.jpg"

    def open(self, token: str) -> CardRef | None:
        """The card `token` names, or None: malformed, altered, sealed under another key, or expired."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            body = self._cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _AAD)
            kind, index, user_key, locale, until = json.loads(body)
        except (binascii.Error, ValueError, InvalidTag, TypeError):
            return None
        if kind not in KINDS or int(until) < self._clock():
            return None
        return CardRef(kind, str(index), int(user_key), str(locale))

    async def picture(self, ref: CardRef) -> bytes | None:
        """The card as a PNG, or None when there is nothing to draw (no such index, no position)."""
        return await self._draw(ref) if self._draw is not None else None
