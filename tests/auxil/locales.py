"""A locales/ folder with more languages than the repository ships, for tests of what a new catalog folder turns on.

`more_locales` copies the real catalogs and adds, for each code asked, a complete catalog whose every text is
the English one marked with its code (`[ja] Quote a buy or a sell…`), with the Plural-Forms header Babel gives
that locale and as many plural forms as it says (form i marked `#i`), so a test can tell which catalog and which
form a sentence came from.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po, write_po

from bot.i18n import locales_dir


def marked(code: str, text: str, form: int | None = None) -> str:
    """How `more_locales` writes English `text` in the made-up catalog `code` (plural form `form`)."""
    return f"[{code}{'' if form is None else f' #{form}'}] {text}"


def more_locales(directory: Path, codes: tuple[str, ...]) -> Path:
    shutil.copytree(locales_dir(), directory, dirs_exist_ok=True)
    with (locales_dir() / "en" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        english = read_po(fh, locale="en")
    for code in codes:
        forms = get_plural(code).num_plurals
        made = Catalog(locale=code, project="indexbot")
        for message in english:
            if not message.id:
                continue
            if isinstance(message.id, tuple):
                other = str(message.string[-1])
                made.add(message.id, tuple(marked(code, other, i) for i in range(forms)))
            else:
                made.add(message.id, marked(code, str(message.string)))
        target = directory / code / "LC_MESSAGES"
        target.mkdir(parents=True, exist_ok=True)
        with (target / "messages.po").open("wb") as fh:
            write_po(fh, made, width=0)
    return directory
