"""The stock index on a chain of its own, as on Base + Ethereum: a second devnet with another chain id stands for
Ethereum. One wallet address serves both; each chain has its own nonces, balances and executor."""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
import tomli_w

from bot.app import App
from bot.services import Meant, meant
from bot.issuance.hours import ALWAYS_OPEN
from conftest import make_config
from devnet.fulfil import Fulfiller
from devnet.harness import Devnet
from devnet.operator import fund
from auxil.issuance import ALWAYS, steps
from auxil.requests import labels
from auxil.trading import Recorder, click, funded_user, say, token_balance

ETHEREUM = 1


@pytest.fixture
async def two_chains(chain: Devnet, tmp_path: Path) -> AsyncIterator[tuple[App, Devnet]]:
    """A bot whose home is the session's devnet and whose MAG7.nex lives on a second devnet with chain id 1."""
    other = await Devnet.start(tmp_path / "ethereum", chain_id=ETHEREUM)
    try:
        home = tmp_path / "profiles"
        home.mkdir()
        home.joinpath("profile.toml").write_text(chain.profile_path.read_text())
        stocks = tomllib.loads(other.stocks_profile_path.read_text())
        stocks["indexes"][0]["market_hours"] = ALWAYS
        home.joinpath("stocks.toml").write_text(tomli_w.dumps(stocks))
        config = make_config(chain, tmp_path)
        app = await App.start(replace(config, chain=str(home / "profile.toml")))
        app.notices.attach(Recorder())
        try:
            yield app, other
        finally:
            await app.stop()
    finally:
        await other.stop()


async def test_a_wallet_holds_and_buys_on_both_chains(two_chains: tuple[App, Devnet]) -> None:
    app, other = two_chains
    stocks = app.services.companions[0]
    assert (stocks.chain_id, stocks.chain_label) == (ETHEREUM, "Ethereum")
    user, address = await funded_user(app, usdc=Decimal(1000))
    await fund(other.stocks_profile, address, usdc=Decimal(500), eth=Decimal(1))

    shown = (await say(app, "/wallet")).rendered.text
    assert "For MAG7.nex, send USDC and a little ETH for gas to the same address on Ethereum." in shown, shown
    assert "\nUSDC\n  1,000\n  ≈ $1,000.00" in shown and "USDC on Ethereum\n  500\n  ≈ $500.00" in shown, shown
    assert "ETH on Ethereum\n  1\n  ≈ $" in shown, shown

    # one buy on each chain at once: each takes nonce 0 of its own chain
    ssi, nex = await asyncio.gather(say(app, "/buy MAG7.ssi 100"), say(app, "/buy MAG7.nex 100"))
    bought, requested = await asyncio.gather(
        click(app, ssi, "Confirm", message_ref="ssi"), click(app, nex, "Confirm", message_ref="nex"))
    assert "Confirmed in block" in bought.rendered.text, bought.rendered.text
    assert "Issuance request #2 sent" in requested.rendered.text, requested.rendered.text
    x = app.services.desks.home
    assert x is not None
    rows = {i.kind: [tuple(r) for r in await app.db.fetch_all(
        "SELECT chain_id, nonce FROM intent_txs WHERE intent_id = :intent ORDER BY step", {"intent": i.id})] for i in await x.intents.of_user(user)}
    assert rows == {"buy": [(app.profile.chain_id, 0), (app.profile.chain_id, 1)], "issue": [(ETHEREUM, 0), (ETHEREUM, 1)]}

    assert await steps(Fulfiller(other.stocks_profile, ALWAYS_OPEN)) == ["MAG7.nex issuance 2"]
    issuance = app.services.issuance
    assert issuance is not None
    assert await issuance.orders.check() == 1
    token = stocks.index("MAG7.nex").token.address
    held = await token_balance_on(other, token, address)
    assert held > 0
    shown = (await say(app, "/wallet")).rendered.text
    assert f"MAG7.nex on Ethereum\n  {Decimal(held).scaleb(-18).normalize():f}" in shown, shown
    assert "USDC on Ethereum\n  400\n  ≈ $400.00" in shown and "\nUSDC\n  900\n  ≈ $900.00" in shown, shown
    assert await token_balance(app, token, address) == 0  # nothing of it on the home chain


async def test_a_bare_symbol_takes_the_home_chains_index_and_offers_the_other(two_chains: tuple[App, Devnet]) -> None:
    """`/buy MAG7 100` quotes the home chain's MAG7.ssi at once, MAG7.nex on Ethereum offered under the quote (a
    press quotes it instead); the explicit forms and a symbol on one chain only have nothing to offer."""
    app, other = two_chains
    user, address = await funded_user(app, usdc=Decimal(1000))
    await fund(other.stocks_profile, address, usdc=Decimal(500), eth=Decimal(1))
    quoted = await say(app, "/buy MAG7 100")
    assert quoted.rendered.text.startswith("Buy quote: MAG7.ssi"), quoted.rendered.text
    assert labels(quoted) == ["Confirm", "Cancel", "Limit…", "MAG7.nex on Ethereum"]  # Limit…: a pool index's order
    there = await click(app, quoted, "MAG7.nex on Ethereum")
    assert there.rendered.edit and "Issue MAG7.nex on Ethereum" in there.rendered.text, there.rendered.text
    assert labels(there) == ["Confirm", "Cancel"]
    shown = await say(app, "/quote mag7 50")
    assert shown.rendered.text.startswith("Buy quote: MAG7.ssi") and labels(shown) == ["Refresh", "MAG7.nex on Ethereum"]
    assert "Issue MAG7.nex on Ethereum" in (await click(app, shown, "MAG7.nex on Ethereum")).rendered.text
    pool, factory = ["Confirm", "Cancel", "Limit…"], ["Confirm", "Cancel"]  # orders watch pool prices only
    for typed, index, buttons in (("/buy MAG7.ssi 100", "MAG7.ssi", pool), ("/buy mag7.NEX 100", "MAG7.nex", factory),
                                  ("/buy meme 10", "MEME.ssi", pool)):
        answer = await say(app, typed)
        assert index in answer.rendered.text.splitlines()[0] and labels(answer) == buttons, (typed, answer.rendered.text)
    done = await click(app, quoted, "Confirm")  # the home chain's quote, confirmed where it was offered
    assert "Confirmed in block" in done.rendered.text, done.rendered.text


