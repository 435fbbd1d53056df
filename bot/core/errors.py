"""The one user-facing error type.

Raised anywhere in the core when the user asked for something that cannot be done; it carries a catalog
key and parameters, and each adapter turns it into a localized reply in exactly one place (the router).
Anything else that escapes a handler is logged with context and answered with `error.internal`.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.core.messages import Msg, Param


class UserError(Exception):
    def __init__(self, key: str, **params: Param) -> None:
        super().__init__(key)
        self.key = key
        self.params: Mapping[str, Param] = params

    @property
    def msg(self) -> Msg:
        return Msg(self.key, self.params)
