"""The fault test of issue 17 for Telegram by webhook: three real `indexbot run --role web,worker` processes on one
PostgreSQL database and the test devnet, behind a load balancer that posts every update to two different processes
at once (the Bot API emulator: Telegram and the balancer). Each update has its effects once (one answer per command,
a wallet made once), and each chat's answers come in the order its updates were sent (/lang then /quote is answered
in the new language; three quotes in a row are answered in that order).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.storage.db import Database
from bot.storage.schema import telegram_updates, users, wallets
from devnet.harness import Devnet
from telegram_emulator import BotApiEmulator
from auxil.cli import environment
from auxil.webhook_fleet import replies, webhook_fleet

pytestmark = pytest.mark.platform  # the emulator, started here; the processes are real

SECRET = "fleet-webhook_Secret-1"
PROCESSES = 3


@pytest.fixture
def fleet_env(chain: Devnet, pg_url: str, tmp_path: Path) -> Iterator[list[dict[str, str]]]:
    yield [environment(tmp_path / f"p{n}", INDEXBOT_CHAIN=str(chain.profile_path), INDEXBOT_DATABASE_URL=pg_url,
                       TELEGRAM_WEBHOOK_URL="http://localhost/telegram", TELEGRAM_WEBHOOK_SECRET=SECRET,
                       INDEXBOT_TELEGRAM_RATE_SCALE="10", LANG="C.UTF-8")
           for n in range(PROCESSES)]


async def test_every_update_posted_twice_to_a_fleet_has_its_effects_once_in_order(
        fleet_env: list[dict[str, str]], pg_url: str) -> None:
    async with BotApiEmulator() as emulator:
        async with webhook_fleet(emulator, fleet_env, ["web,worker"] * PROCESSES) as crew:
            emulator.balance(crew.urls, copies=2)
            await emulator.wait_count("setWebhook", PROCESSES, timeout=90)  # every process serves the route
            sent: dict[int, list[int]] = {41: [], 42: [], 43: []}
            for chat, line in [(41, "/lang zh_CN"), (42, "/wallet new"), (43, "/quote MAG7.ssi 1"),
                               (41, "/quote MAG7.ssi 100"), (43, "/quote MAG7.ssi 2"), (43, "/quote MAG7.ssi 3")]:
                sent[chat].append(emulator.send_text(chat, chat, line))
            await emulator.wait_count("sendMessage", sum(map(len, sent.values())), timeout=60)
            for update_id in (u for ids in sent.values() for u in ids):
                posts = await emulator.wait_delivered(update_id)
                assert len({p.url for p in posts}) == 2 and sum(p.status == 200 for p in posts) == 2, posts
            await asyncio.sleep(1.0)  # a second answer to a doubly posted update would be here by now
    assert [len(replies(emulator, chat)) for chat in (41, 42, 43)] == [2, 1, 3]  # one answer per update
    language, quote = (c.params["text"] for c in replies(emulator, 41))
    assert "Buy quote" not in quote and "MAG7.ssi" in quote  # /lang ran first: the quote is in Chinese
    paid = [re.search(r"You pay: ([\d,.]+) USDC", c.params["text"]) for c in replies(emulator, 43)]
    assert [Decimal(p.group(1)) if p else None for p in paid] == [1, 2, 3], [c.params["text"] for c in replies(emulator, 43)]
    db = await Database.open(pg_url)
    try:
        made = await db.scalar(select(func.count()).select_from(wallets.join(users, wallets.c.user_id == users.c.id))
                               .where(users.c.platform == "telegram", users.c.platform_user_id == "42"))
        waiting = await db.scalar(select(func.count()).select_from(telegram_updates)
                                  .where(telegram_updates.c.handled_at.is_(None)))
        stored = await db.scalar(select(func.count()).select_from(telegram_updates))
    finally:
        await db.close()
    assert (made, waiting, stored) == (1, 0, 6)
