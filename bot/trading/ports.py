"""What the trade pipeline needs from the rest of the bot, as small protocols, and its settings.

`Signers` is the custodial wallet service (wallets/custodial.py), `ConnectedSigners` the connected wallets
(wallets/connected.py), `Notifier` the core notices service (bot/core/notices.py), `SlippageStore` the user
settings repository; the composition root passes them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from eth_account.signers.local import LocalAccount

from bot.core.messages import Reply
from wallets.connected import TxRequest


class Signers(Protocol):
    async def account(self, user_id: int) -> LocalAccount: ...

    async def ready(self, user_id: int) -> None:
        """Refuse (a `UserError`) a wallet that may not trade yet: no PIN, or its key not loaded."""

    async def address_of(self, user_id: int) -> str | None: ...


class ConnectedSigners(Protocol):
    """The user's own wallet: it signs and sends what a single-use signing link shows it."""

    @property
    def signing_link_seconds(self) -> int: ...

    async def address_of(self, user_id: int) -> str | None: ...

    async def signing_link(self, intent_id: int, user_id: int, txs: list[TxRequest]) -> str: ...


class Notifier(Protocol):
    async def tell(
        self, user_id: int, platform: str, chat_id: str, reply: Reply, edit_ref: str | None = None, *, keep: bool = True
    ) -> str | None: ...


class Ownership(Protocol):
    """A fleet's hold on the trades this process carries (bot.trading.jobs): owned from Confirm, before anything is
    signed, until settled and told; a durable job finishes a trade whose owner died. None for one process alone."""

    async def own(self, intent_id: int) -> None: ...

    async def claim(self, intent_id: int) -> bool:
        """Own the intent unless a live process does (start-up reconciliation leaves that one's trades alone)."""

    async def let_go(self, intent_id: int) -> None: ...


class SlippageStore(Protocol):
    async def get_slippage_bps(self, user_id: int) -> int: ...

    async def set_slippage_bps(self, user_id: int, bps: int) -> None: ...


@dataclass(frozen=True)
class TradeSettings:
    quote_ttl_seconds: int = 30  # a quote not confirmed in time expires
    expired_sweep_seconds: int = 5  # how often quotes on show that expired are edited to say so (bot.delivery.quotes)
    default_slippage_bps: int = 50  # 0.5 %
    max_slippage_bps: int = 500  # /slippage refuses more than 5 %
    premium_warn_bps: int = 200  # a quote paying 2 % over NAV, or selling 2 % under it, says so in a warning line
    deadline_seconds: int = 300  # the router refuses the swap after quote time + this
    inline_wait_seconds: float = 2.0  # Confirm waits this long for the receipt before answering "submitted"
    pending_notice_seconds: float = 60.0  # then "still pending, I'll tell you"
    replace_after_seconds: float = 90.0  # a transaction unmined this long is replaced with a fee bump
    fee_bump_pct: int = 15  # nodes require at least +10 % on both fees for a replacement
    max_replacements: int = 3
    retry_seconds: float = 2.0  # between checks while the chain is unreachable or no block comes
    wallet_grace_seconds: float = 120.0  # a connected wallet's hash is still taken this long after its link expired
    wallet_unseen_seconds: float = 900.0  # a reported hash our node never knew this long is dropped
