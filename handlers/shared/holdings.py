"""Whose holdings a user means."""

from bot.services import Services


async def holder(services: Services, user_id: int) -> str:
    """The address whose positions the user means: the wallet that trades for them (connected, else custodial)."""
    return (await services.desks.home.sender(user_id)).address
