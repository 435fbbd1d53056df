"""The issuance venue's "done" on Discord: a new user in a DM buys the stock index (MAG7.nex, issued by a factory
that fills only while its market is open) outside market hours, sees it pending with the expected completion time
in their own time zone, and the same message is edited with the completion once the devnet market opened.

Everything Discord-side runs through the real discord.py code paths of tests/test_discord.py (constructed gateway
payloads, REST on the loopback `FakeDiscord`); the chain side is tests/auxil/issuance.py's `hours_app`, whose
App this module hands to the conftest's `frontend` fixture by overriding `app`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bot.frontends.adapters.discord import DiscordFrontend
from bot.app import App
from bot.core.request import Request
from devnet.fulfil import Fulfiller
from devnet.harness import Devnet
from devnet.operator import advance
from discord_fake import DM_CHANNEL_ID, Call, FakeDiscord, dispatched, message_dict
from auxil.issuance import chain_now, hours_app, mag7_nex, next_utc_midnight, steps  # noqa: F401  (hours_app: a fixture)
from auxil.discord import ALICE, dm_press, dm_slash, last_sent, shown
from auxil.trading import token_balance

ZONE = "Asia/Tokyo"  # UTC+9 all year: the market's 00:00 UTC open is 9:00 AM there, on the same date
QUOTE_ID = 930000000000777001  # the id Discord gave the quote message the user presses Confirm on
PENDING_ID = 930000000000777002


@pytest.fixture
def app(hours_app: tuple[App, Fulfiller]) -> App:
    """The bot of `hours_app` (market hours of the test's choosing), for the conftest's `frontend`."""
    return hours_app[0]


@pytest.fixture
async def dm(app: App, frontend: DiscordFrontend, rest: FakeDiscord) -> AsyncIterator[DiscordFrontend]:
    """The adapter attached for notices as `indexbot run` does it, with ALICE's DM channel known to the fake."""
    rest.open_dm(DM_CHANNEL_ID, ALICE)
    app.notices.attach(frontend)
    try:
        yield frontend
    finally:
        await app.notices.detach(frontend)


async def typed_in_dm(front: DiscordFrontend, rest: FakeDiscord, text: str) -> Call:
    """ALICE types `text` (a `!` prefix command) in her DM with the bot; the bot's reply."""
    payload = message_dict(text, ALICE, DM_CHANNEL_ID)
    await dispatched(lambda: front.bot._connection.parse_message_create(payload))  # type: ignore[arg-type]
    return last_sent(rest)


async def edit_of(rest: FakeDiscord, message_id: int, contains: str, timeout: float = 10) -> Call:
    """The outbox's edit (PATCH) of the bot's message `message_id` in the DM whose text has `contains`."""
    path = f"/channels/{DM_CHANNEL_ID}/messages/{message_id}"
    for _ in range(int(timeout / 0.05)):
        edits = [c for c in rest.where("PATCH", path) if contains in shown(c.content)]
        if edits:
            return edits[-1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no edit of {path} with {contains!r}: {[c.content for c in rest.where('PATCH', path)]}")


async def new_wallet(front: DiscordFrontend, rest: FakeDiscord) -> str:
    """`/wallet new` and `/faucet` in the DM; the address the bot showed."""
    created = await dm_slash(front, rest, "wallet", action="new")
    await dm_slash(front, rest, "pin", pin="4821")  # the next step it asks for
    found = re.search(r"0x[0-9a-fA-F]{40}", created.content)
    assert found is not None and "Your new wallet" in shown(created.content), created.content
    assert "10,000 USDC" in shown((await dm_slash(front, rest, "faucet")).content)
    return found.group(0)


def local_open(now: int) -> str:
    """How the next UTC midnight reads in ZONE for an English reader (Babel's medium date and short time, to the minute)."""
    opens = next_utc_midnight(now)
    return f"{opens:%b} {opens.day}, {opens.year}, 9:00 AM {ZONE}"


def plain(text: str) -> str:
    return shown(text).replace("\u202f", " ")  # Babel puts a narrow no-break space before AM


@pytest.mark.parametrize("hours_app", ["closed"], indirect=True)
async def test_new_user_in_a_discord_dm_buys_while_closed_and_is_told_when_it_fills(
        hours_app: tuple[App, Fulfiller], chain: Devnet, dm: DiscordFrontend, rest: FakeDiscord) -> None:
    """/wallet new, /faucet, /timezone; `!buy mag7 100` quotes the home chain's MAG7.ssi, MAG7.nex offered; its quote says the market is closed
    until 9:00 AM Asia/Tokyo; Confirm shows the request pending until then; past the open one fulfilment step and
    one orders check edit that same message (PATCH, no new message) with the amount received; /orders lists it
    filled, without a Cancel button."""
    app, fulfiller = hours_app
    address = await new_wallet(dm, rest)
    set_zone = await dm_slash(dm, rest, "timezone", zone=ZONE)
    assert f"Time zone set to {ZONE}" in shown(set_zone.content), set_zone.content

    # /buy's `index` is autocompleted with each tradable index and its chain (Router.suggest); a bare symbol typed
    # anyway (here as a `!` command: the DM delivers message text) is the home chain's, the other chain's offered.
    index = next(p for p in dm.bot.tree.get_command("buy").parameters if p.name == "index")  # type: ignore[union-attr]
    assert index.autocomplete and not index.choices
    request = Request(platform="discord", user_id="1", chat_id="1", chat_type="private", locale="en-US", command="buy")
    offered = await app.router.suggest(request, 0, "mag7")
    assert offered == [("MAG7.ssi · Base", "MAG7.ssi"), ("MAG7.nex · Ethereum", "MAG7.nex")]
    assert len(await app.router.suggest(request, 0, "")) == len(app.services.all_indexes)  # every index of both chains
    asked = await typed_in_dm(dm, rest, "!buy mag7 100")
    assert "Buy quote: MAG7.ssi" in shown(asked.content), asked.content
    assert [b["label"] for row in asked.body["components"] for b in row["components"]] == ["Confirm", "Cancel", "Limit…",
                                                                                          "MAG7.nex on Ethereum"]

    now = await chain_now(chain)
    quote = await dm_press(dm, rest, asked, "MAG7.nex on Ethereum")
    text = plain(quote.content)
    assert "Issue MAG7.nex on Ethereum" in text and f"The market is closed: requests wait until it opens, {local_open(now)}" in text, text
    pending = await dm_press(dm, rest, quote, "Confirm", message_id=QUOTE_ID)
    text = plain(pending.content)
    assert "Issuance request #2 sent: 100 USDC for MAG7.nex. It is pending" in text, text
    assert f"expected to complete when it opens, {local_open(now)}." in text, text
    shown_buttons = [b["label"] for row in pending.body.get("data", pending.body).get("components") or [] for b in row["components"]]
    assert shown_buttons == ["🏠 Home"]  # no stale Confirm on the pending message: Home alone, to go on by tapping
    token, _ = mag7_nex(app)
    assert await token_balance(app, token, address) == 0

    assert await steps(fulfiller) == []  # closed: nothing fills, nothing is told
    assert await app.services.issuance.orders.check() == 0  # type: ignore[union-attr]
    await advance(chain.url, int(next_utc_midnight(now).timestamp()) - now + 60)  # past the open
    assert await steps(fulfiller) == ["MAG7.nex issuance 2"]
    mark = len(rest.calls)
    assert await app.services.issuance.orders.check() == 1  # type: ignore[union-attr]
    done = await edit_of(rest, QUOTE_ID, "Issuance #2 completed")
    received = re.search(r"received ([\d.,]+) MAG7\.nex for 100 USDC", plain(done.content))
    assert received is not None, done.content
    held = Decimal(await token_balance(app, token, address)).scaleb(-18)
    assert held > 0 and abs(Decimal(received.group(1).replace(",", "")) - held) <= held / 10_000, (received.group(1), held)
    assert done.custom_ids == [] and [c.method for c in rest.calls[mark:] if c.method in ("POST", "PATCH")] == ["PATCH"]
    assert await app.services.issuance.orders.check() == 0  # type: ignore[union-attr]  # told once, in place

    listed = await dm_slash(dm, rest, "orders")
    text = plain(listed.content)
    assert f"✅ #2 USDC → MAG7.nex\n  paid 100\n  received {received.group(1)}" in text, text
    assert listed.custom_ids == [] and "⏳" not in text


@pytest.mark.parametrize("hours_app", ["closed"], indirect=True)
async def test_pending_order_cancelled_from_orders_in_a_discord_dm(
        hours_app: tuple[App, Fulfiller], dm: DiscordFrontend, rest: FakeDiscord) -> None:
    """A pending request has Cancel in /orders; the press answers with the refund, the USDC is back on chain, the
    pending message is edited to say so, and /orders then lists it cancelled with no button."""
    app, fulfiller = hours_app
    address = await new_wallet(dm, rest)
    usdc = app.profile.usdc.address
    before = await token_balance(app, usdc, address)
    quote = await dm_slash(dm, rest, "buy", index="MAG7.nex", amount="300")  # the value of the slash choice
    assert "Issue MAG7.nex on Ethereum" in shown(quote.content), quote.content
    pending = await dm_press(dm, rest, quote, "Confirm", message_id=PENDING_ID)
    assert "Issuance request #2 sent: 300 USDC" in shown(pending.content), pending.content
    assert await token_balance(app, usdc, address) == before - 300 * 10**6

    listed = await dm_slash(dm, rest, "orders")
    assert "⏳ #2 USDC → MAG7.nex\n  paid 300\n  requested " in shown(listed.content), listed.content
    cancelled = await dm_press(dm, rest, listed, "Cancel #2 (MAG7.nex)")
    told = "Issuance request #2 cancelled: 300 USDC returned to your wallet."
    assert told in shown(cancelled.content), cancelled.content
    assert await token_balance(app, usdc, address) == before
    assert told in shown((await edit_of(rest, PENDING_ID, "cancelled")).content)  # the pending message says so too
    again = await dm_slash(dm, rest, "orders")
    assert "✖ #2 USDC → MAG7.nex\n  paid 300\n  cancelled" in shown(again.content) and again.custom_ids == []
    assert await steps(fulfiller) == []
