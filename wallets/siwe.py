"""Sign-In with Ethereum (EIP-4361): the message the connect page asks a wallet to sign, and its check.

Why not the `siwe` package: siwe 4.x pins `web3<8` and `eth-account<0.14`, and the bot runs web3 8 and
eth-account 0.14, so it does not install next to them. The message here is a fixed template, the subset of
EIP-4361 the page produces (statement and expiration always, no resources, no request id). Verification
parses it strictly, compares every field with what the server issued (domain, URI, version, chain id,
nonce), checks the validity window, and recovers the signer of the EIP-191 `personal_sign` with eth-account
(`encode_defunct` + `Account.recover_message`); the signer must be the address the message names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.address import is_checksum_address

# EIP-4361's ABNF allows only printable ASCII in the statement, so it cannot follow the user's language;
# the page around it does.
STATEMENT = "Link this wallet to your indexbot account. This request costs nothing and moves no funds."
VERSION = "1"
CLOCK_SKEW = timedelta(seconds=60)  # a wallet's clock may run a little ahead of ours

Reason = Literal["malformed", "domain", "uri", "version", "chain", "nonce", "expired", "not_yet", "signature", "signer"]

_MESSAGE = re.compile(
    r"\A(?P<domain>[A-Za-z0-9.\-:\[\]]+) wants you to sign in with your Ethereum account:\n"
    r"(?P<address>0x[0-9a-fA-F]{40})\n"
    r"\n"
    r"(?P<statement>[\x20-\x7e]*)\n"
    r"\n"
    r"URI: (?P<uri>[\x21-\x7e]+)\n"
    r"Version: (?P<version>[0-9]+)\n"
    r"Chain ID: (?P<chain_id>[0-9]{1,20})\n"
    r"Nonce: (?P<nonce>[A-Za-z0-9]{8,64})\n"
    r"Issued At: (?P<issued_at>[0-9T:\-.Z+]{20,35})\n"
    r"Expiration Time: (?P<expiration_time>[0-9T:\-.Z+]{20,35})\Z"
)


class SiweError(Exception):
    """The signed message or its signature is not acceptable; `reason` says which check failed."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason: Reason = reason


@dataclass(frozen=True)
class SiweMessage:
    domain: str  # RFC 3986 authority of the page: host[:port]
    address: str  # EIP-55 checksummed
    uri: str
    chain_id: int
    nonce: str
    issued_at: datetime
    expiration_time: datetime
    statement: str = STATEMENT
    version: str = VERSION

    def text(self) -> str:
        return (
            f"{self.domain} wants you to sign in with your Ethereum account:\n{self.address}\n\n{self.statement}\n\n"
            f"URI: {self.uri}\nVersion: {self.version}\nChain ID: {self.chain_id}\nNonce: {self.nonce}\n"
            f"Issued At: {_rfc3339(self.issued_at)}\nExpiration Time: {_rfc3339(self.expiration_time)}"
        )


@dataclass(frozen=True)
class Expected:
    """What the server issued for one connect link: the signed message must carry exactly these."""

    domain: str
    uri: str
    chain_id: int
    nonce: str


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("a time without an offset")
    return moment


def parse(text: str) -> SiweMessage:
    match = _MESSAGE.match(text)
    if match is None:
        raise SiweError("malformed")
    g = match.groupdict()
    if not is_checksum_address(g["address"]):
        raise SiweError("malformed")
    try:
        issued, expires = _moment(g["issued_at"]), _moment(g["expiration_time"])
    except ValueError:
        raise SiweError("malformed") from None
    return SiweMessage(
        domain=g["domain"], address=g["address"], uri=g["uri"], chain_id=int(g["chain_id"]), nonce=g["nonce"],
        issued_at=issued, expiration_time=expires, statement=g["statement"], version=g["version"],
    )


def recover(text: str, signature: str) -> str:
    """The address that personal_sign-ed `text` (EIP-191 version 0x45)."""
    sig = signature.strip()
    if not re.fullmatch(r"0x[0-9a-fA-F]{130}", sig):
        raise SiweError("signature")
    try:
        return str(Account.recover_message(encode_defunct(text=text), signature=bytes.fromhex(sig[2:])))
    except Exception:  # noqa: BLE001 - eth-keys raises several types for an invalid v/r/s
        raise SiweError("signature") from None


def verify(text: str, signature: str, expected: Expected, now: datetime) -> str:
    """The checksummed address that signed a valid message for `expected`; SiweError otherwise."""
    message = parse(text)
    checks: tuple[tuple[bool, Reason], ...] = (
        (message.domain == expected.domain, "domain"),
        (message.uri == expected.uri, "uri"),
        (message.version == VERSION, "version"),
        (message.chain_id == expected.chain_id, "chain"),
        (message.nonce == expected.nonce, "nonce"),
        (message.expiration_time > now, "expired"),
        (message.issued_at <= now + CLOCK_SKEW, "not_yet"),
    )
    for ok, reason in checks:
        if not ok:
            raise SiweError(reason)
    if recover(text, signature) != message.address:
        raise SiweError("signer")
    return message.address
