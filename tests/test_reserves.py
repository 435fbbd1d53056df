"""Proof of reserves on the real devnet: `/reserves MAG7` shows the basket (`getBasket()`) against total supply ×
tokenset per constituent and in USD, with the backing and the block, read in one call at one block; after
`indexbot devnet shortfall` (devnet.operator.shortfall) takes part of the basket away it shows the lower ratio, and
holders who switched the `reserves` alert on in /alerts are told once per crossing (again only after it recovered
and fell again); holders who did not are told nothing. Telegram runs through python-telegram-bot against the Bot
API emulator, Discord through discord.py against the loopback REST fake, the console line by line; the alert job's
coroutine (`ReservesWatcher.check`) is called directly."""

from __future__ import annotations

import argparse
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from auxil.alerts import reserves_watcher
from auxil.catalog import text as line
from auxil.issuance import hours_app  # noqa: F401  (a fixture: the bot with the stock index's chain beside Base)
from auxil.console import console_lines
from auxil.discord import dm_slash, shown
from auxil.telegram import ask, press_and_wait_edit, text_of as said, to_chat
from auxil.trading import custodial_user, say
from bot.app import App
from bot.core.messages import Msg
from bot.frontends.adapters.discord import DiscordFrontend
from bot.frontends.adapters.telegram import TelegramFrontend
from devnet import cli
from devnet import operator as op
from devnet.fulfil import Fulfiller
from devnet.harness import Devnet
from devnet.rpc import Sender, connect, contract
from discord_fake import DM_CHANNEL_ID, FakeDiscord
from telegram_emulator import BotApiEmulator

MAG7 = "MAG7.ssi"
CONSTITUENTS = ("BTC", "ETH", "BNB", "SOL", "XRP", "DOGE", "ADA")


async def give(app: App, address: str, whole: int = 2) -> None:
    """The deployer sends `whole` MAG7 to `address`: a holder."""
    ref = app.profile.index(MAG7)
    async with connect(app.profile.rpc_urls[0]) as w3:
        await Sender(w3, chain_id=app.profile.chain_id).transact(
            contract(w3, "AssetToken", ref.token.address).functions.transfer(address, whole * 10**8))


async def short_by(app: App, percent: str) -> None:
    await op.shortfall(app.profile, MAG7, Decimal(percent))
    await app.head.poll_once()  # the bot's next read is at the block after the change


def backing_of(text: str) -> str:
    found = re.search(r"Backing: (\d+(?:\.\d+)?%)", text)
    assert found is not None, text
    return found.group(1)


async def reserve_alerts(app: App) -> list[tuple[str, int]]:
    rows = await app.db.fetch_all("SELECT dedupe, user_id FROM outbox WHERE kind = 'reserves' ORDER BY id")
    return [(str(r[0]), int(r[1])) for r in rows]


async def test_the_console_shows_full_backing_then_the_shortfall_and_tells_opted_in_holders_once(app: App) -> None:
    typed = console_lines(app, "alice")
    assert "/reserves" in await typed("/help")
    full = await typed("/reserves MAG7")
    assert "MAG7.ssi: proof of reserves" in full
    assert backing_of(full) == "100%"
    for symbol in CONSTITUENTS:  # each constituent, held against owed, 100 % each
        assert re.search(rf"{symbol}: 100%\n    holds [\d.,]+\n    owed [\d.,]+\n    ≈ \$[\d.,]+", full), (symbol, full)
    assert re.search(r"Computed at block \d+\.", full)
    assert "Daily fee" in full and "not a shortfall" in full  # the fee's share named, whatever it is today

    opted, _ = await custodial_user(app, "opted")
    other, _ = await custodial_user(app, "other")
    for user, address in ((opted, await app.services.wallets.address_of(opted)),
                          (other, await app.services.wallets.address_of(other))):
        await give(app, address)
    await say(app, "/help", "opted")  # both wrote privately: the bot may write back
    await say(app, "/help", "other")
    switched = (await say(app, "/alerts reserves on", "opted")).rendered.text
    assert line(app, "alerts.kind.on", kind=Msg("alerts.kind.reserves")) in switched
    watcher = reserves_watcher(app)
    assert await watcher.check() == 0  # fully backed: nothing to say

    await short_by(app, "5")
    lower = await typed("/reserves MAG7")
    assert backing_of(lower) == "95%" and "5% below 100%" in lower, lower
    assert await watcher.check() == 1
    assert await watcher.check() == 0  # once per crossing, not every check
    ((key, told),) = await reserve_alerts(app)
    assert told == opted and key == f"reserves:{app.profile.index(MAG7).token.address}:1:{opted}"

    await short_by(app, "0")  # recovered: nothing to say, but the next fall is news again
    assert backing_of(await typed("/reserves MAG7")) == "100%"
    assert await watcher.check() == 0
    await short_by(app, "3")
    assert await watcher.check() == 1
    assert [u for _, u in await reserve_alerts(app)] == [opted, opted]


