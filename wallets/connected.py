"""Connected wallets: the user's own wallet, linked by a signed EIP-4361 message, signing every transaction.

`ConnectedWallets` is what handlers, the web pages and the trade pipeline use:

    connect_link(user_id, platform, chat_id) -> URL       /connect: a single-use page, 10 minutes
    start_sign_in(token, address) -> message text          the page asks for the message to sign
    complete(token, message, signature) -> address         verified, linked, and the user told in chat
    disconnect(user_id) -> address | None                  /disconnect
    address_of(user_id) -> address | None
    signing_link(intent_id, user_id, txs) -> URL           a trade's transactions, for the wallet to send
                                                           (all on one chain the bot has loaded: `chains`)
    open_signing / claim_signing / report_hash             the signing page (a GET claims nothing; the script's
                                                           POST does); each hash goes to `on_hash`

It takes ids, strings and typed descriptions and returns data; pages and chat replies are built elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Literal, Protocol, TypeVar

from eth_utils.address import is_address, to_checksum_address

from bot.core.errors import UserError
from bot.core.messages import Amount, Msg, Param, Pct, Reply, Usd
from bot.storage.connected import ConnectedAddressRows, ConnectLinkRow, ConnectLinkRows, SigningLinkRow, SigningLinkRows, token_hash

Link = TypeVar("Link", ConnectLinkRow, SigningLinkRow)
from wallets.siwe import Expected, SiweError, SiweMessage, verify

log = logging.getLogger(__name__)

CONNECT_LINK_SECONDS = 600
TOKEN_BYTES = 32  # secrets.token_urlsafe(32): 43 characters, 256 bits
_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")


def short_address(address: str) -> str:
    """0x12ab…cdef: enough to recognise an address in chat."""
    return f"{address[:6]}…{address[-4:]}"


class OnHash(Protocol):
    """What the trade pipeline provides: a connected wallet sent step `step` of intent `intent_id` as
    `tx_hash`. Called once per step, in order; it must be idempotent for a repeated (intent, step, hash)
    and raise `UserError` to refuse (the page shows the message)."""

    def __call__(self, intent_id: int, step: int, tx_hash: str) -> Awaitable[None]: ...


class Notifier(Protocol):
    async def tell(
        self, user_id: int, platform: str, chat_id: str, reply: Reply, edit_ref: str | None = None
    ) -> str | None: ...


class TxLookup(Protocol):
    async def transaction(self, tx_hash: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class TxRequest:
    """One transaction for a connected wallet to send, with what the page says about it in plain words.

    `what`, `amount` and `minimum_out` are catalog entries with typed parameters (rendered in the user's
    language when the page is opened), e.g. Msg("sign.what.swap", {"amount": Amount(d), "symbol_in": "USDC",
    "symbol_out": "MAG7.ssi"}), Msg("sign.amount", {"amount": Amount(d), "symbol": "USDC"}).
    """

    to: str  # checksummed
    data: str  # 0x-hex calldata
    value: int  # wei
    chain_id: int
    what: Msg
    contract_name: str  # "Uniswap SwapRouter02", "USDC"
    amount: Msg | None = None  # how much leaves the wallet
    minimum_out: Msg | None = None  # the least the wallet receives
    gas: int | None = None  # a limit, so the wallet need not estimate a step that depends on the previous one
    # The chain's name as users see it ("Ethereum"), when the caller knows better than the chain id does (two
    # profiles on one chain id, as on the devnet); empty: the label `ConnectedWallets.chains` has for chain_id.
    chain_label: str = ""


@dataclass(frozen=True)
class LinkChain:
    """A chain signing links may be for: where a reported transaction is read, and the chain's label."""

    lookup: TxLookup
    label: str  # "Base", "Ethereum" (Profile.chain_label)


@dataclass(frozen=True)
class SigningPage:
    """What the signing page shows and sends."""

    intent_id: int
    address: str
    chain_id: int
    txs: tuple[TxRequest, ...]
    done: tuple[str, ...]  # hashes already reported, in step order
    chain_label: str = ""  # the link's chain as users see it; empty when the bot no longer knows its name


@dataclass(frozen=True)
class ConnectSettings:
    public_url: str  # e.g. https://bot.example.org (links and the SIWE domain and URI derive from it)
    chain_id: int
    signing_link_seconds: int = 600
    connect_link_seconds: int = CONNECT_LINK_SECONDS
    hash_lookup_tries: int = 5  # the node may not know a just-sent transaction yet
    hash_lookup_pause: float = 0.2

    @property
    def domain(self) -> str:
        return self.public_url.split("://", 1)[1].split("/", 1)[0]


LinkState = Literal["ok", "unknown", "expired", "used"]


