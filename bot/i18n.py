"""Catalogs and rendering: every sentence a user sees comes from locales/<lang>/LC_MESSAGES/messages.po.

Message ids are stable keys (`quote.buy.out`); the English catalog holds the English text and is the
reference every other language must match (same keys, same placeholders; tests/test_catalogs.py).
Catalogs are read with Babel and served through gettext `Translations`; placeholders are `{name}` and are
filled after translation with locale-aware number, date and time formatting.

An entry that names a number of things is a plural entry (`msgid_plural`, one `msgstr[i]` per form of the
language's `Plural-Forms` header, which is what Babel writes for that locale); the message's `count` parameter, a
`Count`, picks the form (ngettext). The shipped languages are the folders under locales/: a new folder is a new
language everywhere (/lang, Telegram's command menus, Discord's descriptions).
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

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.dates import format_date, format_time
from babel.numbers import format_currency, format_decimal, format_percent
from babel.support import Translations

from bot.core.messages import Amount, Count, Day, Msg, Param, Pct, Rendered, RenderedAsk, RenderedButton, Reply, Usd, When

DEFAULT_LOCALE = "en"
MATCHES_REMEMBERED = 1024  # distinct language tags whose negotiation is kept
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
        self.entries: dict[str, dict[str, str]] = {}  # key -> text; a plural entry's most general (last) form
        self.plurals: dict[str, dict[str, tuple[str, ...]]] = {}  # key -> every form, for plural entries
        self._matched: dict[str | None, str | None] = {}
        for po in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
            code = po.parent.parent.name
            with po.open("rb") as fh:
                catalog = read_po(fh, locale=code)
            self.entries[code], self.plurals[code] = {}, {}
            for m in catalog:
                if not m.id or not m.string:
                    continue
                if isinstance(m.id, (tuple, list)):
                    forms = tuple(str(f) for f in m.string)
                    if all(forms):
                        self.plurals[code][str(m.id[0])] = forms
                        self.entries[code][str(m.id[0])] = forms[-1]
                elif m.string:
                    self.entries[code][str(m.id)] = str(m.string)
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
        """Map a platform's language tag (`zh-hans`, `zh-TW`, `en-US`, `pt_br`) to a shipped locale, English when
        none speaks its language."""
        return self.match(platform_locale) or DEFAULT_LOCALE

    def match(self, tag: str | None) -> str | None:
        """The shipped locale for a language tag, or None when no shipped locale speaks its language.

        By language, then script, then territory, as Babel reads the tag with CLDR's likely subtags: `zh-TW`,
        `zh-HK` and `zh-Hant` are Traditional Chinese (zh_TW when shipped), `zh`, `zh-CN`, `zh-SG` and
        `zh-Hans` Simplified (zh_CN); `es-419` is `es`. A language shipped in one script only serves every
        script of it (a `zh-TW` reader gets zh_CN when there is no zh_TW). Answers are remembered: this runs
        for every update, and parsing a tag reads Babel's locale data."""
        if tag in self._matched:
            return self._matched[tag]
        if len(self._matched) >= MATCHES_REMEMBERED:  # tags come from clients: never an unbounded cache
            self._matched.clear()
        found = self._matched[tag] = self._match(tag)
        return found

    def _match(self, tag: str | None) -> str | None:
        wanted = _parse(tag or "")
        if wanted is None:
            return None
        same = [code for code in self.locales if self._babel[code].language == wanted.language]
        if not same:
            return None
        script, usual = _script(wanted), _likely(Locale(wanted.language, script=_script(wanted)))
        return max(same, key=lambda code: (
            _script(self._babel[code]) == script,
            self._babel[code].territory == wanted.territory,
            self._babel[code].territory in (None, usual.territory),
        ))

    def text(self, key: str, locale: str) -> str:
        translated = self._translations.get(locale, self._translations[DEFAULT_LOCALE]).gettext(key)
        if translated == key and locale != DEFAULT_LOCALE:
            translated = self._translations[DEFAULT_LOCALE].gettext(key)
        return translated

    def plural(self, key: str, locale: str, n: int) -> str:
        """The form of plural entry `key` for `n` things in `locale` (English when `locale` lacks the entry)."""
        if key not in self.plurals.get(locale, {}):
            locale = DEFAULT_LOCALE
        return self._translations[locale].ngettext(key, key, n)

    def is_plural(self, key: str) -> bool:
        return key in self.plurals[DEFAULT_LOCALE]

    def has(self, key: str) -> bool:
        """Whether `key` is a catalog entry (English has every key)."""
        return key in self.entries[DEFAULT_LOCALE]

    def language(self, locale: str) -> str:
        """The ISO 639 language of a shipped locale (`zh` for zh_CN and zh_TW)."""
        return self._babel[locale].language

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
            # the locale's medium date and short time (no seconds), then the zone's IANA name so no one misreads it
            moment, tz = datetime.fromtimestamp(value.timestamp, UTC).astimezone(ZoneInfo(value.tz or zone)), value.tz or zone
            return escape(moment_text(moment, locale) + " " + tz)
        if isinstance(value, Day):
            return escape(format_date(value.day, "medium", locale=locale))
        if isinstance(value, Count):
            return escape(format_decimal(value.n, locale=locale))
        if isinstance(value, bool) or isinstance(value, int):
            return escape(str(value))
        if isinstance(value, Decimal):
            return escape(format_decimal(value, locale=locale, decimal_quantization=False))
        return escape(str(value))

    def render_msg(self, msg: Msg, locale: str, escape: Escape, zone: str = "UTC") -> str:
        """The entry in `locale`, its literal text escaped for the platform and each `{name}` filled in (the
        placeholders themselves are never escaped: Discord's markdown escaping would turn `{a_b}` into `{a\\_b}`)."""
        parts: list[str] = []
        for literal, name, _, _ in string.Formatter().parse(self.entry(msg, locale)):
            parts.append(escape(literal))
            if name is not None:
                if name not in msg.params:
                    raise KeyError(f"catalog entry {msg.key!r} needs parameter {name!r}")
                parts.append(self.format_param(msg.params[name], locale, escape, zone))
        return "".join(parts)

    def entry(self, msg: Msg, locale: str) -> str:
        """The text of `msg`'s entry in `locale`: for a plural entry, the form its `count` picks."""
        if not self.is_plural(msg.key):
            return self.text(msg.key, locale)
        count = msg.params.get("count")
        if not isinstance(count, Count):
            raise TypeError(f"plural entry {msg.key!r} needs a Count as its 'count' parameter, not {count!r}")
        return self.plural(msg.key, locale, count.n)

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
        ask = reply.ask
        asked = RenderedAsk(self.render_msg(ask.field, locale, _plain), ask.secret is not None, ask.prompt) if ask else None
        return Rendered(
            text=text, buttons=rows, image=reply.image, file=reply.file, edit=reply.edit,
            delete_after=reply.delete_after, delete_request=reply.delete_request, ask=asked, modal=reply.modal,
            edit_only=reply.edit_only, public=reply.public,
        )


