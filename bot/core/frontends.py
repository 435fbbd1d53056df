"""What each running chat front end says of itself once it has started, in one registry built by the
composition root (bot.app) and passed to the services that need it.

A front end knows some things only after it connects: the bot's own username (Telegram's getMe, Discord's login),
so its `/invite` deep link; and how to ask the platform of a user's rights outside any request (a scheduled
announcement re-checks its author). It tells them here through `FrontEnds.attach`, the one place they are
recorded; the services built before it read them at call time (`Points.invite_links`, `Points.bot_names`,
`Announcements.standings`) instead of having them patched in.

A front end whose questions may be answered on a page (Telegram's PIN pad Mini App) says how it hears such an answer
(`pages`): the page hands it the request the user's typed message would have been, and the front end answers it in
the chat as it answers that message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from bot.core.request import Request, Standing
from bot.core.router import Outcome

# Asks a platform now what a user is in one of its communities, outside any request (a scheduled send):
# (community id, platform user id) -> their standing, None when the platform could not be asked.
StandingOf = Callable[[str, str], Awaitable[Standing | None]]
# A question's answer given on its page, as the request the typed message would have been -> the router's outcome,
# already told in the chat (its `unasked`: the question was gone, nothing was done or said).
AnswerFromPage = Callable[[Request], Awaitable[Outcome]]


class FrontEnds:
    def __init__(self, invite_links: Mapping[str, str] | None = None) -> None:
        """`invite_links`: the configured ones (the Discord server's invite), before any front end starts."""
        self.invite_links: dict[str, str] = dict(invite_links or {})  # platform -> its invite ("{code}" filled in)
        self.bot_names: set[str] = set()  # the bot's own usernames: no /name may look like one
        self.standings: dict[str, StandingOf] = {}  # platform -> how to ask it of a user's rights
        self.pages: dict[str, AnswerFromPage] = {}  # platform -> how it hears a question answered on its page

    def attach(self, platform: str, *, bot_name: str | None = None, invite_link: str | None = None,
               standing_of: StandingOf | None = None, answer_from_page: AnswerFromPage | None = None) -> None:
        """A front end has started: its bot's username, its invite link (a Telegram deep link with `{code}`), how to
        ask it of a user's standing in one of its communities, and how it hears a question answered on its page."""
        if bot_name:
            self.bot_names.add(bot_name)
        if invite_link:
            self.invite_links[platform] = invite_link
        if standing_of is not None:
            self.standings[platform] = standing_of
        if answer_from_page is not None:
            self.pages[platform] = answer_from_page
