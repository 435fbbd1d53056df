"""The connect and signing pages in headless Chromium (Debian's /usr/bin/chromium, driven by playwright),
with an injected EIP-1193 provider that signs with a key held by this test and sends to anvil.

    /connect in chat -> the link opened -> SIWE personal_sign -> linked (database and chat notice)
    -> a signing link for a real buy (exact USDC approval, then SwapRouter02 multicall(deadline, exactInputSingle))
    -> the page shows it in plain words -> the wallet switches chain, sends both -> hashes reported in order
    -> both mined, USDC spent and MAG7.ssi received on-chain

The trade pipeline does not take connected wallets yet, so the signing link is made here through the API it
will call (`ConnectedWallets.signing_link`) and `on_hash` is a recorder; see the report of issue 3.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from bot import protocol as p
from bot.adapters.base import PlainMarkup
from bot.app import App
from bot.core.messages import Amount, Msg
from bot.core.request import Request
from bot.storage.intents import Intents
from bot.trading import swap
from devnet.operator import fund
from wallets.connected import TxRequest, short_address

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
            fees = swap.fees_from_base(int(block["baseFeePerGas"]), 10**6)
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
        self.sent: list[str] = []

    async def deliver(self, chat_id: str, rendered: Any, edit_ref: str | None = None) -> str | None:
        self.sent.append(rendered.text)
        return str(len(self.sent))


def text(app: App, key: str, **params: Any) -> str:
    return app.services.catalogs.render_msg(Msg(key, params), "en", str)


async def buy_requests(app: App, account: Any, usdc_in: Decimal) -> list[TxRequest]:
    """What the pipeline will hand over for a connected wallet's buy: exact approval, then the swap."""
    profile = app.profile
    ref = profile.indexes[0]
    q = await app.services.market.quote(ref, "buy", usdc_in)
    amount_in = int(usdc_in.scaleb(profile.usdc.decimals))
    quoted_out = int(q.amount_out.scaleb(ref.token.decimals))
    min_out = swap.minimum_out(quoted_out, 50)
    approve = swap.approve_tx(profile.usdc.address, profile.swap_router02, amount_in, 80_000)
    call = swap.swap_call(
        profile.swap_router02, profile.usdc.address, ref.token.address, q.pool_fee, account.address, amount_in, min_out,
        q.timestamp + 300, swap.swap_gas_without_estimate(q.gas_units),
    )
    spend = Msg("sign.amount", {"amount": Amount(usdc_in), "symbol": "USDC"})
    return [
        TxRequest(
            approve.to, "0x" + approve.data.hex(), 0, profile.chain_id,
            Msg("sign.what.approve", {"spender": "Uniswap SwapRouter02", "amount": Amount(usdc_in), "symbol": "USDC"}),
            "USDC", amount=spend, gas=approve.gas,
        ),
        TxRequest(
            call.to, "0x" + call.data.hex(), 0, profile.chain_id,
            Msg("sign.what.swap", {"amount": Amount(usdc_in), "symbol_in": "USDC", "symbol_out": ref.symbol}),
            "Uniswap SwapRouter02", amount=spend,
            minimum_out=Msg("sign.amount", {"amount": Amount(Decimal(min_out).scaleb(-ref.token.decimals), 8), "symbol": ref.symbol}),
            gas=call.gas,
        ),
    ]


async def test_connect_and_send_a_buy_from_the_browser(app: App, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    connected = app.services.connected
    assert connected is not None
    account = Account.create()
    wallet = BrowserWallet(app, account)
    told = Recorder()
    app.notices.attach(told)
    reported: list[tuple[int, int, str]] = []

    async def on_hash(intent_id: int, step: int, tx_hash: str) -> None:
        reported.append((intent_id, step, tx_hash))

    connected.on_hash = on_hash
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
            assert told.sent == [text(app, "connect.done", address=short_address(account.address))]

            # a buy for the connected wallet, signed and sent by it through a signing link
            await fund(app.profile, account.address, usdc=Decimal(1000), eth=Decimal(1))
            ref = app.profile.indexes[0]
            usdc_before = await balance(app, app.profile.usdc.address, account.address)
            index_before = await balance(app, ref.token.address, account.address)
            intent = await Intents(app.db).create(
                user_id=user.id, address=account.address, kind="buy", chain_id=app.profile.chain_id, params={},
                expires_at=2**31, platform="console", chat_id="b1",
            )
            url = await connected.signing_link(intent, user.id, await buy_requests(app, account, Decimal(100)))
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
    assert [(i, s) for i, s, _ in reported] == [(intent, 0), (intent, 1)]
    receipts = await app.chain.receipts([h for _, _, h in reported])
    assert [int(receipts[h]["status"]) for _, _, h in reported] == [1, 1]
    assert usdc_before - await balance(app, app.profile.usdc.address, account.address) == 100 * 10**6
    assert await balance(app, ref.token.address, account.address) > index_before


async def balance(app: App, token: str, address: str) -> int:
    (units,) = await app.chain.call(token, p.BALANCE_OF, address)
    return int(units)
