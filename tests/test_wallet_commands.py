"""/wallet, /pin and /faucet through the real router on the devnet: replies, secrets kept out of groups,
logs and replies, and balances that match the chain read independently."""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal

import pytest
from eth_account import Account
from web3 import AsyncWeb3
from web3.providers.rpc import AsyncHTTPProvider

from bot.app import App
from bot.core.router import Router
from bot.i18n import Catalogs
from bot.storage.repositories import ButtonRows
from bot.storage.wallets import PinRows, WalletRows
from handlers import register_all
from wallets.custodial import SECP256K1_N, CustodialWallets
from wallets.keystore import Keystore
from wallets.pin import PinGuard
from auxil.catalog import starts
from auxil.requests import CHAT_PER_TYPE

say, press = CHAT_PER_TYPE.say, CHAT_PER_TYPE.click  # each user writes from a chat named for them and its type

CATALOGS = Catalogs()
EN, ZH = CATALOGS.entries["en"], CATALOGS.entries["zh_CN"]
KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
ADDRESS = Account.from_key(KEY).address
ERC20_BALANCE = [{"name": "balanceOf", "type": "function", "stateMutability": "view",
                  "inputs": [{"name": "a", "type": "address"}], "outputs": [{"name": "", "type": "uint256"}]}]


async def uid(app: App, user: str = "u1") -> int:
    return (await app.services.users.seen("console", user)).id


async def wallet_count(app: App) -> int:
    row = await app.db.fetch_one("SELECT COUNT(*) FROM wallets")
    return int(row[0]) if row else -1


BAD_IMPORTS = [
    ("/wallet import", "error.key.missing"),
    ("/wallet import zz", "error.key.format"),
    ("/wallet import 0x" + "g" * 64, "error.key.format"),
    ("/wallet import 0x1234", "error.key.length"),
    ("/wallet import " + KEY + "00", "error.key.length"),
    ("/wallet import " + "0" * 64, "error.key.zero"),
    ("/wallet import " + f"{SECP256K1_N:064x}", "error.key.range"),
    ("/wallet import 0x" + "f" * 64, "error.key.range"),
    ("/wallet import " + KEY + " extra", "error.args.extra"),
    ("/wallet import extra " + KEY, "error.args.extra"),
]


@pytest.mark.parametrize(("text", "key"), BAD_IMPORTS, ids=[k + ":" + t[15:27] for t, k in BAD_IMPORTS])
async def test_bad_imports_are_explained_deleted_and_change_nothing(app: App, text: str, key: str) -> None:
    out = await say(app, text)
    assert out.rendered.text.startswith(starts(key)), out.rendered.text
    carries_something = len(text.split()) > 2
    assert out.rendered.delete_request == carries_something  # a message carrying (what may be) a key goes away
    for word in text.split()[2:]:
        assert word not in out.rendered.text  # never echoed
    assert await wallet_count(app) == 0


async def test_import_then_show_then_refuse_a_second_wallet(app: App) -> None:
    out = await say(app, "/wallet import " + KEY[2:].upper())
    assert out.rendered.text.startswith(EN["wallet.imported"]) and ADDRESS in out.rendered.text
    assert out.rendered.delete_request and KEY[2:] not in out.rendered.text.lower()
    assert await app.services.wallets.address_of(await uid(app)) == ADDRESS
    again = await say(app, "/wallet new")
    assert again.rendered.text.startswith(starts("error.wallet.exists")) and "/wallet remove" in again.rendered.text
    shown = await say(app, "/wallet")
    assert shown.rendered.text.startswith(EN["wallet.title"]) and ADDRESS in shown.rendered.text
    assert await wallet_count(app) == 1


async def test_no_wallet_offers_to_create_one(app: App) -> None:
    out = await say(app, "/wallet")
    assert out.rendered.text.startswith(EN["wallet.none"])
    created = await press(app, out, EN["button.wallet_new"])
    assert created.rendered.text.startswith(EN["wallet.created"])
    address = await app.services.wallets.address_of(await uid(app))
    assert address is not None and address in created.rendered.text


