"""Each chain's trade pipeline (an `Executor` per chain profile), and which one an intent belongs to.

The home chain's executor trades its pool indexes and everything else (withdrawals, staking); a companion
chain's trades the indexes listed on it. An intent names its chain in `params["chain"]` when it is not the
home chain's; intents are stored in one table, so every desk reads them all and each follows only its own.
"""

from __future__ import annotations

from collections.abc import Iterator

from bot.trading.executor import Executor
from bot.trading.intents import Intent


class Desks:
    def __init__(self, home: Executor, others: tuple[Executor, ...] = ()) -> None:
        self.home = home
        self._by_chain = {desk.profile.name: desk for desk in (home, *others)}

    def __iter__(self) -> Iterator[Executor]:
        return iter(self._by_chain.values())

    def by_chain(self) -> dict[str, Executor]:
        return dict(self._by_chain)

    def of(self, intent: Intent) -> Executor:
        return self._by_chain.get(str(intent.params.get("chain", "")), self.home)

    def owns(self, desk: Executor, intent: Intent) -> bool:
        return self.of(intent) is desk

    async def of_id(self, intent_id: int) -> Executor:
        """The executor an intent belongs to (the home one for an unknown id: it refuses it)."""
        intent = await self.home.intents.get(intent_id)
        return self.home if intent is None else self.of(intent)

    async def on_hash(self, intent_id: int, step: int, tx_hash: str) -> None:
        """A connected wallet's hash, to the executor of the intent it was sent for."""
        await (await self.of_id(intent_id)).on_hash(intent_id, step, tx_hash)

    async def stop(self) -> None:
        for desk in self:
            await desk.stop()
