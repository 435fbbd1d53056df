"""A trade's durable job on PostgreSQL (bot.trading.jobs), in one process with procrastinate's worker run by hand.

A trade is stopped dead right after its signed transactions were stored (the `Crash` fault hook, as a killed
process would stop): its intent is `signed`, nothing was broadcast, and its job, deferred at Confirm, waits.
- While the confirming process owns the intent, nobody else can take it; once let go, anyone can.
- Deferred again, twice, it is still one job; run, it takes the trade over: the stored bytes are broadcast (never
  re-signed), the intent ends mined and the user is told once; a later job for it does nothing.
- A process that starts leaves a trade alone while another live process carries it, and reconciles it after.
- Fetched by a worker that then dies (no heartbeat), the job is not run until `retry_stalled` puts it back; it then
  reconciles the trade as above instead of signing anything again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from auxil.trading import settled
from bot.app import App
from bot.storage.owners import IntentOwners
from bot.trading.executor import Crash
from bot.trading.intents import State
from bot.trading.jobs import TASK, TradeFollowUps
from devnet.harness import Devnet
from auxil.postgres import pg_rows
from auxil.trading import funded_user
from conftest import make_config


@pytest.fixture
async def pg_app(chain: Devnet, pg_url: str, tmp_path: Path) -> AsyncIterator[App]:
    bot = await App.start(make_config(chain, tmp_path, database_url=pg_url))
    try:
        yield bot
    finally:
        await bot.stop()


def follow_ups(app: App) -> TradeFollowUps:
    carried = app.services.desks.home.ownership
    assert isinstance(carried, TradeFollowUps)
    return carried


async def crashed_after_signing(app: App, pg_url: str) -> tuple[int, list[tuple[object, ...]]]:
    """A buy stopped dead once its transactions are stored; (intent id, its stored (nonce, hash) rows)."""
    user, _address = await funded_user(app)
    desk = app.services.desks.home
    follow_ups(app).recheck_seconds = 0  # its job may run at once (it finds the owner gone)
    intent_id, _quote = await desk.quote_swap(user, "console", "c1", app.profile.index("MAG7.ssi"), "buy", Decimal(5))
    other = IntentOwners(app.db)  # another process's view of the owner locks

    async def die(where: str) -> None:
        if where == "after_store":
            assert not await other.try_take(intent_id)  # the confirming process owns it
            raise Crash(where)

    desk.fault = die
    with pytest.raises(Crash):
        await desk.confirm(intent_id, user, None)
    assert await other.try_take(intent_id)  # let go with the crash: a job may take it now
    await other.let_go(intent_id)
    await other.close()
    intent = await desk.intents.get(intent_id)
    assert intent is not None and intent.state is State.SIGNED
    stored = pg_rows(pg_url, "SELECT nonce, tx_hash FROM intent_txs WHERE intent_id = %s ORDER BY id", intent_id)
    assert len(stored) == 2  # approve and swap
    return intent_id, stored


async def run_jobs(app: App) -> None:
    """procrastinate's worker until no job is ready."""
    assert app.jobs is not None
    await app.jobs.app.run_worker_async(wait=False, install_signal_handlers=False, concurrency=1)


def assert_finished_once(pg_url: str, intent_id: int, stored: list[tuple[object, ...]]) -> None:
    assert pg_rows(pg_url, "SELECT state FROM intents WHERE id = %s", intent_id) == [("mined",)]
    after = pg_rows(pg_url, "SELECT nonce, tx_hash, state FROM intent_txs WHERE intent_id = %s ORDER BY id", intent_id)
    assert [(n, h) for n, h, _ in after] == stored and {s for _, _, s in after} == {"mined"}  # not re-signed
    assert pg_rows(pg_url, "SELECT dedupe FROM outbox") == [(f"trade:{intent_id}:mined",)]  # told once


async def test_a_trade_deferred_twice_runs_once(pg_app: App, pg_url: str) -> None:
    intent_id, stored = await crashed_after_signing(pg_app, pg_url)
    assert await follow_ups(pg_app).defer(intent_id) is None  # its job from Confirm is waiting: refused
    assert await follow_ups(pg_app).defer(intent_id) is None
    assert pg_rows(pg_url, "SELECT status FROM procrastinate_jobs WHERE task_name = %s", TASK) == [("todo",)]

    await run_jobs(pg_app)
    assert pg_rows(pg_url, "SELECT status FROM procrastinate_jobs WHERE task_name = %s", TASK) == [("succeeded",)]
    assert_finished_once(pg_url, intent_id, stored)

    assert await follow_ups(pg_app).defer(intent_id) is not None  # a late one (a restart's sweep): nothing to do
    await run_jobs(pg_app)
    assert_finished_once(pg_url, intent_id, stored)


async def test_a_stalled_trade_job_is_retried_and_reconciles(pg_app: App, pg_url: str) -> None:
    intent_id, stored = await crashed_after_signing(pg_app, pg_url)
    jobs = pg_app.jobs
    assert jobs is not None
    manager = jobs.app.job_manager
    dead = await manager.register_worker()  # a worker that takes the job, then dies
    job = await manager.fetch_job(queues=None, worker_id=dead)
    assert job is not None and job.task_name == TASK
    pg_rows(pg_url, "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' WHERE id = %s "
                 "RETURNING id", dead)

    await run_jobs(pg_app)  # the job is someone else's ("doing"): nothing runs
    assert pg_rows(pg_url, "SELECT state FROM intents WHERE id = %s", intent_id) == [("signed",)]

    assert await jobs.retry_stalled() == 1
    await run_jobs(pg_app)
    assert_finished_once(pg_url, intent_id, stored)
    assert await jobs.retry_stalled() == 0


async def test_start_up_reconciliation_leaves_a_live_owners_trade_alone(pg_app: App, pg_url: str) -> None:
    intent_id, stored = await crashed_after_signing(pg_app, pg_url)
    owner = IntentOwners(pg_app.db)  # another process, alive, carries the trade
    await owner.take(intent_id)
    try:
        await pg_app.reconcile()
        assert pg_rows(pg_url, "SELECT state FROM intents WHERE id = %s", intent_id) == [("signed",)]
        assert pg_rows(pg_url, "SELECT state FROM intent_txs WHERE intent_id = %s", intent_id) == [("signed",)] * 2
    finally:
        await owner.let_go(intent_id)
        await owner.close()
    await pg_app.reconcile()  # its owner is gone: this process finishes it
    assert await settled(pg_app, intent_id) is State.MINED
