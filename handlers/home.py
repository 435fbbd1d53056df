"""Home: the home screen as a button (every screen's Home) and as the answer to a plain message that is no command
(one that answers no prompt); its buttons open each feature as a screen edited in place, with Back / Home.

A feature without a screen of its own opens as its command typed bare (`/wallet`, `/points`), under that command's
rules (private only). The summary (the wallet's value) is read once per block (handlers.shared.home).
"""

from functools import partial

from bot.core.errors import UserError
from bot.core.messages import Msg, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services
from handlers.shared.home import OPENED, Summaries, home_reply
from handlers.shared.nav import HOME, screen


async def typed(summaries: Summaries, caller: Caller) -> Reply:
    """A plain message that is no command."""
    return await home_reply(summaries, caller, Msg("home.title", style="title"))


async def pressed(summaries: Summaries, caller: Caller, _: tuple[str, ...]) -> Reply:
    """Home, in place of the pressed message."""
    return await home_reply(summaries, caller, Msg("home.title", style="title"), edit=True)


async def open_command(router: Router, caller: Caller, args: tuple[str, ...]) -> Reply:
    """A home button for a feature shown by its bare command, under that command's own rules."""
    command = router.commands.get(args[0]) if len(args) == 1 and args[0] in OPENED else None
    if command is None:
        raise UserError("error.button.expired")
    req = caller.request
    if command.private_only and not (req.is_private or req.private_reply):
        raise UserError("error.private_only")
    return screen(await command.run(caller))


def register(router: Router, services: Services) -> None:
    summaries = Summaries(services)
    router.plain_text(partial(typed, summaries))
    router.action(HOME, partial(pressed, summaries))
    router.action("home.open", partial(open_command, router), personal=True)
