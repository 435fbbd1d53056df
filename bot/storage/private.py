"""Files and directories for the owner alone: the database holds custodial keys (encrypted) and money in flight,
the home directory the embedded devnet's key file and the logs."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)


def private_dir(path: Path) -> None:
    """Create `path` and each missing parent 0700; an existing `path` open to others is closed to them (when it
    is ours to change: a shared directory someone named as the home is left alone, with a warning). A directory
    shared by design (sticky and open to all, as /tmp) is never changed, not even by root: a file named straight in
    /tmp (a backup's target) once made the machine's /tmp 0700, and every other user's programs failed there."""
    for missing in reversed([p for p in (path, *path.parents) if not p.exists()]):
        missing.mkdir(mode=0o700, exist_ok=True)
    if path.stat().st_mode & stat.S_ISVTX:
        log.info("%s is shared by design (sticky): left as it is; what the bot writes there is its own 0600", path)
        return
    _tighten(path, 0o700)


def private_file(path: Path) -> None:
    """Create `path` empty and 0600 (its directory as `private_dir`) if it is missing; an existing one open to
    others is closed to them."""
    private_dir(path.parent)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    _tighten(path, 0o600)


def _tighten(path: Path, mode: int) -> None:
    if path.stat().st_mode & 0o077:
        try:
            path.chmod(mode)
            log.info("%s was open to other users: now %o", path, mode)
        except OSError as exc:
            log.warning("%s is open to other users and cannot be changed (%s)", path, exc.strerror)
