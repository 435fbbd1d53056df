"""/start: a welcome with the main actions as buttons."""

from bot.core.messages import Button, Msg, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services


def register(router: Router, services: Services) -> None:
    async def start(caller: Caller) -> Reply:
        """Greet the user and offer the first steps."""
        return Reply.of(
            Msg("start.title", style="title"),
            Msg("start.body", {"indexes": services.index_list()}),
            buttons=(
                (Button(Msg("button.indexes"), "indexes.show"), Button(Msg("button.quote_sample"), "quote.show", (services.profile.indexes[0].symbol, "100", "usdc"))),
                (Button(Msg("button.help"), "help.show"), Button(Msg("button.language"), "lang.menu")),
            ),
        )

    router.command("start", start)
