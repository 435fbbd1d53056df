"""`[orders] max_open` from the config file, end to end on Telegram: a user at the limit is refused in their
language, and nothing is stored."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from bot.app import App
from bot.config import load_config
from bot.frontends.adapters.telegram import TelegramFrontend
from bot.storage.schema import limit_order_clock, limit_orders
from conftest import JOURNEY_LIMITS, make_config
from devnet import operator as op
from devnet.harness import Devnet
from auxil.telegram import ask
from auxil.trading import PIN
from telegram_emulator import BotApiEmulator

D = Decimal


async def test_a_user_at_max_open_is_refused_in_spanish_and_nothing_is_stored(chain: Devnet, emulator: BotApiEmulator,
                                                                              tmp_path: Path) -> None:
    toml = tmp_path / "indexbot.toml"
    toml.write_text("[orders]\nmax_open = 2\n")
    config = make_config(chain, tmp_path / "home", limits_max_open=load_config({"INDEXBOT_CONFIG": str(toml)}).limits_max_open)
    app = await App.start(config)
    front = TelegramFrontend(app, emulator.token, emulator.url, limits=JOURNEY_LIMITS)
    await front.start()
    try:
        user = 5301
        row = await app.services.users.seen("telegram", str(user))
        await op.fund(app.profile, await app.services.wallets.create(row.id), usdc=D(1000), eth=D(1))
        await app.services.pins.set_pin(row.id, PIN)
        await app.head.poll_once()
        price = (await app.services.market.snapshot()).indexes["MAG7.ssi"].dex_price
        assert price is not None
        line = f"/limit buy MAG7 10 at {str((price * D('0.5')).quantize(D('0.01'))).replace('.', ',')} {PIN}"
        for _ in range(2):
            assert "Orden #" in (await ask(emulator, user, user, line, language_code="es")).params["text"]
        stored = await app.db.scalar(select(func.count()).select_from(limit_orders))
        clock = await app.db.scalar(select(limit_order_clock.c.n))
        refused = (await ask(emulator, user, user, line, language_code="es")).params["text"]
        assert "Tienes 2 órdenes abiertas, el máximo permitido. Cancela una primero (/limits)." in refused, refused
        assert await app.db.scalar(select(func.count()).select_from(limit_orders)) == stored == 2
        assert await app.db.scalar(select(limit_order_clock.c.n)) == clock  # no change was even numbered
        assert len(await app.services.limit_orders.of_user(row.id)) == 2
    finally:
        await front.stop()
        await app.stop()
