"""`indexbot devnet ...`: the operator's commands for a persistent local chain.

up        start anvil detached (state persisted under $INDEXBOT_HOME/devnet/), deploy or reuse, write profile;
          and the stock index's fulfilment process (restarted if it died); --hours sets its market-hours window
down      stop both by the PIDs in their PID files (anvil writes its state on SIGTERM)
status    up or down, RPC URL, chain id, block number and time, profile path, fulfiller, market open or closed
price     SYMBOL USD: set a constituent's or a stock's feed
rebalance INDEX [--legacy]: reweight an index at current feed prices (NAV kept); --legacy without the
          StartRebalance/EndRebalance events, as deployments before July 2026
advance   DURATION: move chain time (90s, 15m, 2h, 7d, 1d12h); the fulfiller fills once the market opens
hours     the stock market's window, open or closed now in chain time, the next open and close
reindex   INDEX [--at now|next]: plan the stock index's monthly reindex at current prices and schedule it
reset     [--yes]: start over: delete the saved chains (the embedded devnet's and this one's) and the bot's
          database, after asking (`--yes` for scripts); refused while this devnet runs
collect-fees [INDEX]: the protocol's daily fee collection (collectFeeTokenset) on one index or every pool index
lock      STAKED ADDRESS AMOUNT [--release]: as a locker, lock (or release) part of an address's staked balance

The market-hours window (`up --hours`) is written as "mon-fri 09:30-16:00 America/New_York" (days: a range,
a comma list or "daily"; close may be 24:00) or "always"; it goes into stocks.toml, which the fulfiller and
the bot both read. Without it, market.toml's [stocks] market_hours applies.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tomllib
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from web3.exceptions import Web3Exception

from bot.issuance.hours import ALWAYS_OPEN, MarketHours
from bot.chain.profile import Profile, load_profile
from devnet import fulfil, hermes
from devnet import operator as op
from devnet.anvil import HOST, Anvil, AnvilError, clear_states, free_port, is_anvil, pid_alive, stop_pid, wait_ready
from devnet.deploy import STOCKS_PROFILE, boot, genesis_for_deploy, state_hash, write_profile
from devnet.harness import keep_one_genesis
from devnet.process import Background
from devnet.rpc import TxFailed, connect

DEFAULT_PORT = 8545


def register(subparsers: Any) -> None:
    """Add the `devnet` command group to the application's argparse subparsers."""
    p = subparsers.add_parser("devnet", help="run and drive a local devnet (anvil)")
    p.add_argument("--home", type=Path, default=None, help="state directory (default $INDEXBOT_HOME/devnet)")
    sub = p.add_subparsers(dest="devnet_command", required=True)
    up = sub.add_parser("up", help="start the devnet in the background (idempotent)")
    up.add_argument("--port", type=int, default=None, help=f"RPC port (default {DEFAULT_PORT} or a free one)")
    up.add_argument("--fresh", action="store_true", help="discard the persisted chain and deploy again")
    up.add_argument("--hours", default=None, metavar="WINDOW",
                    help='when the stock market is open, e.g. "mon-fri 09:30-16:00 America/New_York" or "always"')
    sub.add_parser("down", help="stop the devnet")
    sub.add_parser("status", help="show whether the devnet is up")
    price = sub.add_parser("price", help="set a constituent's USD price feed")
    price.add_argument("symbol")
    price.add_argument("usd")
    reb = sub.add_parser("rebalance", help="rebalance an index at current feed prices")
    reb.add_argument("index")
    reb.add_argument("--legacy", action="store_true",
                     help="as deployments before July 2026: no StartRebalance/EndRebalance events, only rebalancing()")
    adv = sub.add_parser("advance", help="move chain time forward")
    adv.add_argument("duration")
    sub.add_parser("hours", help="show the stock market's hours and whether it is open in chain time")
    seq = sub.add_parser("sequencer", help="flip the L2 sequencer uptime feed: trades pause while down and in grace")
    seq.add_argument("state", choices=("down", "up"))
    rei = sub.add_parser("reindex", help="schedule a stock index's monthly reindex at current prices")
    rei.add_argument("index")
    rei.add_argument("--at", choices=("now", "next"), default="next",
                     help="due now (applied at the fulfiller's next step while open) or at the next monthly moment")
    reset = sub.add_parser("reset", help="start the devnets and the bot's database over (asks first)")
    reset.add_argument("--yes", action="store_true", help="do not ask (for scripts)")
    fees = sub.add_parser("collect-fees", help="collect the daily fee of one index or all (shrinks the tokenset)")
    fees.add_argument("index", nargs="?", default=None)
    short = sub.add_parser("shortfall", help="make an index's basket hold PERCENT less than its supply is owed (0 restores)")
    short.add_argument("index")
    short.add_argument("percent", help="e.g. 5 or 5%%: the share of the owed basket taken away; 0 restores full backing")
    lock = sub.add_parser("lock", help="lock part of an address's staked balance, as a voting contract does")
    lock.add_argument("staked", help="the staking token, e.g. sSOSO or sMAG7.ssi")
    lock.add_argument("address")
    lock.add_argument("amount")
    lock.add_argument("--release", action="store_true", help="release that amount instead")


