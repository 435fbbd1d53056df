"""The fault test of issue 17 for a webhook worker killed in the middle of an update: three real `indexbot run --role
web,worker` processes on one PostgreSQL database behind the Bot API emulator. A group's `/announce status` is under
way in one process, stuck at a known point (the emulator holds its getChatMember, the admin check, before any answer;
or, in a second run, its answer, which has then reached Telegram), when that process is killed with SIGKILL. Its job
stays 'doing' and holds the group's turn until the engine retries the jobs of dead workers (bot.jobs.engine
`retry_stalled`, INDEXBOT_JOBS_STALLED_SECONDS=STALLED); then another process handles the update: the user gets
exactly one answer (the killed process had sent none) or two (the killed process's answer had left and the update is
handled again: the one extra answer possible), the group's later updates are answered after it and in order, and
another chat is answered meanwhile, while the group is still held.
"""

from __future__ import annotations

import asyncio
import re
import time
from decimal import Decimal
from pathlib import Path

import pytest

from devnet.harness import Devnet
from telegram_emulator import BotApiEmulator
from auxil.cli import environment
from auxil.postgres import pg_rows
from auxil.webhook_fleet import replies, webhook_fleet

pytestmark = pytest.mark.platform  # the emulator, started here; the processes are real

PROCESSES = 3
STALLED = 5  # seconds: INDEXBOT_JOBS_STALLED_SECONDS of the fleet
GROUP, MEMBER, OTHER = -1001, 51, 52


def paid(text: str) -> Decimal | None:
    found = re.search(r"You pay: ([\d,.]+) USDC", text)
    return Decimal(found.group(1)) if found else None


async def jobs_settled(pg_url: str) -> list[tuple[object, ...]]:
    """The Telegram update jobs (update id, status, attempts) once none is waiting or running."""
    while True:
        jobs = await asyncio.to_thread(pg_rows, pg_url, "SELECT args->>'update_id', status, attempts FROM "
                                       "procrastinate_jobs WHERE task_name = 'telegram.update' ORDER BY id")
        if not any(status in ("todo", "doing") for _, status, _ in jobs):
            return jobs
        await asyncio.sleep(0.2)


# Where the killed process is stuck (the emulator holds that call) and how many answers the update then gets: none
# left before the kill (the admin check), or the answer itself had reached Telegram (one extra, from the retry).
POINTS = [pytest.param("getChatMember", 1, id="before-the-answer"), pytest.param("sendMessage", 2, id="answer-sent")]


@pytest.mark.parametrize(("held_call", "answers"), POINTS)
async def test_a_worker_killed_mid_update_leaves_it_to_another_after_the_stalled_retry(
        held_call: str, answers: int, chain: Devnet, pg_url: str, tmp_path: Path) -> None:
    envs = [environment(tmp_path / f"p{n}", INDEXBOT_CHAIN=str(chain.profile_path), INDEXBOT_DATABASE_URL=pg_url,
                        TELEGRAM_WEBHOOK_URL="http://localhost/telegram", TELEGRAM_WEBHOOK_SECRET="kill-webhook_Secret-1",
                        INDEXBOT_JOBS_STALLED_SECONDS=str(STALLED), INDEXBOT_TELEGRAM_RATE_SCALE="10", LANG="C.UTF-8")
            for n in range(PROCESSES)]
    async with BotApiEmulator() as emulator:
        async with webhook_fleet(emulator, envs, ["web,worker"] * PROCESSES) as crew:
            emulator.balance(crew.urls)
            await emulator.wait_count("setWebhook", PROCESSES, timeout=90)
            release = emulator.hold(held_call, GROUP)
            first = emulator.send_text(MEMBER, GROUP, "/announce status", chat_type="group")
            stuck = await emulator.wait_for(held_call, lambda c: c.chat_id == GROUP, timeout=30)
            victim = int(stuck.via.removeprefix("p"))
            crew.kill(victim)
            await asyncio.to_thread(crew.procs[victim].wait, 10)
            killed_at = time.perf_counter()
            release.set()  # the dead process's call is answered to no one; the next one's goes through
            emulator.balance([url for n, url in enumerate(crew.urls) if n != victim])  # the balancer's health check
            later = [emulator.send_text(MEMBER, GROUP, f"/quote MAG7.ssi {n}", chat_type="group") for n in (1, 2, 3)]
            other = emulator.send_text(OTHER, OTHER, "/quote MAG7.ssi 7")
            await emulator.wait_for("sendMessage", lambda c: c.chat_id == OTHER, timeout=STALLED * 3)
            held = await asyncio.to_thread(pg_rows, pg_url, "SELECT args->>'update_id', status FROM procrastinate_jobs "
                                           "WHERE lock = %s AND status IN ('doing', 'todo') ORDER BY id",
                                           f"telegram:{GROUP}:{MEMBER}")
            # each group quote goes to the member privately, the group told so (bot.core.router's `Aside`): two sends
            await emulator.wait_count("sendMessage", 7 + answers, timeout=STALLED * 6)
            await asyncio.sleep(1.0)  # a second answer to any update would be here by now
            jobs = await asyncio.wait_for(jobs_settled(pg_url), 15)  # a later update's own job finds it handled
    group = replies(emulator, GROUP)
    texts = [c.params["text"] for c in group]
    assert len(group) == 3 + answers, texts  # one answer per quote; the killed update's `answers`
    announced, retried = group[:answers], group[answers - 1]
    assert all("only moderators" in c.params["text"] for c in announced), texts  # answered first, then the quotes
    assert all("I sent you the answer in a private message" in c.params["text"] for c in group[answers:]), texts
    quotes = replies(emulator, MEMBER)  # the quotes themselves, in the member's private chat, in the group's order
    assert [paid(c.params["text"]) for c in quotes] == [1, 2, 3], [c.params["text"] for c in quotes]
    assert all(quote.at < told.at for quote, told in zip(quotes, group[answers:])) and quotes[0].at > retried.at
    assert [c.via == f"p{victim}" for c in announced] == [True] * (answers - 1) + [False]
    # by the stalled retry, not sooner: the dead worker's last heartbeat (every STALLED / 3 s) went stale first
    assert retried.at - killed_at >= STALLED / 2, retried.at - killed_at
    (mine,) = replies(emulator, OTHER)
    assert paid(mine.params["text"]) == 7 and mine.at < retried.at  # the other chat was not held behind the group
    # meanwhile the group's turn was still held by the killed process's job, its later updates waiting behind it
    assert held[0] == (str(first), "doing") and {u for u, _ in held} <= {str(u) for u in [first, *later]}, held
    assert {u for u, _, _ in jobs} == {str(u) for u in [first, *later, other]} and len(jobs) == 5, jobs
    assert all(status == "succeeded" for _, status, _ in jobs), jobs
    assert [a for u, _, a in jobs if u == str(first)] == [2], jobs  # taken by the killed process, then once again
    handled = pg_rows(pg_url, "SELECT update_id, handled_at IS NOT NULL FROM telegram_updates ORDER BY update_id")
    assert handled == [(u, True) for u in sorted([first, *later, other])]
