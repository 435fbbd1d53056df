"""Trade states as catalog messages: the reply a Confirm gets, and the edits that follow it."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bot.core.amounts import from_base_units
from bot.core.messages import Amount, Msg, Reply, Usd, When
from bot.issuance import present as issuance
from bot.issuance.requests import CANCEL_KINDS, REQUEST_KINDS
from bot.profile import Profile
from bot.trading.executor import TradeStatus
from bot.core.reverts import Revert, Units, explain, from_text
from bot.trading.stake import STAKE_KINDS
from wallets.connected import short_address


def tx_lines(profile: Profile, tx_hash: str | None) -> tuple[Msg, ...]:
    """The transaction line: an explorer link where the chain has an explorer, the bare hash otherwise (the
    devnet); none when nothing was sent."""
    if not tx_hash:
        return ()
    return (Msg("trade.tx", {"tx": f"{profile.explorer_url.rstrip('/')}/tx/{tx_hash}" if profile.explorer_url else tx_hash}),)


def revert_units(prm: Mapping[str, Any]) -> Units:
    """The token a trade's revert amounts are in: the staked token of a stake, unstake or claim, else what is paid."""
    if "staked_symbol" in prm:
        return Units(str(prm["staked_symbol"]), int(prm["decimals"]))
    if "symbol_in" in prm:
        return Units(str(prm["symbol_in"]), int(prm["decimals_in"]))
    return Units()


def revert_reason(prm: Mapping[str, Any], result: Mapping[str, Any]) -> Msg:
    """Why a mined transaction reverted, in words (`bot.core.reverts`); older results kept only the text."""
    if result.get("revert"):
        return explain(Revert(str(result["revert"]), str(result.get("reason", ""))), revert_units(prm))
    return explain(from_text(str(result.get("reason", ""))), revert_units(prm))


def status_reply(status: TradeStatus, profile: Profile) -> Reply:
    intent, result = status.intent, status.result or status.intent.result or {}
    prm = intent.params
    tx = tx_lines(profile, result.get("tx_hash") or status.tx_hash)
    if status.stage == "mined":
        fee = Usd(Decimal(str(result.get("gas_usd", "0"))), 4)
        if intent.kind in STAKE_KINDS:
            return Reply.of(*stake_mined(intent.kind, prm, result, fee), *tx, edit=True)
        if intent.kind in REQUEST_KINDS:  # sent to the factory: pending until it fills (bot.issuance.orders)
            return Reply.of(*issuance.request_pending(intent.kind, prm, result), *tx, edit=True)
        if intent.kind in CANCEL_KINDS:
            return Reply.of(*issuance.cancel_mined(intent.kind, prm), *tx, edit=True)
        if intent.kind == "withdraw":
            sent = from_base_units(int(result["sent"]), int(prm["decimals"]))
            line = Msg("trade.mined.withdraw", {"amount": Amount(sent), "asset": prm["asset"], "to": prm["to"],
                                                "block": int(result["block"]), "fee": fee})
        else:
            paid = from_base_units(int(prm["amount_in"]), int(prm["decimals_in"]))
            got = from_base_units(int(result["received"]), int(prm["decimals_out"]))
            price = (paid / got if intent.kind == "buy" else got / paid) if got and paid else Decimal(0)
            line = Msg(f"trade.mined.{intent.kind}", {
                "received": Amount(got), "symbol": prm["symbol_out"], "paid": Amount(paid), "paid_symbol": prm["symbol_in"],
                "price": Usd(price, 4), "index": prm["index"], "block": int(result["block"]), "fee": fee,
            })
        return Reply.of(line, *tx, edit=True)
    if status.stage == "signing":
        expires = When(int(result["expires_at"]))  # in the reader's zone
        return Reply.of(Msg("trade.sign.link", {"url": str(result["link"]), "expires": expires}), edit=True)
    if status.stage == "expired":
        return Reply.of(Msg("trade.sign.expired"), edit=True)
    if status.stage == "held":  # the node answered something other than what was signed: the operator looks
        return Reply.of(Msg("trade.held"), *tx, edit=True)
    if status.stage == "dropped" and result.get("reason") in _WALLET_DROPS:
        return Reply.of(Msg(_WALLET_DROPS[str(result["reason"])]), *tx, edit=True)
    if status.stage == "reverted":
        return Reply.of(Msg("trade.reverted", {"reason": revert_reason(prm, result)}), *tx, edit=True)
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


def stake_mined(kind: str, prm: dict[str, object], result: dict[str, object], fee: Usd) -> list[Msg]:
    """A mined stake, unstake or claim, with the staked balance and cooldown the contract holds afterwards."""
    d = int(str(prm["decimals"]))
    amount = Amount(from_base_units(int(str(prm["amount"])), d), d)
    base: dict[str, Any] = {"amount": amount, "symbol": str(prm["symbol"]), "staked_symbol": str(prm["staked_symbol"]),
            "block": int(str(result["block"])), "fee": fee}
    lines = [Msg(f"stake.mined.{kind}", base)]
    if kind == "stake" and "staked" in result:
        lines.append(Msg("stake.mined.balance", {"staked": Amount(from_base_units(int(str(result["staked"])), d), d),
                                                 "staked_symbol": str(prm["staked_symbol"])}))
    lines += points_lines(prm)
    if kind == "unstake" and result.get("cooling"):
        lines.append(Msg("stake.mined.cooling", {
            "amount": Amount(from_base_units(int(str(result["cooling"])), d), d), "symbol": str(prm["symbol"]),
            "end": When(int(str(result["cooling_end"])))}))
    return lines


def points_lines(prm: Mapping[str, object]) -> list[Msg]:
    """What a stake does to the daily points (params from bot.staking.points_effect): the index's multipliers
    held → staked with the user's boost, or the boost level a SOSO stake or unstake moves to."""
    if "held_x" in prm:
        number = int(str(prm.get("level", 0)))
        boost = Msg("stake.points.boost", {"level": number, "boost": Amount(Decimal(str(prm.get("boost_x", 1))), 2)}) if number else Msg("stake.points.no_boost")
        return [Msg("stake.points.index", {"held": Amount(Decimal(str(prm["held_x"])), 2),
                                           "staked": Amount(Decimal(str(prm["staked_x"])), 2), "boost": boost})]
    if "level_to" in prm:
        if prm["level_from"] == prm["level_to"]:
            return [Msg("stake.points.soso.same", {"level": _level(prm["level_to"])})]
        return [Msg("stake.points.soso", {"before": _level(prm["level_from"]), "after": _level(prm["level_to"])})]
    return []


def _level(raw: object) -> Msg:
    number = int(str(raw))
    return Msg("stake.points.level", {"level": number}) if number else Msg("stake.points.level.none")