GROUP_CASES = [
    ("/wallet import " + KEY, "secret.public.key", True),
    ("/wallet " + KEY, "secret.public.key", True),
    ("/wallet export 1357", "secret.public.pin", True),
    ("/wallet remove 1357", "secret.public.pin", True),
    ("/pin 1357", "secret.public.pin", True),
    ("/pin 1357 2468", "secret.public.pin", True),
    ("/wallet", "error.private_only", False),
    ("/wallet new", "error.private_only", False),
    ("/wallet import", "error.private_only", False),
    ("/pin", "error.private_only", False),
]


@pytest.mark.parametrize(("text", "key", "deleted"), GROUP_CASES, ids=[t[:22] for t, _, _ in GROUP_CASES])
async def test_secrets_in_a_group_are_deleted_and_nothing_changes(app: App, text: str, key: str, deleted: bool) -> None:
    out = await say(app, text, chat_type="group")
    assert out.rendered.text.startswith(starts(key)), out.rendered.text
    assert out.rendered.delete_request is deleted
    assert KEY[2:] not in out.rendered.text and "1357" not in out.rendered.text
    assert await wallet_count(app) == 0
    assert await app.db.fetch_one("SELECT 1 FROM pins") is None


async def test_export_needs_the_pin_and_is_deleted_after_60_seconds(app: App) -> None:
    await say(app, "/wallet import " + KEY)
    no_pin = await say(app, "/wallet export 1357")
    assert no_pin.rendered.text.startswith(starts("error.pin.required")) and no_pin.rendered.delete_request
    assert (await say(app, "/pin 1357")).rendered.text == EN["pin.set"]
    wrong = await say(app, "/wallet export 2468")
    assert wrong.rendered.text == EN["error.pin.wrong"].format(count=4) and KEY[2:] not in wrong.rendered.text
    out = await say(app, "/wallet export 1357")
    assert KEY in out.rendered.text
    assert out.rendered.delete_after == 60 and out.rendered.delete_request
    asked = await say(app, "/wallet export")  # alone: the PIN is asked (tests/test_prompts.py answers it)
    assert asked.rendered.text == EN["wallet.export.ask"] and asked.rendered.ask is not None and asked.rendered.ask.secret
    assert (await say(app, "/wallet export 1357 1357")).rendered.text.startswith(starts("error.args.extra"))


NO_PIN_YET = ["/buy MAG7.ssi 10", "/sell MAG7.ssi 1", "/stake MAG7 1", "/unstake MAG7 1", "/claim MAG7", "/boost add 1",
              "/wallet export 1357", "/withdraw usdc 1 0x" + "ab" * 20 + " 1357", "/dca MAG7.ssi 10 daily at 09:00 1357"]


@pytest.mark.parametrize("how", ["/wallet new", "/wallet import " + KEY])
async def test_a_new_or_imported_wallet_asks_for_a_pin_and_cannot_trade_or_export_without_one(app: App, how: str) -> None:
    created = (await say(app, how)).rendered.text
    assert EN["wallet.pin_next"] in created and "/pin <4 to 8 digits>" in created, created
    assert created.index(EN["wallet.pin_next"]) < created.index(starts("wallet.deposit"))  # the next step, first
    address = await app.services.wallets.address_of(await uid(app))
    assert address is not None and app.services.faucet is not None
    await say(app, "/faucet")
    for text in NO_PIN_YET:
        refused = await say(app, text)
        assert refused.rendered.text == EN["error.pin.required"], (text, refused.rendered.text)
        assert [b.label for row in refused.rendered.buttons for b in row] == [EN["button.pin_set"]], text  # the remedy
    asked = await press(app, refused, EN["button.pin_set"])  # tapped from the refusal: the PIN's first question
    assert asked.rendered.text == EN["pin.ask.new"].format(min=4, count=8) and asked.rendered.ask is not None
    assert (await press(app, asked, EN["button.cancel"])).rendered.text == EN["prompt.cancelled"]  # /pin typed below
    assert not await app.db.fetch_all("SELECT id FROM intents")
    assert (await say(app, "/wallet new", locale="zh_CN")).rendered.text.startswith(starts("error.wallet.exists", ZH))
    assert (await say(app, "/buy MAG7.ssi 10", locale="zh_CN")).rendered.text == ZH["error.pin.required"]

    assert (await say(app, "/pin 1357")).rendered.text == EN["pin.set"]
    assert "Confirm within" in (await say(app, "/buy MAG7.ssi 10")).rendered.text
    await say(app, "/wallet remove 1357")
    again = (await say(app, "/wallet new")).rendered.text  # a PIN already: nothing more to choose
    assert EN["wallet.pin_next"] not in again and again.startswith(EN["wallet.created"]), again


