"""The PnL lines of an index's card (/positions): cost basis by average cost (and, once a transfer is part of it, how
transfers are costed), realized and unrealized PnL in USD and %, and the same money held in BTC or left in USDC since
the first buy (bot.portfolio.pnl). Short lines, for a phone. Every portfolio view reconciles the wallet's transfers
first (`reconciled`, bot.portfolio.transfers)."""

from __future__ import annotations

import logging
from decimal import Decimal

from bot.core.errors import UserError
from bot.core.messages import Msg, Pct, Usd
from bot.market.positions import Positions
from bot.portfolio.issued import Holdings
from bot.portfolio.pnl import METHOD, TRANSFER_RULE, IndexPnl, pnl_of
from bot.portfolio.prices import Prices
from bot.services import Services
from handlers.shared.holdings import holder

log = logging.getLogger(__name__)


def _usd_pct(key: str, pnl: IndexPnl, amount: Decimal | None, pct: Decimal | None = None) -> list[Msg]:
    """A figure on its line, its percentage of what went in on the next (phone-narrow); one line when unpriced."""
    pct = pnl.pct(amount) if pct is None else pct
    if amount is None or pct is None:
        return [Msg(f"{key}.unpriced")]
    return [Msg(key, {"usd": Usd(amount)}), Msg("positions.pnl.pct", {"pct": Pct(pct, signed=True)})]


def pnl_lines(pnl: IndexPnl) -> list[Msg]:
    """Cost and its method, unrealized, realized (PnL in USD, then %), then what the same money is worth held in BTC
    or left in USDC since the first buy, with its gain in %."""
    lines = [Msg("positions.pnl.cost", {"cost": Usd(pnl.cost)}),
             Msg("positions.pnl.method", {"method": Msg(f"portfolio.method.{METHOD}")})]
    if pnl.transferred:
        lines.append(Msg("positions.pnl.transfers", {"rule": Msg(f"portfolio.transfers.{TRANSFER_RULE}")}))
    if pnl.tokens:
        lines += _usd_pct("positions.pnl.unrealized", pnl, pnl.unrealized)
    lines += _usd_pct("positions.pnl.realized", pnl, pnl.realized)
    lines += _usd_pct("positions.pnl.btc", pnl, pnl.btc_worth, pnl.pct(pnl.btc_pnl))
    lines += [Msg("positions.pnl.usdc", {"usd": Usd(pnl.invested)}), Msg("positions.pnl.pct", {"pct": Pct(Decimal(0))})]
    return lines


async def reconciled(services: Services, user_id: int, read: Positions | None = None,
                     issued: list[Holdings] | None = None) -> None:
    """The transfers of the wallet that trades for the user recorded before a view computes (with the view's own
    `read` and `issued` reads when it has them). A user without a wallet has none; a read that fails leaves the ledger
    as it is (logged): the view still shows what is recorded."""
    try:
        address = read.address if read is not None else await holder(services, user_id)
    except UserError:
        return
    try:
        await services.transfers.check(user_id, address, read, issued)
    except Exception:  # noqa: BLE001 - detection runs again at the next view and in its job
        log.warning("transfer detection failed for user %s", user_id, exc_info=True)


async def index_pnl(services: Services, user_id: int, prices: Prices | None = None, read: Positions | None = None,
                    issued: list[Holdings] | None = None) -> dict[str, IndexPnl]:
    """Each index the user ever filled, at `prices` (a view's own reads), else at every index's price now
    (bot.portfolio.prices: a pool index's, a factory's index at its NAV); the wallet's transfers reconciled first."""
    await reconciled(services, user_id, read, issued)
    fills = await services.ledger.rows.all(user_id)
    if not fills:
        return {}
    now = prices if prices is not None else await services.prices.now()
    return pnl_of(fills, now.indexes, now.btc)
