"""Bad input for /buy, /sell, /slippage, /withdraw and the trade buttons: a localized reply, nothing changed."""

import pytest
from auxil.trading import PIN, click, funded_user, say, token_balance

from bot.app import App
from bot.i18n import Catalogs
from auxil.catalog import starts

EN = Catalogs().entries["en"]
GOOD = "0x52908400098527886E0F7030069857D2E4169EE7"  # an EIP-55 test vector
WRONG_CASE = "0x52908400098527886e0F7030069857D2E4169EE7"  # one letter's case flipped: checksum fails


BAD = [
    ("/buy", "error.buy.usage"),
    ("/buy MAG7.ssi", "error.buy.usage"),
    ("/buy MAG7.ssi 10 20", "error.buy.usage"),
    ("/buy BTC 10", "error.index.unknown"),
    ("/buy MAG7.ssi -5", "error.amount.negative"),
    ("/buy MAG7.ssi 0", "error.amount.zero"),
    ("/buy MAG7.ssi abc", "error.amount.format"),
    ("/buy MAG7.ssi 1e9", "error.amount.format"),
    ("/buy MAG7.ssi 1.1234567", "error.amount.too_precise"),
    ("/buy MAG7.ssi 100000000000", "error.amount.too_large"),
    ("/buy MAG7.ssi 20000", "error.trade.short"),  # more than the balance (10,000 USDC)
    ("/sell", "error.sell.usage"),
    ("/sell MAG7.ssi all", "error.sell.nothing"),  # `all` with a zero balance
    ("/sell MAG7.ssi 5", "error.trade.short"),
    ("/sell MAG7.ssi 0.123456789", "error.amount.too_precise"),
    ("/sell DOGE 1", "error.index.unknown"),
    ("/slippage abc", "error.slippage.format"),
    ("/slippage -1", "error.slippage.format"),
    ("/slippage 0", "error.slippage.range"),
    ("/slippage 6", "error.slippage.range"),
    ("/slippage 1 2", "error.args.extra"),
    ("/withdraw", "withdraw.ask.asset"),  # alone: asked step by step (tests/test_withdraw_guided.py)
    ("/withdraw USDC 10 " + GOOD, "withdraw.guided.summary"),  # all but the PIN: asked for it (tests/test_withdraw_guided.py)
    ("/withdraw USDC 10 739146", "error.withdraw.usage"),  # a PIN in the address's place: never echoed as an address
    ("/withdraw USDC 10 0x1234 739146", "error.address.format"),
    ("/withdraw USDC 10 " + GOOD[:-1] + "g 739146", "error.address.format"),
    ("/withdraw USDC 10 " + WRONG_CASE + " 739146", "error.address.checksum"),
    ("/withdraw USDC 10 0x" + "0" * 40 + " 739146", "error.address.zero"),
    ("/withdraw DOGE 10 " + GOOD + " 739146", "error.withdraw.asset"),
    ("/withdraw USDC abc " + GOOD + " 739146", "error.amount.format"),
    ("/withdraw USDC 20000 " + GOOD + " 739146", "error.trade.short"),
    ("/withdraw MAG7 all " + GOOD + " 739146", "error.withdraw.nothing"),
    ("/withdraw USDC 10 " + GOOD + " 111222", "error.pin.wrong"),
]


@pytest.mark.parametrize(("text", "key"), BAD, ids=[k + ":" + t[:30] for t, k in BAD])
async def test_bad_trade_input_is_explained_and_changes_nothing(app: App, text: str, key: str) -> None:
    user, address = await funded_user(app)
    reply = await say(app, text)
    assert reply.rendered.text.startswith(starts(key)), reply.rendered.text
    x = app.services.desks.home
    assert x is not None
    assert await x.intents.of_user(user) == []
    assert await app.chain.nonce(address) == 0


async def test_withdraw_is_private_only(app: App) -> None:
    await funded_user(app)
    reply = await say(app, f"/withdraw USDC 10 {GOOD} 739146", chat_type="group")
    assert reply.rendered.text.startswith(starts("secret.public.pin"))  # the PIN was typed where others read it
    assert starts("error.private_only") in reply.rendered.text and "739146" not in reply.rendered.text
    assert reply.rendered.delete_request
    assert await app.db.fetch_one("SELECT 1 FROM intents") is None


async def test_buttons_of_another_user_and_after_cancel_are_refused(app: App) -> None:
    user, address = await funded_user(app)
    await funded_user(app, "mallory")
    quoted = await say(app, "/buy MAG7.ssi 10")
    stolen = await click(app, quoted, "Confirm", user="mallory")
    assert stolen.rendered.text.startswith(starts("error.button.not_yours")) and stolen.ephemeral
    await click(app, quoted, "Cancel")
    late = await click(app, quoted, "Confirm")
    assert late.rendered.text.startswith(starts("error.trade.cancelled"))
    assert await app.chain.nonce(address) == 0


def _pool(app: App) -> str:
    x = app.services.desks.home
    assert x is not None
    return x.market.setup.pools["MAG7.ssi"][0].address


# (what the address is, how to find it in the started bot, asset, words the refusal must name it by)
DESTINATIONS = [
    ("the token's own contract", lambda app, me: app.profile.usdc.address, "USDC", "the USDC token contract"),
    ("another token of the profile", lambda app, me: app.profile.index("MAG7.ssi").token.address, "USDC",
     "the MAG7.ssi token contract"),
    ("the router", lambda app, me: app.profile.swap_router02, "ETH", "the protocol contract Uniswap SwapRouter02"),
    ("a pool found at start-up", lambda app, me: _pool(app), "USDC", "a MAG7.ssi trading pool"),
    ("a price feed", lambda app, me: next(iter(app.profile.feeds.values())), "USDC", "price feed"),
    ("the staking contract", lambda app, me: app.profile.index("MAG7.ssi").staking.address, "USDC",
     "the MAG7.ssi staking contract"),
    ("the sender's own address", lambda app, me: me, "USDC", "own address"),
    ("the sender's own address, lower-case", lambda app, me: me.lower(), "ETH", "own address"),
    ("a wallet", lambda app, me: GOOD, "USDC", None),
]


@pytest.mark.parametrize(("what", "where", "asset", "named"), DESTINATIONS, ids=[d[0] for d in DESTINATIONS])
async def test_withdrawals_into_a_known_contract_or_back_to_the_sender_are_refused(
        app: App, what: str, where, asset: str, named: str | None) -> None:  # type: ignore[no-untyped-def]
    """Today 1 USDC went to the USDC contract. A withdrawal to a contract the chain's profile names (or a pool found
    at start-up), or to the sending wallet itself, is refused naming what the address is; nothing is stored, sent
    or spent. A wallet address is offered Confirm as before."""
    user, address = await funded_user(app)
    to = where(app, address)
    usdc_before = await token_balance(app, app.profile.usdc.address, address)
    reply = await say(app, f"/withdraw {asset} 1 {to} {PIN}")
    x = app.services.desks.home
    assert x is not None
    if named is None:
        assert reply.rendered.text.startswith(starts("withdraw.summary")), reply.rendered.text
        assert [i.kind for i in await x.intents.of_user(user)] == ["withdraw"]
    else:
        key = "error.withdraw.to_self" if "own" in named else "error.withdraw.to_contract"
        assert reply.rendered.text.startswith(starts(key)), reply.rendered.text
        assert named in reply.rendered.text, reply.rendered.text
        assert await x.intents.of_user(user) == []
    assert await app.chain.nonce(address) == 0
    assert await token_balance(app, app.profile.usdc.address, address) == usdc_before