async def test_what_a_typed_symbol_means(two_chains: tuple[App, Devnet]) -> None:
    """A choice only where a symbol is ambiguous: several indexes of the name and not exactly one the home chain's."""
    services = two_chains[0].services
    every, home = services.all_indexes, services.profile.indexes
    ssi, nex = services.profile.index("MAG7.ssi"), services.companions[0].index("MAG7.nex")
    for typed, among, meant_index, others in (
        ("mag7", home, ssi, (nex,)), ("MAG7", home, ssi, (nex,)), ("MAG7.nex", home, nex, ()), ("mag7.ssi", home, ssi, ()),
        ("meme", home, services.profile.index("MEME.ssi"), ()), ("MAG7.scam", home, None, ()), ("nope", home, None, ()),
        ("mag7", (), None, (ssi, nex)), ("mag7", (ssi, nex), None, (ssi, nex)), ("mag7", (nex,), nex, (ssi,)),
    ):
        assert meant(every, among, typed) == Meant(meant_index, others), typed


async def token_balance_on(net: Devnet, token: str, address: str) -> int:
    from bot.chain import protocol as p
    from devnet.rpc import connect

    async with connect(net.url) as w3:
        reply = await w3.eth.call({"to": token, "data": "0x" + p.BALANCE_OF.encode(address).hex()})  # type: ignore[typeddict-item]
    return int.from_bytes(bytes(reply), "big")


async def test_withdraw_from_the_other_chain_names_it(two_chains: tuple[App, Devnet]) -> None:
    app, other = two_chains
    user, address = await funded_user(app, usdc=Decimal(1000))
    await fund(other.stocks_profile, address, usdc=Decimal(500), eth=Decimal(1))
    to = "0x" + "ab" * 20
    offer = await say(app, f"/withdraw USDC 120 {to} 739146 ethereum")
    assert offer.rendered.text.startswith("Withdraw 120 USDC on Ethereum to"), offer.rendered.text
    done = await click(app, offer, "Confirm")
    assert "sent 120 USDC to" in done.rendered.text, done.rendered.text
    usdc_there = app.services.companions[0].usdc.address
    assert await token_balance_on(other, usdc_there, to) == 120 * 10**6
    assert await token_balance_on(other, usdc_there, address) == 380 * 10**6
    assert await token_balance(app, app.profile.usdc.address, address) == 1000 * 10**6  # the home chain's untouched
    done = await click(app, await say(app, f"/withdraw ETH all {to} 739146 Ethereum"), "Confirm")
    assert "Confirmed in block" in done.rendered.text, done.rendered.text


@pytest.mark.parametrize(("args", "expected"), [
    ("USDC 1 {to} 739146 mars", "Unknown chain: mars. Valid: Base, Ethereum."),
    ("MAG7.ssi 1 {to} 739146 ethereum", "Unknown asset: MAG7.ssi. Valid: ETH, USDC, MAG7.nex."),
    ("USDC 1 {to} 739146 ethereum extra", "Usage: /withdraw <asset> <amount|all> <address> <PIN> [chain]"),
])
async def test_withdraw_bad_chain_input_changes_nothing(two_chains: tuple[App, Devnet], args: str, expected: str) -> None:
    app, _ = two_chains
    user, _ = await funded_user(app)
    reply = (await say(app, "/withdraw " + args.format(to="0x" + "ab" * 20))).rendered.text
    assert reply.startswith(expected), reply
    assert not await app.db.fetch_all("SELECT id FROM intents WHERE kind = 'withdraw'")


async def test_stopping_the_bot_closes_the_other_chains_client_and_head_tracker(chain: Devnet, tmp_path: Path) -> None:
    """A companion on a chain of its own has its own HTTP session and head-polling task: both end with the bot."""
    other = await Devnet.start(tmp_path / "ethereum", chain_id=ETHEREUM)
    try:
        home = tmp_path / "profiles"
        home.mkdir()
        home.joinpath("profile.toml").write_text(chain.profile_path.read_text())
        home.joinpath("stocks.toml").write_text(other.stocks_profile_path.read_text())
        app = await App.start(replace(make_config(chain, tmp_path), chain=str(home / "profile.toml")))
        assert app.services.desks is not None
        desk = app.services.desks.by_chain()[app.services.companions[0].name]
        assert desk.chain is not app.chain
        polling = [t for t in asyncio.all_tasks() if t.get_name() == "head-tracker"]
        assert len(polling) == 2  # the home chain's and Ethereum's
        await app.stop()
        assert all(t.done() for t in polling)
        assert all(p.session is None or p.session.closed for p in desk.chain.providers)
    finally:
        await other.stop()
