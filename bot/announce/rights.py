"""Who may announce to whom, asked anew on every use (never cached): configured moderators reach everyone,
a group's administrators (Telegram) and a server's managers or configured roles (Discord) their own community."""

from __future__ import annotations

from bot.announce.config import AnnounceConfig
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
