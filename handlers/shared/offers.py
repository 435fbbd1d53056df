"""A trade's offer once the index and amount are known (/buy, /sell, and the Buy / Sell screens): a pool index's
quote stored as an intent with Confirm / Cancel (and Limit…, the same trade as an order set by buttons), or an issued index's request to its factory."""

from decimal import Decimal

from bot.core.amounts import from_base_units, parse_amount
from bot.core.errors import UserError
from bot.core.messages import Amount, Count, Msg, Pct, Reply
from bot.core.request import Caller
from bot.issuance import present as issuance_present
from bot.chain.profile import IndexRef
from bot.services import Services
from bot.trading.present import wallet_line
from bot.trading.swap import BPS
from handlers.shared.confirm import confirm_buttons
from handlers.shared.limit_orders import quote_limit_row
from handlers.shared.quotes import quote_lines


async def offer(services: Services, caller: Caller, ref: IndexRef, side: str, amount: Decimal) -> Reply:
    """A pool index: a swap quote stored as an intent, with Confirm / Cancel."""
    if ref.venue == "issuance":
        return await request(services, caller, ref, side, amount)
    desk, req, usdc = services.desks.home, caller.request, services.profile.usdc
    who = await desk.sender(caller.user_key)
    intent_id, quote = await desk.quote_swap(caller.user_key, req.platform, req.news_chat, ref, side, amount, who)  # type: ignore[arg-type]
    slip = await desk.slippage_bps(caller.user_key)
    prompt = Msg("trade.confirm_prompt", {
        "seconds": desk.settings.quote_ttl_seconds, "slippage": Pct(Decimal(slip).scaleb(-4)),
        "minimum": Amount(quote.amount_out * (BPS - slip) / BPS), "symbol": ref.symbol if side == "buy" else usdc.symbol,
    })
    wallet = wallet_line(who.kind, who.address)
    later = await quote_limit_row(services, ref, side, amount, who.address)  # Limit…: the same trade as an order
    return Reply.of(*quote_lines(quote, usdc.symbol, desk.settings.premium_warn_bps), wallet, prompt, buttons=(*confirm_buttons(intent_id), *later))


async def request(services: Services, caller: Caller, ref: IndexRef, side: str, amount: Decimal) -> Reply:
    """An issued index: a request to its factory, filled later (bot.issuance)."""
    issuance, req = services.issuance, caller.request
    who = await issuance.desk(ref).sender(caller.user_key)
    intent_id, quote = await issuance.request(caller.user_key, req.platform, req.news_chat, ref, side, amount, who)  # type: ignore[arg-type]
    lines = issuance_present.quote_lines(quote, issuance.hours(ref), services.profile.usdc.symbol, issuance.chain_of(ref).chain_label)
    prompt = Msg("issuance.confirm_prompt", {"count": Count(services.desks.home.settings.quote_ttl_seconds)})
    return Reply.of(*lines, wallet_line(who.kind, who.address), prompt, buttons=confirm_buttons(intent_id))


async def sell_amount(services: Services, caller: Caller, ref: IndexRef, text: str) -> Decimal:
    """What selling `text` of `ref` means: "all" the wallet holds (refused when it holds none), or the amount typed."""
    if text.strip().lower() != "all":
        return parse_amount(text, decimals=ref.token.decimals, maximum=services.limits.max_index_tokens, unit=ref.symbol,
                            locale=caller.locale)
    desk = services.issuance.desk(ref) if ref.venue == "issuance" else services.desks.home
    units = await desk.balance((await desk.sender(caller.user_key)).address, ref.token)
    if not units:
        raise UserError("error.sell.nothing", index=ref.symbol)
    return from_base_units(units, ref.token.decimals)
