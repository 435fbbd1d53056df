"""Issue 19's "done" as one journey every front end walks (tests/test_journey_portfolio.py): a brand-new user buys
MAG7 on the devnet, sees cost basis and unrealized PnL move when `indexbot devnet price` moves a constituent, sets a
stop-loss that fires once and is told in their chat, shares MAG7's quote card whose invite credits them when a
friend starts from it, and reads MAG7's reserves.

A front end is a `Chat`: what a user types and what the bot answered, what was told in the chat by itself (a
notice), and how the Share button and a friend's start go on that platform. Every expectation is read from the
chain (balances, the tokenset and its feeds) or the ledger the bot wrote from the chain, never written down.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import pytest

from bot.app import App
from devnet import cli
from devnet import operator as op
from devnet.harness import Devnet
from devnet.rpc import connect
from auxil.cli import number
from auxil.trading import token_balance

INDEX = "MAG7.ssi"
PIN = "4821"
D = Decimal


class Chat(Protocol):
    """One user on one front end."""

    async def say(self, line: str, until: str) -> str:
        """Type `line`; the bot's answer (the first holding `until`), as the user reads it."""

    async def press(self, label: str, until: str) -> str:
        """Press the button `label` under the bot's last answer with buttons; the answer holding `until`."""

    async def told(self, containing: str) -> list[str]:
        """Every message told in this user's chat by the bot itself (not an answer) holding `containing`, once at
        least one is there."""

    async def share(self) -> str:
        """Share MAG7's quote card the platform's way; what the card says (its invite in it)."""

    async def friend_starts(self, invite: str) -> str:
        """A brand-new friend starts the bot from `invite` (what the card carries); the bot's welcome."""


