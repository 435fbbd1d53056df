"""The ledger as a CSV file: one row per fill, oldest first, amounts as exact decimals (from base units), the derived
price and gas in USD to 8 decimal places (a ratio's 28 digits help no spreadsheet). `side` is
buy or sell for a trade, transfer_in or transfer_out for a transfer seen from balances (nothing paid for what came
in, nothing received for what left; `price_usd` is its value per token when seen, `block` where, no `tx_hash`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime, timezone
from decimal import Decimal

from bot.portfolio.fill import Fill

DERIVED = Decimal("1e-8")  # price_usd and gas_usd: USD to 8 places
COLUMNS = ("time_utc", "side", "index", "paid", "paid_symbol", "received", "received_symbol", "price_usd",
           "pool_fee_pct", "gas_usd", "chain_id", "block", "tx_hash")


def csv_of(fills: Iterable[Fill]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for f in fills:
        writer.writerow((
            datetime.fromtimestamp(f.filled_at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
            f.kind if f.transfer else "buy" if f.buys else "sell", f.index, f"{f.paid:f}", f.paid_symbol, f"{f.received:f}", f.received_symbol,
            f"{f.price_usd.quantize(DERIVED):f}", f"{f.pool_fee_ratio.scaleb(2):f}", f"{f.gas_usd.quantize(DERIVED):f}",
            f.chain_id, f.block, f.tx_hash,
        ))
    return out.getvalue().encode()
