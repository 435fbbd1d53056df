"""Run a real anvil from its npm binary on loopback, and the RPC helpers the devnet needs.

`Anvil` starts the binary shipped in node_modules/@foundry-rs (never through npx) on 127.0.0.1, waits
until it answers `eth_chainId`, and stops it by PID: SIGTERM, then SIGKILL after a timeout. With
`detach=True` the process gets its own session and outlives the Python process (`indexbot devnet up`).
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from web3 import AsyncWeb3
from web3.exceptions import Web3Exception
from web3.types import RPCEndpoint

from devnet.compile import node_modules
from devnet.rpc import connect

CHAIN_ID = 31337
HOST = "127.0.0.1"
STATES_DIR = "anvil-states"  # anvil's on-disk history, inside the devnet's own directory
MAX_PERSISTED_STATES = 256  # past blocks' states anvil keeps on disk beyond those in memory


class AnvilError(RuntimeError):
    """anvil is missing, did not start, or did not answer."""


def anvil_binary() -> Path:
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
    system = platform.system().lower()
    candidates = [node_modules() / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / "anvil"]
    candidates.append(node_modules() / ".bin" / "anvil")
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise AnvilError(f"anvil binary not found (looked at {', '.join(map(str, candidates))}); run `make install`")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def is_anvil(pid: int) -> bool:
    """Guard against a recycled PID: only signal a process whose command line is anvil."""
    try:
        return b"anvil" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid_alive(pid)


async def stop_pid(pid: int, timeout: float = 5.0) -> None:
    """SIGTERM (anvil dumps --state on it), then SIGKILL if it has not exited after `timeout` seconds."""
    if not pid_alive(pid) or not is_anvil(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not pid_alive(pid):
            return
        await asyncio.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    while pid_alive(pid):
        _reap(pid)
        await asyncio.sleep(0.05)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


async def wait_ready(url: str, timeout: float = 15.0, pid: int | None = None) -> int:
    """Poll eth_chainId until the node answers; returns the chain id."""
    deadline = time.monotonic() + timeout
    async with connect(url, timeout=2.0) as w3:
        while True:
            try:
                return await w3.eth.chain_id
            except (OSError, Web3Exception, asyncio.TimeoutError):
                if pid is not None and not pid_alive(pid):
                    raise AnvilError(f"anvil (pid {pid}) exited during start-up") from None
                if time.monotonic() > deadline:
                    raise AnvilError(f"anvil at {url} did not answer within {timeout}s") from None
                await asyncio.sleep(0.05)


class Anvil:
    """One anvil process. `await Anvil(workdir).start()`, then `.url`, `.pid`, `await .stop()`."""

    def __init__(self, workdir: Path, chain_id: int = CHAIN_ID):
        self.workdir = Path(workdir)
        self.chain_id = chain_id
        self.port: int | None = None
        self.pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise AnvilError("anvil is not started")
        return f"http://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "anvil.log"

    @classmethod
    def attach(cls, workdir: Path, port: int, pid: int) -> Anvil:
        """An Anvil handle for a process started earlier (e.g. by `devnet up`)."""
        anvil = cls(workdir)
        anvil.port, anvil.pid = port, pid
        return anvil

    async def start(
        self, port: int | None = None, state_file: Path | None = None, detach: bool = False, timeout: float = 15.0,
        load_state: Path | None = None, genesis: int | None = None,
    ) -> Anvil:
        """Start anvil; `state_file`: anvil's own --state (loaded, and dumped every 10 s and on SIGTERM: `devnet
        up`); `load_state`: a JSON state dump loaded at start (no size limit, unlike anvil_loadState over HTTP);
        `genesis`: the chain's clock starts at this unix time instead of now (and runs on at the wall clock's pace)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        clear_states(self.workdir)  # a killed run's
        cmd = [str(anvil_binary()), "--host", HOST, "--port", str(self.port), "--chain-id", str(self.chain_id)]
        cmd += ["--accounts", "10"]
        # anvil writes past blocks' states to disk once its in-memory history is full, by default under
        # ~/.foundry/anvil/tmp, unbounded and never removed when it is stopped: a 20,000-block run left 9 GB there
        # and filled the disk. Kept in the devnet's directory, bounded, and removed when the devnet stops.
        cmd += ["--cache-path", str(self.workdir / STATES_DIR), "--max-persisted-states", str(MAX_PERSISTED_STATES)]
        if state_file is not None:
            cmd += ["--state", str(state_file), "--state-interval", "10"]
        if load_state is not None:
            cmd += ["--load-state", str(load_state)]
        if genesis is not None:
            cmd += ["--timestamp", str(genesis)]
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=detach
            )
        self.pid = self._proc.pid
        try:
            await wait_ready(self.url, timeout, pid=self.pid)
        except AnvilError:
            await self.stop()
            raise
        return self

    async def stop(self, timeout: float = 5.0) -> None:
        if self.pid is not None:
            await stop_pid(self.pid, timeout)
        if self._proc is not None:
            self._proc.poll()
            self._proc = None
        self.pid = None
        clear_states(self.workdir)


def clear_states(workdir: Path) -> None:
    """Remove anvil's on-disk history of past blocks (only while no anvil of this directory runs)."""
    shutil.rmtree(Path(workdir) / STATES_DIR, ignore_errors=True)


# Node methods web3 has no wrapper for (work against any anvil URL); errors raise web3's Web3RPCError.
async def node_call(w3: AsyncWeb3, method: str, *params: Any) -> Any:
    return await w3.manager.coro_request(RPCEndpoint(method), list(params))


async def increase_time(w3: AsyncWeb3, seconds: int) -> None:
    await node_call(w3, "evm_increaseTime", int(seconds))


async def mine(w3: AsyncWeb3) -> None:
    await node_call(w3, "evm_mine")


async def snapshot(w3: AsyncWeb3) -> str:
    return str(await node_call(w3, "evm_snapshot"))


async def revert(w3: AsyncWeb3, snapshot_id: str) -> bool:
    return bool(await node_call(w3, "evm_revert", snapshot_id))


async def mined_pool(w3: AsyncWeb3, timeout: float = 5.0) -> bool:
    """Wait until anvil has mined what it accepted: it answers eth_sendTransaction a moment before it mines (more
    under load), and a dump taken in between has no trace of the transaction. Whether the pool emptied in time
    (transactions waiting on a nonce gap are never mined, so they are not waited for)."""
    deadline = time.monotonic() + timeout
    while int(str((await node_call(w3, "txpool_status"))["pending"]), 16):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def dump_state(w3: AsyncWeb3) -> str:
    """anvil's whole chain state as a hex blob (gzipped JSON) for `load_state`."""
    return str(await node_call(w3, "anvil_dumpState"))


async def load_state(w3: AsyncWeb3, state: str) -> Any:
    return await node_call(w3, "anvil_loadState", state)
