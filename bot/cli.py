"""`indexbot`: chat (terminal), run (Telegram and/or Discord), points (the daily snapshot), devnet (local chain),
config (redacted), check (a chain profile's pre-flight), intents (the operator's list; --held for review),
keys rotate (re-encrypt under the current master key)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import re
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import Config, ConfigError, load_config
from bot.frontends.adapters.base import Frontend
from bot.chain.binding import StartupRefused
from bot.logs import scrub, setup_logging
from bot import roles as roles_of
from bot.roles import ALL as ALL_ROLES
from bot.chain.profile import ProfileError
from bot.storage.db import DatabaseDamaged
from bot.chain.verify import ProfileMismatch
from bot.frontends.web.server import WebError

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger("indexbot")
CONNECT_BACKOFF = (1.0, 60.0)  # seconds: the first wait before connecting to a platform again, and the longest


def _refusal(exc: BaseException) -> str | None:
    """The one line for a start-up error that an operator can act on; None for anything else."""
    from bot.frontends.adapters.startup import platform_refusal
    from bot.chain.client import ChainUnavailable

    if isinstance(exc, ChainUnavailable):  # its text can hold an RPC URL with its key: only the kind is shown
        cause = exc.__cause__ or exc
        return f"no RPC endpoint of the chain answered ({type(cause).__name__}): check INDEXBOT_RPC_URLS or the profile"
    return platform_refusal(exc)


async def _connect(frontend: Frontend) -> None:
    """Start `frontend` (what it receives, if anything, was set when it was built: the gateway and web roles),
    trying again with a doubling wait (up to a minute) while it fails for a network reason; a refusal (a rejected
    token) ends the start-up."""
    from bot.frontends.adapters.startup import transient

    delay = CONNECT_BACKOFF[0]
    while True:
        try:
            await frontend.start()
            return
        except Exception as exc:
            if not transient(exc):
                raise
            log.warning("%s: cannot connect (%s); trying again in %.0f s", frontend.name, type(exc).__name__, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, CONNECT_BACKOFF[1])


async def _chat(config: Config) -> int:
    from bot.frontends.adapters.console import ConsoleFrontend
    from bot.app import App

    app = await App.start(config)
    try:
        console = ConsoleFrontend(app.router, files_dir=config.home / "files")  # charts and CSVs, in the 700 home
        app.notices.attach(console)
        await app.reconcile()  # unfinished trades of a previous run, told through the attached front end
        await app.start_schedule()
        await console.run()
    finally:
        await app.stop()
    return 0


async def _run(config: Config, roles: frozenset[str] = ALL_ROLES) -> int:
    from bot.app import App

    refusal = roles_of.refusal(config, roles)
    if refusal is not None:
        print(f"indexbot run: {refusal}", file=sys.stderr)
        return 2
    # a worker alone may run timed jobs only, without a platform; with a token it also handles that platform's updates
    # and interactions (its front end connects to send, and receives nothing itself)
    if roles != roles_of.WORKER_ONLY and not config.telegram_token and not config.discord_token:
        print("indexbot run: set TELEGRAM_BOT_TOKEN and/or DISCORD_BOT_TOKEN (or use `indexbot chat`).", file=sys.stderr)
        return 2
    stop = asyncio.Event()  # SIGTERM or SIGINT, at any time: even while starting, everything then stops in order
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    app = await App.start(roles_of.without_web(config) if "web" not in roles else config)
    frontends: list[Frontend] = []
    stopping: list[Callable[[], Awaitable[None]]] = []  # what sends the outbox, once started
    try:
        if await _unless_stopped(_serve(app, config, roles, frontends, stopping), stop):
            log.info("running: %s on %s", ", ".join([f.name for f in frontends] + sorted(roles & {"worker"})), app.profile.name)
            await stop.wait()
    finally:
        for stop_sending in stopping:
            await stop_sending()
        for frontend in reversed(frontends):
            await app.notices.detach(frontend)  # the outbox lets what is on the wire finish first
            await frontend.stop()
        await app.stop()
    return 0


async def _serve(app: App, config: Config, roles: frozenset[str], frontends: list[Frontend],
                 stopping: list[Callable[[], Awaitable[None]]]) -> bool:
    """Connect the front ends (each added to `frontends` before it starts, so it is stopped whatever happens), send
    the outbox (its stop added to `stopping`), reconcile unfinished trades and start the jobs."""
    if config.telegram_token:
        from bot.frontends.adapters.telegram import TelegramFrontend

        frontends.append(TelegramFrontend(app, config.telegram_token.reveal(), config.telegram_api_url,
                                          limits=config.telegram, **roles_of.telegram_updates(app, roles)))
    if config.discord_token:
        frontends.append(roles_of.discord_front(config, app, roles))
    for frontend in frontends:
        await _connect(frontend)
    stopping.append(await roles_of.send_outbox(app, frontends, roles))
    await app.reconcile()  # unfinished trades of a previous run, told through the attached front ends
    await roles_of.start_jobs(app, roles)
    return True


async def _unless_stopped(work: Awaitable[bool], stop: asyncio.Event) -> bool:
    """`work` run to its end, or cancelled once `stop` is set first (an operator's SIGTERM while the front ends still
    try to connect, or while start-up reconciles): False then, and the caller stops what had started."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False


