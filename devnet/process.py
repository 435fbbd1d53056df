"""A background devnet's helper processes (the stock index's fulfiller, the Hermes stand-in), each a
`python -m <module> ARGS` in a session of its own that outlives `indexbot devnet up`, found again by the pid
file it leaves and stopped by that pid by `indexbot devnet down`.

A pid is only trusted while the process with it still runs that module (its command line says so), so a
recycled pid is never signalled.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devnet.anvil import pid_alive

REPO = Path(__file__).resolve().parent.parent


def running(pid: int, module: str) -> bool:
    """Whether `pid` is a live process whose command line runs `module`."""
    try:
        return pid_alive(pid) and f"-m\0{module}\0".encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@dataclass(frozen=True)
class Background:
    """One helper process: `module` run with its arguments, its pid (and what else `spawn` records) in
    `pid_file`, its output appended to `log_file`."""

    module: str
    pid_file: Path
    log_file: Path

    def record(self) -> dict[str, Any] | None:
        """What `spawn` recorded, while that process still runs; None otherwise."""
        try:
            data = json.loads(self.pid_file.read_text())
            pid = int(data["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return data if running(pid, self.module) else None

    def pid(self) -> int | None:
        data = self.record()
        return None if data is None else int(data["pid"])

    def spawn(self, *args: str, **record: Any) -> int:
        """Start the module in its own session; its pid is written to the pid file with `record`."""
        with self.log_file.open("ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", self.module, *args], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO)
        self.pid_file.write_text(json.dumps({"pid": proc.pid, **record}))
        return proc.pid

    async def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout` seconds; the pid file goes either way. The pid stopped, if any."""
        pid = self.pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return None
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while running(pid, self.module):
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.05)
        return pid
