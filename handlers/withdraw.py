"""/withdraw <asset> <amount|all> <address> <pin>: send ETH, USDC or an index token out of the custodial wallet.

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
from bot.core.router import Router
from bot.profile import IndexRef, TokenRef
from bot.services import Services
from handlers.trade import confirm_buttons

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


def register(router: Router, services: Services) -> None:
    x = services.trading
    if x is None:
        return

    def asset_of(typed: str) -> TokenRef | IndexRef | None:
        if typed.upper() == "ETH":
            return None
        if typed.upper() == services.profile.usdc.symbol.upper():
            return services.profile.usdc
        exact = [ref for ref in services.all_indexes if ref.symbol.lower() == typed.lower()]
        ref = exact[0] if exact else services.find_index(typed)  # `mag7` alone: the home chain's
        if ref is None:
            raise UserError("error.withdraw.asset", value=typed[:24], valid="ETH, USDC, " + services.all_index_list())
        return ref

    async def withdraw(caller: Caller) -> Reply:
        """Check the PIN, parse asset, amount and address, and offer Confirm / Cancel."""
        args = caller.request.args
        if len(args) != 4:
            raise UserError("error.withdraw.usage")
        typed_asset, typed_amount, typed_address, pin = args
        if (await x.sender(caller.user_key)).kind == "connected":  # before the PIN: it guards custodial keys
            raise UserError("error.withdraw.connected")
        await services.pins.check_pin(caller.user_key, pin)
        asset_or_index = asset_of(typed_asset)
        desk = x
        if isinstance(asset_or_index, IndexRef):
            desk = services.desks.by_chain()[services.chain_of(asset_or_index).name] if services.desks else x
        asset = asset_or_index.token if isinstance(asset_or_index, IndexRef) else asset_or_index
        symbol, decimals = ("ETH", 18) if asset is None else (asset.symbol, asset.decimals)
        amount = None if typed_amount.lower() == "all" else parse_amount(
            typed_amount, decimals=decimals, maximum=services.limits.max_usdc, unit=symbol)
        to = parse_address(typed_address)
        req = caller.request
        intent_id, units = await desk.quote_withdraw(caller.user_key, req.platform, req.chat_id, asset, amount, to)
        summary = Msg("withdraw.summary", {"amount": Amount(units, decimals), "asset": symbol, "to": to})
        prompt = Msg("withdraw.confirm_prompt", {"seconds": x.settings.quote_ttl_seconds})
        return Reply.of(summary, prompt, buttons=confirm_buttons(intent_id))

    router.command("withdraw", withdraw, private_only=True, secret=lambda args: "pin" if len(args) >= 4 else None)
