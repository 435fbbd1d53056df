"""/lang [code]: show or set the language; without an argument, one button per shipped language."""

from functools import partial

from bot.core.errors import UserError
from bot.core.messages import Button, Msg, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.i18n import Catalogs
from bot.services import Services
from handlers.shared.nav import screen

AUTO = "auto"
PER_ROW = 4  # language buttons per row: Discord takes at most 5 in a row, and 4 names fit a phone's width


def choices(catalogs: Catalogs) -> str:
    return ", ".join([*catalogs.locales, AUTO])


async def set_language(services: Services, caller: Caller, code: str) -> Reply:
    catalogs = services.catalogs
    if code.lower() == AUTO:
        await services.users.set_locale(caller.user_key, None)
        locale = catalogs.negotiate(caller.request.locale)
        return Reply.of(Msg("lang.auto", {"language": catalogs.language_name(locale)}), locale=locale)
    wanted = code.replace("-", "_").lower()  # a shipped code as listed, else any tag of its language (zh-Hant, zh)
    matched = next((c for c in catalogs.locales if c.lower() == wanted), None) or catalogs.match(code)
    if matched is None:
        raise UserError("error.lang.unknown", value=code[:16], valid=choices(catalogs))
    await services.users.set_locale(caller.user_key, matched)
    return Reply.of(Msg("lang.set", {"language": catalogs.language_name(matched)}), locale=matched)


async def lang(services: Services, caller: Caller) -> Reply:
    """Set the language from the argument, or offer the choices as buttons."""
    args = caller.request.args
    if len(args) > 1:
        raise UserError("error.args.extra", usage=Msg("usage.lang"))
    if args:
        return await set_language(services, caller, args[0])
    return await menu(services, caller, ())


async def menu(services: Services, caller: Caller, _: tuple[str, ...]) -> Reply:
    catalogs = services.catalogs
    options = [Button(Msg("lang.option", {"language": catalogs.language_name(c)}), "lang.set", (c,)) for c in catalogs.locales]
    rows = tuple(tuple(options[i : i + PER_ROW]) for i in range(0, len(options), PER_ROW))
    return Reply.of(
        Msg("lang.current", {"language": catalogs.language_name(caller.locale), "valid": choices(catalogs)}),
        buttons=(*rows, (Button(Msg("button.lang_auto"), "lang.set", (AUTO,)),)),
    )


async def press(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """A language button: the choice replaces the picker (Back leads to Settings)."""
    return screen(await set_language(services, caller, args[0]), "menu.settings")


async def menu_pressed(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """Language under Settings: the picker in place of the pressed message."""
    return screen(await menu(services, caller, args), "menu.settings")


def register(router: Router, services: Services) -> None:
    router.command("lang", partial(lang, services))
    router.action("lang.menu", partial(menu_pressed, services))
    router.action("lang.set", partial(press, services))
