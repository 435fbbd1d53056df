"""A holder of an issued index sees it in /wallet, valued at the factory's NAV, and can withdraw it."""

from __future__ import annotations

from decimal import Decimal

from bot.app import App
from devnet.fulfil import Fulfiller
from auxil.issuance import hours_app, mag7_nex, steps  # noqa: F401  (hours_app: a fixture)
from auxil.trading import click, funded_user, say, token_balance


async def test_wallet_values_the_issued_index_and_withdraw_sends_it(hours_app: tuple[App, Fulfiller]) -> None:
    app, fulfiller = hours_app
    user, address = await funded_user(app)
    token, _ = mag7_nex(app)
    before = (await say(app, "/wallet")).rendered.text
    assert "MAG7.nex" not in before, before  # nothing held: not listed
    await click(app, await say(app, "/buy MAG7.nex 100"), "Confirm")
    assert await steps(fulfiller) == ["MAG7.nex issuance 2"]
    held = await token_balance(app, token, address)
    assert held > 0
    issuance = app.services.issuance
    assert issuance is not None
    nav = (await issuance.state(app.services.companions[0].index("MAG7.nex"))).nav
    shown = (await say(app, "/wallet")).rendered.text
    value = Decimal(held).scaleb(-18) * nav
    assert f"MAG7.nex\n  {Decimal(held).scaleb(-18).normalize():f}\n  ≈ ${value:,.2f}" in shown, shown
    usdc = Decimal(await token_balance(app, app.profile.usdc.address, address)).scaleb(-6)
    total = next(line for line in shown.splitlines() if line.startswith("Total"))
    assert Decimal(total.split("$")[1].replace(",", "")) > usdc + value - 1, total  # it counts in the total

    to = "0x" + "cd" * 20
    offer = await say(app, f"/withdraw MAG7.nex all {to} 739146")
    assert offer.rendered.text.startswith("Withdraw"), offer.rendered.text
    done = await click(app, offer, "Confirm")
    assert "Confirmed in block" in done.rendered.text and "MAG7.nex" in done.rendered.text, done.rendered.text
    assert await token_balance(app, token, to) == held and await token_balance(app, token, address) == 0
    x = app.services.desks.home
    assert x is not None
    withdrawal = next(i for i in await x.intents.of_user(user) if i.kind == "withdraw")
    assert withdrawal.params["chain"] == app.services.companions[0].name  # sent by the stock chain's desk

    refused = (await say(app, f"/withdraw NOPE 1 {to} 739146")).rendered.text
    assert "MAG7.nex" in refused and "MAG7.ssi" in refused, refused  # the valid list names every chain's indexes