def moment_text(moment: datetime, locale: Locale) -> str:
    """A date and time in `locale`'s medium date and short time patterns, joined as the locale joins them
    (`Dec 4, 2026, 11:20 AM`, `2026年12月4日 11:20`): to the minute, as a chat needs it."""
    joined = str(locale.datetime_formats["medium"]).replace("'", "")
    return joined.replace("{1}", format_date(moment, "medium", locale=locale)).replace(
        "{0}", format_time(moment, "short", tzinfo=moment.tzinfo, locale=locale))


def _parse(tag: str) -> Locale | None:
    """A platform or environment language tag as a Babel locale (`zh-hant`, `pt_BR.UTF-8`, `sr@latin`); for an
    unknown region or variant, its language alone; None when not even that is a language."""
    cleaned = tag.split(".", 1)[0].split("@", 1)[0].replace("-", "_").strip()
    for attempt in (cleaned, cleaned.split("_", 1)[0]):
        try:
            return Locale.parse(attempt) if attempt else None
        except (UnknownLocaleError, ValueError, TypeError):
            continue
    return None


def _likely(locale: Locale) -> Locale:
    """`locale` completed with CLDR's likely subtags (`zh` -> zh_Hans_CN, `zh_Hant` -> zh_Hant_TW)."""
    likely: Mapping[str, str] = get_global("likely_subtags")
    for key in (f"{locale.language}_{locale.script}" if locale.script else None,
                f"{locale.language}_{locale.territory}" if locale.territory else None, locale.language):
        if key and key in likely:
            full = Locale.parse(likely[key])
            return Locale(locale.language, territory=locale.territory or full.territory, script=locale.script or full.script)
    return locale


def _script(locale: Locale) -> str | None:
    return locale.script or _likely(locale).script


def _plain(text: str) -> str:
    return text


def _trim(value: Decimal, places: int) -> Decimal:
    q = value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN)
    if q == q.to_integral_value():
        return q.quantize(Decimal(1))
    return q.normalize()
