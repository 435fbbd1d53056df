"""The devnet's fulfilment process: fills the stock index factory's pending requests while the market is open.

A real factory's orders fill only when the stock market trades; on the devnet this process plays the order
processor. Each `step` reads chain time (the timestamp the next block gets: anvil's clock plus any
`devnet advance`, even with nothing mined since) and, only while the market-hours window says the market is
open, applies a reindex that is due and completes every pending issuance and redemption. It sends from its own
account (anvil's account 9, the factory's operator), reading its nonce from the chain each step, so a test
reverting the chain under it does no harm; it remembers the highest nonce below which everything is settled
(and forgets it when the chain is reverted under it).

    python -m devnet.fulfil <stocks.toml>      (started by `indexbot devnet up`, stopped by `down`)

The window is the profile's `market_hours` (market.toml's default, or `indexbot devnet up --hours ...`);
`parse_hours` reads the flag's form: "mon-fri 09:30-16:00 America/New_York", or "always".
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hexbytes import HexBytes
from web3 import AsyncWeb3
from web3.exceptions import TimeExhausted
from web3.types import BlockData

from bot.issuance.hours import ALWAYS_OPEN, DAY_NAMES, MarketHours
from bot.chain.profile import IndexRef, Profile, load_profile
from devnet.operator import chain_now
from devnet.rpc import Sender, connect, contract
from devnet.stocks import FULFILLER_KEY

log = logging.getLogger(__name__)
RECEIPT_SLICE = 1.0  # seconds a step waits for its receipts before checking the chain is still the one it read
PENDING = 1
ISSUANCE, REDEMPTION, REINDEX = "issuance", "redemption", "reindex"
FILL_GAS = 3_000_000
REINDEX_GAS = 6_000_000


@dataclass(frozen=True)
class Fill:
    """One thing a step did: completed issuance or redemption `nonce` of `index`, or applied its reindex (nonce 0)."""

    index: str
    kind: str
    nonce: int = 0

    def __str__(self) -> str:
        return f"{self.index} {self.kind}" + (f" {self.nonce}" if self.nonce else "")


@dataclass
class _Settled:
    """Per index and kind, the highest nonce up to which nothing is pending, and the block that was seen at."""

    nonce: dict[tuple[str, str], int] = field(default_factory=dict)
    block: tuple[int, HexBytes] | None = None


class Fulfiller:
    _stopping = False  # set by `stop`

    def __init__(self, profile: Profile | Path | str, hours: MarketHours | None = None) -> None:
        self.profile = profile if isinstance(profile, Profile) else load_profile(Path(profile))
        self.refs = [ref for ref in self.profile.indexes if ref.venue == "issuance"]
        self.hours = {ref.symbol: hours or ref.market_hours or ALWAYS_OPEN for ref in self.refs}
        self._settled = _Settled()

    def stop(self) -> None:
        """End `run` after the step under way. A cancellation alone is not enough: a library that catches the
        CancelledError inside a step and un-cancels its task (a timeout firing in the same instant) loses it, and
        the loop would go on; this flag cannot be lost."""
        self._stopping = True

    async def step(self) -> list[Fill]:
        """Fill what is pending if the market is open now (chain time); what was done, in order."""
        done: list[Fill] = []
        async with connect(self.profile.rpc_urls[0]) as w3:
            now = await chain_now(w3)
            await self._forget_if_reverted(w3)
            # The block the marks below are read against, taken before reading them: a chain reverted (and
            # rebuilt to a new head) while this step reads must fail the next step's check, which a block read
            # at the end of the step would pass, leaving a re-made request under an old nonce marked settled.
            seen = await w3.eth.get_block("latest")
            tx = Sender(w3, FULFILLER_KEY, chain_id=self.profile.chain_id)  # nonce read from the chain
            settled: dict[tuple[str, str], int] = {}
            for ref in self.refs:
                if self.hours[ref.symbol].is_open(now):
                    done += await self._fill(w3, tx, ref, now, settled)
            if done:
                await self._mined(w3, tx, seen)  # raises if any reverted: then nothing new counts as settled
                log.info("filled %s", ", ".join(map(str, done)))
            self._settled.nonce.update(settled)
            self._settled.block = (int(seen["number"]), HexBytes(seen["hash"]))
        return done

    async def _forget_if_reverted(self, w3: AsyncWeb3) -> None:
        if self._settled.block is not None and await _gone(w3, *self._settled.block):
            self._settled = _Settled()

    async def _mined(self, w3: AsyncWeb3, tx: Sender, seen: BlockData) -> None:
        """The step's transactions mined, waited for a second at a time: a chain reverted under the step took them
        with it and they will never be mined, so the step ends (and the next one starts over) instead of waiting
        out the whole receipt timeout while new requests go unfilled."""
        sent = list(tx.pending)
        while True:
            try:
                await tx.wait(timeout=RECEIPT_SLICE)
                return
            except TimeExhausted:
                if self._stopping:
                    return  # stopped while it waited: the next run reads the chain afresh
                if await _gone(w3, int(seen["number"]), HexBytes(seen["hash"])):
                    raise ChainReverted("the chain was reverted under this step; its transactions went with it") from None
                tx.pending = sent

    async def _fill(
        self, w3: AsyncWeb3, tx: Sender, ref: IndexRef, now: int, settled: dict[tuple[str, str], int]
    ) -> list[Fill]:
        """Send the reindex if due and a completion for every pending request; `settled` gets the new marks."""
        assert ref.factory is not None
        factory = contract(w3, "IndexFactory", ref.factory)
        done: list[Fill] = []
        due = await factory.functions.reindexTime().call()
        if due and due <= now and await factory.functions.totalOracleList().call():
            await tx.send(factory.functions.applyReindex(), gas=REINDEX_GAS)
            done.append(Fill(ref.symbol, REINDEX))
        for kind, count, request, complete in (
            (ISSUANCE, factory.functions.issuanceNonce, factory.functions.issuanceRequest,
             factory.functions.completeIssuance),
            (REDEMPTION, factory.functions.redemptionNonce, factory.functions.redemptionRequest,
             factory.functions.completeRedemption),
        ):
            last = int(await count().call())
            first = self._settled.nonce.get((ref.symbol, kind), 0) + 1
            if first > last:
                settled[(ref.symbol, kind)] = last  # nothing new (or fewer: the chain went back under us)
                continue
            async with w3.batch_requests() as batch:
                for nonce in range(first, last + 1):
                    batch.add(request(nonce))
                rows = await batch.async_execute()
            for nonce, row in zip(range(first, last + 1), rows, strict=True):
                if row[2] == PENDING:
                    await tx.send(complete(nonce), gas=FILL_GAS)
                    done.append(Fill(ref.symbol, kind, nonce))
            settled[(ref.symbol, kind)] = last
        return done

    async def run(self, interval: float = 0.5) -> None:
        """`step` until stopped (`stop`) or cancelled; a failed step (node down, a revert under it) is logged and
        retried."""
        failing = False
        while not self._stopping:
            try:
                await self.step()
                if failing:
                    log.info("fulfilment steps succeed again")
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the process outlives any one bad step
                if _cancelling():  # a library turned our cancellation into another error (3.11's wait_for can)
                    raise asyncio.CancelledError from None
                if not failing:
                    log.exception("fulfilment step failed; retrying every %.1fs", interval)
                failing = True
            await asyncio.sleep(interval)


class ChainReverted(Exception):
    """What a step read was reverted away while it waited (a devnet snapshot restored under it)."""


async def _gone(w3: AsyncWeb3, number: int, block_hash: HexBytes) -> bool:
    """Block `number` is no longer the one with `block_hash`: the chain went back under it."""
    latest = int(await w3.eth.block_number)
    return latest < number or HexBytes((await w3.eth.get_block(number))["hash"]) != block_hash


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def parse_hours(text: str) -> MarketHours:
    """A market-hours window from "mon-fri 09:30-16:00 America/New_York" (days: a range, a comma list or
    "daily"; close may be 24:00), or "always"; ValueError saying what is wrong."""
    if text.strip().lower() == "always":
        return ALWAYS_OPEN
    parts = text.split()
    if len(parts) != 3 or "-" not in parts[1]:
        raise ValueError(f"not a market-hours window: {text!r} (use e.g. \"mon-fri 09:30-16:00 America/New_York\")")
    days_text, span, zone = parts
    opens, closes = span.split("-", 1)
    return MarketHours.from_config({"zone": zone, "open": opens, "close": closes, "days": _days(days_text.lower())})


def _days(text: str) -> list[str]:
    if text == "daily":
        return list(DAY_NAMES)
    days: list[str] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            raise ValueError(f"not days: {text!r} (use e.g. mon-fri, mon,wed,fri or daily)")
        i, j = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
        days += [DAY_NAMES[k % 7] for k in range(i, j + 1 if j >= i else j + 8)]
    return days


def describe(hours: MarketHours) -> str:
    """The window in the flag's form, e.g. "mon-fri 09:30-16:00 America/New_York"."""
    days = sorted(hours.days)
    if days == list(range(7)):
        names = "daily"
    elif days == list(range(days[0], days[-1] + 1)):
        names = f"{DAY_NAMES[days[0]]}-{DAY_NAMES[days[-1]]}" if len(days) > 1 else DAY_NAMES[days[0]]
    else:
        names = ",".join(DAY_NAMES[d] for d in days)
    config = hours.to_config()
    return f"{names} {config['open']}-{config['close']} {hours.zone}"


# -- the detached process (`indexbot devnet up` / `down`, through devnet.process) ---------------------------------


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m devnet.fulfil <stocks.toml>", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    fulfiller = Fulfiller(Path(argv[0]))
    for ref in fulfiller.refs:
        log.info("fulfilling %s at %s while open: %s", ref.symbol, ref.factory, describe(fulfiller.hours[ref.symbol]))
    try:
        asyncio.run(_serve(fulfiller))
    except KeyboardInterrupt:
        pass
    log.info("stopped")
    return 0


async def _serve(fulfiller: Fulfiller) -> None:
    task = asyncio.current_task()
    assert task is not None
    def on_term() -> None:
        fulfiller.stop()
        task.cancel()

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, on_term)
    try:
        await fulfiller.run()
    except asyncio.CancelledError:
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
