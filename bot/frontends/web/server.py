"""The web server: aiohttp on a socket bound at start-up, strict headers on every response, static files.

Every response carries a strict Content-Security-Policy (only the bot's own scripts, styles and endpoints;
no inline code, no frames, no forms posting elsewhere), `Cache-Control: no-store` and
`Referrer-Policy: no-referrer` (a link token never leaves in a Referer header or a cache). Access logging is
off: request paths hold link tokens, and secrets never reach a log.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from bot.frontends.web.miniapp import TELEGRAM_WEB, opened_in_miniapp

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css"}
MAX_BODY = 16 * 1024
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WebError(Exception):
    """The configured address cannot be served (port taken, bad public URL)."""


def bind(host: str, port: int, settings: str = "INDEXBOT_WEB_HOST / INDEXBOT_WEB_PORT") -> socket.socket:
    """Listen on host:port (0 = a free port) before anything else is built, so the public URL is known."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise WebError(f"cannot listen on {host}:{port} ({exc.strerror}); set {settings}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def public_url(configured: str | None, sock: socket.socket) -> str:
    """The URL users open: the configured one, or http://127.0.0.1:<bound port>."""
    if configured:
        url = configured.rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise WebError(f"INDEXBOT_PUBLIC_URL must be an http(s) URL without query or fragment, got {configured!r}")
        return url
    host, port = sock.getsockname()[:2]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else (f"[{host}]" if ":" in host else host)
    return f"http://{shown}:{port}"


@web.middleware
async def no_leaks(request: web.Request, handler: Handler) -> web.StreamResponse:
    """An unexpected failure is logged without the path (it holds a link token) and answered with a bare 500."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("web request failed: %s /%s/…", request.method, request.path.split("/")[1])
        return web.Response(status=500, text="internal error")


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response, errors and 404s included. A page opened as a Telegram Mini App may be framed by Telegram
    Web (which shows Mini Apps in a frame), by nobody else."""
    response.headers.update(HEADERS)
    if opened_in_miniapp(request.query):
        response.headers["Content-Security-Policy"] = HEADERS["Content-Security-Policy"].replace(
            "frame-ancestors 'none'", f"frame-ancestors {TELEGRAM_WEB}")
        del response.headers["X-Frame-Options"]  # superseded by frame-ancestors, and it cannot name a frame's parent


def _static_routes() -> list[web.RouteDef]:
    files = {p.name: (p.read_bytes(), STATIC_TYPES[p.suffix]) for p in STATIC_DIR.iterdir() if p.suffix in STATIC_TYPES}

    async def static(request: web.Request) -> web.Response:
        found = files.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        body, kind = found
        return web.Response(body=body, content_type=kind, charset="utf-8")

    return [web.get("/static/{name:[a-z]+\\.(?:js|css)}", static)]


LOOPBACK = "127.0.0.1"


class Served:
    """An aiohttp application served on a socket bound beforehand (`bind`): started and stopped with the bot."""

    what = "web pages"  # for the start-up line

    def __init__(self, sock: socket.socket, app: web.Application) -> None:
        self.sock = sock
        self.app = app
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.sock.getsockname()[1]}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.SockSite(self._runner, self.sock).start()
        log.info("%s at %s", self.what, self.url)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.sock.close()


class WebServer(Served):
    def __init__(self, sock: socket.socket, url: str, routes: Iterable[web.RouteDef]) -> None:
        app = web.Application(middlewares=[no_leaks], client_max_size=MAX_BODY)
        app.on_response_prepare.append(security_headers)
        app.add_routes([*routes, *_static_routes()])
        super().__init__(sock, app)
        self._url = url

    @property
    def url(self) -> str:
        return self._url  # what users open (INDEXBOT_PUBLIC_URL), not the socket