async def test_pin_commands(app: App) -> None:
    assert (await say(app, "/pin")).rendered.text == EN["pin.ask.new"].format(min=4, count=8)  # alone: asked
    assert (await say(app, "/pin 12")).rendered.text == EN["error.pin.length"].format(min=4, count=8)
    assert (await say(app, "/pin 1234")).rendered.text == EN["error.pin.weak"]
    assert (await say(app, "/pin 1357 2468")).rendered.text == EN["pin.mismatch"]  # no PIN yet: new and repeat
    assert (await say(app, "/pin 1234 1234")).rendered.text == EN["error.pin.weak"]
    assert not await app.services.pins.has_pin(await uid(app))
    chosen = (await say(app, "/pin 1357 1357")).rendered
    assert chosen.text == EN["pin.set"] and chosen.delete_request
    assert (await say(app, "/pin 2468")).rendered.text.startswith(starts("error.pin.exists"))
    assert (await say(app, "/pin")).rendered.text == EN["pin.ask.current"]
    assert (await say(app, "/pin 9999 2468")).rendered.text.startswith(starts("error.pin.wrong"))
    assert (await say(app, "/pin 1357 2468")).rendered.text == EN["pin.changed"]
    assert (await say(app, "/pin 1 2 3")).rendered.text.startswith(starts("error.args.extra"))
    await app.services.pins.check_pin(await uid(app), "2468")


