"""Server-rendered HTML: one layout, every sentence from the catalogs, everything escaped.

Pages carry what their script needs in a `<script type="application/json">` block (data, never code: the
Content-Security-Policy allows only the bot's own script files) with `<`, `>` and `&` escaped inside it.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.core.errors import UserError
from bot.core.messages import Msg
from bot.i18n import Catalogs
from bot.storage.repositories import UserRows

STATUS_OF = {
    "error.link.unknown": 404, "error.link.used": 410, "error.link.expired": 410,
    **{f"error.miniapp.{reason}": 403 for reason in ("signature", "expired", "replayed", "user", "missing")},
    "error.pin_pad.outside": 403, "prompt.closed": 410, "prompt.expired": 410,
}


def json_for_html(data: Mapping[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@dataclass(frozen=True)
class PageKit:
    """What every page needs: the catalogs, the user's language, the home chain's label and id (a signing link
    names its own chain: bot.frontends.web.sign.chain_of)."""

    catalogs: Catalogs
    users: UserRows
    chain_name: str
    chain_id: int

    async def locale_for(self, user_id: int | None, request: web.Request) -> str:
        if user_id is not None:
            user = await self.users.by_id(user_id)
            if user is not None:
                return user.locale or self.catalogs.negotiate(user.platform_locale)
        accepted = request.headers.get("Accept-Language", "").split(",", 1)[0].split(";", 1)[0].strip()
        return self.catalogs.negotiate(accepted[:16] or None)

    def text(self, msg: Msg, locale: str) -> str:
        """A catalog sentence for HTML: translated, parameters formatted and escaped."""
        return self.catalogs.render_msg(msg, locale, html.escape)

    def plain(self, msg: Msg, locale: str) -> str:
        """A catalog sentence for the page's script, which shows it with textContent (no HTML)."""
        return self.catalogs.render_msg(msg, locale, _same)

    def chain_label(self) -> Msg:
        return Msg("web.chain", {"name": self.chain_name, "chain_id": str(self.chain_id)})

    def page(
        self, locale: str, title: Msg, body: str, *, script: str | None = None, data: Mapping[str, Any] | None = None,
        status: int = 200,
    ) -> web.Response:
        """The layout around `body` (already-escaped HTML built from catalog sentences)."""
        head_script = (
            f'<script src="/static/common.js" defer></script><script src="/static/{script}" defer></script>' if script else ""
        )
        data_block = f'<script type="application/json" id="page-data">{json_for_html(data)}</script>' if data else ""
        lang = html.escape(locale.replace("_", "-"))
        document = (
            f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{self.text(title, locale)}</title><link rel="stylesheet" href="/static/style.css">{head_script}'
            f'</head><body><main><h1>{self.text(title, locale)}</h1>{body}</main>{data_block}</body></html>'
        )
        return web.Response(text=document, content_type="text/html", charset="utf-8", status=status)

    def refusal(self, err: UserError, locale: str, title: str = "web.title.link") -> web.Response:
        """A localized page for a link that cannot be used (unknown, used, expired)."""
        body = f'<p class="error" id="status">{self.text(err.msg, locale)}</p>'
        return self.page(locale, Msg(title), body, status=STATUS_OF.get(err.key, 400))

    def json_refusal(self, err: UserError, locale: str) -> web.Response:
        return web.json_response({"ok": False, "message": self.plain(err.msg, locale)}, status=STATUS_OF.get(err.key, 400))


def paragraph(text: str, css: str = "", ident: str = "") -> str:
    attrs = (f' class="{css}"' if css else "") + (f' id="{ident}"' if ident else "")
    return f"<p{attrs}>{text}</p>"


def _same(text: str) -> str:
    return text
