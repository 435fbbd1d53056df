"""Share cards' journeys: a user with a PnL to share, and an inline query (`@bot <typed>`) through the Bot API
emulator."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from auxil.trading import click, funded_user, say
from bot.app import App
from bot.storage.schema import fills
from telegram_emulator import BotApiEmulator

INDEX = "MAG7.ssi"


async def mined_buy(app: App, user: str = "u1", amount: str = "100") -> int:
    """A confirmed, mined /buy of MAG7 by the console user `user` (funded first); their user key."""
    uid, _ = await funded_user(app, user)
    quoted = await say(app, f"/buy {INDEX} {amount}", user)
    assert "Confirmed in block" in (await click(app, quoted, "Confirm", user)).rendered.text
    return uid


async def fills_moved_to(app: App, platform: str, user: str) -> int:
    """A console user's mined buy, its fill then given to `user` of `platform` (a chat user without a devnet buy
    flow of their own here): their user key."""
    owner = await mined_buy(app, "seller")
    uid = (await app.services.users.seen(platform, user)).id
    async with app.db.transaction() as tx:
        await tx.execute(update(fills).where(fills.c.user_id == owner).values(user_id=uid))
    return uid


async def inline(emulator: BotApiEmulator, user: int, typed: str) -> dict[str, Any]:
    """`@bot <typed>` by `user`: the bot's answerInlineQuery parameters."""
    since = emulator.mark()
    query_id = emulator.inline_query(user, typed)
    await emulator.wait_for("answerInlineQuery", lambda c: c.params.get("inline_query_id") == query_id, since=since)
    return emulator.inline_answers[query_id]
