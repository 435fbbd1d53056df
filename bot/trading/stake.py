"""Staking through the intent pipeline: stake, unstake and claim (StakeToken.withdraw) for an index's staking
token and for SOSO/sSOSO (the boost), for custodial and connected wallets alike.

What the bot says and checks comes from the chain, never from its own records: balances, allowance, the
cooldown length (`cooldown()`), the user's pending amount and end (`cooldownInfos`) and `paused()` are read in
one Multicall3 round trip. A failed read of `paused()` means "unknown": nothing is refused on it, and the
transaction's revert reason speaks. `quote_stake` stores an intent in `quoted`; Confirm runs the executor's
usual path (compare-and-set, checks, sign/store/broadcast/follow or a signing link) with `stake_txs` building
the transactions: an exact approval (`Executor.exact_approval`), then `stake(amount)`; `unstake(amount)`;
`withdraw(amount)`.

An unstake while tokens are cooling down restarts the cooldown for the whole pending amount; such an intent
carries `restart` and is confirmed only with the explicit acknowledgement (`Executor.confirm(acknowledged=True)`).
An unstake quoted without that warning is refused at Confirm if tokens started cooling down meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from bot.chain import protocol as p
from bot.chain.client import BlockId, Call, Chain
from bot.core.amounts import from_base_units
from bot.core.errors import UserError
from bot.core.messages import Amount, Msg, Usd, When
from bot.chain.profile import Profile, TokenRef
from bot.core.reverts import Units
from bot.trading.funds import approved_call, check_gas
from bot.trading.intents import Intent
from bot.trading.kinds import Desk, Kind, WalletAsk
from bot.trading.params import StakeParams, from_json
from bot.trading.status import TradeStatus
from bot.trading.txs import Fees, UnsignedTx
from wallets.connected import TxRequest

StakeKind = Literal["stake", "unstake", "claim"]
# A stake signed behind an unmined approval is estimated with the allowance overridden (Executor.estimate_behind_approval);
# this bound serves only a token whose allowance storage cannot be found (the real first stake used 119,704 gas)
STAKE_GAS_BOUND = 250_000
CALL_GAS = 120_000  # fallback when the node cannot estimate (not a contract's refusal, or one behind unmined transactions)


@dataclass(frozen=True)
class StakeTarget:
    """What is staked (`token`) into which staking token (`staking`): an index or SOSO."""

    symbol: str
    token: TokenRef
    staking: TokenRef


@dataclass(frozen=True)
class StakeView:
    """One user's position in one staking token, read from the chain in one round trip."""

    held: int
    staked: int
    allowance: int
    eth: int
    cooling: int  # cooldownAmount
    cooling_end: int  # cooldownEndTimestamp
    cooldown: int | None  # seconds; None when the read failed
    paused: bool | None  # None when the read failed: unknown
    now: int  # the block's timestamp
    available: int | None = None  # getAvailableBalance: None when the token has no locks (the read failed)

    @property
    def claimable(self) -> int:
        return self.cooling if self.cooling and self.cooling_end <= self.now else 0

    @property
    def unstakable(self) -> int:
        """What may be unstaken now: the staked balance less what lockers hold."""
        return self.staked if self.available is None else min(self.staked, self.available)

    @property
    def locked(self) -> int:
        return self.staked - self.unstakable


def targets(profile: Profile) -> list[StakeTarget]:
    out = [StakeTarget(ref.symbol, ref.token, ref.staking) for ref in profile.indexes if ref.staking is not None]
    if profile.soso is not None and profile.soso_staking is not None:
        out.append(StakeTarget(profile.soso.symbol, profile.soso, profile.soso_staking))
    return out


def target_of(profile: Profile, staking: str) -> StakeTarget:
    return next(target for target in targets(profile) if target.staking.address.lower() == staking.lower())


