"""What a kind of price source is (`PriceSource`) and what it need not do (`SourceDefaults`): read at every block
(`calls`, `pyth_ids`, `read`) and checked at start-up (`startup_calls`, `check`, `settle`). A kind is a module
that registers itself in bot.market.prices.registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

from bot.chain.client import Call, Chain, Result
from bot.market.prices.model import PriceSetup, ReadContext, Reading
from bot.market.prices.startup import Findings, StartupEnv


class PriceSource(Protocol):
    """One kind of price source (a module registers its kind in bot.market.prices.registry)."""

    kind: ClassVar[str]

    @property
    def symbol(self) -> str:
        """The price symbol this source prices."""

    def calls(self, setup: PriceSetup) -> list[Call]:
        """The on-chain reads this source needs, added to the market's one Multicall3 batch."""

    def pyth_ids(self) -> tuple[str, ...]:
        """The Pyth ids this source needs from the one Hermes request of the block."""

    def read(self, results: Sequence[Result], ctx: ReadContext) -> Reading:
        """The reading from this source's own call results (as many as `calls` returned)."""

    def describe(self) -> dict[str, Any]:
        """What the source is, for operator output (`indexbot check`)."""

    def addresses(self) -> dict[str, str]:
        """Contracts that must hold code, by what they are ("BTC feed (BTC / USD)")."""

    def startup_calls(self, env: StartupEnv) -> list[Call]:
        """The reads its start-up check needs, in verification's one batch."""

    def check(self, results: Sequence[Result], env: StartupEnv, found: Findings) -> None:
        """Read `results` (as many as `startup_calls` gave) into `found`: problems, warnings, what it learned."""

    async def settle(self, chain: Chain, found: Findings) -> None:
        """A second round after every check, when the first could not decide (most sources: nothing)."""


class SourceDefaults:
    """What a source kind does not need to do: no Pyth id, no start-up reads, no second round."""

    def pyth_ids(self) -> tuple[str, ...]:
        return ()

    def addresses(self) -> dict[str, str]:
        return {}

    def startup_calls(self, env: StartupEnv) -> list[Call]:
        return []

    def check(self, results: Sequence[Result], env: StartupEnv, found: Findings) -> None:
        return None

    async def settle(self, chain: Chain, found: Findings) -> None:
        return None
