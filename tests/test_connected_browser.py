"""The connect and signing pages in headless Chromium (Debian's /usr/bin/chromium, driven by playwright),
with an injected EIP-1193 provider that signs with a key held by this test and sends to anvil.

    /connect in chat -> the link opened -> SIWE personal_sign -> linked (database and chat notice)
    -> /buy MAG7.ssi 100 through the router (quoted from the connected wallet) -> Confirm -> a signing link
    -> the page shows it in plain words -> the wallet switches chain, sends the exact approval and the swap
    -> each hash reported through the app's real `on_hash` -> the bot follows them and edits the quote
    message to confirmed; USDC spent and MAG7.ssi received on-chain
"""

from __future__ import annotations

import asyncio
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from bot.chain import protocol as p
from bot.frontends.adapters.base import PlainMarkup
from bot.app import App
from bot.core.messages import Amount, When
from bot.core.request import Request
from bot.core.router import Outcome
from bot.core.request import split_command
from bot.trading import txs
from bot.trading.status import TradeStatus
from bot.trading.intents import State
from bot.trading.present import status_reply
from devnet.operator import fund
from wallets.connected import short_address
from auxil.catalog import text

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium is missing: `make test` installs Debian's chromium package"
)

PROVIDER = """
window.ethereum = {
  isMetaMask: false,
  request: async ({ method, params }) => {
    const answer = JSON.parse(await window.__wallet(method, JSON.stringify(params || [])));
    if (answer.error) { const e = new Error(answer.error.message); e.code = answer.error.code; throw e; }
    return answer.result;
  },
  on: () => {}, removeListener: () => {},
};
"""


class BrowserWallet:
    """An EIP-1193 wallet in the test process: eth-account signs, anvil mines. Starts on the wrong chain."""

    def __init__(self, app: App, account: Any) -> None:
        self.app = app
        self.account = account
        self.chain_id = 1
        self.calls: list[str] = []

    async def handle(self, method: str, raw_params: str) -> str:
        self.calls.append(method)
        params = json.loads(raw_params)
        try:
            return json.dumps({"result": await self._answer(method, params)})
        except WalletError as err:
            return json.dumps({"error": {"code": err.code, "message": str(err)}})

    async def _answer(self, method: str, params: list[Any]) -> Any:
        w3 = self.app.chain.w3
        if method in ("eth_requestAccounts", "eth_accounts"):
            return [self.account.address.lower()]
        if method == "eth_chainId":
            return hex(self.chain_id)
        if method == "wallet_switchEthereumChain":
            wanted = int(params[0]["chainId"], 16)
            if wanted != self.app.profile.chain_id:
                raise WalletError(4902, "unknown chain")
            self.chain_id = wanted
            return None
        if method == "personal_sign":
            data, address = params
            assert address.lower() == self.account.address.lower()
            signed = self.account.sign_message(encode_defunct(primitive=bytes.fromhex(data[2:])))
            return "0x" + bytes(signed.signature).hex()
        if method == "eth_sendTransaction":
            if self.chain_id != self.app.profile.chain_id:
                raise WalletError(4901, "wrong chain")
            (tx,) = params
            assert tx["from"].lower() == self.account.address.lower()
            block = await w3.eth.get_block("latest")
            fees = txs.fees_from_base(int(block["baseFeePerGas"]), 10**6)
            signed = self.account.sign_transaction({
                "type": 2, "chainId": self.chain_id, "nonce": await w3.eth.get_transaction_count(self.account.address, "pending"),
                "to": tx["to"], "data": tx["data"], "value": int(tx["value"], 16), "gas": int(tx["gas"], 16),
                "maxFeePerGas": fees.max_fee, "maxPriorityFeePerGas": fees.priority_fee,
            })
            return await self.app.chain.send_raw(bytes(signed.raw_transaction))
        if method == "eth_getTransactionReceipt":
            receipt = (await self.app.chain.receipts([params[0]])).get(params[0])
            return None if receipt is None else {"status": hex(int(receipt["status"])), "blockNumber": hex(int(receipt["blockNumber"]))}
        raise WalletError(4200, f"unsupported {method}")


class WalletError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class Recorder:
    name = "console"
    markup = PlainMarkup()

    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None]] = []  # (text, the message it edits)

    async def deliver(self, chat_id: str, rendered: Any, edit_ref: str | None = None) -> str | None:
        self.sent.append((rendered.text, edit_ref))
        return edit_ref or str(len(self.sent))


async def user_says(app: App, text: str, user: str = "b1") -> Outcome:
    command, args = split_command(text)
    return await app.router.handle(Request("console", user, user, "private", "en", command=command, args=args,
                                           text_length=len(text)), PlainMarkup())


async def press(app: App, outcome: Outcome, label: str, message_ref: str, user: str = "b1") -> Outcome:
    token = next(b.token for row in outcome.rendered.buttons for b in row if b.label == label)
    return await app.router.handle(Request("console", user, user, "private", "en", button_token=token,
                                           message_ref=message_ref), PlainMarkup())