@pytest.mark.parametrize(
    ("typed", "key", "params"),
    [
        ("/reserves", "error.reserves.missing", {"valid": "MAG7.ssi, MEME.ssi, DEFI.ssi, USSI"}),
        ("/reserves NOPE", "error.index.unknown", {"value": "NOPE", "valid": "MAG7.ssi, MEME.ssi, DEFI.ssi, USSI"}),
        ("/reserves MAG7 now", "error.args.extra", {"usage": Msg("usage.reserves")}),
    ],
)
async def test_bad_input_says_what_is_valid_and_changes_nothing(app: App, typed: str, key: str, params: dict) -> None:
    before = app.chain.method_counts().get("eth_call", 0)
    reply = await say(app, typed, "bad")
    assert reply.rendered.text == line(app, key, **params)
    assert await app.db.fetch_one("SELECT 1 FROM reserve_state") is None
    assert app.chain.method_counts().get("eth_call", 0) == before  # refused before any read


async def test_an_index_issued_by_a_factory_has_no_basket_and_says_so(hours_app: tuple[App, Fulfiller]) -> None:
    app, _ = hours_app
    reply = await say(app, "/reserves MAG7.nex", "bad")
    assert reply.rendered.text == line(app, "error.reserves.no_basket", index="MAG7.nex",
                                       valid="MAG7.ssi, MEME.ssi, DEFI.ssi, USSI")
    assert "MAG7.ssi: proof of reserves" in (await say(app, "/reserves MAG7", "bad")).rendered.text  # the pool one


async def test_telegram_reserves_from_the_index_screen_and_the_alert_once(app: App, chain: Devnet, emulator: BotApiEmulator,
                                                                          telegram: TelegramFrontend) -> None:
    holder, bystander = 8901, 8902
    menus = emulator.calls_to("setMyCommands")  # the command menus, in every language, list it
    assert menus and all("reserves" in [c["command"] for c in call.params["commands"]] for call in menus)
    screen = await ask(emulator, holder, holder, "/indexes MAG7")
    shown_ = said(await press_and_wait_edit(emulator, holder, screen, "Reserves"))
    assert shown_.startswith("<b>MAG7.ssi: proof of reserves</b>") and backing_of(shown_) == "100%"
    assert all(f"  {s}: 100%\n    holds " in shown_ for s in CONSTITUENTS)
    for user in (holder, bystander):
        address = re.search(r"0x[0-9a-fA-F]{40}", said(await ask(emulator, user, user, "/wallet new")))
        assert address is not None
        await give(app, address.group(0))
    await ask(emulator, holder, holder, "/alerts reserves on")

    await short_by(app, "5")
    assert backing_of(said(await ask(emulator, holder, holder, "/reserves MAG7"))) == "95%"
    since = emulator.mark()
    assert await reserves_watcher(app).check() == 1
    alert = await emulator.wait_for("sendMessage", to_chat(holder, "backing fell to 95%"), since=since)
    assert "/reserves MAG7.ssi" in said(alert)
    assert await reserves_watcher(app).check() == 0
    await ask(emulator, bystander, bystander, "/help")  # anything queued for the bystander would be sent by now
    assert not [c for c in emulator.calls_to("sendMessage") if c.chat_id == bystander and "backing" in c.params["text"]]


