"""Signing links on every chain the bot loaded: a companion chain with its own chain id (a second, bare anvil
started with `--chain-id 1`, standing in for Ethereum) beside the session's devnet (the home chain, 31337).

The link carries its transactions' chain: the page names it with that chain's label and id, the page's script
asks the wallet to switch to that chain id (and says so when the wallet lacks the chain), and a reported hash
is read on that chain. Mixed or unknown chain ids are refused before anything is stored.
"""

from __future__ import annotations

import html
import json
import secrets
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from eth_account import Account

from bot.app import App
from bot.chain.client import Chain
from bot.core.errors import UserError
from bot.core.messages import Amount, Count, Msg
from bot.storage.intents import IntentRows
from devnet.anvil import HOST, anvil_binary, free_port, node_call, stop_pid, wait_ready
from test_connected import claim, page_data
from wallets.connected import ConnectedWallets, LinkChain, TxRequest
from auxil.catalog import text
from auxil.connected import Hashes

ETHEREUM = 1
KEY = Account.from_key("0x" + "44" * 32)
RECIPIENT = "0x000000000000000000000000000000000000bEEF"
STATIC = Path(__file__).resolve().parents[1] / "bot" / "frontends" / "web" / "static"


@pytest.fixture(scope="module")
async def ethereum_node(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A bare anvil with chain id 1 on a free loopback port (no contracts: plain transfers are enough)."""
    port = free_port()
    log = (tmp_path_factory.mktemp("ethereum") / "anvil.log").open("ab")
    proc = subprocess.Popen(
        [str(anvil_binary()), "--host", HOST, "--port", str(port), "--chain-id", str(ETHEREUM), "--accounts", "2"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://{HOST}:{port}"
    try:
        assert await wait_ready(url, pid=proc.pid) == ETHEREUM
        yield url
    finally:
        await stop_pid(proc.pid)
        proc.wait()
        log.close()


@pytest.fixture
async def ethereum(app: App, ethereum_node: str) -> AsyncIterator[Chain]:
    """The app's connected wallets also know chain id 1, labelled "Ethereum", as app.py adds a companion."""
    connected = wallets(app)
    chain = Chain([ethereum_node], app.profile.multicall3)
    connected.chains[ETHEREUM] = LinkChain(chain, "Ethereum")
    connected.settings = replace(connected.settings, hash_lookup_tries=1)  # an unknown hash is not waited for
    try:
        yield chain
    finally:
        await chain.close()


def wallets(app: App) -> ConnectedWallets:
    connected = app.services.connected
    assert connected is not None
    return connected


async def linked_user(app: App, name: str, address: str = KEY.address) -> int:
    """A user whose connected wallet is `address`; their id."""
    row = await app.services.users.seen("console", name)
    links = wallets(app).connect_links
    token = secrets.token_urlsafe(32)
    await links.issue(token, row.id, "console", name, secrets.token_hex(12), 600)
    assert await links.use_and_link(token, row.id, address, int(time.time()))
    return row.id


async def an_intent(app: App, user_id: int, chain_id: int) -> int:
    return await IntentRows(app.db).create(
        user_id=user_id, address=KEY.address, kind="issue", chain_id=chain_id, params={}, expires_at=2**31,
        platform="console", chat_id="c1",
    )


def transfer(chain_id: int, value: int, label: str = "") -> TxRequest:
    return TxRequest(
        to=RECIPIENT, data="0x", value=value, chain_id=chain_id, chain_label=label,
        what=Msg("sign.amount", {"amount": Amount(Decimal(value) / 10**18), "symbol": "ETH"}), contract_name="Recipient",
    )


async def links_of(app: App, intent_id: int) -> int:
    row = await app.db.fetch_one("SELECT COUNT(*) FROM signing_links WHERE intent_id = :intent", {"intent": intent_id})
    assert row is not None
    return int(row[0])


def chain_line(app: App, label: str, chain_id: int, locale: str = "en") -> str:
    """The page's 'Network: Ethereum (chain id 1)' line, escaped as the page has it."""
    named = Msg("web.chain", {"name": label, "chain_id": str(chain_id)})
    return app.services.catalogs.render_msg(Msg("web.sign.chain", {"chain": named}), locale, html.escape)


async def open_page(http: aiohttp.ClientSession, url: str) -> str:
    """The page, claimed for this browser as its script does when the user starts signing."""
    async with http.get(url) as page:
        assert page.status == 200
        body = await page.text()
    assert (await claim(http, url)).status == 200
    return body


async def test_the_app_gives_signing_links_every_loaded_chain_with_its_label(app: App) -> None:
    chains = wallets(app).chains
    assert chains[app.profile.chain_id] == LinkChain(app.chain, app.profile.chain_label)
    assert app.profile.chain_label == "Base" and {c.chain_id for c in app.services.companions} <= set(chains)


async def test_a_link_on_a_companion_chain_names_that_chain(app: App, ethereum: Chain, http: aiohttp.ClientSession) -> None:
    connected = wallets(app)
    user = await linked_user(app, "e1")
    intent = await an_intent(app, user, ETHEREUM)
    url = await connected.signing_link(intent, user, [transfer(ETHEREUM, 10**15), transfer(ETHEREUM, 2 * 10**15)])
    token = url.rsplit("/", 1)[1]
    stored = await connected.signing_links.get(token)
    assert stored is not None and stored.chain_id == ETHEREUM and len(stored.txs) == 2

    body = await open_page(http, url)
    ethereum_named = Msg("web.chain", {"name": "Ethereum", "chain_id": "1"})
    intro = Msg("web.sign.intro", {"address": KEY.address, "count": Count(2), "chain": ethereum_named})
    assert html.escape(app.services.catalogs.render_msg(intro, "en", str)) in body
    assert body.count(chain_line(app, "Ethereum", ETHEREUM)) == 2  # each step names its network
    assert "Base" not in body  # nothing of the home chain
    data = page_data(body)
    assert data["chainId"] == "0x1"
    assert data["text"]["wrong_chain"] == text(app, "web.sign.wrong_chain", chain=ethereum_named)
    assert data["text"]["unknown_chain"] == text(app, "web.sign.unknown_chain", chain=ethereum_named)
    assert [(t["to"], int(t["value"], 16)) for t in data["txs"]] == [(RECIPIENT, 10**15), (RECIPIENT, 2 * 10**15)]

    # the label goes with the link: a bot restarted without that chain still names it on the page
    del connected.chains[ETHEREUM]
    assert chain_line(app, "Ethereum", ETHEREUM) in await open_page(http, url)

    # a link on the home chain names the home chain
    home = await an_intent(app, user, app.profile.chain_id)
    home_url = await connected.signing_link(home, user, [transfer(app.profile.chain_id, 1)])
    home_body = await open_page(http, home_url)
    assert chain_line(app, "Base", app.profile.chain_id) in home_body and "Ethereum" not in home_body
    assert page_data(home_body)["chainId"] == hex(app.profile.chain_id)


async def test_a_label_given_with_the_transactions_names_a_shared_chain_id(app: App, http: aiohttp.ClientSession) -> None:
    """Two profiles on one chain id (the devnet's Base and 'Ethereum'): the caller's label wins the map's."""
    connected = wallets(app)
    user = await linked_user(app, "e4")
    intent = await an_intent(app, user, app.profile.chain_id)
    url = await connected.signing_link(intent, user, [transfer(app.profile.chain_id, 1, "Ethereum")])
    assert chain_line(app, "Ethereum", app.profile.chain_id) in await open_page(http, url)
    with pytest.raises(ValueError, match="named differently"):  # one link, one chain: not named two ways
        await connected.signing_link(intent, user, [transfer(app.profile.chain_id, 1, "Ethereum"), transfer(app.profile.chain_id, 1, "Base")])


async def test_mixed_or_unknown_chain_ids_are_refused_and_nothing_is_stored(app: App, ethereum: Chain) -> None:
    connected = wallets(app)
    user = await linked_user(app, "e2")
    intent = await an_intent(app, user, ETHEREUM)
    refused = [
        ([transfer(ETHEREUM, 1), transfer(app.profile.chain_id, 1)], "for one chain wanted"),  # two chains, one link
        ([transfer(app.profile.chain_id, 1), transfer(ETHEREUM, 1)], "for one chain wanted"),
        ([], "for one chain wanted"),
        ([transfer(10, 1)], "chain id 10 is not a chain the bot has loaded"),
    ]
    for txs, reason in refused:
        with pytest.raises(ValueError, match=reason):
            await connected.signing_link(intent, user, txs)
    assert await links_of(app, intent) == 0
    await connected.signing_link(intent, user, [transfer(ETHEREUM, 1)])  # the same intent, one loaded chain: fine
    assert await links_of(app, intent) == 1
    stranger = (await app.services.users.seen("console", "e9")).id
    with pytest.raises(UserError):  # no connected wallet: refused before the chains are looked at
        await connected.signing_link(intent, stranger, [transfer(ETHEREUM, 1)])


async def test_a_reported_hash_is_read_on_the_links_chain(app: App, ethereum: Chain, http: aiohttp.ClientSession) -> None:
    connected = wallets(app)
    hashes = Hashes()
    connected.on_hash = hashes
    user = await linked_user(app, "e3")
    intent = await an_intent(app, user, ETHEREUM)
    url = await connected.signing_link(intent, user, [transfer(ETHEREUM, 12345), transfer(ETHEREUM, 678)])
    await open_page(http, url)
    report = url + "/tx"
    eth_w3, home_w3 = ethereum.w3, app.chain.w3

    # on chain 1: a real transaction that is not step 0 (another sender): refused, so chain 1 was read
    other = (await eth_w3.eth.accounts)[0]
    wrong = "0x" + bytes(await eth_w3.eth.send_transaction({"from": other, "to": RECIPIENT, "value": 12345})).hex()
    assert await app.chain.transaction(wrong) is None  # read on the home chain, it would have passed
    async with http.post(report, json={"step": 0, "hash": wrong}) as r:
        assert r.status == 400 and (await r.json())["message"] == text(app, "error.sign.mismatch")

    # the wallet sends step 0 on chain 1, signed for chain id 1: accepted
    await node_call(eth_w3, "anvil_setBalance", KEY.address, hex(10**18))
    block = await eth_w3.eth.get_block("latest")
    signed = KEY.sign_transaction({
        "type": 2, "chainId": ETHEREUM, "nonce": 0, "to": RECIPIENT, "value": 12345, "data": "0x", "gas": 21_000,
        "maxFeePerGas": 2 * int(block["baseFeePerGas"]) + 10**9, "maxPriorityFeePerGas": 10**9,
    })
    sent = "0x" + bytes(await eth_w3.eth.send_raw_transaction(signed.raw_transaction)).hex()
    async with http.post(report, json={"step": 0, "hash": sent}) as r:
        assert (await r.json()) == {"ok": True, "finished": False}

    # a home-chain transaction that is not step 1 would be refused there, but chain 1 does not know it:
    # the home chain is not consulted (an unknown hash is left to the pipeline's follower)
    home_sender = (await home_w3.eth.accounts)[0]
    home_tx = "0x" + bytes(await home_w3.eth.send_transaction({"from": home_sender, "to": RECIPIENT, "value": 1})).hex()
    assert await app.chain.transaction(home_tx) is not None and await ethereum.transaction(home_tx) is None
    async with http.post(report, json={"step": 1, "hash": home_tx}) as r:
        assert (await r.json()) == {"ok": True, "finished": True}
    assert hashes.seen == [(intent, 0, sent), (intent, 1, home_tx)]

    # a link whose chain the bot no longer has: a hash cannot be followed there, so it is refused
    second = await an_intent(app, user, ETHEREUM)
    url2 = await connected.signing_link(second, user, [transfer(ETHEREUM, 1)])
    await open_page(http, url2)
    del connected.chains[ETHEREUM]
    async with http.post(url2 + "/tx", json={"step": 0, "hash": sent}) as r:
        assert r.status == 400 and (await r.json())["message"] == text(app, "error.sign.unavailable")
    assert hashes.seen[2:] == []


# -- the page's script, run in node against the real page's data -----------------------------------------------

HARNESS = r"""
const fs = require("fs"), vm = require("vm");
const input = JSON.parse(fs.readFileSync(0, "utf8"));
const elements = {};
function el(id) {
  if (!elements[id]) elements[id] = { id, textContent: "", className: "", hidden: false, disabled: false,
                                      listeners: {}, addEventListener(t, f) { this.listeners[t] = f; } };
  return elements[id];
}
el("page-data").textContent = JSON.stringify(input.data);
const calls = [];
let chainId = "0x7a69";  // the wallet starts on the home devnet
const ethereum = {
  async request({ method, params }) {
    calls.push([method, params === undefined ? null : params]);
    if (method === "eth_requestAccounts") return [input.data.address];
    if (method === "eth_chainId") return chainId;
    if (method === "wallet_switchEthereumChain") {
      if (input.wallet === "has_chain") { chainId = params[0].chainId; return null; }
      throw input.wallet === "lacks_chain" ? { code: 4902, message: "Unrecognized chain ID" }
                                           : { code: -32603, data: { originalError: { code: 4902 } } };
    }
    if (method === "eth_sendTransaction") return "0x" + String(calls.length).padStart(64, "0");
    if (method === "eth_getTransactionReceipt") return { status: "0x1" };
    throw new Error("unexpected " + method);
  },
};
const stored = new Map();
const context = {
  window: { ethereum }, document: { getElementById: el }, TextEncoder, setTimeout, console,
  sessionStorage: { getItem: (k) => stored.get(k) || null, setItem: (k, v) => stored.set(k, v), removeItem: (k) => stored.delete(k) },
  fetch: async (url, init) => { calls.push(["POST " + url, JSON.parse(init.body)]); return { json: async () => ({ ok: true }) }; },
};
vm.createContext(context);
vm.runInContext(fs.readFileSync(input.dir + "/common.js", "utf8"), context);
vm.runInContext(fs.readFileSync(input.dir + "/sign.js", "utf8"), context);
el("go").listeners.click().then(() => {
  process.stdout.write(JSON.stringify({ calls, status: el("status").textContent, kind: el("status").className }));
});
"""


def run_page_script(data: dict[str, Any], wallet: str) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None, "node runs anvil's npm tooling; it is needed here too"
    done = subprocess.run(
        [node, "-e", HARNESS], input=json.dumps({"data": data, "wallet": wallet, "dir": str(STATIC)}),
        capture_output=True, text=True, timeout=20, check=True,
    )
    return dict(json.loads(done.stdout))


async def test_the_page_switches_the_wallet_to_the_links_chain_or_says_it_lacks_it(
    app: App, ethereum: Chain, http: aiohttp.ClientSession,
) -> None:
    connected = wallets(app)
    user = await linked_user(app, "e5")
    intent = await an_intent(app, user, ETHEREUM)
    data = page_data(await open_page(http, await connected.signing_link(intent, user, [transfer(ETHEREUM, 5)])))

    switched = run_page_script(data, "has_chain")
    methods = [c[0] for c in switched["calls"]]
    assert ["wallet_switchEthereumChain", [{"chainId": "0x1"}]] in switched["calls"]
    assert methods.index("wallet_switchEthereumChain") < methods.index("eth_sendTransaction")
    sent = next(c[1][0] for c in switched["calls"] if c[0] == "eth_sendTransaction")
    assert (sent["to"], int(sent["value"], 16), sent["from"]) == (RECIPIENT, 5, KEY.address)
    assert switched["status"] == text(app, "web.sign.done")

    ethereum_named = Msg("web.chain", {"name": "Ethereum", "chain_id": "1"})
    for wallet in ("lacks_chain", "lacks_chain_wrapped"):
        lacking = run_page_script(data, wallet)
        assert lacking["status"] == text(app, "web.sign.unknown_chain", chain=ethereum_named), wallet
        assert "error" in lacking["kind"] and "eth_sendTransaction" not in [c[0] for c in lacking["calls"]]
