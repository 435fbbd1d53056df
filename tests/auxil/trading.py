"""Factories for trade tests: a funded custodial user, requests, button presses, a recording front end."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from decimal import Decimal

from bot.frontends.adapters.base import PlainMarkup
from bot.app import App
from bot.core.messages import Rendered
from bot.trading.intents import State
from devnet.operator import fund
from auxil.requests import ask, click, press, say  # noqa: F401  (where the trade tests have always found them)


@dataclass
class Recorder:
    """A front end for notices that records what it was asked to send or edit."""

    name: str = "console"
    sent: list[tuple[str, str, str | None]] = field(default_factory=list)  # (chat, text, edit_ref)
    markup: PlainMarkup = field(default_factory=PlainMarkup)

    async def deliver(self, chat_id: str, rendered: Rendered, edit_ref: str | None = None) -> str | None:
        self.sent.append((chat_id, rendered.text, edit_ref))
        return edit_ref or f"m{len(self.sent)}"

    async def wait_sent(self, count: int = 1, timeout: float = 15.0) -> list[tuple[str, str, str | None]]:
        """What was sent once there are `count` messages (a notice goes through the outbox after the state it tells
        of is stored: reading right after the state may come first); fails after `timeout` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.sent) < count:
            assert asyncio.get_running_loop().time() < deadline, f"{len(self.sent)} of {count} messages sent: {self.sent}"
            await asyncio.sleep(0.02)
        return self.sent


PIN = "739146"  # the PIN of every test user's custodial wallet (`custodial_user`)


async def custodial_user(app: App, user: str = "u1", *, key: str | None = None, pin: str | None = PIN,
                         platform: str = "console") -> tuple[int, str]:
    """A user of `platform` with a custodial wallet (new, or imported from `key`) and its PIN, as `/wallet new` (or
    import) then `/pin` leave it: no custodial wallet trades or exports before it has a PIN. `pin=None`: none yet.
    (user key, address)"""
    row = await app.services.users.seen(platform, user)
    wallets = app.services.wallets
    address = await (wallets.import_key(row.id, key) if key is not None else wallets.create(row.id))
    if pin is not None:
        await app.services.pins.set_pin(row.id, pin)
    return row.id, address


async def funded_user(app: App, user: str = "u1", usdc: Decimal = Decimal(10_000), eth: Decimal = Decimal(1),
                      pin: str | None = PIN, platform: str = "console") -> tuple[int, str]:
    """A user with a custodial wallet holding `usdc` and `eth`, and its PIN (`custodial_user`); (user key, address)."""
    uid, address = await custodial_user(app, user, pin=pin, platform=platform)
    await fund(app.profile, address, usdc=usdc, eth=eth)
    return uid, address


async def mined_buy(app: App, index: str, amount: str = "100", user: str = "u1") -> int:
    """A confirmed, mined /buy of `amount` USDC of `index` through the router; its intent id."""
    quoted = await say(app, f"/buy {index} {amount}", user)
    done = await click(app, quoted, "Confirm", user)
    assert "Confirmed in block" in done.rendered.text, done.rendered.text
    uid = (await app.services.users.seen("console", user)).id
    return max(i.id for i in await app.services.desks.home.intents.of_user(uid))


async def token_balance(app: App, token: str, address: str) -> int:
    from bot.chain import protocol as p

    (units,) = await app.chain.call(token, p.BALANCE_OF, address)
    return int(units)


async def settled(app: App, intent_id: int, timeout: float = 15.0) -> State:
    """The intent's state once it is terminal (mined, reverted, dropped, ...), waiting up to `timeout` seconds."""
    x = app.services.desks.home
    assert x is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        intent = await x.intents.get(intent_id)
        assert intent is not None
        if intent.state.terminal:
            return intent.state
        await asyncio.sleep(0.05)
    raise AssertionError(f"intent {intent_id} did not settle")