async def test_discord_reserves_and_the_alert_in_a_dm(app: App, frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    app.notices.attach(frontend)  # the outbox sends through it, as `indexbot run` attaches it
    full = shown((await dm_slash(frontend, rest, "reserves", index="MAG7.ssi")).content)
    assert full.startswith("**MAG7.ssi: proof of reserves**") and backing_of(full) == "100%"
    assert all(f"  {s}: 100%\n    holds " in full for s in CONSTITUENTS)
    address = re.search(r"0x[0-9a-fA-F]{40}", (await dm_slash(frontend, rest, "wallet", action="new")).content)
    assert address is not None
    await give(app, address.group(0))
    await dm_slash(frontend, rest, "alerts", setting="reserves", value="on")

    await short_by(app, "5")
    assert backing_of(shown((await dm_slash(frontend, rest, "reserves", index="MAG7.ssi")).content)) == "95%"
    assert await reserves_watcher(app).check() == 1
    told = await rest.wait_for(lambda c: c.method == "POST" and "/messages" in c.path and "backing fell to" in c.content)
    assert shown(told.content).startswith("**⚠️ MAG7.ssi backing fell to 95%**"), told
    assert told.path == f"/channels/{DM_CHANNEL_ID}/messages"  # in her DM
    assert await reserves_watcher(app).check() == 0
    await app.notices.detach(frontend)


async def test_the_devnet_cli_takes_part_of_a_basket_away_and_gives_it_back(app: App, chain: Devnet, tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch,
                                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """`indexbot devnet shortfall MAG7 5` on the session's devnet (its profile copied into a home; the check that
    this home's own anvil runs stood in for), bad input refused with nothing written, and `0` restoring."""
    shutil.copy(chain.profile_path, tmp_path / "profile.toml")
    monkeypatch.setattr(cli, "_running", lambda paths: {"pid": 0, "port": 0})
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))

    async def run(*argv: str) -> int:
        return await cli.main(parser.parse_args(["devnet", "--home", str(tmp_path), "shortfall", *argv]))

    for bad in (("mag7", "ten"), ("mag7", "100"), ("mag7", "-1"), ("mag7", "nan"), ("NOPE", "5")):
        assert await run(*bad) == 2, bad
        assert capsys.readouterr().out.startswith("error: ")
        await app.head.poll_once()
        assert backing_of((await say(app, "/reserves MAG7", "op")).rendered.text) == "100%"
    assert await run("mag7", "2.5%") == 0
    assert capsys.readouterr().out.startswith("MAG7.ssi: basket now 2.5% short of what its supply is owed")
    await app.head.poll_once()
    assert backing_of((await say(app, "/reserves MAG7", "op")).rendered.text) == "97.5%"
    assert await run("mag7", "0") == 0
    assert capsys.readouterr().out.startswith("MAG7.ssi: basket now fully backed again")
    await app.head.poll_once()
    assert backing_of((await say(app, "/reserves MAG7", "op")).rendered.text) == "100%"


async def test_a_rebalance_in_progress_is_noted_and_not_judged_until_it_ends(app: App) -> None:
    user, address = await custodial_user(app, "during")
    await give(app, address)
    await say(app, "/alerts reserves on", "during")
    watcher = reserves_watcher(app)
    asset = app.profile.index(MAG7).token.address
    await short_by(app, "5")
    async with connect(app.profile.rpc_urls[0]) as w3:
        await Sender(w3, chain_id=app.profile.chain_id).transact(contract(w3, "AssetToken", asset).functions.startRebalance())
    await app.head.poll_once()
    text = (await say(app, "/reserves MAG7", "during")).rendered.text
    assert line(app, "reserves.rebalancing") in text and backing_of(text) == "95%"
    assert await watcher.check() == 0  # the basket moves before the tokenset during a rebalance: not judged
    async with connect(app.profile.rpc_urls[0]) as w3:
        await Sender(w3, chain_id=app.profile.chain_id).transact(contract(w3, "AssetToken", asset).functions.endRebalance())
    await app.head.poll_once()
    assert line(app, "reserves.rebalancing") not in (await say(app, "/reserves MAG7", "during")).rendered.text
    assert await watcher.check() == 1
    assert [u for _, u in await reserve_alerts(app)] == [user]


async def test_a_crash_between_telling_and_recording_tells_nobody_twice(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    user, address = await custodial_user(app, "crash")
    await give(app, address)
    await say(app, "/alerts reserves on", "crash")
    watcher = reserves_watcher(app)
    await short_by(app, "5")
    rows = watcher._rows

    async def crash(*_: object) -> bool:
        raise RuntimeError("the process died here")

    monkeypatch.setattr(rows, "move", crash)
    with pytest.raises(RuntimeError):
        await watcher.check()
    monkeypatch.undo()
    assert await watcher.check() == 0  # told again under the same key: the outbox keeps the first
    assert await watcher.check() == 0
    assert [u for _, u in await reserve_alerts(app)] == [user]
    assert await app.db.fetch_one("SELECT short, crossings FROM reserve_state") == (1, 1)
