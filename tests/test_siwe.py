"""Sign-In with Ethereum: the message template, strict parsing, and verification against what was issued.

Table-driven through the service on a real SQLite file (a connect link issued, a message signed by a real
key, `complete` called): good, wrong nonce, expired, wrong domain, wrong chain, signed by another key,
replayed, and more.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from bot.core.errors import UserError
from bot.core.messages import Reply
from bot.storage.connected import ConnectedAddressRows, ConnectLinkRows, SigningLinkRows, token_hash
from bot.storage.db import Database
from bot.storage.repositories import UserRows
from wallets.connected import ConnectedWallets, ConnectSettings
from wallets.siwe import Expected, SiweError, SiweMessage, parse, verify

KEY = Account.from_key("0x" + "11" * 32)
OTHER = Account.from_key("0x" + "22" * 32)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
EXPECTED = Expected("bot.example.org", "https://bot.example.org", 8453, "abcdef0123456789abcdef01")


def sign(text: str, account: Any = KEY) -> str:
    return "0x" + bytes(account.sign_message(encode_defunct(text=text)).signature).hex()


def message(**changes: Any) -> SiweMessage:
    base = SiweMessage(
        domain=EXPECTED.domain, address=KEY.address, uri=EXPECTED.uri, chain_id=EXPECTED.chain_id, nonce=EXPECTED.nonce,
        issued_at=NOW - timedelta(minutes=1), expiration_time=NOW + timedelta(minutes=9),
    )
    return dataclasses.replace(base, **changes)


def test_template_is_eip_4361() -> None:
    assert message().text() == (
        "bot.example.org wants you to sign in with your Ethereum account:\n"
        f"{KEY.address}\n\n"
        "Link this wallet to your indexbot account. This request costs nothing and moves no funds.\n\n"
        "URI: https://bot.example.org\nVersion: 1\nChain ID: 8453\nNonce: abcdef0123456789abcdef01\n"
        "Issued At: 2026-03-01T11:59:00Z\nExpiration Time: 2026-03-01T12:09:00Z"
    )
    assert parse(message().text()) == message()


@pytest.mark.parametrize(
    ("text", "signature", "reason"),
    [
        (message().text(), sign(message().text()), None),
        (message(nonce="0000000000000000").text(), sign(message(nonce="0000000000000000").text()), "nonce"),
        (message(domain="evil.example").text(), sign(message(domain="evil.example").text()), "domain"),
        (message(uri="https://evil.example").text(), sign(message(uri="https://evil.example").text()), "uri"),
        (message(chain_id=1).text(), sign(message(chain_id=1).text()), "chain"),
        (message(version="2").text(), sign(message(version="2").text()), "version"),
        (message(expiration_time=NOW).text(), sign(message(expiration_time=NOW).text()), "expired"),
        (message(issued_at=NOW + timedelta(hours=1)).text(), sign(message(issued_at=NOW + timedelta(hours=1)).text()), "not_yet"),
        (message().text(), sign(message().text(), OTHER), "signer"),
        (message(address=OTHER.address).text(), sign(message(address=OTHER.address).text()), "signer"),
        (message().text(), "0x1234", "signature"),
        (message().text(), "0x" + "00" * 65, "signature"),
        (message().text().replace(KEY.address, KEY.address.lower()), sign(message().text()), "malformed"),
        (message().text() + "\nResources:", sign(message().text()), "malformed"),
        ("", "", "malformed"),
        (message().text().replace("2026-03-01T12:09:00Z", "2026-03-01T12:09:00+0"), sign(message().text()), "malformed"),
    ],
    ids=["good", "wrong-nonce", "wrong-domain", "wrong-uri", "wrong-chain", "wrong-version", "expired", "future",
         "other-key", "names-other-address", "short-signature", "zero-signature", "unchecksummed", "extra-field",
         "empty", "bad-time"],
)
def test_verify(text: str, signature: str, reason: str | None) -> None:
    if reason is None:
        assert verify(text, signature, EXPECTED, NOW) == KEY.address
        return
    with pytest.raises(SiweError) as caught:
        verify(text, signature, EXPECTED, NOW)
    assert caught.value.reason == reason


# -- through the service: a link issued, the page's message signed, the link used once ------------------------


class Told:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str, str, Reply]] = []

    async def tell(self, user_id: int, platform: str, chat_id: str, reply: Reply, edit_ref: str | None = None, *,
                   keep: bool = True) -> str | None:
        self.sent.append((user_id, platform, chat_id, reply))
        return "1"


class NoChain:
    async def transaction(self, tx_hash: str) -> dict[str, Any] | None:
        return None


@pytest.fixture
async def service(tmp_path: Path) -> Any:
    db = await Database.open(tmp_path / "siwe.sqlite3")
    told = Told()
    wallets = ConnectedWallets(
        ConnectedAddressRows(db), ConnectLinkRows(db), SigningLinkRows(db), told, NoChain(),
        ConnectSettings("https://bot.example.org", 8453),
    )
    user = await UserRows(db).seen("telegram", "42")
    try:
        yield wallets, told, user.id, db
    finally:
        await db.close()


Mutate = Callable[[str, str], tuple[str, str]]  # (message, signature) -> what is submitted


def resign(old: str, new: str, account: Any = KEY) -> Mutate:
    def change(text: str, _: str) -> tuple[str, str]:
        changed = text.replace(old, new)
        return changed, sign(changed, account)
    return change


CASES: list[tuple[str, Mutate | None, str | None]] = [
    ("good", None, None),
    ("wrong-nonce", lambda t, s: (t.replace("Nonce: ", "Nonce: 0"), sign(t.replace("Nonce: ", "Nonce: 0"))), "error.siwe.nonce"),
    ("wrong-domain", resign("bot.example.org wants", "bot.example.org.evil.net wants"), "error.siwe.domain"),
    ("wrong-chain", resign("Chain ID: 8453", "Chain ID: 84532"), "error.siwe.chain"),
    ("other-key", lambda t, s: (t, sign(t, OTHER)), "error.siwe.signer"),
    ("tampered-after-signing", lambda t, s: (t.replace("Chain ID: 8453", "Chain ID: 1"), s), "error.siwe.chain"),
]


@pytest.mark.parametrize(("name", "mutate", "error"), CASES, ids=[c[0] for c in CASES])
async def test_complete(service: Any, name: str, mutate: Mutate | None, error: str | None) -> None:
    wallets, told, user_id, _ = service
    url = await wallets.connect_link(user_id, "telegram", "42")
    token = url.rsplit("/", 1)[1]
    text = await wallets.start_sign_in(token, KEY.address.lower())
    signature = sign(text)
    if mutate is not None:
        text, signature = mutate(text, signature)
    if error is None:
        assert await wallets.complete(token, text, signature) == KEY.address
        assert await wallets.address_of(user_id) == KEY.address
        [(who, platform, chat, reply)] = told.sent
        assert (who, platform, chat) == (user_id, "telegram", "42") and reply.lines[0].key == "connect.done"
        return
    with pytest.raises(UserError) as caught:
        await wallets.complete(token, text, signature)
    assert caught.value.key == error
    assert await wallets.address_of(user_id) is None and told.sent == []
    fresh = await wallets.start_sign_in(token, KEY.address)  # a refusal does not use the link up
    assert await wallets.complete(token, fresh, sign(fresh)) == KEY.address


async def test_expired_link_and_expired_message(service: Any) -> None:
    wallets, _, user_id, _ = service
    url = await wallets.connect_link(user_id, "telegram", "42")
    token = url.rsplit("/", 1)[1]
    text = await wallets.start_sign_in(token, KEY.address)
    later = wallets.clock() + wallets.settings.connect_link_seconds + 1
    wallets.clock = lambda: later
    with pytest.raises(UserError) as caught:
        await wallets.complete(token, text, sign(text))
    assert caught.value.key == "error.link.expired"
    assert parse(text).expiration_time.timestamp() < later  # and the message itself expires with its link


async def test_replayed_token_is_refused(service: Any) -> None:
    wallets, told, user_id, db = service
    url = await wallets.connect_link(user_id, "discord", "7")
    token = url.rsplit("/", 1)[1]
    text = await wallets.start_sign_in(token, KEY.address)
    assert await wallets.complete(token, text, sign(text)) == KEY.address
    for attempt in (lambda: wallets.complete(token, text, sign(text)), lambda: wallets.start_sign_in(token, OTHER.address)):
        with pytest.raises(UserError) as caught:
            await attempt()
        assert caught.value.key == "error.link.used"
    assert len(told.sent) == 1 and await wallets.address_of(user_id) == KEY.address
    row = await db.fetch_one("SELECT token_hash FROM connect_links")
    assert row[0] == token_hash(token) and token not in row[0]  # only a hash of the token is stored


async def test_unknown_token_and_bad_address(service: Any) -> None:
    wallets, _, user_id, _ = service
    with pytest.raises(UserError) as caught:
        await wallets.start_sign_in("x" * 43, KEY.address)
    assert caught.value.key == "error.link.unknown"
    url = await wallets.connect_link(user_id, "telegram", "42")
    with pytest.raises(UserError) as caught:
        await wallets.start_sign_in(url.rsplit("/", 1)[1], "0x1234")
    assert caught.value.key == "error.connect.address"


async def test_reconnect_replaces_and_disconnect_keeps_the_row(service: Any) -> None:
    wallets, _, user_id, db = service
    for account in (KEY, OTHER):
        token = (await wallets.connect_link(user_id, "telegram", "42")).rsplit("/", 1)[1]
        text = await wallets.start_sign_in(token, account.address)
        await wallets.complete(token, text, sign(text, account))
    assert await wallets.address_of(user_id) == OTHER.address
    assert await wallets.disconnect(user_id) == OTHER.address
    assert await wallets.disconnect(user_id) is None and await wallets.address_of(user_id) is None
    rows = await db.fetch_all("SELECT address, removed_at IS NOT NULL FROM wallets WHERE kind = 'connected' ORDER BY id")
    assert [(r[0], r[1]) for r in rows] == [(KEY.address, 1), (OTHER.address, 1)]