async def settled(app: App, told: Recorder, intent_id: int) -> None:
    x = app.services.desks.home
    assert x is not None
    for _ in range(200):
        intent = await x.intents.get(intent_id)
        if intent is not None and intent.state.terminal and told.sent[-1][1] == "quote-msg":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"intent {intent_id} did not settle: {told.sent}")


async def test_connect_and_send_a_buy_from_the_browser(app: App, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    connected = app.services.connected
    assert connected is not None
    account = Account.create()
    wallet = BrowserWallet(app, account)
    told = Recorder()
    app.notices.attach(told)
    x = app.services.desks.home
    assert x is not None and app.services.desks is not None and connected.on_hash == app.services.desks.on_hash  # the app wired the pipelines' own
    request = Request("console", "b1", "b1", "private", "en", command="connect", text_length=8)
    reply = (await app.router.handle(request, PlainMarkup())).rendered.text
    link = re.search(r"http://\S+/connect/\S+", reply).group(0)  # type: ignore[union-attr]

    async with async_playwright() as pw:
        browser = await pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), args=ARGS, headless=True,
        )
        try:
            page = browser.pages[0] if browser.pages else await browser.new_page()
            await page.expose_function("__wallet", wallet.handle)
            await page.add_init_script(PROVIDER)

            # connect: accounts, then personal_sign of the server's EIP-4361 message
            await page.goto(link)
            await expect(page.locator("h1")).to_have_text(text(app, "web.title.connect"))
            await page.click("#go")
            done = text(app, "web.connect.done", address=short_address(account.address))
            await expect(page.locator("#status")).to_have_text(done, timeout=10_000)
            user = await app.services.users.seen("console", "b1")
            assert await connected.address_of(user.id) == account.address
            assert told.sent == [(text(app, "connect.done", address=short_address(account.address)), None)]

            # a buy from the connected wallet: quoted and confirmed in chat, signed and sent by the wallet
            await fund(app.profile, account.address, usdc=Decimal(1000), eth=Decimal(1))
            ref = app.profile.indexes[0]
            usdc_before = await balance(app, app.profile.usdc.address, account.address)
            index_before = await balance(app, ref.token.address, account.address)
            quoted = await user_says(app, "/buy MAG7.ssi 100")
            assert text(app, "trade.wallet.connected", address=short_address(account.address)) in quoted.rendered.text
            confirmed = await press(app, quoted, "Confirm", "quote-msg")
            (intent,) = await x.intents.of_user(user.id, 1)
            assert intent.state is State.CONFIRMED and intent.connected and intent.address == account.address
            url = re.search(r"http://\S+/sign/[A-Za-z0-9_-]{43}", confirmed.rendered.text).group(0)  # type: ignore[union-attr]
            at = When(int(intent.params["link_expires_at"]))  # shown in the reader's zone (UTC: none chosen)
            assert confirmed.rendered.text == text(app, "trade.sign.link", url=url, expires=at)
            for _ in range(2):  # chat link previews fetch it first: that must not spend it
                async with aiohttp.ClientSession() as previewer, previewer.get(url) as preview:
                    assert preview.status == 200
            await page.goto(url)
            body = await page.locator("main").inner_text()
            for line in (
                text(app, "sign.what.approve", spender="Uniswap SwapRouter02", amount="100", symbol="USDC"),
                text(app, "sign.what.swap", amount="100", symbol_in="USDC", symbol_out=ref.symbol),
                "Minimum received: ", f"Contract: Uniswap SwapRouter02, {app.profile.swap_router02}",
                text(app, "web.sign.step", step=2, count=2),
            ):
                assert line in body, line
            await page.click("#go")
            await expect(page.locator("#status")).to_have_text(text(app, "web.sign.done"), timeout=20_000)
        finally:
            await browser.close()

    assert "wallet_switchEthereumChain" in wallet.calls  # it started on chain 1 and was asked to switch
    await settled(app, told, intent.id)
    done = await x.intents.get(intent.id)
    assert done is not None and done.state is State.MINED, done
    rows = await x.intents.txs(intent.id)
    assert [(r.step, r.purpose, r.state, r.raw_tx) for r in rows] == [(0, "approve", "mined", None), (1, "swap", "mined", None)]
    assert all(r.nonce is not None and r.max_fee for r in rows)  # read from the node when the hashes came
    received = await balance(app, ref.token.address, account.address) - index_before
    assert usdc_before - await balance(app, app.profile.usdc.address, account.address) == 100 * 10**6
    assert received >= int(done.params["min_out"]) > 0
    # the quote message is edited in place to confirmed: amount received, price and fee, as for custodial trades
    final, edited = told.sent[-1]
    result = done.result or {}
    markup = PlainMarkup()
    expected = app.services.catalogs.render(
        status_reply(TradeStatus(done, "mined", result["tx_hash"], result), app.profile, x.kinds), "en", markup.escape, markup.style
    ).text
    assert edited == "quote-msg" and final == expected and int(result["received"]) == received
    assert final.startswith(f"Confirmed in block {result['block']}: received ") and "Network fee" in final


async def balance(app: App, token: str, address: str) -> int:
    (units,) = await app.chain.call(token, p.BALANCE_OF, address)
    return int(units)
