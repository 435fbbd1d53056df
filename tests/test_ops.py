"""What an operator watches: /metrics, /healthz and /readyz over HTTP, and the counters where events happen.

The counters live in prometheus-client's default registry, shared by every test of this process: tests compare a
value before and after, never an absolute one.
"""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from telegram.error import RetryAfter
from web3.exceptions import Web3RPCError
from web3.providers.rpc.utils import ExceptionRetryConfiguration

from auxil.requests import CONSOLE
from bot.app import App
from bot.chain.client import Chain, ChainUnavailable, HeadTracker
from bot.config import ConfigError, TelegramLimits, WebSettings, load_config
from bot.core.messages import Msg, Reply
from bot.delivery.schedule import _logged
from bot.frontends.adapters.console import ConsoleFrontend
from bot.frontends.adapters.discord import invalid_request_trace
from bot.frontends.adapters.telegram_limits import TelegramRateLimiter
from bot.frontends.web.ops import Ops, OpsServer, ops_routes
from bot.jobs.engine import Jobs
from bot.metrics import job_kind
from bot.storage import stats
from bot.storage.db import Database
from bot.storage.schema import intents, outbox, users
from conftest import make_config
from devnet.harness import Devnet

KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"  # a well-known test key


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(session: aiohttp.ClientSession, url: str) -> tuple[str, Samples]:
    async with session.get(f"{url}/metrics") as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain")
        body = await reply.text()
    families = text_string_to_metric_families(body)
    samples = {(s.name, frozenset(s.labels.items())): s.value for f in families for s in f.samples}
    return body, samples


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url) as reply:
        return reply.status, await reply.text()


# -- the whole bot: a scrape over HTTP after a few updates ---------------------------------------------------------


@pytest.fixture
async def watched(chain: Devnet, tmp_path: Path) -> AsyncIterator[App]:
    """A started bot with its ops server on a free loopback port."""
    config = make_config(chain, tmp_path)
    bot = await App.start(replace(config, web=replace(config.web, metrics_port=0)))
    try:
        yield bot
    finally:
        await bot.stop()


async def test_a_scrape_shows_the_updates_handled_their_latency_and_the_outbox_depth(watched: App) -> None:
    assert watched.ops is not None and watched.web is not None
    async with aiohttp.ClientSession() as session:
        _, before = await scrape(session, watched.ops.url)
        console = ConsoleFrontend(watched.router, io.StringIO(), io.StringIO(), user_id="op")
        for line in ("/help", "/help", "/quote", "/nosuchcommand hunter2", f"/wallet import {KEY}"):
            await console.handle_line(line)
        for chat in ("c1", "c2", "c3"):  # nobody delivers console messages here: they stay pending
            assert await watched.outbox.put_chat("console", chat, Reply.of(Msg("help.title")), "announcement")
        body, after = await scrape(session, watched.ops.url)

        def moved(name: str, **labels: str) -> float:
            return sample(after, name, **labels) - sample(before, name, **labels)

        assert moved("indexbot_updates_total", platform="console") == 5
        assert moved("indexbot_update_handling_seconds_count", platform="console", command="help") == 2
        assert moved("indexbot_update_handling_seconds_count", platform="console", command="other") == 1
        assert moved("indexbot_update_handling_seconds_sum", platform="console", command="quote") > 0
        assert sample(after, "indexbot_rpc_seconds_count", method="eth_call") > 0  # a quote reads the chain
        rows = await watched.db.fetch_all(select(outbox.c.platform, outbox.c.state))
        pending = sum(1 for row in rows if (row.platform, row.state) == ("console", "pending"))
        assert pending >= 3
        assert sample(after, "indexbot_outbox_messages", platform="console", state="pending") == pending
        assert sample(after, "indexbot_database_up") == 1
        assert sample(after, "indexbot_chain_head", chain=watched.profile.name) >= 1
        assert sample(after, "indexbot_jobs_scheduled", job="alerts:prices") == 0  # the schedule has not started
        await watched.start_schedule()
        _, started = await scrape(session, watched.ops.url)
        assert sample(started, "indexbot_jobs_scheduled", job="alerts:prices") == 1
        assert sample(started, "indexbot_jobs_scheduled", job="points:snapshot") == 1
        for typed in ("nosuchcommand", "hunter2", KEY, KEY[2:], "op"):  # nothing typed, and no user, is a label
            assert f'"{typed}"' not in body and KEY[2:] not in body

        # health on both servers, /metrics never on the public one
        assert await get(session, f"{watched.ops.url}/healthz") == (200, "ok\n")
        assert await get(session, f"{watched.ops.url}/readyz") == (200, "ready\n")
        assert await get(session, f"{watched.web.url}/healthz") == (200, "ok\n")
        assert await get(session, f"{watched.web.url}/readyz") == (200, "ready\n")
        assert (await get(session, f"{watched.web.url}/metrics"))[0] == 404
        assert watched.ops.url.startswith("http://127.0.0.1:")


