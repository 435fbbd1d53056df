"""/withdraw typed alone: asked step by step. The asset (a button per asset the wallet holds), the amount (typed, or
Max), the address (typed, EIP-55 checked, or one of the last ones withdrawn to), a summary, the PIN (its message
deleted at once, whatever it holds), then the same Confirm / Cancel as the one-line form.

Each step's state is the words chosen so far (symbol, chain, amount, address): kept by the router with the
question, so a step survives a restart; a refused answer is said and the step asked again (`again`).
"""

import asyncio
from decimal import Decimal
from functools import partial

from bot.chain.profile import TokenRef
from bot.core.amounts import from_base_units, parse_amount
from bot.core.errors import UserError
from bot.core.messages import Amount, Ask, Button, Count, Msg, Param, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.core.secrets import PIN_DIGITS, is_pin
from bot.services import Services
from bot.trading.destinations import refusal
from bot.trading.executor import Executor
from handlers.shared.confirm import confirm_buttons
from handlers.withdraw.typed import asset_on, desk_named, parse_address

RECENT = 3  # addresses withdrawn to before, offered as buttons
ALL = "all"
PER_ROW = 3


async def _sender(services: Services, caller: Caller) -> str:
    """The custodial wallet's address; refused for a connected wallet, or one without a PIN yet (before any step)."""
    home = services.desks.home
    who = await home.sender(caller.user_key)
    if who.kind == "connected":
        raise UserError("error.withdraw.connected")
    await home.ready(caller.user_key, who)
    return who.address


def _asset(services: Services, state: tuple[str, ...]) -> tuple[Executor, TokenRef | None, str, int]:
    """The desk, token (None: ETH), symbol and decimals the state's first two words name."""
    desk = services.desks.by_chain().get(state[1], services.desks.home)
    desk, token = asset_on(services, state[0], desk)
    return desk, token, state[0] if token is None else token.symbol, 18 if token is None else token.decimals


def _shown(services: Services, desk: Executor, symbol: str) -> Param:
    home = services.desks.home
    return symbol if desk.chain is home.chain else Msg("wallet.symbol_on", {"symbol": symbol, "chain": desk.profile.chain_label})


async def start(services: Services, caller: Caller, edit: bool = False) -> Reply:
    """Step 1: a button per asset the wallet holds, on every chain."""
    address = await _sender(services, caller)
    choices: list[tuple[Executor, str]] = []
    seen: set[tuple[int, str]] = set()  # one button per asset: two profiles on one chain (the devnet's) share ETH, USDC
    for name, desk in services.desks.by_chain().items():
        for symbol in ("ETH", desk.profile.usdc.symbol, *(ref.symbol for ref in desk.profile.indexes)):
            token = asset_on(services, symbol, desk)[1]
            if (asset := (desk.profile.chain_id, "" if token is None else token.address)) not in seen:
                seen.add(asset)
                choices.append((desk, symbol))
    held = await asyncio.gather(*(desk.balance(address, asset_on(services, symbol, desk)[1]) for desk, symbol in choices))
    buttons = [Button(Msg("withdraw.button.asset", {"asset": _shown(services, desk, symbol)}), "withdraw.asset",
                      (symbol, desk.profile.name)) for (desk, symbol), units in zip(choices, held) if units > 0]
    if not buttons:
        raise UserError("withdraw.guided.empty")
    rows = tuple(tuple(buttons[i:i + PER_ROW]) for i in range(0, len(buttons), PER_ROW))
    return Reply.of(Msg("withdraw.ask.asset"), buttons=(*rows, (Button(Msg("button.cancel"), "withdraw.stop"),)), edit=edit)


async def pressed(services: Services, caller: Caller, _: tuple[str, ...]) -> Reply:
    """The wallet screen's Withdraw: step 1, in place of that screen."""
    return await start(services, caller, edit=True)


async def ask_amount(services: Services, caller: Caller, state: tuple[str, ...], edit: bool = False) -> Reply:
    """Step 2: how much, with what the wallet holds and a Max button."""
    desk, token, symbol, decimals = _asset(services, state)
    balance = await desk.balance(await _sender(services, caller), token)
    have = Amount(from_base_units(balance, decimals), 8)
    return Reply.of(Msg("withdraw.ask.amount", {"asset": _shown(services, desk, symbol), "balance": have}),
                    buttons=((Button(Msg("button.max"), "withdraw.max", state[:2]),),), edit=edit,
                    ask=Ask("withdraw.amount", state[:2], Msg("prompt.field.amount")))


async def answer_amount(services: Services, caller: Caller, text: str, state: tuple[str, ...]) -> Reply:
    """A number (or max / all) no larger than the balance; then the address."""
    if text.lower() in (ALL, "max"):
        return await ask_address(services, caller, (*state[:2], ALL))
    desk, token, symbol, decimals = _asset(services, state)
    amount = parse_amount(text, decimals=decimals, maximum=services.limits.max_usdc, unit=symbol, locale=caller.locale)
    balance = from_base_units(await desk.balance(await _sender(services, caller), token), decimals)
    if amount > balance:
        raise UserError("withdraw.error.above_balance", amount=Amount(amount, 8), balance=Amount(balance, 8), asset=symbol)
    return await ask_address(services, caller, (*state[:2], str(amount)))


