"""Back / Home on every screen of the tapped menus: each screen edits the message its button was pressed on."""

from dataclasses import replace

from bot.core.messages import Button, Msg, Reply

HOME = "home.show"


def nav_row(back: str = HOME, back_args: tuple[str, ...] = ()) -> tuple[Button, ...]:
    """Back (to the screen this one was reached from) and Home; a screen reached from Home has Home alone."""
    home = Button(Msg("button.home"), HOME)
    if back == HOME:
        return (home,)
    return (Button(Msg("button.back"), back, back_args), home)


def screen(reply: Reply, back: str = HOME, back_args: tuple[str, ...] = ()) -> Reply:
    """`reply` as a screen of the menus: its own buttons, then Back / Home, edited in place of the pressed message."""
    return replace(reply, buttons=(*reply.buttons, nav_row(back, back_args)), edit=True)


def share_of(units: int, pct: int) -> int:
    """`pct` % of `units` base units, rounded down (never more than held)."""
    return units * pct // 100