async def _points_snapshot(config: Config, day: date | None) -> int:
    """Run the day's points snapshot once (today, UTC, by default) and print what it did, in one line."""
    from bot.app import App

    app = await App.start(config, track_head=False)
    try:
        result = await app.services.points.snapshot.run(day)
    finally:
        await app.stop()
    outcome = "credited" if result.credited else "already credited, nothing changed"
    print(f"points snapshot {result.day.isoformat()}: block {result.block}, {result.wallets} wallets read, {outcome}, "
          f"{result.round_trips} RPC round trips, {result.seconds:.2f} s")
    return 0


async def _check(config: Config, profile: str | None) -> int:
    """`indexbot check`: the pre-flight report of a chain profile (bot.chain.check); 0 when the bot would start."""
    import aiohttp

    from bot.chain.client import Chain, ChainUnavailable
    from bot.chain.check import load_for_check, render, run_check
    from bot.config import redact_url
    from bot.chain.profile import profile_file

    name = profile or config.chain or "base"
    prof = load_for_check(name, config.home, config.profile_override, config.rpc_urls)
    companions = [str(profile_file(name).parent / rel) for rel in prof.companions]
    chain = Chain(prof.rpc_urls, prof.multicall3, log_range_blocks=prof.log_range_blocks)
    try:
        report = await run_check(prof, chain, companions)
    except (ChainUnavailable, OSError, asyncio.TimeoutError, aiohttp.ClientError) as exc:
        # the exception's own text can hold the URL with its key: only its kind is shown
        print(f"indexbot check: no RPC endpoint answered ({', '.join(redact_url(u) for u in prof.rpc_urls)}): "
              f"{type(exc).__name__}", file=sys.stderr)
        return 2
    finally:
        await chain.close()
    print(render(report))
    return 0 if report.ready else 1


async def _keys_rotate(config: Config) -> int:
    """`indexbot keys rotate`: every stored key and PIN re-sealed under INDEXBOT_MASTER_KEY (wallets.rotation);
    prints how many, never a secret."""
    from bot.storage.db import Database
    from bot.storage.wallets import SealedKeyRows
    from wallets.keystore import Keystore, MasterKey
    from wallets.rotation import RotationFailed, rotate

    if config.master_key is None:
        print("indexbot keys rotate: set INDEXBOT_MASTER_KEY to the new master key, and INDEXBOT_MASTER_KEY_PREVIOUS "
              "to the one(s) the stored keys were made under.", file=sys.stderr)
        return 2
    if config.database_url is None and not config.database_path.exists():
        print(f"indexbot keys rotate: there is no database at {config.database_path}.", file=sys.stderr)
        return 2
    keys = [MasterKey.from_base64(k.reveal()) for k in (config.master_key, *config.previous_master_keys)]
    db = await Database.open(config.database_where)
    try:
        done = await rotate(SealedKeyRows(db), Keystore(keys))
    except RotationFailed as exc:
        print(f"indexbot keys rotate: {exc}", file=sys.stderr)
        return 1
    finally:
        await db.close()
    print(f"keys rotate: {done.wallets} wallet key(s) and {done.pins} PIN(s) re-encrypted under master key id "
          f"{done.key_id}; every stored key now opens with INDEXBOT_MASTER_KEY alone.")
    return 0


