"""/withdraw <asset> <amount|all> <address> <pin> [chain], the one-line form: send ETH, USDC or an index token out of
the custodial wallet; ETH and USDC from the home chain unless another loaded chain is named ("ethereum"), an index from its own.

Private only; the PIN is checked first (wrong tries lock it, wallets.pin) and the router deletes the message
holding it where the platform allows, whatever the outcome. The address must be 0x and 40 hex digits, and a mixed-case address must
carry a valid EIP-55 checksum (a typo in it would send the money to nobody). Confirm runs it through the same
intent pipeline as a trade.
"""

import re

from eth_utils.address import is_checksum_address, to_checksum_address

from bot.core.amounts import parse_amount
from bot.core.errors import UserError
from bot.core.messages import Amount, Msg, Reply
from bot.core.request import Caller
from bot.core.secrets import Secret, is_pin
from bot.chain.profile import TokenRef
from bot.services import Services
from bot.trading.executor import Executor
from handlers.shared.confirm import confirm_buttons

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
ZERO = "0x" + "0" * 40


def parse_address(text: str) -> str:
    """A checksummed address; refuses malformed ones, a wrong EIP-55 checksum and the zero address."""
    shown = text[:48]
    if not _ADDRESS.match(text):
        raise UserError("error.address.format", value=shown)
    body = text[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(text):
        raise UserError("error.address.checksum", value=shown)
    if text.lower() == ZERO:
        raise UserError("error.address.zero")
    return to_checksum_address(text)


def secret_in(args: tuple[str, ...]) -> Secret | None:
    """A PIN: the fourth word, or, in a message of the wrong length, any word but the amount shaped like one
    (`/withdraw USDC 10 4821`, the address left out)."""
    return "pin" if len(args) >= 4 or any(is_pin(word) for i, word in enumerate(args) if i != 1) else None


def desk_named(services: Services, typed: str) -> Executor:
    """The desk of the chain `typed` names (its label, "Ethereum", or its profile name)."""
    desks = services.desks.by_chain()
    for name, desk in desks.items():
        if typed.lower() in (name.lower(), desk.profile.chain_label.lower()):
            return desk
    raise UserError("error.withdraw.chain", value=typed[:24],
                    valid=", ".join(dict.fromkeys(d.profile.chain_label for d in desks.values())))


def asset_on(services: Services, typed: str, chain: Executor | None) -> tuple[Executor, TokenRef | None]:
    """What `typed` names and whose chain sends it: ETH and USDC of `chain` (the home chain's when no
    chain was named), or an index, from its own chain."""
    home = services.desks.home
    desk = chain or home
    if typed.upper() == "ETH":
        return desk, None
    if typed.upper() == desk.profile.usdc.symbol.upper():
        return desk, desk.profile.usdc
    candidates = chain.profile.indexes if chain else services.all_indexes
    exact = [ref for ref in candidates if ref.symbol.lower() == typed.lower()]
    ref = exact[0] if exact else (services.find_index(typed) if chain is None else None)  # `mag7`: home's
    if ref is None:
        valid = ", ".join(["ETH", desk.profile.usdc.symbol, *(r.symbol for r in candidates)])
        raise UserError("error.withdraw.asset", value=typed[:24], valid=valid)
    return services.desks.by_chain().get(services.chain_of(ref).name, home), ref.token


async def withdraw(services: Services, caller: Caller) -> Reply:
    """Check the PIN, parse asset, amount, address and chain, and offer Confirm / Cancel."""
    args = caller.request.args
    if len(args) not in (4, 5):
        raise UserError("error.withdraw.usage")
    typed_asset, typed_amount, typed_address, pin = args[:4]
    home = services.desks.home
    who = await home.sender(caller.user_key)
    if who.kind == "connected":  # before the PIN: it guards custodial keys
        raise UserError("error.withdraw.connected")
    await home.ready(caller.user_key, who)  # a wallet without a PIN yet is told how to choose one
    await services.pins.check_pin(caller.user_key, pin)
    desk, asset = asset_on(services, typed_asset, desk_named(services, args[4]) if len(args) == 5 else None)
    symbol, decimals = ("ETH", 18) if asset is None else (asset.symbol, asset.decimals)
    amount = None if typed_amount.lower() == "all" else parse_amount(
        typed_amount, decimals=decimals, maximum=services.limits.max_usdc, unit=symbol, locale=caller.locale)
    to = parse_address(typed_address)
    req = caller.request
    intent_id, units = await desk.quote_withdraw(caller.user_key, req.platform, req.news_chat, asset, amount, to)
    shown = symbol if desk.chain is home.chain else Msg("wallet.symbol_on", {"symbol": symbol, "chain": desk.profile.chain_label})
    summary = Msg("withdraw.summary", {"amount": Amount(units, decimals), "asset": shown, "to": to})
    prompt = Msg("withdraw.confirm_prompt", {"seconds": home.settings.quote_ttl_seconds})
    return Reply.of(summary, prompt, buttons=confirm_buttons(intent_id))
