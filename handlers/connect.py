"""/connect and /disconnect: link the user's own wallet by a signed message on the bot's page, or unlink it.

Private only: whoever opens a connect link links *their* wallet to the account that asked for it, so the
link is never shown in a group.
"""

from functools import partial

from bot.core.errors import UserError
from bot.core.messages import Button, Count, Msg, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services
from wallets.connected import short_address


async def connect(services: Services, caller: Caller) -> Reply:
    """A single-use link to the page where the wallet signs in."""
    if caller.request.args:
        raise UserError("error.args.extra", usage=Msg("usage.connect"))
    connected, request = services.connected, caller.request
    url = await connected.connect_link(caller.user_key, request.platform, request.news_chat)
    minutes = connected.settings.connect_link_seconds // 60
    lines = [Msg("connect.link", {"url": url, "count": Count(minutes)})]
    current = await connected.address_of(caller.user_key)
    if current is not None:
        lines.append(Msg("connect.current", {"address": short_address(current)}))
    return Reply.of(*lines, buttons=((Button.link(Msg("button.open.connect"), url),),))  # Telegram: a Mini App


async def disconnect(services: Services, caller: Caller) -> Reply:
    """Unlink the connected wallet (the bot forgets nothing else; the wallet keeps its funds)."""
    if caller.request.args:
        raise UserError("error.args.extra", usage=Msg("usage.disconnect"))
    removed = await services.connected.disconnect(caller.user_key)
    if removed is None:
        raise UserError("error.connect.none")
    return Reply.of(Msg("connect.removed", {"address": short_address(removed)}))


def register(router: Router, services: Services) -> None:
    router.command("connect", partial(connect, services), private_only=True)
    router.command("disconnect", partial(disconnect, services), personal=True)