# -- readiness: the database and the chain's head -------------------------------------------------------------------


@pytest.fixture
async def ops_server(db: Database) -> AsyncIterator[tuple[Ops, OpsServer]]:
    ops = Ops(db, {})
    server = OpsServer(0, ops_routes(ops))
    await server.start()
    try:
        yield ops, server
    finally:
        await server.stop()


async def test_readyz_is_503_while_the_database_is_closed_and_200_again_on_a_fresh_one(
        db: Database, ops_server: tuple[Ops, OpsServer], tmp_path: Path) -> None:
    ops, server = ops_server
    async with aiohttp.ClientSession() as session:
        assert await get(session, f"{server.url}/readyz") == (200, "ready\n")
        await db.close()
        status, text = await get(session, f"{server.url}/readyz")
        assert status == 503 and text.startswith("not ready: database: ")
        assert await get(session, f"{server.url}/healthz") == (200, "ok\n")  # alive all the same
        _, samples = await scrape(session, server.url)  # the counters are still served, the database marked down
        assert sample(samples, "indexbot_database_up") == 0
        ops.db = await Database.open(db.engine.url.render_as_string(hide_password=False)
                                     if db.dialect == "postgresql" else tmp_path / "fresh.sqlite3")
        try:
            assert await get(session, f"{server.url}/readyz") == (200, "ready\n")
            _, samples = await scrape(session, server.url)
            assert sample(samples, "indexbot_database_up") == 1
        finally:
            await ops.db.close()


async def test_readyz_is_503_while_a_chains_head_is_stale(db: Database, ops_server: tuple[Ops, OpsServer]) -> None:
    ops, server = ops_server
    tracker = HeadTracker(None, interval=1.0)  # type: ignore[arg-type]  # never polls: the test moves its head
    ops.heads = {"base": tracker}
    async with aiohttp.ClientSession() as session:
        assert await get(session, f"{server.url}/readyz") == (503, "not ready: chain base: no head yet\n")
        tracker.observe(7)
        assert await get(session, f"{server.url}/readyz") == (200, "ready\n")
        tracker.seen_at = time.monotonic() - 100
        assert await get(session, f"{server.url}/readyz") == (503, "not ready: chain base: no head for 100 s\n")
        _, samples = await scrape(session, server.url)
        assert sample(samples, "indexbot_chain_head", chain="base") == 7
        assert sample(samples, "indexbot_chain_head_age_seconds", chain="base") >= 100