def home_dir(args: argparse.Namespace) -> Path:
    if getattr(args, "home", None):
        return Path(args.home)
    return Path(os.environ.get("INDEXBOT_HOME", ".indexbot")) / "devnet"


IN_THE_BOT = "runs inside the bot's process"  # the embedded devnet's fulfiller and Hermes stand-in (`devnet status`)


class Paths:
    def __init__(self, home: Path, embedded: bool = False):
        self.home = home
        self.embedded = embedded  # a running bot's embedded devnet: its fulfiller and Hermes run inside the bot
        self.run = home / "anvil.json"  # PID file: {"pid": ..., "port": ...}
        self.state = home / "state.json"
        self.profile = home / "profile.toml"
        self.stocks = home / STOCKS_PROFILE
        self.fulfil = home / "fulfil.json"  # PID file of the fulfilment process: {"pid": ...}
        self.fulfil_log = home / "fulfil.log"  # next to anvil.log


def _running(paths: Paths) -> dict[str, int] | None:
    try:
        run = json.loads(paths.run.read_text())
    except (OSError, ValueError):
        return None
    if pid_alive(run["pid"]) and is_anvil(run["pid"]):
        return {"pid": int(run["pid"]), "port": int(run["port"])}
    return None


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


async def _deployed(url: str, profile_path: Path) -> bool:
    """Whether the chain at `url` holds the deployment the profile names (it was restored from --state)."""
    if not profile_path.is_file():
        return False
    profile = load_profile(profile_path)
    async with connect(url) as w3:
        return len(await w3.eth.get_code(profile.multicall3)) > 0


def _rewrite_url(profile_path: Path, url: str) -> Profile:
    """The new RPC URL in the devnet profile and in each of its companions (same anvil)."""
    with profile_path.open("rb") as fh:
        data = tomllib.load(fh)
    for rel in data.get("companions", []):
        with (profile_path.parent / rel).open("rb") as fh:
            other = tomllib.load(fh)
        other["rpc_urls"] = [url]
        write_profile(other, profile_path.parent / rel)
    data["rpc_urls"] = [url]
    return write_profile(data, profile_path)


def _set_hours(stocks_path: Path, hours: MarketHours) -> None:
    """Write the market-hours window into every issued index of the stocks profile."""
    with stocks_path.open("rb") as fh:
        data = tomllib.load(fh)
    for index in data.get("indexes", []):
        if index.get("venue") == "issuance":
            index["market_hours"] = hours.to_config()
    write_profile(data, stocks_path)


def _fulfiller(paths: Paths) -> Background:
    return Background("devnet.fulfil", paths.fulfil, paths.fulfil_log)