@dataclass
class ConnectedWallets:
    addresses: ConnectedAddressRows
    connect_links: ConnectLinkRows
    signing_links: SigningLinkRows
    notifier: Notifier
    chain: TxLookup
    settings: ConnectSettings
    on_hash: OnHash | None = None
    clock: Callable[[], float] = field(default=time.time)
    # Every chain a signing link may be for, by chain id: the home chain and each companion's (the first
    # profile loaded on a chain id names it). `chain` serves `settings.chain_id` when it has no entry here.
    chains: dict[int, LinkChain] = field(default_factory=dict)

    # -- linking -----------------------------------------------------------------------------------------

    @property
    def signing_link_seconds(self) -> int:
        return self.settings.signing_link_seconds

    async def address_of(self, user_id: int) -> str | None:
        return await self.addresses.live(user_id)

    async def connect_link(self, user_id: int, platform: str, chat_id: str) -> str:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        nonce = secrets.token_hex(12)
        await self.connect_links.issue(token, user_id, platform, chat_id, nonce, self.settings.connect_link_seconds)
        return f"{self.settings.public_url}/connect/{token}"

    async def connect_state(self, token: str) -> tuple[LinkState, int | None]:
        """Whether a connect link may be used, and whose it is (for the page's language)."""
        link = await self.connect_links.get(token)
        if link is None:
            return "unknown", None
        if link.used_at is not None:
            return "used", link.user_id
        if link.expires_at <= self.clock():
            return "expired", link.user_id
        return "ok", link.user_id

    def _expected(self, nonce: str) -> Expected:
        return Expected(self.settings.domain, self.settings.public_url, self.settings.chain_id, nonce)

    async def start_sign_in(self, token: str, address: str) -> str:
        """The EIP-4361 message for `address` to sign on this link."""
        link = await self._usable_connect(token)
        if not is_address(address):
            raise UserError("error.connect.address")
        now = datetime.fromtimestamp(self.clock(), timezone.utc)
        expected = self._expected(link.nonce)
        return SiweMessage(
            domain=expected.domain, address=to_checksum_address(address), uri=expected.uri, chain_id=expected.chain_id,
            nonce=link.nonce, issued_at=now, expiration_time=datetime.fromtimestamp(link.expires_at, timezone.utc),
        ).text()

    async def complete(self, token: str, message: str, signature: str) -> str:
        """Verify the signed message against what this link issued, link the address, tell the user."""
        link = await self._usable_connect(token)
        now = self.clock()
        try:
            address = verify(message, signature, self._expected(link.nonce), datetime.fromtimestamp(now, timezone.utc))
        except SiweError as err:
            log.info("connect link of user %s: signed message refused (%s)", link.user_id, err.reason)
            raise UserError(f"error.siwe.{err.reason}") from None
        if not await self.connect_links.use_and_link(token, link.user_id, address, int(now)):
            raise UserError("error.link.used")
        log.info("user %s connected %s", link.user_id, short_address(address))
        await self.notifier.tell(
            link.user_id, link.platform, link.chat_id, Reply.of(Msg("connect.done", {"address": short_address(address)}))
        )
        return address

    async def _usable_connect(self, token: str) -> ConnectLinkRow:
        return self._usable(await self.connect_links.get(token))

    def _usable(self, link: Link | None) -> Link:
        """The link when it exists, was not used and has not expired; otherwise the reason as a UserError."""
        if link is None:
            raise UserError("error.link.unknown")
        if link.used_at is not None:
            raise UserError("error.link.used")
        if link.expires_at <= self.clock():
            raise UserError("error.link.expired")
        return link

    async def disconnect(self, user_id: int) -> str | None:
        return await self.addresses.remove(user_id)

    # -- signing -----------------------------------------------------------------------------------------

    def _chain(self, chain_id: int) -> LinkChain | None:
        """The loaded chain with this id (its transactions and its label), or None."""
        found = self.chains.get(chain_id)
        if found is None and chain_id == self.settings.chain_id:
            return LinkChain(self.chain, "")
        return found

    async def signing_link(self, intent_id: int, user_id: int, txs: list[TxRequest]) -> str:
        """A single-use page where the user's connected wallet sends `txs` in order (each hash goes to
        `on_hash`), on their chain: the page names it and asks the wallet to switch to it. Refused when the
        user has no connected wallet, the transactions are not all for one chain the bot has loaded, or the
        intent is not the user's."""
        address = await self.addresses.live(user_id)
        if address is None:
            raise UserError("error.connect.none")
        chain_ids = {t.chain_id for t in txs}
        if len(chain_ids) != 1:
            raise ValueError(f"signing link: transactions for one chain wanted, got chain ids {sorted(chain_ids)}")
        (chain_id,) = chain_ids
        chain = self._chain(chain_id)
        if chain is None:
            raise ValueError(f"signing link: chain id {chain_id} is not a chain the bot has loaded")
        labels = {t.chain_label for t in txs} - {""}
        if len(labels) > 1:
            raise ValueError(f"signing link: one chain named differently: {sorted(labels)}")
        label = labels.pop() if labels else chain.label
        token = secrets.token_urlsafe(TOKEN_BYTES)
        stored = [_tx_to_json(replace(t, chain_label=label)) for t in txs]
        if not await self.signing_links.issue(
            token, intent_id, user_id, address, chain_id, stored, self.settings.signing_link_seconds
        ):
            raise UserError("error.trade.unknown")
        return f"{self.settings.public_url}/sign/{token}"

    async def signing_owner(self, token: str) -> int | None:
        link = await self.signing_links.get(token)
        return None if link is None else link.user_id

    async def open_signing(self, token: str, session: str | None) -> SigningPage:
        """The page for this link, for anyone until a browser claims it (`claim_signing`), then for that browser
        only. Opening it claims nothing: a link preview fetcher may open it any number of times. Another browser
        after the claim, a finished link or an expired one: UserError."""
        link = self._usable(await self.signing_links.get(token))
        if link.session_hash is not None and not _same_session(link, session):
            raise UserError("error.link.used")
        return self._page(link)

    async def claim_signing(self, token: str, session: str | None, offered: str | None = None) -> str | None:
        """The page's script claims the link when the user starts signing (an explicit POST, never the GET):
        the first browser to do so owns it. Returns the new session to set as a cookie (None: this browser owns
        it already); another browser, a finished link or an expired one: UserError. `offered` is the session to
        claim it with (a Mini App's checked sign-in data), else a new random one."""
        link = self._usable(await self.signing_links.get(token))
        if link.session_hash is not None:
            if not _same_session(link, session):
                raise UserError("error.link.used")
            return None
        issued = offered or secrets.token_urlsafe(TOKEN_BYTES)
        if not await self.signing_links.claim(token, issued, int(self.clock())):
            raise UserError("error.link.used")
        return issued

    def _page(self, link: SigningLinkRow) -> SigningPage:
        txs = tuple(_tx_from_json(t) for t in link.txs)
        known = self._chain(link.chain_id)
        label = (txs[0].chain_label if txs else "") or (known.label if known is not None else "")
        return SigningPage(link.intent_id, link.address, link.chain_id, txs, tuple(link.hashes), label)

    async def report_hash(self, token: str, session: str | None, step: int, tx_hash: str) -> bool:
        """Record that step `step` was sent as `tx_hash` and hand it to the trade pipeline; True once every
        step is in. Accepted after the link's expiry (the transaction is out: it must not be lost), but only
        from the browser that owns the page, in step order, and only for a transaction that matches."""
        link = await self.signing_links.get(token)
        if link is None or not _same_session(link, session):
            raise UserError("error.link.unknown")
        if not _HASH.match(tx_hash):
            raise UserError("error.sign.hash")
        tx_hash = tx_hash.lower()
        if step < len(link.hashes):  # a retried report of a step already in, or the real hash of a provisional one
            if link.hashes[step] == tx_hash:
                return len(link.hashes) == len(link.txs)
            return await self._replace_provisional(token, link, step, tx_hash)
        if step != len(link.hashes) or step >= len(link.txs):
            raise UserError("error.sign.step")
        await self._check_sent(link, link.txs[step], tx_hash)
        if self.on_hash is None:
            raise UserError("error.sign.unavailable")
        await self.on_hash(link.intent_id, step, tx_hash)
        if not await self.signing_links.record(token, link.hashes, tx_hash, len(link.txs), int(self.clock())):
            raise UserError("error.sign.step")
        log.info("intent %s step %s sent by the connected wallet", link.intent_id, step)
        return step + 1 == len(link.txs)

    async def _replace_provisional(self, token: str, link: SigningLinkRow, step: int, tx_hash: str) -> bool:
        """Another hash for a step already in: taken only while the link's chain does not know the one recorded
        (a provisional hash, e.g. a smart or remote wallet's placeholder: the real one replaces it; the trade
        pipeline still follows both). A known one stays: another hash for its step is refused."""
        chain = self._chain(link.chain_id)
        if chain is None or await chain.lookup.transaction(link.hashes[step]) is not None:
            raise UserError("error.sign.step")
        await self._check_sent(link, link.txs[step], tx_hash)
        if self.on_hash is None:
            raise UserError("error.sign.unavailable")
        await self.on_hash(link.intent_id, step, tx_hash)
        if not await self.signing_links.replace_hash(token, link.hashes, step, tx_hash):
            raise UserError("error.sign.step")
        log.info("intent %s step %s: a provisional hash was replaced by the connected wallet's", link.intent_id, step)
        return len(link.hashes) == len(link.txs)

    async def _check_sent(self, link: SigningLinkRow, wanted: dict[str, Any], tx_hash: str) -> None:
        """When the link's chain already knows the transaction, it must be the one asked for, from the linked
        address. (A wallet on another RPC may be ahead of our node: then the pipeline's follower decides.)"""
        chain = self._chain(link.chain_id)
        if chain is None:  # the bot was restarted without that chain: nothing can follow the transaction
            log.warning("intent %s: a hash for chain id %s, which is not loaded (refused)", link.intent_id, link.chain_id)
            raise UserError("error.sign.unavailable")
        for attempt in range(self.settings.hash_lookup_tries):
            found = await chain.lookup.transaction(tx_hash)
            if found is not None:
                data = found.get("input") or found.get("data") or b""
                data_hex = data.hex() if isinstance(data, (bytes, bytearray)) else str(data)
                same = (
                    str(found.get("from", "")).lower() == link.address.lower()
                    and str(found.get("to", "")).lower() == str(wanted["to"]).lower()
                    and data_hex.lower().removeprefix("0x") == str(wanted["data"]).lower().removeprefix("0x")
                    and int(found.get("value", 0)) == int(wanted["value"])
                )
                if not same:
                    log.warning("intent %s: reported transaction does not match step (refused)", link.intent_id)
                    raise UserError("error.sign.mismatch")
                return
            if attempt + 1 < self.settings.hash_lookup_tries:
                await asyncio.sleep(self.settings.hash_lookup_pause)


