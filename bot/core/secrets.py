"""Secrets recognized by their shape in what users type: private keys, recovery phrases, PINs.

The router asks this before anything else about a message, so a message that carries a secret is deleted
whatever the answer (unknown command, too long, usage error, private-only, anything); the commands that carry
PINs say so themselves (`Router.command(secret=...)`), since a PIN has no shape of its own beyond its digits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import Literal

from eth_account.hdaccount.mnemonic import Mnemonic
from eth_account.types import Language

Secret = Literal["key", "phrase", "pin"]

_KEY = re.compile(r"(0[xX])?[0-9a-fA-F]{64}")  # a private key: 32 bytes in hex, with or without 0x
PHRASE_LENGTHS = (12, 15, 18, 21, 24)  # BIP-39 recovery phrases
PIN_DIGITS = (4, 8)  # what wallets.pin accepts as a PIN (MIN_DIGITS, MAX_DIGITS)


@cache
def _bip39_words() -> frozenset[str]:
    return frozenset(Mnemonic(Language.ENGLISH).wordlist)


def has_key(words: Sequence[str]) -> bool:
    """Whether any word has the shape of a private key."""
    return any(_KEY.fullmatch(word) for word in words)


def is_phrase(words: Sequence[str]) -> bool:
    """Whether the words are a BIP-39 recovery phrase (12 to 24 words of the English list)."""
    return len(words) in PHRASE_LENGTHS and all(word.lower() in _bip39_words() for word in words)


def is_pin(word: str) -> bool:
    """Whether `word` has the shape of a PIN: 4 to 8 ASCII digits."""
    low, high = PIN_DIGITS
    return word.isascii() and word.isdigit() and low <= len(word) <= high


def shape_of(words: Sequence[str]) -> Secret | None:
    """The secret these words carry by their shape alone (a key or a recovery phrase), if any."""
    if has_key(words):
        return "key"
    if is_phrase(words):
        return "phrase"
    return None


def bare(words: Sequence[str]) -> Secret | None:
    """The secret a message that is no command carries: a key, a recovery phrase, or a lone PIN (typed after
    being told a command needs one, e.g. after the Withdraw button)."""
    return shape_of(words) or ("pin" if len(words) == 1 and is_pin(words[0]) else None)