def _hermes(paths: Paths) -> Background:
    return Background("devnet.hermes", paths.home / "hermes.json", paths.home / "hermes.log")


async def _start_fulfiller(paths: Paths, restart: bool = False) -> None:
    """Start the fulfilment process unless it runs (`restart`: stop it first, e.g. for new hours)."""
    if not paths.stocks.is_file():
        print(f"note: no stock index profile at {paths.stocks} (deployed before it existed); `up --fresh` adds it")
        return
    proc = _fulfiller(paths)
    if proc.pid() is not None and not restart:
        return
    await proc.stop()
    pid = proc.spawn(str(paths.stocks))
    print(f"fulfiller {'restarted' if restart else 'up'} (pid {pid}), logs in {paths.fulfil_log}")


async def _start_hermes(paths: Paths) -> None:
    """Run the Hermes stand-in beside the devnet (its Pyth prices follow the devnet's feeds) and point the
    profile at it, unless it runs."""
    proc = _hermes(paths)
    if proc.pid() is not None or not paths.profile.is_file():
        return
    port = free_port()
    pid = proc.spawn(str(paths.profile), str(port), port=port)
    hermes.point_profile(paths.profile, f"http://{HOST}:{port}")
    print(f"Hermes stand-in up: http://{HOST}:{port} (pid {pid}), logs in {proc.log_file}")


async def _stop_helpers(paths: Paths) -> None:
    for name, proc in (("fulfiller", _fulfiller(paths)), ("Hermes stand-in", _hermes(paths))):
        pid = await proc.stop()
        if pid is not None:
            print(f"{name} stopped (pid {pid})")


async def cmd_up(args: argparse.Namespace, paths: Paths) -> int:
    hours = _parse_hours(args.hours) if args.hours else None
    if (run := _running(paths)) is not None:
        print(f"devnet already up: http://{HOST}:{run['port']} (pid {run['pid']})")
        if hours is not None and paths.stocks.is_file():
            _set_hours(paths.stocks, hours)
            print(f"market hours: {fulfil.describe(hours)}")
        await _start_fulfiller(paths, restart=hours is not None)
        await _start_hermes(paths)
        return await cmd_status(args, paths)
    await _stop_helpers(paths)  # ones left over from a chain that died
    if args.fresh:
        for path in (paths.state, paths.profile, paths.stocks):
            path.unlink(missing_ok=True)
    port = args.port or (DEFAULT_PORT if _port_free(DEFAULT_PORT) else free_port())
    if paths.state.is_file():
        keep_one_genesis(paths.state)  # the chain's own block 0 only: its genesis hash binds the bot's database
    fresh = None if paths.state.is_file() else genesis_for_deploy()  # a chain about to be deployed: see the function
    anvil = await Anvil(paths.home).start(port=port, state_file=paths.state, detach=True, genesis=fresh)
    paths.run.write_text(json.dumps({"pid": anvil.pid, "port": anvil.port}))
    try:
        if await _deployed(anvil.url, paths.profile):
            profile = _rewrite_url(paths.profile, anvil.url)
            print(f"devnet restored from {paths.state}")
            if profile.extra.get("devnet", {}).get("state_hash") != state_hash():
                print("note: contracts or market data changed since this chain was deployed; `up --fresh` redeploys")
        else:
            await boot(anvil, paths.profile)
            print("devnet deployed")
    except BaseException:
        await anvil.stop()
        paths.run.unlink(missing_ok=True)
        raise
    print(f"devnet up: {anvil.url} (pid {anvil.pid}), logs in {anvil.log_path}")
    print(f"profile: {paths.profile}")
    if hours is not None and paths.stocks.is_file():
        _set_hours(paths.stocks, hours)
        print(f"market hours: {fulfil.describe(hours)}")
    await _start_fulfiller(paths)
    await _start_hermes(paths)
    return 0


