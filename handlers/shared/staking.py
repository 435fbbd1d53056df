"""The staking offer (/stake, /unstake, /claim, `/boost add|remove`, a cooldown alert's Claim button): checked
against the chain (bot.trading.stake), stored, and shown with Confirm / Cancel."""

from decimal import Decimal

from bot.core.amounts import from_base_units, parse_amount
from bot.core.errors import UserError
from bot.core.messages import Amount, Button, Msg, Param, Reply, When
from bot.core.request import Caller
from bot.services import Services
from bot.market.positions import points_effect
from bot.trading.present import wallet_line
from bot.trading.stake import points_lines
from bot.trading.stake import StakeKind, StakeTarget, duration_parts, quote_stake, targets
from bot.delivery.quotes import RESTART_ACTION
from handlers.shared.confirm import confirm_buttons


def target_of(services: Services, typed: str) -> StakeTarget:
    """An index (as /buy spells it) or SOSO, with a staking token."""
    ref = services.find_index(typed)
    symbol = ref.symbol if ref is not None else typed.strip().upper()
    found = next((target for target in targets(services.profile) if target.symbol.upper() == symbol.upper()), None)
    if found is None:
        raise UserError("error.index.unknown", value=typed[:24], valid=", ".join(target.symbol for target in targets(services.profile)))
    return found


async def offer(services: Services, caller: Caller, kind: StakeKind, target: StakeTarget, amount_text: str | None) -> Reply:
    """Check, store the intent, and show what Confirm will do (with the cooldown warning for an unstake)."""
    desk = services.desks.home
    soso = target.staking == services.profile.soso_staking
    maximum = services.limits.max_usdc if soso else services.limits.max_index_tokens  # SOSO: a larger bound
    amount = None if amount_text is None or amount_text.lower() == "all" else parse_amount(
        amount_text, decimals=target.token.decimals, maximum=maximum, unit=target.symbol, locale=caller.locale)
    req = caller.request
    points = await effect(services, caller, kind, target, amount)
    offered = await quote_stake(desk, caller.user_key, req.platform, req.news_chat, kind, target, amount, points)
    decimals = target.token.decimals
    names: dict[str, Param] = {"amount": Amount(from_base_units(offered.units, decimals), decimals), "symbol": target.symbol, "staked_symbol": target.staking.symbol}
    lines = [Msg(f"{kind}.offer", names), wallet_line(offered.wallet_kind, offered.address)]
    buttons = confirm_buttons(offered.intent_id)
    if kind == "unstake" and offered.view.locked:  # lockers hold part of it: say what stays and what can move
        lines.append(Msg("unstake.locked", {"locked": Amount(from_base_units(offered.view.locked, decimals), decimals),
                                            "available": Amount(from_base_units(offered.view.unstakable, decimals), decimals),
                                            "staked_symbol": target.staking.symbol}))
    if kind == "unstake" and offered.new_end is not None:
        length = Msg("time.duration", duration_parts(offered.view.cooldown or 0))
        lines.append(Msg("unstake.cooldown", {"length": length, "end": When(offered.new_end)}))
        if offered.view.cooling:
            total = Amount(from_base_units(offered.view.cooling + offered.units, decimals), decimals)
            lines.append(Msg("unstake.restart", {"pending": Amount(from_base_units(offered.view.cooling, decimals), decimals), "symbol": target.symbol,
                                                 "old_end": When(offered.view.cooling_end), "new_end": When(offered.new_end), "total": total}))
            buttons = ((Button(Msg("button.restart_unstake"), RESTART_ACTION, (str(offered.intent_id),)),
                        Button(Msg("button.cancel"), "trade.cancel", (str(offered.intent_id),))),)
    lines += points_lines(points)
    lines.append(Msg("stake.confirm_prompt", {"seconds": desk.settings.quote_ttl_seconds}))
    return Reply.of(*lines, buttons=buttons)


async def effect(services: Services, caller: Caller, kind: StakeKind, target: StakeTarget, amount: Decimal | None) -> dict[str, str]:
    """The points multipliers (index stake) or boost levels (SOSO) this would give, read from the chain now."""
    soso = target.staking == services.profile.soso_staking
    if not (kind == "stake" or (soso and kind == "unstake")):
        return {}  # a claim, or an index unstake, changes no multiplier shown: no read
    address = (await services.desks.home.sender(caller.user_key)).address
    return points_effect(await services.positions.read(address), services.boost, target.symbol, kind, amount)
