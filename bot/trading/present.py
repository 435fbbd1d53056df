"""Trade states as catalog messages: the reply a Confirm gets, and the edits that follow it."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bot.core.messages import Button, Msg, Reply, Usd, When
from bot.chain.profile import Profile
from bot.core.reverts import Revert, Units, explain, from_text
from bot.trading.kinds import KindRegistry
from bot.trading.status import TradeStatus
from wallets.connected import short_address


def tx_lines(profile: Profile, tx_hash: str | None) -> tuple[Msg, ...]:
    """The transaction line: an explorer link where the chain has an explorer, the bare hash otherwise (the
    devnet); none when nothing was sent."""
    if not tx_hash:
        return ()
    return (Msg("trade.tx", {"tx": f"{profile.explorer_url.rstrip('/')}/tx/{tx_hash}" if profile.explorer_url else tx_hash}),)


def revert_units(params: Mapping[str, Any]) -> Units:
    """The token a trade's revert amounts are in: the staked token of a stake, unstake or claim, else what is paid."""
    if "staked_symbol" in params:
        return Units(str(params["staked_symbol"]), int(params["decimals"]))
    if "symbol_in" in params:
        return Units(str(params["symbol_in"]), int(params["decimals_in"]))
    return Units()


def revert_reason(params: Mapping[str, Any], result: Mapping[str, Any]) -> Msg:
    """Why a mined transaction reverted, in words (`bot.core.reverts`); older results kept only the text."""
    if result.get("revert"):
        return explain(Revert(str(result["revert"]), str(result.get("reason", ""))), revert_units(params))
    return explain(from_text(str(result.get("reason", ""))), revert_units(params))


def status_reply(status: TradeStatus, profile: Profile, kinds: KindRegistry) -> Reply:
    """Where the intent stands, in words; a mined one as its kind tells it (`KindHandler.told`)."""
    intent, result = status.intent, status.result or status.intent.result or {}
    tx = tx_lines(profile, result.get("tx_hash") or status.tx_hash)
    if status.stage == "mined":
        fee = Usd(Decimal(str(result.get("gas_usd", "0"))), 4)
        return Reply.of(*kinds.of(intent.kind).told(intent, result, fee), *tx, edit=True)
    if status.stage == "signing":
        expires = When(int(result["expires_at"]))  # in the reader's zone
        link = str(result["link"])
        return Reply.of(Msg("trade.sign.link", {"url": link, "expires": expires}), edit=True,
                        buttons=((Button.link(Msg("button.open.sign"), link),),))  # Telegram: a Mini App
    if status.stage == "expired":
        return Reply.of(Msg("trade.sign.expired"), edit=True)
    if status.stage == "held":  # the node answered something other than what was signed: the operator looks
        return Reply.of(Msg("trade.held"), *tx, edit=True)
    if status.stage == "dropped" and result.get("reason") in _WALLET_DROPS:
        return Reply.of(Msg(_WALLET_DROPS[str(result["reason"])]), *tx, edit=True)
    if status.stage == "reverted":
        return Reply.of(Msg("trade.reverted", {"reason": revert_reason(intent.params, result)}), *tx, edit=True)
    if status.stage == "dropped":
        return Reply.of(Msg("trade.dropped"), *tx, edit=True)
    if status.stage == "retrying":
        return Reply.of(Msg("trade.retrying"), edit=True)
    if status.stage == "pending":
        return Reply.of(Msg("trade.pending"), *tx, edit=True)
    return Reply.of(Msg("trade.submitted"), *tx, edit=True)


# why a connected wallet's trade ended without a confirmation
_WALLET_DROPS = {
    "mismatch": "trade.wallet.mismatch",  # the wallet sent something else: never counted as the trade
    "replaced": "trade.wallet.replaced",  # the wallet used the nonce for another transaction
    "incomplete": "trade.wallet.incomplete",  # the link expired before every step was sent
}


def wallet_line(kind: str, address: str) -> Msg:
    """Which wallet a quote trades from."""
    return Msg(f"trade.wallet.{kind}", {"address": short_address(address)})


def interrupted_reply() -> Reply:
    return Reply.of(Msg("trade.interrupted"), edit=True)
