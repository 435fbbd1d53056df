"""What an operator watches, in Prometheus' terms (prometheus-client's default registry).

Counted where it happens: the router counts updates and times them (`updates`, `handling`), the adapters count the
429s their platform answered (`RATE_LIMITED`, `INVALID_REQUESTS`), the chain client times every JSON-RPC request and
counts its failures (`RPC_SECONDS`, `RPC_ERRORS`), the scheduler counts its jobs' runs and failures (`job_run`).
What the database holds (outbox depth, intents by state) is read when Prometheus scrapes, by the ops server
(bot/frontends/web/ops.py, queries in bot/storage/stats.py), not kept here.

Labels are bounded sets the code names: a platform, a registered command's name, a JSON-RPC method, a job's kind.
Never a user, a chat, an address or anything typed: a label value is a time series of its own, and what users type
would both multiply them and carry what may be a secret into the scrape. Nothing in this module knows a chat
platform: adapters increment the counters with their own labels.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# No `_created` series beside every counter and histogram: they would double what Prometheus stores.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Discord bans an IP for an hour after 10,000 invalid requests (401, 403, and 429 other than a shared-scope 429)
# in 10 minutes; this shows how close the bot runs to that.
INVALID_REQUESTS = Counter(
    "indexbot_invalid_requests",
    "Requests a chat platform refused in a way that counts toward its ban (Discord: 401, 403, 429)",
    ["platform", "status"],
)
RATE_LIMITED = Counter(
    "indexbot_rate_limited",
    "429 answers (flood control) from a chat platform, every one, including those the library waited out and retried",
    ["platform"],
)

UPDATES = Counter("indexbot_updates", "Updates (commands and button presses) the router answered", ["platform"])
# From a cached quote (a few ms) to a trade that waits for its receipt (seconds).
HANDLING_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0)
HANDLING_SECONDS = Histogram(
    "indexbot_update_handling_seconds",
    "Time from an update reaching the router to its answer being ready (sending it is not included)",
    ["platform", "command"], buckets=HANDLING_BUCKETS,
)
UPDATE_ERRORS = Counter(
    "indexbot_update_errors",
    "Updates answered with an error that is not the user's: internal (a bug, logged), chain_unavailable, contract",
    ["platform", "kind"],
)
BUTTON = "button"  # the command label of a button press
OTHER = "other"  # the command label of text that names no registered command (never the text itself)

RPC_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RPC_SECONDS = Histogram(
    "indexbot_rpc_seconds", "JSON-RPC requests to the chain's nodes, by method (a batch is one request, 'batch')",
    ["method"], buckets=RPC_BUCKETS,
)
RPC_ERRORS = Counter(
    "indexbot_rpc_errors",
    "JSON-RPC requests that failed, by method and kind: timeout, connection, http_<status>, rpc (the node answered "
    "with an error, a revert included), other",
    ["method", "kind"],
)



@contextmanager
def rpc_request(method: str) -> Iterator[None]:
    """Time one JSON-RPC request to a node and count it as an error if it raises."""
    started = time.perf_counter()
    try:
        yield
    except Exception as exc:
        RPC_ERRORS.labels(method=method, kind=_failure(exc)).inc()
        raise
    finally:
        RPC_SECONDS.labels(method=method).observe(time.perf_counter() - started)


def rpc_answered(method: str, answer: Any) -> None:
    """Count the errors a node answered with (a JSON-RPC `error` member; in a batch, each one)."""
    answers = answer if isinstance(answer, list) else [answer]
    errors = sum(1 for a in answers if isinstance(a, dict) and a.get("error") is not None)
    if errors:
        RPC_ERRORS.labels(method=method, kind="rpc").inc(errors)


def _failure(exc: Exception) -> str:
    """timeout, http_<status> (the node's server refused: 429 is its rate limit), connection, or other."""
    if isinstance(exc, asyncio.TimeoutError):  # before OSError: TimeoutError is one
        return "timeout"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"http_{exc.status}"
    if isinstance(exc, (OSError, aiohttp.ClientError)):
        return "connection"
    return "other"


OUTBOX_SENDER_ACTIVE = Gauge(
    "indexbot_outbox_sender_active",
    "1 while this process is its fleet's active outbox sender for the platform (it holds the PostgreSQL advisory "
    "lock; on SQLite, the one process), 0 while it stands by or only queues messages for the fleet's sender",
    ["platform"],
)


# Transfer detection (bot.portfolio.transfers) records nothing for a wallet while its ledger is not settled: a trade in
# flight, or mined without its fill. That is normal for a moment; a wallet that waits sweep after sweep (a mined trade
# whose fill can never be read) has stopped being reconciled, and only the log said so.
TRANSFER_WAITS = Counter(
    "indexbot_transfer_waits",
    "Times transfer detection left a wallet unreconciled because a trade of it was in flight or mined without its fill",
)
TRANSFER_WAITING = Gauge(
    "indexbot_transfer_waiting_wallets",
    "Wallets transfer detection left waiting at this process's last portfolio:transfers sweep (a trade in flight or "
    "mined without its fill); one that stays above 0 sweep after sweep is a wallet no longer reconciled: see the log",
)


JOB_RUNS = Counter("indexbot_job_runs", "Runs of the scheduler's jobs, by kind of job", ["job"])
JOB_FAILURES = Counter("indexbot_job_failures", "Runs of the scheduler's jobs that failed (logged), by kind of job",
                       ["job"])
JOBS_RUNNING = Gauge("indexbot_jobs_running", "The scheduler's jobs running now, by kind of job", ["job"])

_WORD = re.compile(r"[a-z][a-z_-]*\Z")


def job_kind(name: str) -> str:
    """A job's kind: its name up to the first part that names something (`cooldown:12:0xab…` -> `cooldown`,
    `points:snapshot` stays whole). Jobs are named by what they are for, ids included; the ids are not labels."""
    words = []
    for part in name.split(":"):
        if not _WORD.match(part):
            break
        words.append(part)
    return ":".join(words) or OTHER


@contextmanager
def job_run(name: str) -> Iterator[None]:
    """Count one run of the job `name`, and a failure if it raises (a cancellation is not a failure)."""
    kind = job_kind(name)
    JOB_RUNS.labels(job=kind).inc()
    with JOBS_RUNNING.labels(job=kind).track_inprogress():
        try:
            yield
        except Exception:
            JOB_FAILURES.labels(job=kind).inc()
            raise
