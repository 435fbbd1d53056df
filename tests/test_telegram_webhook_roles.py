"""`indexbot run --role web` and `--role worker` each alone on PostgreSQL, by webhook: the web process stores each
update and defers its job, the worker process (which serves no webhook) answers it. The processes and their
environment are the fleet test's (tests/test_telegram_webhook_fleet.py).
"""

from __future__ import annotations

import pytest

from auxil.webhook_fleet import webhook_fleet
from telegram_emulator import BotApiEmulator
from test_telegram_webhook_fleet import fleet_env  # noqa: F401 - fleet_env: the processes' environment

pytestmark = pytest.mark.platform


async def test_a_web_process_and_a_worker_process_each_alone(fleet_env: list[dict[str, str]]) -> None:
    """`--role web` stores and defers, `--role worker` (which serves no webhook) answers."""
    async with BotApiEmulator() as emulator:
        async with webhook_fleet(emulator, fleet_env, ["web", "worker"]) as crew:
            web = crew.urls[0]
            emulator.balance([web])
            await emulator.wait_count("setWebhook", 1, timeout=90)
            update_id = emulator.send_text(51, 51, "/quote MAG7.ssi 10")
            answer = await emulator.wait_for("sendMessage", lambda c: c.chat_id == 51, timeout=60)
            posts = await emulator.wait_delivered(update_id)
    assert "Buy quote: MAG7.ssi" in answer.params["text"]
    assert [(p.url.startswith(web), p.status) for p in posts] == [(True, 200)]
    assert len(emulator.calls_to("setWebhook")) == 1  # only the web process set it
