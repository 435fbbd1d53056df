"""Catalog sentences as a test expects to read them: rendered like the plain-text front ends (`text`), like the
Telegram adapter (`html_text`, HTML-escaped), the bare entry (`entry`), or the fixed words an entry opens with
(`starts`).

One definition each, for the copies the test files had. Where the copies differed only in whether they took a
`locale`, the one here takes it with the same default ("en"): no caller of a copy without it passed `locale=`, so
each caller reads the same sentence as before.
"""

from __future__ import annotations

import html
from typing import Any

from bot.app import App
from bot.core.messages import Msg
from bot.i18n import Catalogs

EN = Catalogs().entries["en"]


def text(app: App, key: str, locale: str = "en", **params: Any) -> str:
    """A catalog sentence with its parameters, as a plain-text front end (the console) shows it."""
    return app.services.catalogs.render_msg(Msg(key, params), locale, str)


def html_text(app: App, key: str, locale: str = "en", **params: Any) -> str:
    """A catalog sentence with its parameters as the Telegram adapter renders it (parameters HTML-escaped)."""
    return app.services.catalogs.render_msg(Msg(key, params), locale, html.escape)


def entry(app: App, key: str, locale: str = "en") -> str:
    """The catalog's entry itself, placeholders unfilled (`Catalogs.text`)."""
    return app.services.catalogs.text(key, locale)


def starts(key: str, catalog: dict[str, str] = EN) -> str:
    """The fixed opening words of a catalog entry (English unless another catalog is given), up to its first
    placeholder."""
    return catalog[key].split("{")[0]
