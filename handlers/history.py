"""/history: the user's fills, newest first, a page at a time (Prev / Next edit the message in place), each with
what was paid and received, the price, the pool fee, the gas and its transaction (an explorer link where the chain
has one); a transfer in or out seen from the wallet's balances (bot.portfolio.transfers) with the amount, its value
when seen, the block and how its cost is counted. Transfers are reconciled first. `/history 2` opens a page;
`/history csv` sends every fill as a CSV file (bot.portfolio.export)."""

from decimal import Decimal
from functools import partial

from bot.core.amounts import parse_id
from bot.core.errors import UserError
from bot.core.messages import Amount, Attachment, Button, Msg, Pct, Reply, Usd, When
from bot.core.request import Caller
from bot.core.router import Router
from bot.portfolio.export import csv_of
from bot.portfolio.fill import Fill
from bot.portfolio.pnl import TRANSFER_IN, TRANSFER_OUT
from bot.services import Services
from handlers.shared.portfolio import reconciled

PER_PAGE = 5


def _side(key: str, fill: Fill, amount: Decimal, symbol: str) -> Msg:
    """What was paid or received; the index's tokens go without their symbol, which the card's title names."""
    if symbol == fill.index:
        return Msg(f"{key}.tokens", {"amount": Amount(amount, 6)})
    return Msg(key, {"amount": Amount(amount, 6), "symbol": symbol})


def transfer_lines(direction: str, fill: Fill) -> list[Msg]:
    """A transfer seen from balances: what moved, its value when seen (a transfer in's cost basis), the rule, block."""
    return [
        Msg(f"history.fill.transfer_{direction}", {"index": fill.index}, style="title"),
        Msg("history.when", {"when": When(fill.filled_at)}),
        Msg(f"history.transfer.{direction}", {"amount": Amount(fill.tokens, 6)}),
        Msg("history.transfer.value", {"price": Usd(fill.price_usd, 4)}),
        Msg(f"history.transfer.rule.{direction}"),
        Msg("history.transfer.block", {"block": fill.block}),
    ]


TRANSFERS = {TRANSFER_IN: partial(transfer_lines, "in"), TRANSFER_OUT: partial(transfer_lines, "out")}


def fill_lines(services: Services, fill: Fill) -> list[Msg]:
    """One fill as a short card: what it did and when, paid, received at what price, costs, transaction; a
    transfer's own card."""
    if fill.kind in TRANSFERS:
        return TRANSFERS[fill.kind](fill)
    profile = next((p for p in (services.profile, *services.companions) if p.chain_id == fill.chain_id), services.profile)
    tx = f"{profile.explorer_url.rstrip('/')}/tx/{fill.tx_hash}" if profile.explorer_url else fill.tx_hash
    return [
        Msg(f"history.fill.{'buy' if fill.buys else 'sell'}", {"index": fill.index}, style="title"),
        Msg("history.when", {"when": When(fill.filled_at)}),
        _side("history.paid", fill, fill.paid, fill.paid_symbol),
        _side("history.received", fill, fill.received, fill.received_symbol),
        Msg("history.price", {"price": Usd(fill.price_usd, 4)}),
        Msg("history.fee", {"fee": Pct(fill.pool_fee_ratio)}),
        Msg("history.gas", {"gas": Usd(fill.gas_usd, 4)}),
        Msg("trade.tx", {"tx": tx}),
    ]


def page_of(text: str, pages: int) -> int:
    """A page number as typed: 1 to `pages`, else refused saying what is valid."""
    number = parse_id(text, max_digits=6)  # ASCII digits only: `²` or `١` is no page (str.isdigit would take them)
    if number is None or not 1 <= number <= pages:
        raise UserError("error.history.page", page=text[:16], pages=pages)
    return number


async def show(services: Services, user_id: int, page: int, *, edit: bool = False) -> Reply:
    """Page `page` (1 is the newest) with Prev / Next where there is a page that way."""
    count = await services.ledger.rows.count(user_id)
    if not count:
        return Reply.of(Msg("history.title", style="title"), Msg("history.none"), edit=edit)
    pages = -(-count // PER_PAGE)
    page = min(page, pages)
    lines = [Msg("history.title", style="title"), Msg("history.page", {"page": page, "pages": pages})]
    for fill in await services.ledger.rows.page(user_id, (page - 1) * PER_PAGE, PER_PAGE):
        lines += fill_lines(services, fill)
    moves = [Button(Msg(f"button.history.{way}"), "history.page", (str(to),))
             for way, to in (("prev", page - 1), ("next", page + 1)) if 1 <= to <= pages]
    return Reply.of(*lines, Msg("history.hint"), buttons=(tuple(moves),) if moves else (), edit=edit)


async def history(services: Services, caller: Caller) -> Reply:
    """No argument: the newest page. A page number, or `csv` for the file. Transfers seen first."""
    args = caller.request.args
    if len(args) > 1:
        raise UserError("error.args.extra", usage=Msg("usage.history"))
    await reconciled(services, caller.user_key)
    if args and args[0].lower() == "csv":
        fills = await services.ledger.rows.all(caller.user_key)
        return Reply.of(Msg("history.csv"), file=Attachment("history.csv", csv_of(fills)))
    if not args:
        return await show(services, caller.user_key, 1)
    count = await services.ledger.rows.count(caller.user_key)
    return await show(services, caller.user_key, page_of(args[0], max(-(-count // PER_PAGE), 1)))


async def page_pressed(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """Prev / Next: the page edited in place."""
    return await show(services, caller.user_key, max(int(args[0]), 1), edit=True)


def register(router: Router, services: Services) -> None:
    router.command("history", partial(history, services), private_only=True, personal=True)
    router.action("history.page", partial(page_pressed, services), private_only=True, personal=True)
