"""`indexbot points snapshot` as an operator (or cron) runs it: a subprocess on the devnet, printing one line."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

from auxil.trading import funded_user

from bot.app import App
from devnet.rpc import Sender, connect, contract

ROOT = Path(__file__).resolve().parents[1]
INDEXBOT = str(Path(sys.executable).with_name("indexbot"))


def points(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("INDEXBOT_", "TELEGRAM_", "DISCORD_"))}
    environ.update(INDEXBOT_HOME=str(home), INDEXBOT_WEB_PORT="0", LANG="C.UTF-8", **env)
    return subprocess.run([INDEXBOT, "points", "snapshot", *args], capture_output=True, text=True, timeout=90,
                          env=environ, cwd=ROOT)


async def test_snapshot_credits_the_day_once_and_says_so(app: App, tmp_path: Path) -> None:
    uid, address = await funded_user(app)
    mag7 = app.profile.index("MAG7.ssi")
    async with connect(app.profile.rpc_urls[0]) as w3:
        await Sender(w3, chain_id=app.profile.chain_id).transact(contract(w3, "AssetToken", mag7.token.address).functions.mint(address, 2 * 10**8))
    env = {"INDEXBOT_CHAIN": app.config.chain or "", "INDEXBOT_DB": str(app.config.database_path),
           **({"INDEXBOT_DATABASE_URL": app.config.database_url} if app.config.database_url else {})}

    first = await asyncio.to_thread(points, tmp_path, "--day", "2026-11-20", **env)
    assert first.returncode == 0, first.stderr
    line = first.stdout.strip()
    assert "\n" not in line and line.startswith("points snapshot 2026-11-20: block ")
    assert re.search(r"\b1 wallets read, credited, \d+ RPC round trips, [\d.]+ s$", line), line
    assert app.services.points is not None
    held = await app.services.points.ledger.day_breakdown(uid, date(2026, 11, 20))
    assert held["held"] > 0

    second = await asyncio.to_thread(points, tmp_path, "--day", "2026-11-20", **env)
    assert second.returncode == 0, second.stderr
    assert "0 wallets read, already credited, nothing changed" in second.stdout
    block = re.search(r"block (\d+)", line).group(1)  # type: ignore[union-attr]
    assert f"block {block}," in second.stdout  # the day's block, fixed by the first run


def test_a_bad_day_is_refused(tmp_path: Path) -> None:
    for bad in ("2026-13-01", "yesterday", "20261120"):
        out = points(tmp_path, "--day", bad)
        assert out.returncode == 2, out
        assert "is not a day (YYYY-MM-DD" in out.stderr and out.stdout == ""
    assert not list(tmp_path.rglob("anvil.log"))  # refused before anything was started