async def read(chain: Chain, profile: Profile, target: StakeTarget, address: str, block: BlockId = "latest") -> StakeView:
    staking, mc = target.staking.address, profile.multicall3
    rows = await chain.multicall(
        [Call(target.token.address, p.BALANCE_OF, (address,)), Call(staking, p.BALANCE_OF, (address,)),
         Call(target.token.address, p.ALLOWANCE, (address, staking)), Call(mc, p.GET_ETH_BALANCE, (address,)),
         Call(staking, p.COOLDOWN_INFOS, (address,)), Call(staking, p.COOLDOWN), Call(staking, p.PAUSED), Call(mc, p.BLOCK_TIMESTAMP),
         Call(staking, p.GET_AVAILABLE_BALANCE, (address,))],
        block=block,
    )
    held, staked, allowance, eth, info, cooldown, paused, now, available = rows

    def num(r: Any) -> int:
        return int(r.one()) if r.ok else 0

    return StakeView(
        num(held), num(staked), num(allowance), num(eth),
        int(info.values[0]) if info.ok else 0, int(info.values[1]) if info.ok else 0,
        int(cooldown.one()) if cooldown.ok else None, bool(paused.one()) if paused.ok else None, num(now),
        int(available.one()) if available.ok else None,
    )


def stake_call(kind: str, staking: str, amount: int, gas: int) -> UnsignedTx:
    """StakeToken `stake(amount)` (behind an exact approval when the allowance is short), `unstake(amount)`,
    or `withdraw(amount)` for a claim: the purpose is the intent's kind."""
    fn = {"stake": p.STAKE, "unstake": p.UNSTAKE, "claim": p.STAKE_WITHDRAW}[kind]
    return UnsignedTx(kind, staking, fn.encode(amount), 0, gas)


def _amount(units: int, decimals: int) -> Amount:
    return Amount(from_base_units(units, decimals), decimals)


def check(kind: str, target: StakeTarget, view: StakeView, units: int | None) -> int:
    """The amount in base units this intent moves (`units` None = all), or a UserError saying why not."""
    d = target.token.decimals
    if view.paused:
        raise UserError("error.stake.paused", token=target.staking.symbol)
    if kind == "stake":
        have, nothing, short = view.held, "error.stake.nothing", "error.stake.short"
    elif kind == "unstake":
        have, nothing, short = view.staked, "error.unstake.nothing", "error.unstake.short"
    else:
        if not view.cooling:
            raise UserError("error.claim.nothing", symbol=target.symbol)
        if view.cooling_end > view.now:
            raise UserError("error.claim.early", amount=_amount(view.cooling, d), symbol=target.symbol,
                            left=Msg("time.duration", duration_parts(view.cooling_end - view.now)), end=When(view.cooling_end))
        have, nothing, short = view.cooling, "error.claim.nothing", "error.claim.short"
    if units is None and not have:
        raise UserError(nothing, symbol=target.symbol)
    if units is not None and units > have:
        raise UserError(short, symbol=target.symbol, staked_symbol=target.staking.symbol, need=_amount(units, d),
                        have=_amount(have, d))
    if kind == "unstake" and view.locked and not view.unstakable:  # whatever was asked: lockers hold all of it
        raise UserError("error.unstake.all_locked", staked=_amount(view.staked, d), locked=_amount(view.locked, d),
                        staked_symbol=target.staking.symbol)
    if units is None:  # "all" is all that can move: what lockers hold stays staked
        return view.unstakable if kind == "unstake" and view.locked else have
    if kind == "unstake" and units > view.unstakable:
        raise UserError("error.unstake.locked", need=_amount(units, d), staked=_amount(view.staked, d),
                        locked=_amount(view.locked, d), available=_amount(view.unstakable, d), staked_symbol=target.staking.symbol)
    return units


