"""One fill of the ledger: what a mined buy or sell paid and received, in base units, at what price and cost; or a
transfer in or out of the wallet that its balances showed (bot.portfolio.transfers): no intent, nothing paid for
what came in (nothing received for what went out), priced at the holding's value when it was seen."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot.core.amounts import from_base_units


@dataclass(frozen=True)
class Fill:
    intent_id: int | None  # None: a transfer, which no intent of the bot made
    user_id: int
    chain_id: int
    kind: str  # the intent's kind (buy, sell, issue, redeem) or transfer_in / transfer_out: what it did to the holding
    index: str
    paid_symbol: str
    paid_units: int
    paid_decimals: int
    received_symbol: str
    received_units: int
    received_decimals: int
    price_usd: Decimal  # USD per index token
    pool_fee: int  # millionths
    gas_usd: Decimal
    btc_usd: Decimal | None  # BTC's price when it filled; None: unpriced
    tx_hash: str
    block: int
    filled_at: int
    id: int = 0  # the ledger row's, once stored
    wallet: str = ""  # the address whose holding it moved (checksummed); "" on rows older than migration 0033

    @property
    def transfer(self) -> bool:
        """Seen from the wallet's balances, not made by the bot: a transfer in or out."""
        return self.intent_id is None

    @property
    def paid(self) -> Decimal:
        return from_base_units(self.paid_units, self.paid_decimals)

    @property
    def received(self) -> Decimal:
        return from_base_units(self.received_units, self.received_decimals)

    @property
    def buys(self) -> bool:
        """The fill added to the index holding (paid USD, received index tokens)."""
        return self.received_symbol == self.index

    @property
    def tokens(self) -> Decimal:
        """Index tokens moved (received by a buy, paid by a sell)."""
        return self.received if self.buys else self.paid

    @property
    def usd(self) -> Decimal:
        """USD (the stablecoin) moved (paid by a buy, received by a sell)."""
        return self.paid if self.buys else self.received

    @property
    def units(self) -> int:
        """Index base units the fill added to the wallet's holding (negative: taken from it)."""
        return self.received_units if self.buys else -self.paid_units

    @property
    def pool_fee_ratio(self) -> Decimal:
        """The pool's fee as a ratio (3000 millionths = 0.003)."""
        return Decimal(self.pool_fee).scaleb(-6)