async def test_keys_never_reach_logs_or_replies(app: App, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await say(app, "/wallet import " + KEY)
    await say(app, "/pin 1357")
    exported = await say(app, "/wallet export 1357")
    await say(app, "/wallet export 2468")
    await say(app, "/wallet import " + KEY)  # refused: a wallet exists
    await say(app, "/wallet import " + KEY, chat_type="group")
    await say(app, "/wallet remove 1357")
    created = await say(app, "/wallet new")
    await say(app, "/wallet export 1357")
    address = await app.services.wallets.address_of(await uid(app))
    assert address is not None and address in created.rendered.text
    new_key = (await app.services.wallets.export(await uid(app), "1357"))[2:]
    account = await app.services.wallets.account(await uid(app))
    logged = caplog.text.lower()
    assert logged  # something was logged (wallets stored), just never a key
    for key in (KEY[2:], new_key):
        assert key not in logged and key not in repr(account).lower()
    assert KEY in exported.rendered.text


async def test_no_master_key_refuses_custodial_commands(app: App) -> None:
    keystore = Keystore([])
    pins = PinGuard(PinRows(app.db), keystore)
    services = replace(app.services, wallets=CustodialWallets(WalletRows(app.db), keystore, pins), pins=pins)
    router = Router(services.users, ButtonRows(app.db), services.catalogs)
    register_all(router, services)
    for text in ("/wallet new", "/wallet import " + KEY, "/pin 1357"):
        out = await say(router, text)
        assert out.rendered.text == EN["error.wallet.no_master_key"], text
    assert await wallet_count(app) == 0


async def test_faucet_exists_only_with_a_faucet(app: App) -> None:
    assert "faucet" in app.router.commands  # the devnet app
    router = Router(app.services.users, ButtonRows(app.db), app.services.catalogs)
    register_all(router, replace(app.services, faucet=None))
    assert "faucet" not in router.commands and "wallet" in router.commands
    assert (await say(router, "/faucet")).rendered.text.startswith(starts("error.command.unknown"))


async def test_faucet_without_a_wallet(app: App) -> None:
    assert (await say(app, "/faucet")).rendered.text == EN["error.wallet.none"]


async def test_wallet_balances_after_the_faucet_match_the_chain(app: App) -> None:
    created = await say(app, "/wallet new")
    address = await app.services.wallets.address_of(await uid(app))
    assert address is not None and address in created.rendered.text
    funded = await say(app, "/faucet")
    assert funded.rendered.text == EN["faucet.sent.soso"].format(eth="1", usdc="10,000", soso="1,000", address=address)
    # some index tokens and SOSO too, so every kind of line shows
    from devnet.rpc import Sender, connect, contract

    mag7 = app.profile.indexes[0]
    soso = app.profile.soso
    assert soso is not None
    async with connect(app.profile.rpc_urls[0]) as w3:
        sender = Sender(w3, chain_id=app.profile.chain_id)
        await sender.transact(contract(w3, "AssetToken", mag7.token.address).functions.mint(address, 250_000_000))
        await sender.transact(contract(w3, "TestToken", soso.address).functions.mint(address, 7 * 10**soso.decimals))

    w3 = AsyncWeb3(AsyncHTTPProvider(app.profile.rpc_urls[0]))
    eth_wei = await w3.eth.get_balance(address)  # type: ignore[arg-type]
    usdc_units = await w3.eth.contract(address=app.profile.usdc.address, abi=ERC20_BALANCE).functions.balanceOf(address).call()  # type: ignore[call-overload]
    mag7_units = await w3.eth.contract(address=mag7.token.address, abi=ERC20_BALANCE).functions.balanceOf(address).call()  # type: ignore[call-overload]
    assert (eth_wei, usdc_units, mag7_units) == (10**18, 10_000 * 10**app.profile.usdc.decimals, 250_000_000)

    balances = await app.services.balances.read(address)
    assert balances.of("ETH").units == eth_wei and balances.of("ETH").amount == Decimal(1)
    assert balances.of(app.profile.usdc.symbol).units == usdc_units
    assert balances.of(app.profile.usdc.symbol).usd == Decimal(10_000)
    snap = await app.services.market.snapshot()
    assert balances.of(mag7.symbol).usd == Decimal("2.5") * snap.indexes[mag7.symbol].nav
    soso_price = snap.prices[soso.symbol]  # the devnet's SOSO feed
    assert balances.of(soso.symbol).amount == 1_007 and balances.of(soso.symbol).usd == 1_007 * soso_price
    eth_usd = snap.prices[app.profile.native_feed_symbol]
    assert balances.total_usd == eth_usd + Decimal(10_000) + Decimal("2.5") * snap.indexes[mag7.symbol].nav + 1_007 * soso_price

    with app.chain.counting() as trips:  # this read's own, not the head tracker's polls beside it
        again = await app.services.balances.read(address)
    assert trips.count == 1 and again.holdings == balances.holdings  # one Multicall3 round trip

    shown = (await say(app, "/wallet")).rendered
    assert "\nETH\n  1\n" in shown.text and "\nUSDC\n  10,000\n  ≈ $10,000.00" in shown.text  # a card per holding
    assert f"{mag7.symbol}\n  2.5\n" in shown.text and f"{soso.symbol}\n  1,007\n  ≈ ${1_007 * soso_price:,.2f}" in shown.text
    assert EN["wallet.total"].format(usd="") in shown.text  # every holding priced: nothing left out of it
    assert EN["wallet.total.unpriced"].split("{")[0] not in shown.text
    labels = [b.label for row in shown.buttons for b in row]
    assert labels == [EN["button.refresh"], EN["button.export"], EN["button.withdraw"], EN["button.faucet"]]
    refreshed = await press(app, (await say(app, "/wallet")), EN["button.refresh"])
    assert refreshed.rendered.edit and refreshed.rendered.text == shown.text
    await w3.provider.disconnect()


async def test_wallet_in_chinese(app: App) -> None:
    assert (await say(app, "/wallet", locale="zh-CN")).rendered.text.startswith(ZH["wallet.none"])
    bad = await say(app, "/wallet import 0x1234", locale="zh-CN")
    assert bad.rendered.text == ZH["error.key.length"].format(expected=64, count=4)
    await say(app, "/wallet new", locale="zh-CN")
    shown = (await say(app, "/wallet", locale="zh-CN")).rendered.text
    assert shown.startswith(ZH["wallet.title"]) and "合计" in shown
    group = await say(app, "/pin 1357", chat_type="group", locale="zh-CN")
    assert group.rendered.text.startswith(ZH["secret.public.pin"])