def duration_parts(seconds: int) -> dict[str, Any]:
    seconds = max(seconds, 0)
    return {"days": seconds // 86400, "hours": seconds % 86400 // 3600, "minutes": seconds % 3600 // 60}


@dataclass(frozen=True)
class StakeOffer:
    intent_id: int
    units: int
    view: StakeView
    new_end: int | None  # unstake: when the whole pending amount would be claimable, if mined now
    wallet_kind: str  # connected or custodial
    address: str


async def quote_stake(
    desk: Desk, user_id: int, platform: str, chat_id: str, kind: StakeKind, target: StakeTarget, amount: Decimal | None,
    points: Mapping[str, str] | None = None,
) -> StakeOffer:
    """Check against the chain and store the intent in `quoted` (amount None = all); times shown in the reader's zone."""
    who = await desk.sender(user_id)
    await desk.ready(user_id, who)
    view = await read(desk.chain, desk.profile, target, who.address)
    units = check(kind, target, view, None if amount is None else int(amount.scaleb(target.token.decimals)))
    if kind == "unstake" and view.cooldown is None:
        raise UserError("error.unstake.cooldown_unknown", token=target.staking.symbol)
    new_end = view.now + view.cooldown if kind == "unstake" and view.cooldown is not None else None
    params = StakeParams(
        index=target.symbol, staking=target.staking.address, token=target.token.address, symbol=target.symbol,
        staked_symbol=target.staking.symbol, decimals=target.token.decimals, amount=units,
        pending=view.cooling, pending_end=view.cooling_end, cooldown=view.cooldown,
        restart=kind == "unstake" and view.cooling > 0,
        points=points or {},  # what it does to the daily points, as told at quote time (bot.market.positions.points_effect)
    )
    intent_id = await desk.store_quote(user_id, platform, chat_id, who, kind, params)
    return StakeOffer(intent_id, units, view, new_end, who.kind, who.address)


async def stake_txs(desk: Desk, intent: Intent, fees: Fees) -> list[UnsignedTx]:
    """Checks again at the pending block, then the transactions, each with a gas limit."""
    params = from_json(StakeParams, intent.params)
    target = target_of(desk.profile, params.staking)
    view = await read(desk.chain, desk.profile, target, intent.address, block="pending")
    kind, units = intent.kind, params.amount
    if kind == "unstake" and view.cooling > 0 and not params.restart:
        raise UserError("error.unstake.pending_appeared", amount=_amount(view.cooling, target.token.decimals),
                        symbol=target.symbol)
    check(kind, target, view, units)
    call = stake_call(kind, target.staking.address, units, 0)
    shown = Units(target.token.symbol if kind == "stake" else target.staking.symbol, target.token.decimals)  # a revert's amounts
    if kind == "stake":
        txs = await approved_call(desk, intent, call, target.token.address, target.staking.address, units, view.allowance,
                                  STAKE_GAS_BOUND, CALL_GAS, shown)
    else:
        txs = [stake_call(kind, target.staking.address, units,
                          await desk.estimate(intent.address, call.to, call.data, CALL_GAS, shown))]
    check_gas(txs, fees, view.eth)
    return txs


class Stake:
    """`stake`, `unstake` and `claim` on an index's staking token or SOSO's (the boost)."""
    owner_tells = False  # the follower tells the outcome (KindHandler)

    async def execute(self, desk: Desk, intent: Intent) -> TradeStatus:
        """A custodial wallet's stake, unstake or claim: sign, store, broadcast under the address's nonce lock."""
        return await desk.send_built(intent, lambda fees: stake_txs(desk, intent, fees))

    async def ask_wallet(self, desk: Desk, intent: Intent, link_seconds: int) -> WalletAsk:
        txs = await stake_txs(desk, intent, desk.fees_at(await desk.basefee()))
        return WalletAsk(txs, {}, requests(intent.params, txs, desk.profile.chain_id))

    async def mined(self, desk: Desk, intent: Intent, receipt: Any) -> dict[str, Any]:
        """What the contract holds now, for the reply: never our bookkeeping."""
        params = from_json(StakeParams, intent.params)
        facts = await mined_facts(desk.chain, params.staking, intent.address, int(receipt["blockNumber"]))
        return {"sent": params.amount, **facts}

    def told(self, intent: Intent, result: Mapping[str, Any], fee: Usd) -> list[Msg]:
        return stake_mined(intent.kind, from_json(StakeParams, intent.params), result, fee)

    def catalog_keys(self, kind: Kind) -> frozenset[str]:
        return frozenset({f"stake.mined.{kind}", f"sign.what.{kind}", f"{kind}.offer"})


def requests(stored: Mapping[str, Any], txs: list[UnsignedTx], chain_id: int) -> list[TxRequest]:
    """The steps for a connected wallet's signing page, in plain words (from the intent's stored params, of which
    only the amount and the symbols are read)."""
    decimals, symbol, staked_symbol = int(stored["decimals"]), str(stored["symbol"]), str(stored["staked_symbol"])
    amount = Amount(from_base_units(int(stored["amount"]), decimals), decimals)  # every digit
    out: list[TxRequest] = []
    for tx in txs:
        data = "0x" + tx.data.hex()
        if tx.purpose == "approve":
            what = Msg("sign.what.approve", {"spender": staked_symbol, "amount": amount, "symbol": symbol})
            spend = Msg("sign.amount", {"amount": amount, "symbol": symbol})
            out.append(TxRequest(tx.to, data, tx.value, chain_id, what, symbol, spend, gas=tx.gas))
        else:
            what = Msg(f"sign.what.{tx.purpose}", {"amount": amount, "symbol": symbol, "staked_symbol": staked_symbol})
            spend = Msg("sign.amount", {"amount": amount, "symbol": symbol if tx.purpose == "stake" else staked_symbol})
            out.append(TxRequest(tx.to, data, tx.value, chain_id, what, staked_symbol,
                                 spend if tx.purpose != "claim" else None, gas=tx.gas))
    return out


async def mined_facts(chain: Chain, staking: str, address: str, block: int) -> dict[str, Any]:
    """The staked balance and cooldown right after the mined transaction, from the contract."""
    staked, info = await chain.multicall(
        [Call(staking, p.BALANCE_OF, (address,)), Call(staking, p.COOLDOWN_INFOS, (address,))], block=block
    )
    out: dict[str, Any] = {}
    if staked.ok:
        out["staked"] = int(staked.one())
    if info.ok:
        out["cooling"], out["cooling_end"] = int(info.values[0]), int(info.values[1])
    return out


def stake_mined(kind: str, params: StakeParams, result: Mapping[str, object], fee: Usd) -> list[Msg]:
    """A mined stake, unstake or claim, with the staked balance and cooldown the contract holds afterwards."""
    d = params.decimals
    amount = Amount(from_base_units(params.amount, d), d)
    base: dict[str, Any] = {"amount": amount, "symbol": params.symbol, "staked_symbol": params.staked_symbol,
                            "block": int(str(result["block"])), "fee": fee}
    lines = [Msg(f"stake.mined.{kind}", base)]
    if kind == "stake" and "staked" in result:
        lines.append(Msg("stake.mined.balance", {"staked": Amount(from_base_units(int(str(result["staked"])), d), d),
                                                 "staked_symbol": params.staked_symbol}))
    lines += points_lines(params.points)
    if kind == "unstake" and result.get("cooling"):
        lines.append(Msg("stake.mined.cooling", {
            "amount": Amount(from_base_units(int(str(result["cooling"])), d), d), "symbol": params.symbol,
            "end": When(int(str(result["cooling_end"])))}))
    return lines


def points_lines(params: Mapping[str, object]) -> list[Msg]:
    """What a stake does to the daily points (params from bot.market.positions.points_effect): the index's multipliers
    held → staked with the user's boost, or the boost level a SOSO stake or unstake moves to."""
    if "held_x" in params:
        number = int(str(params.get("level", 0)))
        boost = Msg("stake.points.boost", {"level": number, "boost": Amount(Decimal(str(params.get("boost_x", 1))), 2)}) if number else Msg("stake.points.no_boost")
        return [Msg("stake.points.index", {"held": Amount(Decimal(str(params["held_x"])), 2),
                                           "staked": Amount(Decimal(str(params["staked_x"])), 2), "boost": boost})]
    if "level_to" in params:
        if params["level_from"] == params["level_to"]:
            return [Msg("stake.points.soso.same", {"level": _level(params["level_to"])})]
        return [Msg("stake.points.soso", {"before": _level(params["level_from"]), "after": _level(params["level_to"])})]
    return []


def _level(raw: object) -> Msg:
    number = int(str(raw))
    return Msg("stake.points.level", {"level": number}) if number else Msg("stake.points.level.none")
