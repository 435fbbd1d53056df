"""A throwaway devnet for tests and the embedded default: fresh anvil on a free port, booted from the cache.

    devnet = await Devnet.start(tmp_path)
    ...  # devnet.url, devnet.profile, devnet.profile_path
    await devnet.stop()

`snapshot()` / `revert(id)` wrap evm_snapshot / evm_revert; anvil drops a snapshot once reverted to, so take
a new one after each revert.

`Devnet.start(workdir, persist=True)` (the embedded default) keeps the chain beside the bot's database: it loads
`workdir/chain-state.gz` when present (the devnet comes back with every block, account and contract, so its
genesis hash is the one the database recorded), dumps the state (`anvil_dumpState`) whenever a new block was
mined, at most every `dump_seconds` (half a second), and once more on `stop`. Each dump is written to a temporary file, synced
and renamed over the last one, so a crash loses at most the last seconds of chain and never leaves half a file.
We dump through the RPC rather than anvil's own `--state`/`--state-interval` so that the write is atomic and a
corrupt file is found (gzip's CRC, the JSON's shape) before anything starts, with a clear message.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import time
import tomllib
import zlib
from pathlib import Path
from typing import Any

import rlp
from eth_utils.crypto import keccak

from bot.chain.binding import StartupRefused
from bot.issuance.hours import MarketHours
from bot.chain.profile import Profile, load_profile
from devnet import anvil as anvil_rpc
from devnet.anvil import CHAIN_ID, HOST, Anvil, AnvilError, is_anvil, pid_alive, stop_pid
from devnet.deploy import STOCKS_PROFILE, boot, devnet_feeds, genesis_for_deploy, keep_time_monotonic, restamp, write_profile
from devnet.fulfil import Fulfiller
from devnet.hermes import ChainPrices, HermesStandIn, point_profile
from devnet.rpc import Sender, connect

log = logging.getLogger(__name__)
STATE_FILE = "chain-state.gz"  # the embedded devnet's chain, beside its profile and key file
RUN_FILE = "anvil.json"  # its anvil's pid and port while it runs
STATE_KEYS = ("block", "accounts", "blocks")
RESTAMP_AFTER_SECONDS = 600  # a chain idle longer gets its feeds re-stamped on load  # what anvil's dump holds at the least


class DevnetStateError(StartupRefused):
    """The devnet's saved chain state cannot be loaded (corrupt, truncated, not anvil's)."""


def read_state(path: Path) -> dict[str, Any]:
    """The saved state, checked (gzip's CRC and anvil's JSON shape) before anything starts, with one genesis
    block (see `_one_genesis`)."""
    try:
        packed = Path(path).read_bytes()
        if not packed:
            raise ValueError("the file is empty")
        data = json.loads(gzip.decompress(packed))
        if not isinstance(data, dict) or any(key not in data for key in STATE_KEYS):
            raise ValueError("not an anvil state dump")
        _one_genesis(data)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile, ValueError, KeyError, TypeError) as exc:
        raise DevnetStateError(
            f"the devnet's chain state {path} cannot be loaded ({type(exc).__name__}: {exc}); nothing was changed. "
            "`indexbot devnet reset` starts the devnet and its database over"
        ) from None
    return data


QUANTITIES = {"difficulty", "number", "gasLimit", "gasUsed", "timestamp", "baseFeePerGas", "blobGasUsed", "excessBlobGas"}


def _one_genesis(data: dict[str, Any]) -> None:
    """Keep the chain's own block 0 only. A state loaded into a fresh anvil (`anvil_loadState`) sits beside that
    anvil's own new genesis block, and the next dump holds both (one more per restart); loaded again, either may
    come out as block 0, and the chain's genesis hash would change from one start to the next. The chain's own is
    the oldest: every fresh anvil stamps its genesis with the time it started."""
    blocks = data["blocks"]
    genesis = [b for b in blocks if int(str(b["header"]["number"]), 16) == 0]
    if not genesis and blocks:
        raise ValueError("no genesis block")
    if len(genesis) > 1:
        children = [b for b in blocks if int(str(b["header"]["number"]), 16) == 1]
        parents = {str(c["header"].get("parentHash", "")).lower() for c in children}
        mine = [b for b in genesis if _header_hash(b["header"]) in parents]
        first = mine[0] if len(mine) == 1 else min(genesis, key=lambda b: int(str(b["header"]["timestamp"]), 16))
        data["blocks"] = [b for b in blocks if b is first or int(str(b["header"]["number"]), 16) != 0]


def _header_hash(header: dict[str, Any]) -> str:
    """A dumped block header's hash: keccak of the RLP of its fields in anvil's order (the protocol's), quantities as
    integers and the rest as bytes. The chain's own genesis is then block 1's parent; a header of another shape only
    matches nothing, and the oldest block 0 is taken (every fresh anvil stamps its genesis with the time it started)."""
    def field(name: str, value: object) -> bytes | int:
        text = str(value)
        return int(text, 16) if name in QUANTITIES else bytes.fromhex(text.removeprefix("0x"))

    try:
        return "0x" + keccak(rlp.encode([field(name, value) for name, value in header.items()])).hex()
    except ValueError:  # not hex: no hash, so not taken for the chain's own
        return ""


def keep_one_genesis(path: Path) -> None:
    """For anvil's own `--state` file (`indexbot devnet up`, plain JSON): drop the extra block 0s each restart
    adds (see `_one_genesis`) before anvil loads it, so the chain's genesis hash stays what the database
    recorded. Rewritten atomically, and only when there is something to drop; a corrupt file is refused."""
    try:
        data = json.loads(Path(path).read_bytes())
        if not isinstance(data, dict) or any(key not in data for key in STATE_KEYS):
            raise ValueError("not an anvil state dump")
        count = len(data["blocks"])
        _one_genesis(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DevnetStateError(
            f"the devnet's chain state {path} cannot be loaded ({type(exc).__name__}: {exc}); nothing was changed. "
            "`indexbot devnet reset` starts the devnet and its database over"
        ) from None
    if len(data["blocks"]) != count:
        write_state(path, json.dumps(data).encode())


def write_state(path: Path, packed: bytes) -> None:
    """Atomically replace `path` with `packed`: a temporary file beside it, synced, renamed over it."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(packed)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class Devnet:
    def __init__(self, anvil: Anvil, profile: Profile, profile_path: Path):
        self.anvil = anvil
        self.profile = profile
        self.profile_path = profile_path
        self._fulfiller: Fulfiller | None = None
        self._fulfilling: asyncio.Task[None] | None = None
        self.restored = False  # started from a saved chain state (persist=True and a state file was there)
        self.state_path: Path | None = None  # where the chain is saved (persist=True)
        self._dumping: asyncio.Task[None] | None = None
        self._dumped_block: int | None = None
        self.hermes: HermesStandIn | None = None  # the Hermes stand-in serving the devnet's Pyth prices

    @property
    def stocks_profile_path(self) -> Path:
        return self.profile_path.parent / STOCKS_PROFILE

    @property
    def stocks_profile(self) -> Profile:
        return load_profile(self.stocks_profile_path)

    async def fulfiller(self, hours: MarketHours | None = None) -> Fulfiller:
        """The stock index's fulfilment process over this devnet (`hours`: its market-hours window instead of the
        profile's); tests run its `step` or `run` themselves."""
        return Fulfiller(self.stocks_profile, hours)

    @property
    def url(self) -> str:
        return self.anvil.url

    @classmethod
    async def start(cls, workdir: Path, fulfil: bool = False, chain_id: int = CHAIN_ID, persist: bool = False,
                    dump_seconds: float = 0.5) -> Devnet:
        """A fresh anvil booted to the deployed state; `fulfil`: with the stock index's fulfilment process
        running beside it (the embedded default devnet), stopped with it; `chain_id`: another chain's id (a
        second devnet standing for another chain beside the first); `persist`: the chain is kept in
        `workdir/chain-state.gz` (loaded when there, saved while running; see the module docstring)."""
        workdir = Path(workdir)
        profile_path = workdir / "profile.toml"
        state_path = workdir / STATE_FILE
        if persist:
            await _recover_orphan(workdir)  # a crashed run's anvil still holds the newest chain
        saved = read_state(state_path) if persist and state_path.is_file() else None  # before anything starts
        if saved is not None and not profile_path.is_file():
            raise DevnetStateError(f"the devnet's chain state {state_path} has no profile beside it ({profile_path}); "
                                   "nothing was changed. `indexbot devnet reset` starts the devnet and its database over")
        anvil = await _anvil(workdir, chain_id, saved)
        try:
            profile = await _restore(anvil, profile_path) if saved is not None else await boot(anvil, profile_path)
        except BaseException:
            await anvil.stop()
            raise
        net = cls(anvil, profile, profile_path)
        net.restored = saved is not None
        if persist:
            net.state_path = state_path
            (workdir / RUN_FILE).write_text(json.dumps({"pid": anvil.pid, "port": anvil.port}))  # `devnet reset` asks
            if saved is None:
                await net.save()  # a state file from the first moment: the database is bound to this chain now
            else:
                net._dumped_block = int(saved["block"]["number"], 16)  # on disk already; new blocks in 2 s
            net._dumping = asyncio.create_task(net._dump_loop(dump_seconds), name="devnet:dump-state")
        await net._serve_hermes()
        if fulfil:
            net._fulfiller = await net.fulfiller()
            net._fulfilling = asyncio.create_task(net._fulfiller.run(), name="devnet:fulfil")
        return net

    async def _serve_hermes(self) -> None:
        """Run the Hermes stand-in on 127.0.0.1 (prices from the devnet's own feeds) and point the profile at it."""
        self.hermes = await HermesStandIn(ChainPrices(self.profile)).start()
        point_profile(self.profile_path, self.hermes.url)
        self.profile = load_profile(self.profile_path)

    async def stop(self) -> None:
        if self.hermes is not None:
            await self.hermes.stop()
        if self._fulfilling is not None:
            if self._fulfiller is not None:
                self._fulfiller.stop()  # a cancellation swallowed inside a step cannot keep it running
            self._fulfilling.cancel()
            await asyncio.gather(self._fulfilling, return_exceptions=True)
        if self._dumping is not None:
            self._dumping.cancel()
            await asyncio.gather(self._dumping, return_exceptions=True)
            self._dumping = None
            try:
                await self.save(force=True)  # the last blocks, before anvil goes
            except Exception:  # noqa: BLE001 - the periodic dump is at most seconds old
                log.exception("could not save the devnet's chain state on stop")
        await self.anvil.stop()
        if self.state_path is not None:
            (self.state_path.parent / RUN_FILE).unlink(missing_ok=True)

    async def save(self, force: bool = False) -> bool:
        """Dump the chain to `state_path` if a block was mined since the last dump (or `force`); whether it wrote."""
        if self.state_path is None:
            return False
        async with connect(self.url) as w3:
            if force:  # the last dump (on stop): what anvil accepted a moment ago goes in too
                await anvil_rpc.mined_pool(w3)
            block = await w3.eth.block_number
            if block == self._dumped_block and not force:
                return False
            packed = bytes.fromhex((await anvil_rpc.dump_state(w3)).removeprefix("0x"))
        await asyncio.to_thread(write_state, self.state_path, packed)
        self._dumped_block = block
        return True

    async def _dump_loop(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.save()
            except Exception:  # noqa: BLE001 - try again at the next tick; the last good dump stays in place
                log.warning("could not save the devnet's chain state", exc_info=True)

    async def snapshot(self) -> str:
        async with connect(self.url) as w3:
            return await anvil_rpc.snapshot(w3)

    async def revert(self, snapshot_id: str) -> bool:
        async with connect(self.url) as w3:
            return await anvil_rpc.revert(w3, snapshot_id)

    async def __aenter__(self) -> Devnet:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def _anvil(workdir: Path, chain_id: int, saved: dict[str, Any] | None) -> Anvil:
    """A new anvil, with the saved chain loaded at start when there is one (anvil's --load-state reads a plain
    JSON file: written beside the state for the start, removed once anvil has read it)."""
    if saved is None:
        return await Anvil(workdir, chain_id).start(genesis=genesis_for_deploy())
    load = workdir / (STATE_FILE + ".load.json")
    load.write_text(json.dumps(saved))
    try:
        return await Anvil(workdir, chain_id).start(load_state=load)
    except AnvilError as exc:
        raise DevnetStateError(f"anvil refused the devnet's chain state ({exc}); nothing was changed. "
                               "`indexbot devnet reset` starts the devnet and its database over") from None
    finally:
        load.unlink(missing_ok=True)


async def _restore(anvil: Anvil, profile_path: Path) -> Profile:
    """A saved chain was loaded: point its profiles at the new URL, keep chain time moving forward (a chain saved
    after `devnet advance` is ahead of the wall clock), and re-stamp the feeds (their answers, a heartbeat) when
    the chain sat idle for more than ten minutes, so prices are fresh at today's chain time."""
    data = _retarget(profile_path, anvil.url)
    companions = [_retarget(profile_path.parent / rel, anvil.url) for rel in data.get("companions", [])]
    async with connect(anvil.url) as w3:
        idle = time.time() - int((await w3.eth.get_block("latest"))["timestamp"])
        await keep_time_monotonic(w3)
        if idle > RESTAMP_AFTER_SECONDS:  # the next block jumps to now: the feeds would be that old
            await restamp(w3, Sender(w3, chain_id=int(data["chain_id"])), devnet_feeds(data, *companions))
    return load_profile(profile_path)


def _retarget(path: Path, url: str) -> dict[str, Any]:
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    data["rpc_urls"] = [url]
    write_profile(data, path)
    return data


def _parent_is_bot(pid: int) -> bool:
    """Whether anvil `pid`'s parent is a running indexbot (another `indexbot chat` on this home), not init or a
    subreaper that adopted the anvil of a run that was killed."""
    try:
        ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        return b"indexbot" in Path(f"/proc/{ppid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return False


async def _recover_orphan(workdir: Path) -> None:
    """A run killed outright (SIGKILL, a crash) leaves its anvil running with the newest chain, seconds ahead of
    the last dump: dump it from there, then stop it. Another bot still running this devnet is refused."""
    run = workdir / RUN_FILE
    try:
        info = json.loads(run.read_text())
        pid, port = int(info["pid"]), int(info["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    if not pid_alive(pid) or not is_anvil(pid):
        run.unlink(missing_ok=True)
        return
    if _parent_is_bot(pid):
        raise DevnetStateError(f"another indexbot runs the devnet in {workdir} (anvil pid {pid}); nothing was changed. "
                               "Quit it first: one database, one bot")
    try:
        async with connect(f"http://{HOST}:{port}") as w3:
            await anvil_rpc.mined_pool(w3)  # a transaction sent just before the kill: mined, so in the dump
            packed = bytes.fromhex((await anvil_rpc.dump_state(w3)).removeprefix("0x"))
        await asyncio.to_thread(write_state, workdir / STATE_FILE, packed)
        log.warning("recovered the chain from the devnet anvil a killed run left behind (pid %s)", pid)
    except Exception:  # noqa: BLE001 - the last periodic dump stays: seconds older
        log.warning("could not recover the chain from the anvil a killed run left behind (pid %s)", pid, exc_info=True)
    finally:
        await stop_pid(pid)
        run.unlink(missing_ok=True)
