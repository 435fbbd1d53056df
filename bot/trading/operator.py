"""The operator's view of intents (`indexbot intents`): the newest, or those held for review, one line each,
and releasing a held one after a look (it is followed again at the bot's next start).

An intent is held when the node answered something other than what was signed for one of its transactions
(bot.trading.follow): the line names the transaction and the fields that differed. Addresses and hashes are
public; nothing secret is printed.
"""

from __future__ import annotations

from pathlib import Path

from bot.storage.db import Database
from bot.storage.intents import IntentRows
from bot.trading.intents import Intent, State


def line(intent: Intent) -> str:
    result = intent.result or {}
    extra = ""
    if intent.state is State.HELD:
        extra = f"  {result.get('reason', '')}: {result.get('tx_hash', '')} ({', '.join(result.get('fields', []))})"
    return (f"{intent.id:>6}  {intent.state.value:<9}  {intent.kind:<8}  user {intent.user_id:<6}  "
            f"chain {intent.chain_id:<6}  {intent.address}{extra}")


async def show(database: str | Path, held: bool, release: int | None) -> tuple[int, str]:
    """The exit code and the text to print."""
    db = await Database.open(database)
    try:
        intents = IntentRows(db)
        if release is not None:
            if not await intents.move(release, State.HELD, State.SENT):
                return 1, f"intent {release} is not held: nothing changed"
            return 0, f"intent {release} released: it is followed again when the bot next starts"
        rows = await intents.in_state(State.HELD) if held else await intents.recent()
        if not rows:
            return 0, "no intents held for review" if held else "no intents"
        return 0, "\n".join(line(i) for i in rows)
    finally:
        await db.close()
