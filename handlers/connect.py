"""/connect and /disconnect: link the user's own wallet by a signed message on the bot's page, or unlink it.

Private only: whoever opens a connect link links *their* wallet to the account that asked for it, so the
link is never shown in a group.
"""

from bot.core.errors import UserError
from bot.core.messages import Msg, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services
from wallets.connected import ConnectedWallets, short_address


def register(router: Router, services: Services) -> None:
    connected = services.connected
    if connected is None:
        return
    wallets: ConnectedWallets = connected

    async def connect(caller: Caller) -> Reply:
        """A single-use link to the page where the wallet signs in."""
        if caller.request.args:
            raise UserError("error.args.extra", usage=Msg("usage.connect"))
        request = caller.request
        url = await wallets.connect_link(caller.user_key, request.platform, request.chat_id)
        minutes = wallets.settings.connect_link_seconds // 60
        lines = [Msg("connect.link", {"url": url, "minutes": minutes})]
        current = await wallets.address_of(caller.user_key)
        if current is not None:
            lines.append(Msg("connect.current", {"address": short_address(current)}))
        return Reply.of(*lines)

    async def disconnect(caller: Caller) -> Reply:
        """Unlink the connected wallet (the bot forgets nothing else; the wallet keeps its funds)."""
        if caller.request.args:
            raise UserError("error.args.extra", usage=Msg("usage.disconnect"))
        removed = await wallets.disconnect(caller.user_key)
        if removed is None:
            raise UserError("error.connect.none")
        return Reply.of(Msg("connect.removed", {"address": short_address(removed)}))

    router.command("connect", connect, private_only=True)
    router.command("disconnect", disconnect, personal=True)