async def test_a_failing_database_is_named_by_its_class_never_its_message(
        ops_server: tuple[Ops, OpsServer], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A driver's message may hold the database's URL, its password included: /readyz and the log say the class."""
    ops, server = ops_server

    async def refused(db: Database) -> None:
        raise ConnectionRefusedError("connection to postgresql://indexbot:s3cret-pw@10.0.0.5/bot refused")

    monkeypatch.setattr(stats, "ping", refused)
    async with aiohttp.ClientSession() as session:
        assert await get(session, f"{server.url}/readyz") == (503, "not ready: database: ConnectionRefusedError\n")
    assert "s3cret" not in caplog.text and "not ready: database: ConnectionRefusedError" in caplog.text


# -- what the database holds, on both engines -----------------------------------------------------------------------


async def test_stats_count_the_queued_outbox_and_intents_by_state(db: Database) -> None:
    now = 1_700_000_000
    async with db.transaction() as tx:
        user_id = await tx.scalar(db.insert(users).values(platform="console", platform_user_id="op", created_at=now,
                                                          last_seen_at=now).returning(users.c.id))

    def message(state: str, due_at: int, platform: str = "telegram") -> dict[str, Any]:
        return {"platform": platform, "chat_id": "1", "kind": "announcement", "priority": 2, "payload": "{}",
                "due_at": due_at, "state": state, "created_at": now}

    def intent(state: str) -> dict[str, Any]:
        return {"user_id": user_id, "address": "0x" + "11" * 20, "kind": "buy", "chain_id": 1, "params": "{}",
                "state": state, "quote_expires_at": now, "platform": "console", "chat_id": "op", "created_at": now,
                "updated_at": now}

    async with db.transaction() as tx:
        await tx.execute_many(outbox.insert(), [
            message("pending", now - 30), message("pending", now - 5), message("pending", now + 600),  # one not due yet
            message("sending", now - 1), message("sent", now - 100), message("failed", now - 100),
            message("pending", now - 2, "discord"),
        ])
        await tx.execute_many(intents.insert(), [intent("quoted"), intent("quoted"), intent("mined"), intent("held")])
    found = await stats.read(db, lambda: now)
    assert found.outbox == {("telegram", "pending"): 3, ("telegram", "sending"): 1, ("discord", "pending"): 1}
    assert found.outbox_lag == {"telegram": 30.0, "discord": 2.0}
    assert found.intents == {"quoted": 2, "mined": 1, "held": 1}
    assert found.jobs == {}  # no job engine in this database (on PostgreSQL its schema comes with an App)


async def test_the_job_engines_jobs_are_counted_by_queue_and_status(pg_url: str) -> None:
    jobs = Jobs(pg_url)
    await jobs.open()
    db = await Database.open(pg_url)
    try:
        await jobs.ensure_schema()
        for queue, n in (("telegram", 3), ("default", 1)):
            for i in range(n):
                assert await jobs.app.configure_task("t", queue=queue).defer_async(n=i) is not None
        found = await stats.read(db, time.time)
        assert found.jobs == {("telegram", "todo"): 3, ("default", "todo"): 1}
        scraped = (await Ops(db, {}, None, time.time).scrape()).decode()
        assert 'indexbot_engine_jobs{queue="telegram",status="todo"} 3.0' in scraped
    finally:
        await db.close()
        await jobs.close()


# -- the counters where the events happen ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kind"), [
    ("points:snapshot", "points:snapshot"), ("cooldown:12:0xAbC", "cooldown"), ("digest:7", "digest"),
    ("dca:3", "dca"), ("purge:rows", "purge:rows"), ("42", "other"),
])
def test_a_job_is_counted_by_its_kind_never_its_ids(name: str, kind: str) -> None:
    assert job_kind(name) == kind


async def test_job_runs_and_failures_are_counted() -> None:
    async def fine() -> None:
        pass

    async def broken() -> None:
        raise RuntimeError("boom")

    runs = value("indexbot_job_runs_total", job="cooldown")
    failures = value("indexbot_job_failures_total", job="cooldown")
    await _logged("cooldown:1:0xab", fine)()
    await _logged("cooldown:2:0xcd", broken)()  # logged, not raised
    assert value("indexbot_job_runs_total", job="cooldown") - runs == 2
    assert value("indexbot_job_failures_total", job="cooldown") - failures == 1
    assert value("indexbot_jobs_running", job="cooldown") == 0


async def node(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> tuple[web.AppRunner, str]:
    """A stand-in JSON-RPC node (or Discord) on a loopback port."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def test_rpc_time_and_errors_are_counted_by_method_and_kind() -> None:
    """One request is counted once, whatever web3 retried inside it; a node's error answer is an `rpc` error."""
    mode = {"now": "ok"}
    hits: list[str] = []

    async def answer(request: web.Request) -> web.StreamResponse:
        hits.append(mode["now"])
        if mode["now"] == "429":
            return web.Response(status=429, text="slow down")
        if mode["now"] == "error":
            refusal = {"code": -32000, "message": "header not found"}
            return web.json_response({"jsonrpc": "2.0", "id": 1, "error": refusal})
        return web.json_response({"jsonrpc": "2.0", "id": 1, "result": "0x10"})

    def metric(name: str, **labels: str) -> float:
        return value(name, method="eth_blockNumber", **labels)

    runner, url = await node(answer)
    chain = Chain([url], "0x" + "00" * 20, timeout=2.0)
    chain.providers[0].exception_retry_configuration = ExceptionRetryConfiguration(
        errors=(aiohttp.ClientError, TimeoutError), retries=2, backoff_factor=0.01)  # web3's retries, made quick
    count, http429, rpc = (metric("indexbot_rpc_seconds_count"), metric("indexbot_rpc_errors_total", kind="http_429"),
                           metric("indexbot_rpc_errors_total", kind="rpc"))
    try:
        assert await chain.block_number() == 16
        mode["now"] = "429"
        with pytest.raises(ChainUnavailable):
            await chain.block_number()
        assert hits.count("429") == 2  # retried by web3 inside one request
        mode["now"] = "error"
        with pytest.raises(Web3RPCError):
            await chain.block_number()
    finally:
        await chain.close()
        await runner.cleanup()
    assert metric("indexbot_rpc_seconds_count") - count == 3
    assert metric("indexbot_rpc_errors_total", kind="http_429") - http429 == 1
    assert metric("indexbot_rpc_errors_total", kind="rpc") - rpc == 1

    gone = Chain([url], "0x" + "00" * 20, timeout=2.0)  # the node's port is closed now
    gone.providers[0].exception_retry_configuration = None
    refused = metric("indexbot_rpc_errors_total", kind="connection")
    try:
        with pytest.raises(ChainUnavailable):
            await gone.block_number()
    finally:
        await gone.close()
    assert metric("indexbot_rpc_errors_total", kind="connection") - refused == 1


async def test_telegrams_429s_are_counted_each_once() -> None:
    limiter = TelegramRateLimiter(TelegramLimits(scale=100), max_retries=3)
    refusals = [RetryAfter(0), RetryAfter(0)]

    async def send() -> bool:
        if refusals:
            raise refusals.pop()
        return True

    before = value("indexbot_rate_limited_total", platform="telegram")
    assert await limiter.process_request(send, (), {}, "sendMessage", {"chat_id": 5}, None) is True
    assert value("indexbot_rate_limited_total", platform="telegram") - before == 2


async def test_discords_429s_are_counted_whatever_their_scope() -> None:
    async def limited(request: web.Request) -> web.StreamResponse:
        return web.json_response({"retry_after": 0.1, "global": False}, status=429,
                                 headers={"X-RateLimit-Scope": "shared", "Via": "1.1 google"})

    runner, url = await node(limited)
    before = value("indexbot_rate_limited_total", platform="discord")
    invalid = value("indexbot_invalid_requests_total", platform="discord", status="429")
    try:
        async with aiohttp.ClientSession(trace_configs=[invalid_request_trace()]) as session:
            for _ in range(2):
                async with session.get(f"{url}/api/v10/channels/1/messages") as reply:
                    assert reply.status == 429
    finally:
        await runner.cleanup()
    assert value("indexbot_rate_limited_total", platform="discord") - before == 2
    # a shared-scope 429 is not held against the IP
    assert value("indexbot_invalid_requests_total", platform="discord", status="429") == invalid


def test_the_metrics_port_is_read_from_the_environment() -> None:
    assert WebSettings().metrics_port is None  # off unless asked for
    assert load_config({"INDEXBOT_METRICS_PORT": "9464"}).web.metrics_port == 9464
    with pytest.raises(ConfigError):
        load_config({"INDEXBOT_METRICS_PORT": "metrics"})
