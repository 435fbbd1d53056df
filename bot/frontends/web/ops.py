"""What an operator's tools ask the bot: `/healthz`, `/readyz` and `/metrics`.

- `GET /healthz`: 200 "ok" while the event loop runs (it answers, so it runs). A supervisor restarts on anything else.
- `GET /readyz`: 200 "ready" when the database answers `SELECT 1` and every chain's head tracker saw the head
  recently; else 503 with a short plain-text reason ("database: OperationalError", "chain base: no head for 41 s").
  A load balancer sends no new work to a process that is not ready, and takes it back when it is.
  A process with the sender role on PostgreSQL adds a line per platform: "sender telegram: active" (this process
  sends its outbox), "sender telegram: standby (another process holds the seat)", or "sender telegram: standby, no
  process holds the seat for 3 s" (one read of pg_locks, bot.storage.leader.seat_held). A platform whose seat nobody
  has held for longer than a standby needs to take it (`SenderElection.grace`) makes the process not ready: nothing
  of that platform's outbox leaves ("sender telegram: no process holds the seat for 12 s").
- `GET /metrics`: Prometheus' text format: the counters and histograms of bot/metrics.py (prometheus-client's
  default registry, the process' own metrics included), and what the database holds, read at the scrape.

`/healthz` and `/readyz` are also served on the public web server (a load balancer or reverse proxy checks the port
it forwards to; they say nothing but ready or not and why). `/metrics` is served only by `OpsServer`, on
`127.0.0.1:INDEXBOT_METRICS_PORT`, never on the public server: it shows how many trades are stuck, how many messages
queue, which jobs fail and how fast each command answers, which is for the operator, not for anyone on the internet
(and a scrape costs queries anyone could repeat). Prometheus on the same machine scrapes it there; one elsewhere
reaches it through the machine's own agent or an authenticated proxy, as the operator chooses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from bot.chain.client import HeadTracker
from bot.metrics import job_kind
from bot.storage import stats
from bot.storage.db import Database
from bot.storage.leader import seat_held
from bot.frontends.web.server import LOOPBACK, Served, bind, no_leaks

if TYPE_CHECKING:
    from bot.delivery.outbox.election import SenderElection

log = logging.getLogger(__name__)

DB_TIMEOUT = 2.0  # a database slower than this to answer `SELECT 1` is not ready
SCRAPE_TIMEOUT = 5.0  # the scrape's reads of the database
HEAD_AGE = 30.0  # a head older than this (or 5 polls, if longer) and the chain is not ready


@dataclass
class Ops:
    """What the three endpoints read: the database, each chain's head tracker (by profile name), and the names of
    the scheduled jobs (`Schedule.names`, when this process runs the scheduler), and this process's outbox sender
    elections (the sender role on PostgreSQL: bot/roles.py `send_outbox` sets them)."""

    db: Database
    heads: Mapping[str, HeadTracker]
    jobs: Callable[[], list[str]] | None = None
    clock: Callable[[], float] = time.time  # the database's clock (due_at is epoch seconds)
    senders: Sequence[SenderElection] = ()
    _unready: str | None = field(default=None, repr=False)
    _held_at: dict[str, float] = field(default_factory=dict, repr=False)  # a probe last saw a platform's seat held

    async def readiness(self) -> tuple[str | None, list[str]]:
        """Why this process should get no work now (None when it may), and a line per platform this process
        contends to send for: whether it sends, stands by, or no process of the fleet does."""
        reason = await self._database()
        seats: list[str] = []
        if reason is None:
            reason, seats = await self._seats()
            reason = self._chains() or reason
        self._log(reason)
        return reason, seats

    def _log(self, reason: str | None) -> None:
        if reason != self._unready:  # a change is logged once, not every probe
            if reason is None:
                log.info("ready again")
            else:
                log.warning("not ready: %s", reason)
            self._unready = reason

    async def _seats(self) -> tuple[str | None, list[str]]:
        """The first platform whose seat nobody has held for longer than its grace (or None), and each platform's
        line. The active sender knows it holds its seat (its heartbeat checks); a standby asks pg_locks."""
        reason: str | None = None
        lines = []
        for sender in self.senders:
            name = sender.platform
            if sender.active.is_set():
                lines.append(f"sender {name}: active")
                continue
            try:
                held = await asyncio.wait_for(seat_held(self.db, name), DB_TIMEOUT)
            except asyncio.TimeoutError:
                return f"database: no answer in {DB_TIMEOUT:g} s", lines
            except Exception as exc:  # noqa: BLE001 - the class only, as for the ping
                return f"database: {type(exc).__name__}", lines
            if held:
                self._held_at[name] = time.monotonic()
                lines.append(f"sender {name}: standby (another process holds the seat)")
                continue
            # since this process last knew it held: by its election's tries, or by a probe (when its own tries fail)
            unseated = min(sender.unseated_for(), time.monotonic() - self._held_at.get(name, float("-inf")))
            lines.append(f"sender {name}: standby, no process holds the seat for {unseated:.0f} s")
            if unseated > sender.grace and reason is None:
                reason = f"sender {name}: no process holds the seat for {unseated:.0f} s"
        return reason, lines

    async def _database(self) -> str | None:
        try:
            await asyncio.wait_for(stats.ping(self.db), DB_TIMEOUT)
        except asyncio.TimeoutError:
            return f"database: no answer in {DB_TIMEOUT:g} s"
        except Exception as exc:  # noqa: BLE001 - the class only: a driver's message may hold its URL
            return f"database: {type(exc).__name__}"
        return None

    def _chains(self) -> str | None:
        now = time.monotonic()
        for name, head in self.heads.items():
            if head.head is None:
                return f"chain {name}: no head yet"
            age = now - head.seen_at
            if age > max(HEAD_AGE, 5 * head.interval):
                return f"chain {name}: no head for {age:.0f} s"
        return None

    async def scrape(self) -> bytes:
        """The text Prometheus reads: the registry's metrics, then what the database and the head trackers hold."""
        try:
            found: stats.Stats | None = await asyncio.wait_for(stats.read(self.db, self.clock), SCRAPE_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - the counters are still worth serving
            log.warning("metrics: the database could not be read (%s)", type(exc).__name__)
            found = None
        jobs = self.jobs() if self.jobs is not None else None
        return generate_latest(_Scrape(self._families(found, jobs)))

    def _families(self, found: stats.Stats | None, jobs: list[str] | None) -> list[Metric]:
        up = GaugeMetricFamily("indexbot_database_up", "1 when the scrape could read the database, else 0",
                               value=0 if found is None else 1)
        families: list[Metric] = [up]
        if found is not None:
            queued = GaugeMetricFamily("indexbot_outbox_messages", "Outbox messages still to be settled: pending "
                                       "(waiting for their time or a slot) and sending", labels=["platform", "state"])
            for (platform, state), count in sorted(found.outbox.items()):
                queued.add_metric([platform, state], count)
            lag = GaugeMetricFamily("indexbot_outbox_lag_seconds", "How long the oldest message due has waited to be "
                                    "sent (0 rows: nothing due)", labels=["platform"])
            for platform, seconds in sorted(found.outbox_lag.items()):
                lag.add_metric([platform], seconds)
            intents = GaugeMetricFamily("indexbot_intents", "Intents (trades and other transactions) by state",
                                        labels=["state"])
            for state, count in sorted(found.intents.items()):
                intents.add_metric([state], count)
            engine = GaugeMetricFamily("indexbot_engine_jobs", "The job engine's jobs (PostgreSQL) by queue and "
                                       "status: todo, doing, succeeded, failed, cancelled, aborted", labels=["queue", "status"])
            for (queue, status), count in sorted(found.jobs.items()):
                engine.add_metric([queue, status], count)
            families += [queued, lag, intents, engine]
        head = GaugeMetricFamily("indexbot_chain_head", "The newest block each chain's head tracker saw",
                                 labels=["chain"])
        age = GaugeMetricFamily("indexbot_chain_head_age_seconds", "Seconds since the head tracker last heard the head",
                                labels=["chain"])
        now = time.monotonic()
        for name, tracker in sorted(self.heads.items()):
            if tracker.head is not None:
                head.add_metric([name], tracker.head)
                age.add_metric([name], now - tracker.seen_at)
        families += [head, age]
        if jobs is not None:
            scheduled = GaugeMetricFamily("indexbot_jobs_scheduled", "The scheduler's jobs waiting for their time, "
                                          "by kind", labels=["job"])
            for kind, count in sorted(Counter(job_kind(name) for name in jobs).items()):
                scheduled.add_metric([kind], count)
            families.append(scheduled)
        return families


class _Scrape:
    """A collector for one scrape: the default registry's metrics, then the readings taken for it."""

    def __init__(self, readings: list[Metric]) -> None:
        self._readings = readings

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
        yield from self._readings


def health_routes(ops: Ops) -> list[web.RouteDef]:
    """`/healthz` and `/readyz`, for the public web server and the ops server alike."""

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        reason, seats = await ops.readiness()
        text = "".join(f"{line}\n" for line in ["ready" if reason is None else f"not ready: {reason}", *seats])
        return web.Response(status=200 if reason is None else 503, text=text)

    return [web.get("/healthz", healthz), web.get("/readyz", readyz)]


def ops_routes(ops: Ops) -> list[web.RouteDef]:
    """Every route of the ops server: health, readiness and `/metrics`."""

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=await ops.scrape(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return [*health_routes(ops), web.get("/metrics", metrics)]


class OpsServer(Served):
    """`/metrics`, `/healthz` and `/readyz` on 127.0.0.1:`port` (0: any free port), for the operator's tools only."""

    what = "metrics and health"

    def __init__(self, port: int, routes: Iterable[web.RouteDef]) -> None:
        app = web.Application(middlewares=[no_leaks])
        app.add_routes(list(routes))
        super().__init__(bind(LOOPBACK, port, "INDEXBOT_METRICS_PORT"), app)
