"""`indexbot devnet ...`: the operator's commands for a persistent local chain.

up        start anvil detached (state persisted under $INDEXBOT_HOME/devnet/), deploy or reuse, write profile
down      stop it by the PID in the PID file (anvil writes its state on SIGTERM)
status    up or down, RPC URL, chain id, block number and time, profile path
price     SYMBOL USD: set a constituent's feed
rebalance INDEX: reweight an index at current feed prices (NAV kept)
advance   DURATION: move chain time (90s, 15m, 2h, 7d, 1d12h)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tomllib
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from web3.exceptions import Web3Exception

from bot.profile import Profile, load_profile
from devnet import operator as op
from devnet.anvil import HOST, Anvil, AnvilError, free_port, is_anvil, pid_alive, stop_pid, wait_ready
from devnet.deploy import boot, state_hash, write_profile
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
    sub.add_parser("down", help="stop the devnet")
    sub.add_parser("status", help="show whether the devnet is up")
    price = sub.add_parser("price", help="set a constituent's USD price feed")
    price.add_argument("symbol")
    price.add_argument("usd")
    reb = sub.add_parser("rebalance", help="rebalance an index at current feed prices")
    reb.add_argument("index")
    adv = sub.add_parser("advance", help="move chain time forward")
    adv.add_argument("duration")


def home_dir(args: argparse.Namespace) -> Path:
    if getattr(args, "home", None):
        return Path(args.home)
    return Path(os.environ.get("INDEXBOT_HOME", ".indexbot")) / "devnet"


class Paths:
    def __init__(self, home: Path):
        self.home = home
        self.run = home / "anvil.json"  # PID file: {"pid": ..., "port": ...}
        self.state = home / "state.json"
        self.profile = home / "profile.toml"


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
    with profile_path.open("rb") as fh:
        data = tomllib.load(fh)
    data["rpc_urls"] = [url]
    return write_profile(data, profile_path)


async def cmd_up(args: argparse.Namespace, paths: Paths) -> int:
    if (run := _running(paths)) is not None:
        print(f"devnet already up: http://{HOST}:{run['port']} (pid {run['pid']})")
        return await cmd_status(args, paths)
    if args.fresh:
        for path in (paths.state, paths.profile):
            path.unlink(missing_ok=True)
    port = args.port or (DEFAULT_PORT if _port_free(DEFAULT_PORT) else free_port())
    anvil = await Anvil(paths.home).start(port=port, state_file=paths.state, detach=True)
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
    return 0


async def cmd_down(args: argparse.Namespace, paths: Paths) -> int:
    run = _running(paths)
    if run is None:
        paths.run.unlink(missing_ok=True)
        print("devnet is not running")
        return 0
    await stop_pid(run["pid"], timeout=10.0)
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
    return 0


def _profile(paths: Paths) -> Profile:
    if _running(paths) is None:
        raise op.OperatorError("devnet is not running; start it with `indexbot devnet up`")
    return load_profile(paths.profile)


async def cmd_price(args: argparse.Namespace, paths: Paths) -> int:
    try:
        usd = Decimal(args.usd.lstrip("$").replace(",", ""))
    except InvalidOperation:
        raise op.OperatorError(f"not a price: {args.usd!r}") from None
    profile = _profile(paths)
    await op.set_price(profile, args.symbol, usd)
    print(f"{args.symbol} feed set to ${usd}")
    for ref in profile.indexes:
        async with connect(profile.rpc_urls[0]) as w3:
            symbols = {e.symbol for e in await op.read_tokenset(w3, ref.token.address)}
        if args.symbol in symbols:
            print(f"  {ref.symbol} NAV now ${(await op.index_nav(profile, ref.symbol)).quantize(Decimal('0.0001'))}")
    return 0


async def cmd_rebalance(args: argparse.Namespace, paths: Paths) -> int:
    result = await op.rebalance(_profile(paths), args.index)
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


COMMANDS = {"up": cmd_up, "down": cmd_down, "status": cmd_status, "price": cmd_price,
            "rebalance": cmd_rebalance, "advance": cmd_advance}


async def main(args: argparse.Namespace) -> int:
    """Run one `devnet` subcommand; returns the process exit code."""
    paths = Paths(home_dir(args))
    paths.home.mkdir(parents=True, exist_ok=True)
    try:
        return await COMMANDS[args.devnet_command](args, paths)
    except (op.OperatorError, AnvilError, TxFailed, Web3Exception) as exc:
        print(f"error: {exc}")
        return 2
