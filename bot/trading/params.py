"""An intent's parameters as typed records, one frozen dataclass per kind, and their stored JSON (one place).

`to_json` writes a record as the intent's `params` column holds it: its fields in declaration order (the order
rows have always had, so a row written today reads the same as one written before these records), a stake's
points effect flattened in (`StakeParams.points`). `from_json` reads a record back from a row, ignoring what
Confirm added to the params later (a swap's fresh quote, gas limits, a connected wallet's requests).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any, ClassVar, Literal, Protocol, TypeVar

Side = Literal["buy", "sell"]


@dataclass(frozen=True)
class SwapParams:
    """`buy` / `sell` through the index's pool, as quoted."""

    index: str
    side: Side
    token_in: str
    token_out: str
    symbol_in: str
    symbol_out: str
    decimals_in: int
    decimals_out: int
    amount_in: int
    quoted_out: int
    quote_block: int


@dataclass(frozen=True)
class WithdrawParams:
    """`withdraw`: `token` None for ETH; `all`: the whole balance, read again at Confirm."""

    asset: str
    token: str | None
    decimals: int
    amount: int
    all: bool
    to: str
    chain: str


@dataclass(frozen=True)
class StakeParams:
    """`stake` / `unstake` / `claim` on a staking token, with what the chain said at quote time."""

    index: str
    staking: str
    token: str
    symbol: str
    staked_symbol: str
    decimals: int
    amount: int
    pending: int
    pending_end: int
    cooldown: int | None
    restart: bool
    points: Mapping[str, str] = field(default_factory=dict)  # bot.market.positions.points_effect, stored flattened


@dataclass(frozen=True)
class IssuanceParams:
    """`issue` / `redeem`: a request to the index's factory, as quoted."""

    index: str
    side: Side
    chain: str
    factory: str
    token_in: str
    token_out: str
    symbol_in: str
    symbol_out: str
    decimals_in: int
    decimals_out: int
    amount_in: int
    quoted_out: int
    nav: str
    fee: str
    quote_block: int


@dataclass(frozen=True)
class CancelParams:
    """`cancel_issue` / `cancel_redeem`: the pending order (bot.storage.orders) taken back."""

    index: str
    chain: str
    factory: str
    nonce: int
    order_id: int
    amount_in: int
    symbol_in: str
    decimals_in: int


class KindParams(Protocol):
    """Any kind's parameters: a frozen dataclass (those above, or a new kind's own)."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]


P = TypeVar("P", bound=KindParams)
FLATTENED = "points"  # a mapping field whose entries are stored as keys of their own
POINT_KEYS = frozenset({"held_x", "staked_x", "level", "boost_x", "level_from", "level_to"})


def to_json(params: KindParams) -> dict[str, Any]:
    """The record as its intent row stores it."""
    out: dict[str, Any] = {}
    for f in fields(params):
        value = getattr(params, f.name)
        if f.name == FLATTENED:
            out.update(value)
        else:
            out[f.name] = value
    return out


def from_json(kind: type[P], stored: Mapping[str, Any]) -> P:
    """The record of `kind` an intent row's params hold."""
    values: dict[str, Any] = {f.name: stored[f.name] for f in fields(kind) if f.name != FLATTENED}
    if any(f.name == FLATTENED for f in fields(kind)):
        values[FLATTENED] = {k: v for k, v in stored.items() if k in POINT_KEYS}
    return kind(**values)