def _same_session(link: SigningLinkRow, session: str | None) -> bool:
    return session is not None and link.session_hash is not None and secrets.compare_digest(token_hash(session), link.session_hash)


# -- storing descriptions: catalog keys and typed parameters as JSON -----------------------------------------


def _param_to_json(value: Param) -> list[Any]:
    if isinstance(value, Msg):
        return ["msg", _msg_to_json(value)]
    if isinstance(value, Usd):
        return ["usd", str(value.value), value.places]
    if isinstance(value, Amount):
        return ["amount", str(value.value), value.places]
    if isinstance(value, Pct):
        return ["pct", str(value.value), value.places, value.signed]
    if isinstance(value, Decimal):
        return ["dec", str(value)]
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"cannot store a {type(value).__name__} parameter")
    return ["int", value] if isinstance(value, int) else ["str", value]


def _param_from_json(raw: list[Any]) -> Param:
    kind = raw[0]
    if kind == "msg":
        return _msg_from_json(raw[1])
    if kind == "usd":
        return Usd(Decimal(raw[1]), int(raw[2]))
    if kind == "amount":
        return Amount(Decimal(raw[1]), int(raw[2]))
    if kind == "pct":
        return Pct(Decimal(raw[1]), int(raw[2]), bool(raw[3]))
    if kind == "dec":
        return Decimal(raw[1])
    return int(raw[1]) if kind == "int" else str(raw[1])


