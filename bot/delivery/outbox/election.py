"""Which process of a fleet sends a platform's outbox: the one that holds that platform's seat (bot.storage.leader).

Every process with the sender role runs a `SenderElection` per front end. While it holds the seat, the front end is
attached to the outbox: its Dispatcher first settles what a sender before it left 'sending' (they become 'unknown',
never sent again: they may have arrived), then sends. A standby tries for the seat every `RETRY` seconds, so it
takes over within that (plus its first look at the outbox) of the active sender's death. An active sender that
loses its connection detaches at once (what is on the wire is answered and recorded; nothing else leaves) and
stands by again: by then another may hold the seat. On SQLite there is one process and no election (bot/cli.py
attaches the front end directly).
"""

from __future__ import annotations

import asyncio
import logging
import time

from bot.delivery.outbox import Outbox
from bot.delivery.outbox.dispatch import Deliverer
from bot.storage.leader import HEARTBEAT, SeatLost, SenderSeat

log = logging.getLogger(__name__)

RETRY = 2.0  # seconds between a standby's tries for the seat


class SenderElection:
    def __init__(self, outbox: Outbox, front: Deliverer, seat: SenderSeat, *, retry: float = RETRY,
                 heartbeat: float = HEARTBEAT) -> None:
        self.outbox = outbox
        self.front = front
        self.seat = seat
        self.retry = retry
        self.heartbeat = heartbeat
        self.active = asyncio.Event()  # set while this process sends the platform's outbox
        self.terms = 0  # times this process became the active sender
        # when this process last knew the seat held, by itself or another (a refused try): for /readyz
        self.seen_held = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Stand by for the seat (from a running event loop); the outbox counts the platform as served meanwhile,
        by whichever process holds it."""
        self.outbox.elsewhere(self.front.name)
        if self._task is None:
            self.seen_held = time.monotonic()  # a fleet starting up gets its grace
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"sender:{self.front.name}")

    async def stop(self) -> None:
        """Give up the seat: detach (what is on the wire finishes) and close the connection, freeing the lock."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    @property
    def platform(self) -> str:
        return self.front.name

    def unseated_for(self) -> float:
        """Seconds since this process last knew the seat held (0 while it holds it): how long the platform's outbox
        may have had no sender, when no process holds the seat now."""
        return 0.0 if self.active.is_set() else time.monotonic() - self.seen_held

    @property
    def grace(self) -> float:
        """How long a healthy fleet may have no sender: a holder's death is seen by a standby's next try (within one
        retry) and that try may take a second; longer means no process can take the seat."""
        return 2 * self.retry + 1.0

    async def _run(self) -> None:
        name = self.front.name
        try:
            while True:
                try:
                    if await self.seat.take():
                        await self._serve()
                    else:
                        self.seen_held = time.monotonic()  # another process holds it
                except SeatLost as lost:
                    log.warning("outbox %s: the database connection of the sender's seat failed (%s); standing by",
                                name, lost)
                except Exception:
                    log.exception("outbox %s: the sender's election failed; trying again", name)
                    await self.seat.release()
                await asyncio.sleep(self.retry)
        finally:  # a stop, wherever it finds the loop (a standby keeps its connection between tries): nothing left open
            await self.seat.release()

    async def _serve(self) -> None:
        """Send while the seat is held; on its loss (or a stop), detach before anything else."""
        name = self.front.name
        log.info("outbox %s: this process is now the active sender", name)
        self.terms += 1
        self.outbox.attach(self.front)
        self.active.set()
        try:
            await self.seat.hold(lambda: self.outbox.wake(name), self.heartbeat)
        finally:
            self.seen_held = time.monotonic()
            self.active.clear()
            await asyncio.shield(self._step_down())

    async def _step_down(self) -> None:
        await self.outbox.detach(self.front)
        self.outbox.elsewhere(self.front.name)
        await self.seat.release()
        log.info("outbox %s: this process stopped sending", self.front.name)