async def ask_address(services: Services, caller: Caller, state: tuple[str, ...], edit: bool = False) -> Reply:
    """Step 3: where to, with the addresses the user last withdrew to as buttons."""
    desk, _, symbol, decimals = _asset(services, state)
    recent = await _recent(services, caller.user_key)
    buttons = tuple((Button(Msg("withdraw.button.address", {"address": f"{to[:8]}…{to[-6:]}"}), "withdraw.to", (*state[:3], to)),)
                    for to in recent)
    what = _what(services, desk, symbol, state[2])
    return Reply.of(Msg("withdraw.ask.address", {"what": what}), buttons=buttons, edit=edit,
                    ask=Ask("withdraw.address", state[:3], Msg("prompt.field.address")))


def _what(services: Services, desk: Executor, symbol: str, amount: str) -> Msg:
    asset = _shown(services, desk, symbol)
    if amount == ALL:
        return Msg("withdraw.what.all", {"asset": asset})
    return Msg("withdraw.what", {"amount": Amount(Decimal(amount), 8), "asset": asset})


async def _recent(services: Services, user_key: int) -> list[str]:
    """The last distinct addresses the user withdrew to (withdrawals that were sent), newest first."""
    seen: dict[str, None] = {}
    for desk in services.desks:
        for intent in await desk.intents.of_user(user_key, 50):
            to = intent.params.get("to")
            if intent.kind == "withdraw" and intent.state in ("sent", "mined") and isinstance(to, str):
                seen.setdefault(to, None)
    return list(seen)[:RECENT]


async def answer_address(services: Services, caller: Caller, text: str, state: tuple[str, ...]) -> Reply:
    """A well-formed, checksummed address the money may go to; then the summary and the PIN."""
    return await ask_pin(services, caller, (*state[:3], parse_address(text)))


async def ask_pin(services: Services, caller: Caller, state: tuple[str, ...], edit: bool = False) -> Reply:
    """Step 4: the summary, and the PIN that confirms it."""
    desk, _, symbol, _ = _asset(services, state)
    refused = refusal(state[3], await _sender(services, caller), desk.profile, desk.market.setup.pools)
    if refused is not None:  # the wallet itself, or a contract the money would be lost in: before the PIN
        raise refused
    what = _what(services, desk, symbol, state[2])
    return Reply.of(Msg("withdraw.guided.summary", {"what": what, "to": state[3]}), Msg("withdraw.ask.pin"), edit=edit,
                    ask=Ask("withdraw.pin", state[:4], Msg("prompt.field.pin"), secret="pin"))


async def answer_pin(services: Services, caller: Caller, text: str, state: tuple[str, ...]) -> Reply:
    """The PIN checked (a word of the wrong shape costs no try), then the withdrawal quoted with Confirm / Cancel."""
    if not is_pin(text):
        raise UserError("error.pin.length", min=PIN_DIGITS[0], count=Count(PIN_DIGITS[1]))
    await services.pins.check_pin(caller.user_key, text)
    desk, token, symbol, decimals = _asset(services, state)
    amount = None if state[2] == ALL else Decimal(state[2])
    req = caller.request
    intent_id, units = await desk.quote_withdraw(caller.user_key, req.platform, req.news_chat, token, amount, state[3])
    home = services.desks.home
    summary = Msg("withdraw.summary", {"amount": Amount(units, decimals), "asset": _shown(services, desk, symbol), "to": state[3]})
    prompt = Msg("withdraw.confirm_prompt", {"seconds": home.settings.quote_ttl_seconds})
    return Reply.of(summary, prompt, buttons=confirm_buttons(intent_id))


async def typed_without_pin(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """`/withdraw <asset> <amount|all> <address> [chain]`: each word checked as the one-line form checks it, then the
    summary and the PIN question, as if each had been chosen here."""
    await _sender(services, caller)
    desk, token = asset_on(services, args[0], desk_named(services, args[3]) if len(args) == 4 else None)
    symbol, decimals = ("ETH", 18) if token is None else (token.symbol, token.decimals)
    amount = ALL if args[1].lower() == ALL else str(parse_amount(
        args[1], decimals=decimals, maximum=services.limits.max_usdc, unit=symbol, locale=caller.locale))
    return await ask_pin(services, caller, (symbol, desk.profile.name, amount, parse_address(args[2])))


async def chosen(step: str, services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """A button of a step: the asset, Max, or a recent address; the next step edits the message it was pressed on."""
    if step == "asset" and len(args) == 2:
        return await ask_amount(services, caller, args, edit=True)
    if step == "max" and len(args) == 2:
        return await ask_address(services, caller, (*args, ALL), edit=True)
    if step == "to" and len(args) == 4:
        return await ask_pin(services, caller, args, edit=True)
    raise UserError("error.button.expired")


async def stop(caller: Caller, _: tuple[str, ...]) -> Reply:
    return Reply.of(Msg("prompt.cancelled"), edit=True)


def register(router: Router, services: Services) -> None:
    for step in ("asset", "max", "to"):
        router.action(f"withdraw.{step}", partial(chosen, step, services), private_only=True)
    router.action("withdraw.stop", stop, private_only=True)
    router.action("withdraw.start", partial(pressed, services), private_only=True)
    router.prompt("withdraw.amount", partial(answer_amount, services), partial(ask_amount, services))
    router.prompt("withdraw.address", partial(answer_address, services), partial(ask_address, services))
    router.prompt("withdraw.pin", partial(answer_pin, services), partial(ask_pin, services))