class DevnetPrice:
    """`indexbot devnet price SYMBOL USD` run by the CLI's own code (devnet.cli) on the session's devnet: its profile
    copied into a home of its own, the check that this home's anvil runs stood in for."""

    def __init__(self, chain: Devnet, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(chain.profile_path, home / "profile.toml")
        monkeypatch.setattr(cli, "_running", lambda paths: {"pid": 0, "port": 0})
        self.home = home
        self.parser = argparse.ArgumentParser()
        cli.register(self.parser.add_subparsers(dest="command"))

    async def __call__(self, symbol: str, usd: Decimal) -> None:
        assert await cli.main(self.parser.parse_args(["devnet", "--home", str(self.home), "price", symbol, str(usd)])) == 0


async def nav_on_chain(app: App) -> Decimal:
    """MAG7's NAV per token, read from the chain (its tokenset and feeds), not from the bot."""
    return await op.index_nav(app.profile, INDEX)


async def btc_for(app: App, target: Decimal) -> Decimal:
    """The BTC price that puts MAG7's NAV per token at about `target` (NAV is linear in each feed)."""
    async with connect(app.profile.rpc_urls[0]) as w3:
        tokenset = await op.read_tokenset(w3, app.profile.index(INDEX).token.address)
        [btc] = [e for e in tokenset if e.symbol == "BTC"]
        prices = await op.feed_prices(w3, {"BTC": app.profile.feeds["BTC"]})
    return (prices["BTC"] + (target - await nav_on_chain(app)) / btc.units).quantize(D("0.01"))


def signed_usd(pattern: str, text: str) -> Decimal:
    """The dollar figure after `pattern` (`Unrealized: `), its sign kept: `-$1.23`, `$1.23`."""
    found = re.search(pattern + r"\s*([-−]?)\$([\d,]+(?:\.\d+)?)", text)
    assert found, f"{pattern!r} not in:\n{text}"
    value = Decimal(found.group(2).replace(",", ""))
    return -value if found.group(1) else value


async def wallet_of(app: App, platform: str, user: str) -> tuple[int, str]:
    uid = (await app.services.users.seen(platform, user)).id
    return uid, (await app.services.desks.home.sender(uid)).address


async def head_at_latest(app: App) -> int:
    """Wait until the bot's head tracker has seen the chain's newest block; that block."""
    async with connect(app.profile.rpc_urls[0]) as w3:
        latest = await w3.eth.block_number
    for _ in range(200):
        if (app.head.head or 0) >= latest:
            return latest
        await asyncio.sleep(0.05)
    raise AssertionError(f"the head tracker did not reach block {latest}")


async def mine_blocks(app: App, blocks: int) -> None:
    async with connect(app.profile.rpc_urls[0]) as w3:
        for _ in range(blocks):
            await w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


async def walk(app: App, chat: Chat, platform: str, user: str, price: DevnetPrice) -> None:
    """The whole journey for `chat`, the user `user` of `platform`."""
    usdc, mag7 = app.profile.usdc, app.profile.index(INDEX).token

    # -- a brand-new user: a wallet, its PIN, the devnet's faucet, a buy ----------------------------------------
    await chat.say("/start", "indexbot")
    await chat.say("/wallet new", "Your new wallet")
    await chat.say(f"/pin {PIN}", "PIN set.")
    await chat.say("/faucet", "Sent ")
    uid, address = await wallet_of(app, platform, user)
    before = await token_balance(app, usdc.address, address)
    await chat.say(f"/buy {INDEX} 100", "Confirm")
    await chat.press("Confirm", "Confirmed in block")
    assert before - await token_balance(app, usdc.address, address) == 100 * 10**usdc.decimals
    held = await token_balance(app, mag7.address, address)
    assert held > 0

    # -- /positions: the cost basis is what the chain says was paid (and the gas), unrealized PnL moves with NAV --
    [fill] = await app.services.ledger.rows.all(uid)
    assert fill.paid_units == 100 * 10**usdc.decimals and fill.received_units == held  # the ledger is the chain's
    first = await chat.say("/positions", "Unrealized:")
    assert signed_usd("Cost:", first) == (fill.usd + fill.gas_usd).quantize(D("0.01"))
    assert "by average cost" in first
    nav_before = await nav_on_chain(app)
    tokens = Decimal(held) / 10**mag7.decimals
    assert abs(signed_usd("Unrealized:", first) - (tokens * nav_before - fill.usd - fill.gas_usd)) <= D("0.01")

    await price("BTC", await btc_for(app, nav_before * D("1.2")))  # `indexbot devnet price BTC ...`: NAV up ~20 %
    await app.head.poll_once()
    nav_up = await nav_on_chain(app)
    assert nav_up > nav_before
    second = await chat.say("/positions", "Unrealized:")
    moved = signed_usd("Unrealized:", second) - signed_usd("Unrealized:", first)
    assert abs(moved - tokens * (nav_up - nav_before)) <= D("0.01"), (moved, tokens * (nav_up - nav_before))
    assert signed_usd("Cost:", second) == signed_usd("Cost:", first)  # the cost basis does not move with the price

    # -- a stop-loss below the price; the price falls through; it fires once and the user is told -------------
    line = (nav_up * D("0.95")).quantize(D("0.01"))
    set_ = await chat.say(f"/stop MAG7 50% below {line} {PIN}", "Order #")
    assert "stop-loss: sell 50% of MAG7.ssi" in set_, set_
    [order] = await app.services.limit_orders.rows.of_user(uid)
    book = app.services.limit_orders
    app.head.start()
    book.watch(app.head)  # as `indexbot run` and `chat` do: every open order checked at each new block
    cash = await token_balance(app, usdc.address, address)
    await price("BTC", await btc_for(app, line * D("0.9")))
    [told] = await chat.told(f"Order #{order.id} triggered")
    assert "stop-loss: sell 50% of MAG7.ssi" in told and "sold " in told and "Confirmed in block" in told, told
    assert await token_balance(app, mag7.address, address) == held - held // 2
    await mine_blocks(app, 5)  # still below the line, block after block
    await head_at_latest(app)
    assert (await book.check()).triggered == 0
    ended = await book.rows.get(order.id)
    assert ended is not None and ended.state == "filled"
    assert [f.kind for f in await app.services.ledger.rows.all(uid)] == ["buy", "sell"]  # one sale, not two
    assert await token_balance(app, mag7.address, address) == held - held // 2
    await chat.say("/limits", "no open orders")  # anything else queued for the chat would have come before this
    # the sale realized what the chain paid for half the tokens, less its gas, less half the cost basis
    proceeds = D(await token_balance(app, usdc.address, address) - cash) / 10**usdc.decimals
    sold = (await app.services.ledger.rows.all(uid))[1]
    realized = proceeds - sold.gas_usd - (fill.usd + fill.gas_usd) * (held // 2) / held
    assert abs(signed_usd("Realized:", await chat.say("/positions", "Realized:")) - realized) <= D("0.01"), realized
    assert len(await chat.told(f"Order #{order.id} triggered")) == 1

    # -- share MAG7's quote card; a friend starts from its invite; the sharer is credited ------------------------
    code = await app.services.points.referrals.code_of(uid)
    card = await chat.share()
    assert "NAV $" in card and code in card, card
    welcome = await chat.friend_starts(card)
    assert "You joined through a friend's invite" in welcome, welcome
    referrals = await chat.say("/referrals", "Friends joined:")
    assert "Friends joined: 1 · active (holding an index): 0" in referrals, referrals

    # -- MAG7's reserves: each constituent of the tokenset read on chain, fully backed ---------------------------
    reserves = await chat.say("/reserves MAG7", "proof of reserves")
    async with connect(app.profile.rpc_urls[0]) as w3:
        tokenset = await op.read_tokenset(w3, mag7.address)
    assert all(f"  {e.symbol}: 100%\n    holds " in reserves for e in tokenset), reserves
    assert number(r"Backing: (\d+(?:\.\d+)?)%", reserves) == 100
