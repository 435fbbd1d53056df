"""Transaction kinds: the one place the pipeline learns what an intent of a kind does.

Every intent has a `Kind`. Each kind (a swap, a withdrawal, a stake / unstake / claim, an issuance request, its
cancellation) is one handler object behind `KindHandler`, registered by the composition root (bot.app) in a
`KindRegistry`. The executor, the follower and the presenter ask the registry for the intent's handler and never
test the kind themselves; an unknown kind is an error (`UnknownKind`), never a fall-through to another kind.

A handler gets its chain's `Desk`: the public part of the executor it may use (reads, estimates, the nonce session,
signing and storing), never the executor's privates. The trading core imports no kind module (an import-linter
contract in pyproject.toml says so); kind modules import the core.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

from bot.chain.client import Chain, HeadTracker
from bot.core.messages import Msg, Usd
from bot.core.reverts import Units
from bot.market.quotes import Market
from bot.chain.profile import Profile, TokenRef
from bot.storage.intents import IntentRows
from bot.trading.intents import Intent
from bot.trading.nonces import NonceManager
from bot.trading.params import KindParams
from bot.trading.ports import TradeSettings
from bot.trading.status import Sender, TradeStatus
from bot.trading.txs import Fees, UnsignedTx
from wallets.connected import TxRequest

Kind = Literal["buy", "sell", "withdraw", "stake", "unstake", "claim", "issue", "redeem", "cancel_issue", "cancel_redeem",
               "order"]
KINDS: tuple[Kind, ...] = get_args(Kind)

Build = Callable[[Fees], Awaitable[list[UnsignedTx]]]


class UnknownKind(LookupError):
    """An intent whose kind no handler is registered for: a wiring mistake or a row from a newer version."""


class Desk(Protocol):
    """What a kind may use of its chain's executor (bot.trading.executor.Executor is one)."""

    profile: Profile
    chain: Chain
    head: HeadTracker
    market: Market
    intents: IntentRows
    nonces: NonceManager
    settings: TradeSettings
    clock: Callable[[], float]

    async def sender(self, user_id: int) -> Sender: ...

    async def ready(self, user_id: int, who: Sender) -> None: ...

    async def slippage_bps(self, user_id: int) -> int: ...

    async def balance(self, address: str, asset: TokenRef | None) -> int: ...

    async def basefee(self) -> int: ...

    def fees_at(self, basefee: int) -> Fees: ...

    async def estimate(self, sender: str, to: str, data: bytes, fallback: int, units: Units = ...,
                       state_override: dict[str, Any] | None = None) -> int: ...

    async def estimate_behind_approval(self, sender: str, to: str, data: bytes, token: str, spender: str, amount: int,
                                       bound: int, units: Units = ...) -> int: ...

    async def exact_approval(self, intent: Intent, token: str, spender: str, units: int,
                             allowance: int) -> UnsignedTx | None: ...

    async def sign_store_send(self, intent: Intent, txs: list[UnsignedTx], fees: Fees, params: dict[str, Any],
                              nonces: list[int]) -> TradeStatus: ...

    async def send_built(self, intent: Intent, build: Build) -> TradeStatus: ...

    async def store_quote(self, user_id: int, platform: str, chat_id: str, who: Sender, kind: Kind,
                          params: KindParams) -> int: ...


@dataclass(frozen=True)
class WalletAsk:
    """What a connected wallet is asked to send for an intent."""

    txs: list[UnsignedTx]
    params: dict[str, Any]  # added to the intent's params (a swap's fresh quote)
    requests: list[TxRequest]  # the signing page's steps, in plain words


class KindHandler(Protocol):
    """One kind of intent: how it is sent, asked of a connected wallet, read when mined, and told. `owner_tells`:
    the feature that made the intent tells its outcome itself (an order's, under its own outbox key), so the
    follower's background notice ("submitted… it was mined") is left out: the user hears of it once."""

    owner_tells: bool

    async def execute(self, desk: Desk, intent: Intent) -> TradeStatus:
        """A custodial wallet's confirmed intent: checked, built, signed, stored and broadcast."""
        ...

    async def ask_wallet(self, desk: Desk, intent: Intent, link_seconds: int) -> WalletAsk:
        """A connected wallet's confirmed intent: checked and built for its signing link."""
        ...

    async def mined(self, desk: Desk, intent: Intent, receipt: Any) -> dict[str, Any]:
        """What the outcome records beyond hash, block and fee, from the last step's receipt and the chain."""
        ...

    def told(self, intent: Intent, result: Mapping[str, Any], fee: Usd) -> list[Msg]:
        """The lines that tell a mined intent's outcome."""
        ...

    def catalog_keys(self, kind: Kind) -> frozenset[str]:
        """The message keys this kind builds at run time (checked against every catalog by the tests)."""
        ...


class KindRegistry:
    """The handler of each kind, as the composition root registered them."""

    def __init__(self, handlers: Mapping[Kind, KindHandler]) -> None:
        self._handlers: dict[str, KindHandler] = {kind: handler for kind, handler in handlers.items()}

    def of(self, kind: str) -> KindHandler:
        handler = self._handlers.get(kind)
        if handler is None:
            raise UnknownKind(kind)
        return handler

    def __iter__(self) -> Iterator[Kind]:
        return (k for k in KINDS if k in self._handlers)

    def missing(self) -> list[Kind]:
        """The kinds nobody registered a handler for."""
        return [k for k in KINDS if k not in self._handlers]

    def catalog_keys(self) -> dict[Kind, frozenset[str]]:
        return {kind: self._handlers[kind].catalog_keys(kind) for kind in self}
