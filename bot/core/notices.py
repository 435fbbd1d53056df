"""Messages nobody asked for right now, about the user's own business: a trade submitted, confirmed, failed.

The core says what (a `Reply`) and where (platform and chat, optionally the message to edit). `Notices.tell`
puts it in the outbox (bot/delivery/outbox) as the most pressing kind of message, so it survives a restart and shares
the platform's rate limits with everything else, and waits until the platform showed it: the caller gets the
id of the message shown, to edit it later. Alerts and announcements use the outbox directly.
"""

from __future__ import annotations

import logging

from bot.core.messages import Reply
from bot.delivery.outbox import Outbox
from bot.delivery.outbox.dispatch import Deliverer

log = logging.getLogger(__name__)


class Notices:
    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def attach(self, front: Deliverer) -> None:
        """Start delivering this platform's messages through `front` (from a running event loop)."""
        self.outbox.attach(front)

    async def detach(self, front: Deliverer) -> None:
        await self.outbox.detach(front)

    async def tell(self, user_id: int, platform: str, chat_id: str, reply: Reply, edit_ref: str | None = None, *,
                   keep: bool = True) -> str | None:
        """Show `reply` to the user in `chat_id` (editing `edit_ref` where the platform can); the id of the
        message shown, or None when it was not shown: that platform is not running (then nothing is queued), it
        refused, or it is slower than the outbox's wait (then it is shown when it can be). A refusal is kept for the
        user's next visit where the platform allows it (`Outbox.keep_refused`) unless `keep` is False: the caller
        deals with it now (a signing link abandoned when it cannot be delivered)."""
        if not self.outbox.running(platform):  # the caller hears "not shown" and acts on it: nothing is queued
            log.warning("notice for user %s not delivered: the %s front end is not running", user_id, platform)
            return None
        message_id = await self.outbox.put_chat(platform, chat_id, reply, "trade", user_id=user_id, edit_ref=edit_ref)
        if message_id is None:
            return None
        delivery = await self.outbox.result(message_id)
        if not keep and delivery is not None and delivery.status == "blocked":
            await self.outbox.rows.unkeep([message_id], "told at once")
        return delivery.ref if delivery is not None and delivery.ok else None
