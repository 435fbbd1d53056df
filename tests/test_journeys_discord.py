"""Issue 18's "done" on Discord: a brand-new user buys, sells, stakes, sets a price alert and withdraws in a DM and in
a server, through discord.py's real code paths (tests/discord_fake.py), with the index chosen by autocomplete and
every amount, the address and the PIN sent in a modal (a question's Answer button); each step checked on the chain.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.app import App
from bot.frontends.adapters.discord import DiscordFrontend
from auxil.catalog import text
from auxil.discord import EPHEMERAL, DiscordJourney, shown
from auxil.journey import units
from auxil.trading import PIN, token_balance
from devnet.operator import fund
from discord_fake import CHANNEL_ID, FakeDiscord, user_dict

CAROL = user_dict(940000000000000061, "carol")
OUTSIDE = "0x000000000000000000000000000000000000dEaD"


@pytest.mark.parametrize("guild", [False, True], ids=["dm", "server"])
async def test_new_user_journey_with_autocomplete_and_modals(app: App, frontend: DiscordFrontend, rest: FakeDiscord,
                                                             guild: bool) -> None:
    me = DiscordJourney(frontend, rest, CAROL, guild)

    def label(key: str, **params: object) -> str:
        return text(app, key, **params)  # type: ignore[arg-type]

    answer = label("button.answer")
    home = await me.slash("start")
    wallet = await me.press(home, label("home.button.wallet"))
    created = await me.press(wallet, label("button.wallet_new"))
    asked = await me.press(created, label("button.pin_set"), edits=False)  # under the new address, which stays shown
    again = await me.answer(asked, answer, PIN)
    done = await me.answer(again, answer, PIN)
    assert shown(done.content).startswith(label("pin.set"))
    uid = (await app.services.users.seen("discord", CAROL["id"])).id
    address = (await app.services.desks.home.sender(uid)).address
    await fund(app.profile, address, usdc=Decimal(1000), eth=Decimal(1))
    usdc, mag7 = app.profile.usdc, app.profile.index("MAG7.ssi").token

    choices = await me.complete("buy", "index", index="", amount="")  # the index from the list Discord shows
    index = next(value for name, value in choices if name.startswith("MAG7.ssi"))
    quote = await me.slash("buy", index=index, amount="50")
    before = await token_balance(app, usdc.address, address)
    bought = await me.press(quote, label("button.confirm"))
    assert shown(bought.content).startswith("Confirmed in block")
    assert await token_balance(app, usdc.address, address) == before - units(50, usdc.decimals)
    held = await token_balance(app, mag7.address, address)

    home = await me.press(bought, label("button.home"))
    sell = await me.press(home, label("home.button.sell"))
    shares = await me.press(sell, next(name for name in me.labels(sell) if "MAG7.ssi" in name))
    quote = await me.press(shares, label("menu.share", pct=50))
    sold = await me.press(quote, label("button.confirm"))
    assert await token_balance(app, mag7.address, address) == held - held // 2
    held -= held // 2

    home = await me.press(sold, label("button.home"))
    stake = await me.press(home, label("home.button.stake"))
    shares = await me.press(stake, label("menu.stake.button", symbol="MAG7.ssi"))
    offer = await me.press(shares, label("menu.share", pct=25))
    staked = await me.press(offer, label("button.confirm"))
    assert await token_balance(app, mag7.address, address) == held - held * 25 // 100

    home = await me.press(staked, label("button.home"))
    settings = await me.press(home, label("home.button.alerts"))
    alerts = await me.press(settings, label("alerts.button.prices"))
    new = await me.press(alerts, label("button.alert_new"))
    condition = await me.press(new, label("alert.button.index", index="MAG7.ssi"))
    line = await me.press(condition, label("alert.button.above"))
    made = await me.answer(line, answer, "1000")
    [alert] = await app.services.price_alerts.of_user(uid)
    assert (alert.token, alert.kind, alert.threshold) == ("MAG7.ssi", "above", Decimal(1000))

    home = await me.press(made, label("button.home"))
    wallet = await me.press(home, label("home.button.wallet"))
    assets = await me.press(wallet, label("button.withdraw"))
    amount = await me.press(assets, label("withdraw.button.asset", asset=usdc.symbol))
    where = await me.answer(amount, answer, "10")
    pin = await me.answer(where, answer, OUTSIDE)
    offer = await me.answer(pin, answer, PIN)
    outside = await token_balance(app, usdc.address, OUTSIDE)
    await me.press(offer, label("button.confirm"))
    assert await token_balance(app, usdc.address, OUTSIDE) == outside + units(10, usdc.decimals)
    if guild:  # nothing of it in the channel for all to read
        assert not [c for c in rest.calls if c.method == "POST" and c.path == f"/channels/{CHANNEL_ID}/messages"]
