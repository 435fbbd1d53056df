"""/stake <index|SOSO> <amount|all>, /unstake <index|SOSO> <amount|all>, /claim <index|SOSO> [amount|all].

Each checks against the chain (bot.trading.stake) and offers Confirm / Cancel; Confirm runs the intent pipeline
like a trade. /unstake shows the cooldown read from the contract and when it would end; when tokens are already
cooling down it says this unstake restarts the cooldown for the whole pending amount, and the only way on is the
distinct "Restart cooldown and unstake" button. /claim before the end answers with the time left and sends
nothing. `/boost add|remove <amount|all>` (handlers/boost.py) dispatch to the same offers for SOSO through
`services.staking_actions`.
"""

from decimal import Decimal

from bot.core.amounts import from_base_units, parse_amount
from bot.core.errors import UserError
from bot.core.messages import Amount, Button, Msg, Param, Reply, When
from bot.core.request import Caller
from bot.core.router import CommandFn, Router
from bot.services import Services, StakingAction
from bot.staking import points_effect
from bot.trading.present import wallet_line
from bot.trading.stake import StakeKind, StakeTarget, duration_parts, points_lines, quote_stake, targets
from handlers.trade import confirm_buttons, intent_arg, run_confirm


def target_of(services: Services, typed: str) -> StakeTarget:
    """An index (as /buy spells it) or SOSO, with a staking token."""
    ref = services.find_index(typed)
    symbol = ref.symbol if ref is not None else typed.strip().upper()
    found = next((t for t in targets(services.profile) if t.symbol.upper() == symbol.upper()), None)
    if found is None:
        raise UserError("error.index.unknown", value=typed[:24], valid=", ".join(t.symbol for t in targets(services.profile)))
    return found


async def offer(services: Services, caller: Caller, kind: StakeKind, t: StakeTarget, amount_text: str | None) -> Reply:
    """Check, store the intent, and show what Confirm will do (with the cooldown warning for an unstake)."""
    x = services.trading
    assert x is not None
    soso = t.staking == services.profile.soso_staking
    maximum = services.limits.max_usdc if soso else services.limits.max_index_tokens  # SOSO: a larger bound
    amount = None if amount_text is None or amount_text.lower() == "all" else parse_amount(
        amount_text, decimals=t.token.decimals, maximum=maximum, unit=t.symbol)
    req = caller.request
    points = await effect(services, caller, kind, t, amount)
    o = await quote_stake(x, caller.user_key, req.platform, req.chat_id, kind, t, amount, points)
    d = t.token.decimals
    names: dict[str, Param] = {"amount": Amount(from_base_units(o.units, d), d), "symbol": t.symbol, "staked_symbol": t.staking.symbol}
    lines = [Msg(f"{kind}.offer", names), wallet_line(o.wallet_kind, o.address)]
    buttons = confirm_buttons(o.intent_id)
    if kind == "unstake" and o.view.locked:  # lockers hold part of it: say what stays and what can move
        lines.append(Msg("unstake.locked", {"locked": Amount(from_base_units(o.view.locked, d), d),
                                            "available": Amount(from_base_units(o.view.unstakable, d), d),
                                            "staked_symbol": t.staking.symbol}))
    if kind == "unstake" and o.new_end is not None:
        length = Msg("time.duration", duration_parts(o.view.cooldown or 0))
        lines.append(Msg("unstake.cooldown", {"length": length, "end": When(o.new_end)}))
        if o.view.cooling:
            total = Amount(from_base_units(o.view.cooling + o.units, d), d)
            lines.append(Msg("unstake.restart", {"pending": Amount(from_base_units(o.view.cooling, d), d), "symbol": t.symbol,
                                                 "old_end": When(o.view.cooling_end), "new_end": When(o.new_end), "total": total}))
            buttons = ((Button(Msg("button.restart_unstake"), "stake.restart", (str(o.intent_id),)),
                        Button(Msg("button.cancel"), "trade.cancel", (str(o.intent_id),))),)
    lines += points_lines(points)
    lines.append(Msg("stake.confirm_prompt", {"seconds": x.settings.quote_ttl_seconds}))
    return Reply.of(*lines, buttons=buttons)


async def effect(services: Services, caller: Caller, kind: StakeKind, t: StakeTarget, amount: Decimal | None) -> dict[str, str]:
    """The points multipliers (index stake) or boost levels (SOSO) this would give, read from the chain now."""
    soso = t.staking == services.profile.soso_staking
    if services.positions is None or services.trading is None or not (kind == "stake" or (soso and kind == "unstake")):
        return {}  # a claim, or an index unstake, changes no multiplier shown: no read
    address = (await services.trading.sender(caller.user_key)).address
    return points_effect(await services.positions.read(address), services.boost, t.symbol, kind, amount)


def boost_action(services: Services, kind: StakeKind) -> StakingAction:
    """`/boost add <amount|all>` stakes SOSO, `/boost remove <amount|all>` unstakes it (same cooldown warning)."""

    async def run(caller: Caller, args: tuple[str, ...]) -> Reply:
        if len(args) > 1:
            raise UserError("error.args.extra", usage=Msg("usage.boost"))
        if not args:
            raise UserError("error.amount.missing", unit="SOSO")
        return await offer(services, caller, kind, target_of(services, "SOSO"), args[0])

    return run


def register(router: Router, services: Services) -> None:
    if services.trading is None:
        return

    def command(kind: StakeKind, optional_amount: bool = False) -> CommandFn:
        async def run(caller: Caller) -> Reply:
            args = caller.request.args
            if not (len(args) == 2 or (optional_amount and len(args) == 1)):
                raise UserError(f"error.{kind}.usage", valid=", ".join(t.symbol for t in targets(services.profile)))
            return await offer(services, caller, kind, target_of(services, args[0]), args[1] if len(args) == 2 else None)

        return run

    async def restart(caller: Caller, args: tuple[str, ...]) -> Reply:
        """The explicit "Restart cooldown and unstake"."""
        return await run_confirm(services, caller, intent_arg(args), acknowledged=True)

    router.command("stake", command("stake"), personal=True)
    router.command("unstake", command("unstake"), personal=True)
    router.command("claim", command("claim", optional_amount=True), personal=True)
    router.action("stake.restart", restart)
    if services.profile.soso_staking is not None:  # handlers/boost.py dispatches /boost add|remove here
        services.staking_actions["add"] = boost_action(services, "stake")
        services.staking_actions["remove"] = boost_action(services, "unstake")
