"""A pool quote paying well over NAV (a buy) or getting well under it (a sell) carries a warning with what the
index tokens are backed by; a quote near NAV carries none. The pool does not follow a feed moved on the devnet, so
moving BTC's feed opens a premium (BTC down) or a discount (BTC up) on MAG7.ssi."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.app import App
from devnet import operator as op
from devnet.harness import Devnet
from devnet.rpc import connect
from auxil.catalog import EN
from auxil.trading import funded_user, say

WARN_BUY, WARN_SELL = EN["quote.warn.premium"].split("{")[0], EN["quote.warn.discount"].split("{")[0]


async def move_btc(app: App, chain: Devnet, factor: Decimal) -> None:
    async with connect(chain.url) as w3:
        btc = (await op.feed_prices(w3, {"BTC": chain.profile.feeds["BTC"]}))["BTC"]
    await op.set_price(chain.profile, "BTC", btc * factor)
    await app.head.poll_once()


@pytest.mark.parametrize(("btc", "buy_warned", "sell_warned"), [
    (Decimal(1), False, False),  # the pool at NAV: the pool fee alone
    (Decimal("0.7"), True, False),  # NAV about 9 % lower: a buy pays that premium, a sell gets it
    (Decimal("1.5"), False, True),  # NAV about 15 % higher: a sell gets that discount
])
async def test_a_quote_far_from_nav_warns_the_side_it_costs(app: App, chain: Devnet, btc: Decimal, buy_warned: bool,
                                                          sell_warned: bool) -> None:
    await move_btc(app, chain, btc)
    buy = (await say(app, "/quote MAG7 100")).rendered.text
    sell = (await say(app, "/quote MAG7 1 tokens")).rendered.text
    assert (WARN_BUY in buy, WARN_SELL in buy) == (buy_warned, False), buy
    assert (WARN_BUY in sell, WARN_SELL in sell) == (False, sell_warned), sell


async def test_the_buy_offer_with_confirm_warns_and_names_the_backing(app: App, chain: Devnet) -> None:
    await funded_user(app)
    await move_btc(app, chain, Decimal("0.7"))
    offer = await say(app, "/buy MAG7 100")
    [line] = [ln for ln in offer.rendered.text.splitlines() if ln.startswith(WARN_BUY)]
    premium = Decimal(line.split(" more")[0].removeprefix(WARN_BUY).rstrip("%")) / 100
    assert premium > Decimal("0.05")
    backed = Decimal(line.split("about $")[1].rstrip(".").replace(",", ""))
    assert abs(backed - Decimal(100) / (1 + premium)) < Decimal("0.05")  # what 100 USDC buys, at NAV
    labels = [b.label for row in offer.rendered.buttons for b in row]
    assert EN["button.confirm"] in labels and EN["limits.button.limit"] in labels  # warned, still the user's choice
