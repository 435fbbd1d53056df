"""One process of a trading fleet, for the fault tests (tests/test_trading_fleet_processes.py).

It builds the real `App` (bot.app.App.start, the configuration from the environment: INDEXBOT_CHAIN,
INDEXBOT_DATABASE_URL, INDEXBOT_FAILPOINT, ...), runs the job worker unless `--no-work` (`app.jobs.work()`, and the stalled-job
sweep `Jobs.retry_stalled` each second) and, when told, buys for a user through the same core API /buy and its
Confirm use (`Executor.quote_swap`, then `Executor.confirm`: what handlers/trade.py and handlers/shared/confirm.py
call), all its trades at once. A front end is no part of it: what it says to users stays in the outbox.

    python tests/auxil/fleet_trader.py --user u1 --trades 17 --amount 1 [--index MAG7.ssi] [--no-work]

On stdout, one line each: `ready` once started; after the line `go` on stdin, `trade <intent> <stage>` per trade
(or `refused <error key>`), then `traded`; it stops cleanly when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from decimal import Decimal
from pathlib import Path

# the repository (bot, handlers, wallets) instead of this script's directory, whose requests.py would hide the library
sys.path[0] = str(Path(__file__).resolve().parents[2])

from bot.app import App  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.core.errors import UserError  # noqa: E402
from bot.trading.jobs import TradeFollowUps  # noqa: E402

STALLED_SECONDS = 3.0  # a killed worker's jobs are retried this soon (the default is 30 s)
RECHECK_SECONDS = 0.5  # a trade's job looks at its owner this often


def say(line: str) -> None:
    print(line, flush=True)


async def trade(app: App, user: str, index: str, amount: Decimal) -> str:
    desk = app.services.desks.home
    row = await app.services.users.seen("console", user)
    try:
        intent_id, _quote = await desk.quote_swap(row.id, "console", f"chat-{user}", app.profile.index(index), "buy", amount)
        status = await desk.confirm(intent_id, row.id, None)
    except UserError as exc:
        return f"refused {exc.key}"
    return f"trade {intent_id} {status.stage}"


async def stdin_line() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def sweep(app: App) -> None:
    """What a fleet's scheduler does: put the jobs of workers without a heartbeat back in the queue."""
    assert app.jobs is not None
    while True:
        await app.jobs.retry_stalled()
        await asyncio.sleep(1.0)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--user", default="u1")
    parser.add_argument("--trades", type=int, default=0)
    parser.add_argument("--amount", default="1")
    parser.add_argument("--index", default="MAG7.ssi")
    parser.add_argument("--no-work", action="store_true", help="run no job worker (a process that only trades)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(process)d %(name)s %(message)s")
    config = load_config()
    app = await App.start(config)
    assert app.jobs is not None, "a fleet runs on PostgreSQL (INDEXBOT_DATABASE_URL)"
    app.jobs.stalled = STALLED_SECONDS
    follow_ups = app.services.desks.home.ownership
    assert isinstance(follow_ups, TradeFollowUps)
    follow_ups.recheck_seconds = RECHECK_SECONDS
    tasks = [] if args.no_work else [asyncio.create_task(app.jobs.work(concurrency=4)), asyncio.create_task(sweep(app))]
    try:
        say("ready")
        if (await stdin_line()).strip() == "go":
            results = await asyncio.gather(*(trade(app, args.user, args.index, Decimal(args.amount))
                                             for _ in range(args.trades)))
            for line in results:
                say(line)
            say("traded")
            await stdin_line()  # until the test closes stdin
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await app.stop()


if __name__ == "__main__":
    asyncio.run(main())