async def _db_copy(config: Config, to: str) -> int:
    """`indexbot db copy --to URL`: the configured database's data into the empty database at URL, checked row
    by row (bot.storage.copy). Prints each table's count; URLs only with their passwords hidden."""
    from bot.config import database_secrets, shown_database
    from bot.logs import redact_more
    from sqlalchemy.exc import OperationalError

    from bot.storage.copy import CopyRefused, copy_database
    from bot.storage.db import Database, database_url

    redact_more(database_secrets(to))  # the target's password never reaches a log line
    try:
        database_url(to)
    except ValueError as exc:
        print(f"indexbot db copy: {exc}", file=sys.stderr)
        return 2
    if config.database_url is None and not config.database_path.exists():
        print(f"indexbot db copy: there is no database at {config.database_path}.", file=sys.stderr)
        return 2
    source = await Database.open(config.database_where)
    try:
        target = await Database.open(to)
    except OperationalError as exc:
        await source.close()
        print(f"indexbot db copy: could not reach the target database {shown_database(to)} ({type(exc.orig).__name__}): "
              "nothing was copied", file=sys.stderr)
        return 1
    except BaseException:
        await source.close()
        raise
    try:
        done = await copy_database(source, target, lambda c: print(f"  {c.table}: {c.rows} row(s) copied and checked"))
    except CopyRefused as exc:
        print(f"indexbot db copy: {exc}", file=sys.stderr)
        return 1
    finally:
        await target.close()
        await source.close()
    rows = sum(c.rows for c in done)
    print(f"db copy: {rows} row(s) in {len(done)} table(s) copied from {config.database_shown} to {shown_database(to)} "
          "and checked row by row. Point the bot at it with INDEXBOT_DATABASE_URL.")
    return 0


async def _db_backup(config: Config, to: Path) -> int:
    """`indexbot db backup --to FILE`: a consistent copy of the SQLite database while the bot runs (SQLite's
    online backup), the owner's alone like the database. PostgreSQL has pg_dump for this (docs/deploy.md)."""
    import sqlite3

    from bot.storage.private import private_file

    if config.database_url is not None and not config.database_url.startswith("sqlite"):
        print("indexbot db backup: the database is PostgreSQL: back it up with pg_dump (docs/deploy.md).",
              file=sys.stderr)
        return 2
    source_path = config.database_path
    if config.database_url is not None:
        from bot.storage.db import database_url

        source_path = Path(str(database_url(config.database_url).database))
    if not source_path.exists():
        print(f"indexbot db backup: there is no database at {source_path}.", file=sys.stderr)
        return 2
    if to.exists():
        print(f"indexbot db backup: {to} exists already: nothing was written (a backup never overwrites).",
              file=sys.stderr)
        return 2

    def copy() -> None:
        private_file(to)
        with sqlite3.connect(f"file:{source_path}?mode=ro", uri=True) as source, sqlite3.connect(to) as target:
            source.backup(target)
        source.close()
        target.close()

    await asyncio.to_thread(copy)
    print(f"db backup: {source_path} copied to {to} ({to.stat().st_size} bytes).")
    return 0


def _intent_id(text: str) -> int:
    """An intent id as users type ids (bot.core.amounts.parse_id): `int()` would take `١٢` for 12."""
    from bot.core.amounts import parse_id

    intent_id = parse_id(text)
    if intent_id is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an intent id (ASCII digits, e.g. 12)")
    return intent_id


def _day(text: str) -> date:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):  # fromisoformat alone also takes 20261120 and 2026-W47-1
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day (YYYY-MM-DD, e.g. 2026-11-20)") from None


