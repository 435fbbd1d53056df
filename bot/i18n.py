"""Catalogs and rendering: every sentence a user sees comes from locales/<lang>/LC_MESSAGES/messages.po.

Message ids are stable keys (`quote.buy.out`); the English catalog holds the English text and is the
reference every other language must match (same keys, same placeholders; tests/test_catalogs.py).
Catalogs are read with Babel and served through gettext `Translations`; placeholders are `{name}` and are
filled after translation with locale-aware number formatting.
"""

from __future__ import annotations

import os
import string
from datetime import UTC, datetime
from zoneinfo import ZoneInfo
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from io import BytesIO
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.dates import format_datetime
from babel.numbers import format_currency, format_decimal, format_percent
from babel.support import Translations

from bot.core.messages import Amount, Msg, Param, Pct, Rendered, RenderedButton, Reply, Usd, When

DEFAULT_LOCALE = "en"
Escape = Callable[[str], str]


def locales_dir() -> Path:
    return Path(os.environ.get("INDEXBOT_LOCALES", Path(__file__).resolve().parents[1] / "locales"))


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


class Catalogs:
    """All shipped languages, loaded once at start-up."""

    def __init__(self, directory: Path | None = None) -> None:
        directory = directory or locales_dir()
        self._translations: dict[str, Translations] = {}
        self._babel: dict[str, Locale] = {}  # parsed once: number formatting is on every reply's hot path
        self.entries: dict[str, dict[str, str]] = {}
        for po in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
            code = po.parent.parent.name
            with po.open("rb") as fh:
                catalog = read_po(fh, locale=code)
            self.entries[code] = {str(m.id): str(m.string) for m in catalog if m.id and m.string}
            buf = BytesIO()
            write_mo(buf, catalog)
            buf.seek(0)
            self._translations[code] = Translations(buf)
            self._babel[code] = Locale.parse(code)
        if DEFAULT_LOCALE not in self._translations:
            raise RuntimeError(f"no English catalog under {directory}")

    @property
    def locales(self) -> tuple[str, ...]:
        return tuple(sorted(self._translations))

    def negotiate(self, platform_locale: str | None) -> str:
        """Map a platform's language tag (`zh-hans`, `zh-CN`, `en-US`, `pt_br`) to a shipped locale."""
        if not platform_locale:
            return DEFAULT_LOCALE
        tag = platform_locale.replace("-", "_")
        if tag in self._translations:
            return tag
        language = tag.split("_", 1)[0].lower()
        for code in self.locales:
            if code.split("_", 1)[0].lower() == language:
                return code
        return DEFAULT_LOCALE

    def text(self, key: str, locale: str) -> str:
        translated = self._translations.get(locale, self._translations[DEFAULT_LOCALE]).gettext(key)
        if translated == key and locale != DEFAULT_LOCALE:
            translated = self._translations[DEFAULT_LOCALE].gettext(key)
        return translated

    def has(self, key: str) -> bool:
        """Whether `key` is a catalog entry (English has every key)."""
        return key in self.entries[DEFAULT_LOCALE]

    def language_name(self, locale: str) -> str:
        return Locale.parse(locale).get_display_name(locale) or locale

    # -- rendering -------------------------------------------------------------------------------------

    def format_param(self, value: Param, locale_code: str, escape: Escape, zone: str = "UTC") -> str:
        if isinstance(value, Msg):
            return self.render_msg(value, locale_code, escape, zone)
        locale = self._babel.get(locale_code) or self._babel[DEFAULT_LOCALE]
        if isinstance(value, Usd):
            q = value.value.quantize(Decimal(1).scaleb(-value.places), ROUND_HALF_EVEN)
            return escape(format_currency(q, "USD", locale=locale, currency_digits=False, decimal_quantization=False))
        if isinstance(value, Amount):
            return escape(format_decimal(_trim(value.value, value.places), locale=locale, decimal_quantization=False))
        if isinstance(value, Pct):
            q = value.value.quantize(Decimal(1).scaleb(-(value.places + 2)), ROUND_HALF_EVEN)
            shown = format_percent(q, locale=locale, decimal_quantization=False)
            return escape(("+" if value.signed and q > 0 else "") + shown)
        if isinstance(value, When):
            # medium date and time in the locale's pattern, then the zone's IANA name so no one misreads it
            moment, tz = datetime.fromtimestamp(value.timestamp, UTC), value.tz or zone
            return escape(format_datetime(moment, "medium", tzinfo=ZoneInfo(tz), locale=locale) + " " + tz)
        if isinstance(value, bool) or isinstance(value, int):
            return escape(str(value))
        if isinstance(value, Decimal):
            return escape(format_decimal(value, locale=locale, decimal_quantization=False))
        return escape(str(value))

    def render_msg(self, msg: Msg, locale: str, escape: Escape, zone: str = "UTC") -> str:
        """The entry in `locale`, its literal text escaped for the platform and each `{name}` filled in (the
        placeholders themselves are never escaped: Discord's markdown escaping would turn `{a_b}` into `{a\\_b}`)."""
        parts: list[str] = []
        for literal, name, _, _ in string.Formatter().parse(self.text(msg.key, locale)):
            parts.append(escape(literal))
            if name is not None:
                if name not in msg.params:
                    raise KeyError(f"catalog entry {msg.key!r} needs parameter {name!r}")
                parts.append(self.format_param(msg.params[name], locale, escape, zone))
        return "".join(parts)

    def render(
        self,
        reply: Reply,
        locale: str,
        escape: Escape,
        style: Callable[[str, str], str],
        tokens: Sequence[str] = (),
        zone: str = "UTC",
    ) -> Rendered:
        """Render a reply; `style(kind, text)` applies the platform's markup; `tokens` are the buttons' ids
        in reading order (row by row); `zone` is the reader's time zone for times that have none of their own."""
        text = "\n".join(style(m.style, self.render_msg(m, locale, escape, zone)) for m in reply.lines)
        ids = iter(tokens)
        rows = tuple(
            tuple(RenderedButton(self.render_msg(b.label, locale, _plain), "" if b.url else next(ids, ""), b.url) for b in row)
            for row in reply.buttons
        )
        return Rendered(
            text=text, buttons=rows, image=reply.image, edit=reply.edit,
            delete_after=reply.delete_after, delete_request=reply.delete_request,
        )


def _plain(text: str) -> str:
    return text


def _trim(value: Decimal, places: int) -> Decimal:
    q = value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN)
    if q == q.to_integral_value():
        return q.quantize(Decimal(1))
    return q.normalize()
