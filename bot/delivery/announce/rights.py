"""Who may announce to whom, asked anew on every use (never cached): configured moderators reach everyone,
a group's administrators (Telegram) and a server's managers or configured roles (Discord) their own community."""

from __future__ import annotations

from collections.abc import Mapping

from bot.delivery.announce.config import AnnounceConfig
from bot.core.frontends import StandingOf
from bot.core.request import Request
from bot.storage.announcements import ALL


def community_scope(platform: str, community: str) -> str:
    """The scope of an announcement to one group or server and its members."""
    return f"{platform}:{community}"


async def rights_of(request: Request, config: AnnounceConfig) -> str | None:
    """What the requester may announce to right now: ALL, their community's scope, or None. The platform is
    asked only when the user is not a configured moderator and the request came from a group or server."""
    if config.is_moderator(request.platform, request.user_id):
        return ALL
    if request.community is None or request.standing is None or request.is_private:
        return None
    standing = await request.standing()
    if standing.admin or (request.platform == "discord" and standing.roles & config.discord_roles):
        return community_scope(request.platform, request.community)
    return None


def covers(rights: str, scope: str) -> bool:
    """Whether someone with `rights` may manage an announcement of `scope`."""
    return rights == ALL or rights == scope


async def still_community_moderator(scope: str, platform_user_id: str, config: AnnounceConfig,
                                    standings: Mapping[str, StandingOf]) -> bool | None:
    """Whether the author of a community announcement (`scope`) may still announce there, asked of the platform
    now: True, False, or None when the platform cannot be asked (its front end is not running or did not answer)."""
    platform, community = scope.split(":", 1)
    if config.is_moderator(platform, platform_user_id):
        return True
    ask = standings.get(platform)
    standing = await ask(community, platform_user_id) if ask is not None else None
    if standing is None:
        return None
    return standing.admin or (platform == "discord" and bool(standing.roles & config.discord_roles))