def _roles(text: str) -> frozenset[str]:
    from bot.roles import RoleError, parse_roles

    try:
        return parse_roles(text)
    except RoleError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="indexbot", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    chat = sub.add_parser("chat", help="chat with the bot in this terminal (starts a local devnet when no chain is set)")
    chat.add_argument("--verbose", action="store_true", help="log here (stderr) instead of to $INDEXBOT_HOME/logs/chat.log")
    run = sub.add_parser("run", help="run the Telegram and/or Discord front ends")
    run.add_argument("--role", type=_roles, default="all", metavar="ROLES",
                     help="what this process does in a fleet: all (default), or any of web, worker, sender, gateway "
                          "separated by commas (docs/deploy.md)")
    sub.add_parser("config", help="print the configuration with secrets redacted")
    check = sub.add_parser("check", help="pre-flight: check a chain profile against its chain, address by address")
    check.add_argument("--profile", default=None,
                       help="a shipped profile name (base) or a profile file (default: INDEXBOT_CHAIN, else base)")
    intents = sub.add_parser("intents", help="list the newest trades' intents, or those held for review (--held)")
    intents.add_argument("--held", action="store_true", help="only intents held because the RPC node's answer differed")
    intents.add_argument("--release", type=_intent_id, default=None, metavar="ID",
                         help="release a held intent after review: followed again at the next start")
    points = sub.add_parser("points", help="the points programme").add_subparsers(dest="points_command", required=True)
    snapshot = points.add_parser("snapshot", help="read every linked wallet and credit the day's points (once per day)")
    snapshot.add_argument("--day", type=_day, default=None, help="the UTC day to snapshot, YYYY-MM-DD (default: today)")
    keys = sub.add_parser("keys", help="the master key").add_subparsers(dest="keys_command", required=True)
    keys.add_parser("rotate", help="re-encrypt every stored key and PIN under INDEXBOT_MASTER_KEY "
                                   "(the old key in INDEXBOT_MASTER_KEY_PREVIOUS)")
    database = sub.add_parser("db", help="the database").add_subparsers(dest="db_command", required=True)
    copy = database.add_parser("copy", help="copy every row of this database into an empty one (e.g. PostgreSQL), "
                                            "checked row by row")
    copy.add_argument("--to", required=True, metavar="URL", help="the target, e.g. postgresql://user@host/indexbot")
    backup = database.add_parser("backup", help="a consistent copy of the SQLite database, while the bot runs")
    backup.add_argument("--to", required=True, type=Path, metavar="FILE", help="the new file (never overwritten)")
    from devnet import cli as devnet_cli

    devnet_cli.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"indexbot: {exc}", file=sys.stderr)
        return 2
    quiet = args.command in (None, "chat")
    level = logging.WARNING if quiet else getattr(logging, config.log_level, logging.INFO)
    if quiet and not getattr(args, "verbose", False):  # the terminal is the conversation: logs go to a file
        log_file = config.home / "logs" / "chat.log"
        setup_logging(getattr(logging, config.log_level, logging.INFO), config.secrets, file=log_file)
        print(f"indexbot: logging to {log_file} (--verbose logs here)", file=sys.stderr)
    else:
        setup_logging(logging.INFO if quiet else level, config.secrets)
    try:
        if args.command == "config":
            print(json.dumps(config.redacted(), indent=2, default=str))
            return 0
        if args.command == "devnet":
            from devnet import cli as devnet_cli

            return asyncio.run(devnet_cli.main(args))
        if args.command == "run":
            return asyncio.run(_run(config, args.role))
        if args.command == "check":
            return asyncio.run(_check(config, args.profile))
        if args.command == "points":
            return asyncio.run(_points_snapshot(config, args.day))
        if args.command == "intents":
            from bot.trading.operator import show

            code, text = asyncio.run(show(config.database_where, args.held, args.release))
            print(text)
            return code
        if args.command == "keys":
            return asyncio.run(_keys_rotate(config))
        if args.command == "db" and args.db_command == "backup":
            return asyncio.run(_db_backup(config, args.to))
        if args.command == "db":
            return asyncio.run(_db_copy(config, args.to))
        return asyncio.run(_chat(config))
    except (ProfileError, ProfileMismatch, ConfigError, WebError, StartupRefused, DatabaseDamaged) as exc:
        print(f"indexbot: {scrub(str(exc), config.secrets)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a start-up that failed: one line through the redacting logger, never a traceback
        line = _refusal(exc)
        if line is None:
            line = f"{args.command or 'chat'} failed: {type(exc).__name__}: {exc}"
        log.debug("start-up failure", exc_info=exc)  # the traceback at DEBUG, scrubbed like every record
        log.error("%s", line)
        if any(isinstance(h, logging.FileHandler) for h in logging.getLogger().handlers):
            print(f"indexbot: {scrub(line, config.secrets)}", file=sys.stderr)  # the log is a file: say it here too
        return 1


if __name__ == "__main__":
    sys.exit(main())
