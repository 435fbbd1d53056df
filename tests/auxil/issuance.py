"""Shared by the issuance tests (tests/test_issuance.py, tests/test_issuance_discord.py): a bot whose stock index
has a market-hours window of the test's choosing, the fulfilment process reading the same window, and the
devnet's clock; a user holding MAG7.nex from a filled issuance (`issued_holder`).

The market-hours window is set per test in a copy of the devnet's profiles (the bot and the fulfilment process
read the same window); time moves with `devnet.operator.advance`, the code `indexbot devnet advance` runs.
A test module uses `hours_app` by importing it (pytest finds fixtures among a module's names).
"""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import tomli_w

from bot.app import App
from bot.issuance.hours import MarketHours
from conftest import make_config
from devnet.fulfil import Fulfiller
from devnet.harness import Devnet
from auxil.requests import click, say
from auxil.trading import Recorder, funded_user, token_balance

ALWAYS = {"zone": "UTC", "open": "00:00", "close": "24:00", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


async def chain_now(devnet: Devnet) -> int:
    from devnet.operator import chain_now as now
    from devnet.rpc import connect

    async with connect(devnet.url) as w3:
        return await now(w3)


async def steps(fulfiller: Fulfiller) -> list[str]:
    """What one step of the fulfilment process did, as words ("MAG7.nex issuance 2")."""
    return [str(fill) for fill in await fulfiller.step()]


def closed_until_tomorrow(now: int) -> dict[str, object]:
    """Open only on the UTC day after `now`'s: closed now, opening at the next UTC midnight."""
    tomorrow = (datetime.fromtimestamp(now, UTC) + timedelta(days=1)).weekday()
    return {"zone": "UTC", "open": "00:00", "close": "24:00", "days": [DAYS[tomorrow]]}


def well_inside_a_session(hours: MarketHours, now: int, margin: int = 900) -> int:
    """The first moment from `now` at which the market is open with at least `margin` seconds before it closes: a
    test that advances to "the next open" at a minute before the close (where chain time happens to be at some hour
    of the day; a devnet's chain ran half an hour ahead of the wall clock until deploys started in the past) would
    see its request wait for tomorrow's session."""
    at = hours.next_open(now)
    while (close := hours.next_close(at)) is not None and close - at < margin:
        at = hours.next_open(close)
    return at


def next_utc_midnight(now: int) -> datetime:
    """When a market `closed_until_tomorrow(now)` opens."""
    return (datetime.fromtimestamp(now, UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def profiles_with_hours(devnet: Devnet, home: Path, hours: dict[str, object]) -> Path:
    """Copies of the devnet's profiles whose stock index has this market-hours window; the home profile's path."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(devnet.profile_path, home / "profile.toml")
    data = tomllib.loads(devnet.stocks_profile_path.read_text())
    data["indexes"][0]["market_hours"] = hours
    (home / "stocks.toml").write_text(tomli_w.dumps(data))
    return home / "profile.toml"


@pytest.fixture
async def hours_app(chain: Devnet, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[tuple[App, Fulfiller]]:
    """A bot whose stock market is open (`@pytest.mark.parametrize("hours_app", ["closed"], indirect=True)`: closed
    until the next UTC midnight), and the fulfilment process reading the same window."""
    closed = getattr(request, "param", "open") == "closed"
    hours = closed_until_tomorrow(await chain_now(chain)) if closed else ALWAYS
    path = profiles_with_hours(chain, tmp_path / "chain", hours)
    config = make_config(chain, tmp_path)
    bot = await App.start(type(config)(**{**config.__dict__, "chain": str(path)}))
    bot.notices.attach(Recorder())
    try:
        yield bot, Fulfiller(bot.services.companions[0], MarketHours.from_config(hours))
    finally:
        await bot.stop()


def mag7_nex(app: App) -> tuple[str, str]:
    """The stock index's token and factory addresses."""
    ref = app.services.companions[0].index("MAG7.nex")
    assert ref.factory is not None
    return ref.token.address, ref.factory


async def issued_holder(app: App, fulfiller: Fulfiller, user: str, usdc: str = "100") -> tuple[int, str, int]:
    """A funded user whose /buy of MAG7.nex for `usdc` the factory filled and the ledger recorded: (user key, address,
    base units held)."""
    uid, address = await funded_user(app, user)
    await click(app, await say(app, f"/buy MAG7.nex {usdc}", user), "Confirm", user)
    assert len(await steps(fulfiller)) == 1
    assert await app.services.issuance.orders.check() == 1
    held = await token_balance(app, mag7_nex(app)[0], address)
    assert held > 0
    return uid, address, held