def _parse_hours(text: str) -> MarketHours:
    try:
        return fulfil.parse_hours(text)
    except ValueError as exc:
        raise op.OperatorError(f"--hours: {exc}") from None


async def cmd_down(args: argparse.Namespace, paths: Paths) -> int:
    await _stop_helpers(paths)
    run = _running(paths)
    if run is None:
        paths.run.unlink(missing_ok=True)
        print("devnet is not running")
        return 0
    await stop_pid(run["pid"], timeout=10.0)
    clear_states(paths.home)
    paths.run.unlink(missing_ok=True)
    print(f"devnet stopped (pid {run['pid']}); chain state kept in {paths.state}")
    return 0


async def cmd_status(args: argparse.Namespace, paths: Paths) -> int:
    run = _running(paths)
    if run is None:
        print("devnet: down")
        return 1
    url = f"http://{HOST}:{run['port']}"
    try:
        chain_id = await wait_ready(url, timeout=3.0)
        async with connect(url) as w3:
            block = await w3.eth.get_block("latest")
    except (AnvilError, Web3Exception, OSError) as exc:
        print(f"devnet: pid {run['pid']} alive but not answering at {url} ({exc})")
        return 1
    when = datetime.fromtimestamp(block["timestamp"], UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    print("devnet: up")
    print(f"  rpc url:   {url} (pid {run['pid']})")
    print(f"  chain id:  {chain_id}")
    print(f"  block:     {block['number']} at {when}")
    print(f"  profile:   {paths.profile}")
    if paths.stocks.is_file():
        pid = None if paths.embedded else _fulfiller(paths).pid()
        state = IN_THE_BOT if paths.embedded else f"up (pid {pid}), logs in {paths.fulfil_log}" if pid else \
            "down (`devnet up` starts it)"
        print(f"  fulfiller: {state}")
        async with connect(url) as w3:
            now = await op.chain_now(w3)
        for ref, hours in _market_hours(paths):
            if hours.is_open(now):
                close = hours.next_close(now)
                print(f"  market:    {ref} open now (chain time), closes {'never' if close is None else _when(close, hours.zone)}")
            else:
                print(f"  market:    {ref} closed now (chain time), opens {_when(hours.next_open(now), hours.zone)}")
    await _price_status(paths, url)
    return 0


async def _price_status(paths: Paths, url: str) -> None:
    """The Hermes stand-in's process and the sequencer feed's state, for `devnet status`."""
    stand_in = None if paths.embedded else _hermes(paths).record()
    where = IN_THE_BOT if paths.embedded else f"http://{HOST}:{stand_in['port']} (pid {stand_in['pid']})" if stand_in \
        else "down (`devnet up` starts it)"
    print(f"  hermes:    {where}")
    profile = load_profile(paths.profile) if paths.profile.is_file() else None
    if profile is None or profile.sequencer is None:
        return
    async with connect(url) as w3:
        feed = w3.eth.contract(address=profile.sequencer.feed, abi=SEQUENCER_ABI)
        _, answer, started, _, _ = await feed.functions.latestRoundData().call()
        now = await op.chain_now(w3)
    since = datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    grace_left = started + profile.sequencer.grace_seconds - now
    state = "down" if answer else f"up, in its grace period for {grace_left}s more" if grace_left > 0 else "up"
    print(f"  sequencer: {state} (since {since})")


SEQUENCER_ABI = [{"name": "latestRoundData", "type": "function", "stateMutability": "view", "inputs": [], "outputs": [
    {"name": n, "type": t} for n, t in (("roundId", "uint80"), ("answer", "int256"), ("startedAt", "uint256"),
                                       ("updatedAt", "uint256"), ("answeredInRound", "uint80"))]}]


def _market_hours(paths: Paths) -> list[tuple[str, MarketHours]]:
    stocks = load_profile(paths.stocks)
    return [(ref.symbol, ref.market_hours or ALWAYS_OPEN)
            for ref in stocks.indexes if ref.venue == "issuance"]


def _when(ts: int, zone: str) -> str:
    """A moment in the market's zone and in UTC: "2026-11-23 09:30 EST (14:30 UTC)"."""
    local = datetime.fromtimestamp(ts, ZoneInfo(zone))
    if local.utcoffset() == timedelta(0) and local.tzname() in ("UTC", "GMT"):
        return local.strftime("%Y-%m-%d %H:%M UTC")
    return f"{local.strftime('%Y-%m-%d %H:%M %Z')} ({datetime.fromtimestamp(ts, UTC).strftime('%H:%M UTC')})"


def _profile(paths: Paths) -> Profile:
    if _running(paths) is None:
        raise op.OperatorError("devnet is not running; start it with `indexbot devnet up`, or run the bot on its "
                               "embedded devnet (`make run`) and try again from another terminal")
    return load_profile(paths.profile)


async def cmd_price(args: argparse.Namespace, paths: Paths) -> int:
    try:
        usd = Decimal(args.usd.lstrip("$").replace(",", ""))
    except InvalidOperation:
        raise op.OperatorError(f"not a price: {args.usd!r}") from None
    profile = _profile(paths)
    if paths.stocks.is_file() and args.symbol in op.stock_feeds(stocks := load_profile(paths.stocks)):
        await op.set_price(stocks, args.symbol, usd)
        print(f"{args.symbol} feed set to ${usd}")
        for ref in stocks.indexes:
            if ref.venue == "issuance":
                nav = await op.factory_nav(stocks, ref.symbol)
                print(f"  {ref.symbol} NAV now ${nav.quantize(Decimal('0.0001'))}")
        return 0
    await op.set_price(profile, args.symbol, usd)
    if args.symbol not in profile.feeds and profile.extra.get("devnet", {}).get("soso_pool"):  # SOSO: its pool
        window = max((getattr(src, "window", 0) for src in profile.prices.get(args.symbol, ())), default=0)
        print(f"{args.symbol} pool traded to ${usd}; its TWAP follows over {window}s (`indexbot devnet advance {window}s`)")
        return 0
    print(f"{args.symbol} feed set to ${usd}")
    for ref in profile.indexes:
        async with connect(profile.rpc_urls[0]) as w3:
            symbols = {e.symbol for e in await op.read_tokenset(w3, ref.token.address)}
        if args.symbol in symbols:
            print(f"  {ref.symbol} NAV now ${(await op.index_nav(profile, ref.symbol)).quantize(Decimal('0.0001'))}")
    return 0


async def cmd_rebalance(args: argparse.Namespace, paths: Paths) -> int:
    result = await op.rebalance(_profile(paths), args.index, legacy=args.legacy)
    q = Decimal("0.000001")
    print(f"{result.index} rebalanced: NAV ${result.nav_before.quantize(q)} -> ${result.nav_after.quantize(q)}")
    for symbol, weight in result.weights.items():
        print(f"  {symbol:<8} {(weight * 100).quantize(Decimal('0.01'))}%")
    return 0


async def cmd_advance(args: argparse.Namespace, paths: Paths) -> int:
    seconds = op.parse_duration(args.duration)
    profile = _profile(paths)
    ts = await op.advance(profile.rpc_urls[0], seconds)
    when = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    print(f"advanced {seconds}s; chain time now {when}")
    return 0


async def cmd_hours(args: argparse.Namespace, paths: Paths) -> int:
    profile = _profile(paths)
    async with connect(profile.rpc_urls[0]) as w3:
        now = await op.chain_now(w3)
    print(f"chain time: {datetime.fromtimestamp(now, UTC).strftime('%Y-%m-%d %H:%M:%S UTC')}")
    for ref, hours in _market_hours(paths):
        print(f"{ref} market hours: {fulfil.describe(hours)}"
              + (f" (holidays: {', '.join(d.isoformat() for d in sorted(hours.holidays))})" if hours.holidays else ""))
        state = "open" if hours.is_open(now) else "closed"
        print(f"  now:        {state} ({_when(now, hours.zone)})")
        if state == "closed":
            print(f"  next open:  {_when(hours.next_open(now), hours.zone)}")
        close = hours.next_close(now)
        print(f"  next close: {'never (open around the clock)' if close is None else _when(close, hours.zone)}")
    return 0


async def cmd_reindex(args: argparse.Namespace, paths: Paths) -> int:
    _profile(paths)
    if not paths.stocks.is_file():
        raise op.OperatorError(f"no stock index profile at {paths.stocks}; `indexbot devnet up --fresh` deploys it")
    stocks = load_profile(paths.stocks)
    result = await op.schedule_reindex(stocks, args.index, args.at)
    plan = result.plan
    hours = op.issued_index(stocks, result.index).market_hours or ALWAYS_OPEN
    print(f"{result.index} reindex scheduled for {_when(plan.at, hours.zone)}")
    print(f"  added:   {', '.join(plan.added) or 'none'}")
    print(f"  removed: {', '.join(plan.removed) or 'none'}")
    for symbol in sorted(plan.next, key=lambda s: -plan.next[s]):
        was = plan.current.get(symbol)
        before = f"{(Decimal(was) / 10**18).quantize(Decimal('0.01'))}%" if was is not None else "new"
        print(f"  {symbol:<6} {(Decimal(plan.next[symbol]) / 10**18).quantize(Decimal('0.01'))}% (was {before}) "
              f"at ${result.prices[symbol].quantize(Decimal('0.01'))}")
    return 0


def _reset_targets(paths: Paths) -> list[Path]:
    """What `reset` deletes, of what exists: the embedded devnet's saved chain and profiles (its key file stays:
    it only encrypts keys the database held), this devnet's, and the bot's database with its WAL files."""
    from bot.config import load_config

    config = load_config()
    embedded, database = config.home / "embedded-devnet", config.database_path
    candidates = [embedded / "chain-state.gz", embedded / "profile.toml", embedded / STOCKS_PROFILE,
                  paths.state, paths.profile, paths.stocks,
                  database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")]
    return [path for path in candidates if path.exists()]


async def cmd_reset(args: argparse.Namespace, paths: Paths, ask: Any = input) -> int:
    if _running(paths) is not None:
        raise op.OperatorError("the devnet is running; stop it first with `indexbot devnet down` (and stop the bot)")
    from bot.config import load_config

    embedded = _running(Paths(load_config().home / "embedded-devnet"))
    if embedded is not None:
        raise op.OperatorError(f"the bot's embedded devnet is running (anvil pid {embedded['pid']}): quit `indexbot "
                               "chat` first")
    targets = _reset_targets(paths)
    if not targets:
        print("nothing to reset: no saved devnet chain and no database")
        return 0
    print("This deletes the devnets' saved chains and the bot's database (wallets, trades, points):")
    for path in targets:
        print(f"  {path}")
    if not args.yes:
        try:
            answer = ask("Type 'yes' to start over: ")
        except EOFError:
            answer = ""
        if answer.strip().lower() != "yes":
            print("nothing was deleted")
            return 1
    for path in targets:
        path.unlink(missing_ok=True)
    print("reset: the next start deploys a fresh devnet and a new database")
    return 0


async def cmd_collect_fees(args: argparse.Namespace, paths: Paths) -> int:
    profile = _profile(paths)
    q = Decimal("0.000001")
    for c in await op.collect_fees(profile, args.index):
        rate = f"{(c.fee * 100).normalize():f}% a day"
        due = datetime.fromtimestamp(c.next_due, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        if c.days == 0:
            print(f"{c.index}: nothing to collect (less than a day since the last collection; next due {due}), fee {rate}")
            continue
        print(f"{c.index}: collected {c.days} day(s) of fee at {rate}: NAV ${c.nav_before.quantize(q)} -> "
              f"${c.nav_after.quantize(q)}; next due {due}")
    return 0


async def cmd_lock(args: argparse.Namespace, paths: Paths) -> int:
    try:
        amount = Decimal(args.amount.replace(",", ""))
    except InvalidOperation:
        raise op.OperatorError(f"not an amount: {args.amount!r}") from None
    r = await op.lock_staked(_profile(paths), args.staked, args.address, amount, release=args.release)

    def plain(d: Decimal) -> str:
        return f"{d.normalize():f}"

    print(f"{r.staking} of {r.address}: {'released' if args.release else 'locked'} {plain(amount)}; now locked "
          f"{plain(r.locked)}, available {plain(r.available)} of {plain(r.balance)} staked")
    return 0


async def cmd_shortfall(args: argparse.Namespace, paths: Paths) -> int:
    try:
        percent = Decimal(args.percent.strip().removesuffix("%"))
    except InvalidOperation:
        raise op.OperatorError(f"not a percentage: {args.percent!r}") from None
    if not percent.is_finite():
        raise op.OperatorError(f"not a percentage: {args.percent!r}")
    r = await op.shortfall(_profile(paths), args.index, percent)
    state = "fully backed again" if not percent else f"{percent.normalize():f}% short of what its supply is owed"
    print(f"{r.index}: basket now {state}")
    for symbol, amount in r.basket.items():
        print(f"  {symbol:<8} {amount}")
    return 0


async def cmd_sequencer(args: argparse.Namespace, paths: Paths) -> int:
    profile = _profile(paths)
    since = await op.set_sequencer(profile, args.state == "down")
    when = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if args.state == "down":
        print(f"sequencer down since {when}: quotes say so and trades are refused")
    else:
        grace = profile.sequencer.grace_seconds if profile.sequencer else 0
        print(f"sequencer up since {when}; trades resume after the {grace}s grace period "
              f"(`indexbot devnet advance {grace}s` to skip it)")
    return 0


COMMANDS = {"up": cmd_up, "down": cmd_down, "status": cmd_status, "price": cmd_price,
            "rebalance": cmd_rebalance, "advance": cmd_advance, "hours": cmd_hours, "reindex": cmd_reindex,
            "reset": cmd_reset, "collect-fees": cmd_collect_fees, "lock": cmd_lock, "sequencer": cmd_sequencer,
            "shortfall": cmd_shortfall}


EMBEDDED_RUNS = set(COMMANDS) - {"up", "down", "reset"}  # what also acts on a running bot's embedded devnet


def embedded_home() -> Path:
    """Where `indexbot chat` / `make run` keeps its embedded devnet (bot.app: the home's `embedded-devnet`)."""
    from bot.config import load_config

    return load_config().home / "embedded-devnet"


def _acting_on(args: argparse.Namespace) -> Paths:
    """The devnet a subcommand acts on: `devnet up`'s; failing that, with no --home given, the embedded devnet of a
    bot running on this home (`make run` in one terminal, `indexbot devnet price BTC 60000` in another), said so."""
    paths = Paths(home_dir(args))
    if args.devnet_command in EMBEDDED_RUNS and not getattr(args, "home", None) and _running(paths) is None:
        embedded = Paths(embedded_home(), embedded=True)
        if _running(embedded) is not None:
            print(f"the running bot's embedded devnet ({embedded.home})")
            return embedded
    return paths


async def main(args: argparse.Namespace) -> int:
    """Run one `devnet` subcommand; returns the process exit code."""
    paths = _acting_on(args)
    paths.home.mkdir(parents=True, exist_ok=True)
    try:
        return await COMMANDS[args.devnet_command](args, paths)
    except (op.OperatorError, AnvilError, TxFailed, Web3Exception) as exc:
        print(f"error: {exc}")
        return 2
