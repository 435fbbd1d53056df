"""/help: every command with its localized description and usage."""

from bot.core.messages import Msg, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.services import Services


def register(router: Router, services: Services) -> None:
    async def help_(caller: Caller) -> Reply:
        """List the commands in menu order."""
        lines = [Msg("help.title", style="title")]
        lines += [Msg("help.line", {"command": name, "description": Msg(cmd.description_key)}) for name, cmd in router.commands.items()]
        lines += [Msg("help.usage", {"indexes": services.all_index_list()})]
        return Reply.of(*lines)

    async def show(caller: Caller, args: tuple[str, ...]) -> Reply:
        return await help_(caller)

    router.command("help", help_)
    router.action("help.show", show)