def _msg_to_json(msg: Msg) -> dict[str, Any]:
    return {"key": msg.key, "params": {k: _param_to_json(v) for k, v in msg.params.items()}, "style": msg.style}


def _msg_from_json(raw: Mapping[str, Any]) -> Msg:
    return Msg(str(raw["key"]), {k: _param_from_json(v) for k, v in raw["params"].items()}, raw.get("style", "text"))


def _tx_to_json(tx: TxRequest) -> dict[str, Any]:
    if not is_address(tx.to) or not re.fullmatch(r"0x(?:[0-9a-fA-F]{2})*", tx.data) or tx.value < 0:
        raise ValueError("signing link: malformed transaction")
    opt = {k: None if m is None else _msg_to_json(m) for k, m in (("amount", tx.amount), ("minimum_out", tx.minimum_out))}
    return {
        "to": to_checksum_address(tx.to), "data": tx.data.lower(), "value": str(tx.value), "chain_id": tx.chain_id,
        "what": _msg_to_json(tx.what), "contract_name": tx.contract_name, "gas": tx.gas, "chain_label": tx.chain_label,
        **opt,
    }


def _tx_from_json(raw: Mapping[str, Any]) -> TxRequest:
    def opt(key: str) -> Msg | None:
        return None if raw.get(key) is None else _msg_from_json(raw[key])

    return TxRequest(
        to=str(raw["to"]), data=str(raw["data"]), value=int(raw["value"]), chain_id=int(raw["chain_id"]),
        what=_msg_from_json(raw["what"]), contract_name=str(raw["contract_name"]), amount=opt("amount"),
        minimum_out=opt("minimum_out"), gas=None if raw.get("gas") is None else int(raw["gas"]),
        chain_label=str(raw.get("chain_label") or ""),
    )
