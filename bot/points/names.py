"""Leaderboard names that cannot pass for someone else: unique, and no look-alike of another user's name, of
the bot's name or of a role word (moderator, admin, support, official, ...).

Two names are the same when their keys are: NFKC, then Unicode's confusable skeleton (UTS #39) taken of the
upper-case form, case-folded and taken again (so `AdmIn`, `Admln`, `adm1n`, `ΑDΜΙΝ` and `ａｄｍｉｎ` all meet
`admin`, and `rnod` meets `mod`), without the spaces, dots, underscores and hyphens a name may hold. The
confusables come from the `confusable-homoglyphs` package (Unicode's confusables.txt, kept up to date there);
its table lists each character's confusables both ways, and the one character of a group that the others map
to is the group's prototype, the character a skeleton keeps.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from confusable_homoglyphs.confusables import confusables_data

from bot.core.errors import UserError

ROLE_WORDS = ("moderator", "moderators", "mod", "mods", "admin", "admins", "administrator", "support", "official",
              "staff", "indexbot", "sosovalue")  # and the bot's own usernames, added by the front ends
_SEPARATORS = re.compile(r"[ ._\-]+")
_MARKS = str.maketrans("", "", "\u200e\u200f")  # the table wraps right-to-left characters in direction marks


def _prototypes() -> dict[str, str]:
    """character -> the prototype of its confusable group (characters of no group are left out)."""
    table: dict[str, list[str]] = {}
    for char, homoglyphs in confusables_data.items():
        table.setdefault(char.translate(_MARKS), []).extend(h["c"].translate(_MARKS) for h in homoglyphs)
    prototype: dict[str, str] = {}
    for char, others in table.items():
        if len(char) != 1:
            continue
        if len(others) > 1:  # a group's prototype lists every member
            prototype[char] = char
            continue
        other = others[0]
        if len(table.get(other, ())) > 1 or len(other) > 1:  # a member lists its prototype only
            prototype[char] = other
        else:  # a group of two: either may stand for both
            prototype[char] = min(char, other)
    return prototype


_PROTOTYPE = _prototypes()


def skeleton(text: str) -> str:
    """UTS #39's skeleton: decomposed, each character replaced by its group's prototype, decomposed again."""
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFD", "".join(_PROTOTYPE.get(c, c) for c in decomposed))


@lru_cache(maxsize=4096)
def name_key(name: str) -> str:
    """What two names share when they look alike (case, width, script, 0/O, 1/l/I, rn/m, separators)."""
    text = unicodedata.normalize("NFKC", name)
    return _SEPARATORS.sub("", skeleton(skeleton(text.upper()).casefold()))


def _matches(word_key: str, word: str, name: str) -> bool:
    """Whether `name` holds a look-alike of a reserved `word`: as a whole word when it is short (`mod`), at the
    start or end of one (`AdminBob`), anywhere once it is long enough to be unmistakable (`TheOfficialOne`)."""
    parts = [name_key(p) for p in _SEPARATORS.split(unicodedata.normalize("NFKC", name)) if p]
    if len(word) <= 3:
        return word_key in parts
    if len(word) <= 5:
        return any(p.startswith(word_key) or p.endswith(word_key) for p in parts)
    return word_key in name_key(name)


def refuse_reserved(name: str, bot_names: Iterable[str] = ()) -> None:
    """UserError `error.name.reserved` when the name looks like a role word or the bot's name."""
    for word in (*ROLE_WORDS, *bot_names):
        word = word.strip().lstrip("@")
        if word and _matches(name_key(word), word, name):
            raise UserError("error.name.reserved", name=name)
