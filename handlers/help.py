"""/help: every command with its localized description and usage."""

from functools import partial

from bot.core.messages import Msg, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services


async def help_command(router: Router, services: Services, caller: Caller) -> Reply:
    """List the commands in menu order."""
    lines = [Msg("help.title", style="title")]
    lines += [Msg("help.line", {"command": name, "description": Msg(cmd.description_key)}) for name, cmd in router.commands.items()]
    lines += [Msg("help.usage", {"indexes": services.all_index_list()})]
    return Reply.of(*lines)


async def show(router: Router, services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    return await help_command(router, services, caller)


def register(router: Router, services: Services) -> None:
    router.command("help", partial(help_command, router, services))
    router.action("help.show", partial(show, router, services))
