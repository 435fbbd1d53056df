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
from typing import TYPE_CHECKING, Any, Literal

from bot import protocol as p
from bot.chain import BlockId, Call, Chain
from bot.core.amounts import from_base_units
from bot.core.errors import UserError
from bot.core.messages import Amount, Msg, When
from bot.profile import Profile, TokenRef
from bot.trading import swap
from bot.core.reverts import Units
from wallets.connected import TxRequest

if TYPE_CHECKING:
    from bot.trading.executor import Executor
    from bot.trading.intents import Intent

StakeKind = Literal["stake", "unstake", "claim"]
STAKE_KINDS: frozenset[str] = frozenset({"stake", "unstake", "claim"})
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
    out = [StakeTarget(r.symbol, r.token, r.staking) for r in profile.indexes if r.staking is not None]
    if profile.soso is not None and profile.soso_staking is not None:
        out.append(StakeTarget(profile.soso.symbol, profile.soso, profile.soso_staking))
    return out


def target_of(profile: Profile, staking: str) -> StakeTarget:
    return next(t for t in targets(profile) if t.staking.address.lower() == staking.lower())


async def read(chain: Chain, profile: Profile, t: StakeTarget, address: str, block: BlockId = "latest") -> StakeView:
    s, mc = t.staking.address, profile.multicall3
    rows = await chain.multicall(
        [Call(t.token.address, p.BALANCE_OF, (address,)), Call(s, p.BALANCE_OF, (address,)),
         Call(t.token.address, p.ALLOWANCE, (address, s)), Call(mc, p.GET_ETH_BALANCE, (address,)),
         Call(s, p.COOLDOWN_INFOS, (address,)), Call(s, p.COOLDOWN), Call(s, p.PAUSED), Call(mc, p.BLOCK_TIMESTAMP),
         Call(s, p.GET_AVAILABLE_BALANCE, (address,))],
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


def _amount(units: int, decimals: int) -> Amount:
    return Amount(from_base_units(units, decimals), decimals)


def check(kind: str, t: StakeTarget, v: StakeView, units: int | None) -> int:
    """The amount in base units this intent moves (`units` None = all), or a UserError saying why not."""
    d = t.token.decimals
    if v.paused:
        raise UserError("error.stake.paused", token=t.staking.symbol)
    if kind == "stake":
        have, nothing, short = v.held, "error.stake.nothing", "error.stake.short"
    elif kind == "unstake":
        have, nothing, short = v.staked, "error.unstake.nothing", "error.unstake.short"
    else:
        if not v.cooling:
            raise UserError("error.claim.nothing", symbol=t.symbol)
        if v.cooling_end > v.now:
            raise UserError("error.claim.early", amount=_amount(v.cooling, d), symbol=t.symbol,
                            left=Msg("time.duration", duration_parts(v.cooling_end - v.now)), end=When(v.cooling_end))
        have, nothing, short = v.cooling, "error.claim.nothing", "error.claim.short"
    if units is None and not have:
        raise UserError(nothing, symbol=t.symbol)
    if units is not None and units > have:
        raise UserError(short, symbol=t.symbol, staked_symbol=t.staking.symbol, need=_amount(units, d),
                        have=_amount(have, d))
    if kind == "unstake" and v.locked and not v.unstakable:  # whatever was asked: lockers hold all of it
        raise UserError("error.unstake.all_locked", staked=_amount(v.staked, d), locked=_amount(v.locked, d),
                        staked_symbol=t.staking.symbol)
    if units is None:  # "all" is all that can move: what lockers hold stays staked
        return v.unstakable if kind == "unstake" and v.locked else have
    if kind == "unstake" and units > v.unstakable:
        raise UserError("error.unstake.locked", need=_amount(units, d), staked=_amount(v.staked, d),
                        locked=_amount(v.locked, d), available=_amount(v.unstakable, d), staked_symbol=t.staking.symbol)
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
    x: Executor, user_id: int, platform: str, chat_id: str, kind: StakeKind, t: StakeTarget, amount: Decimal | None,
    points: Mapping[str, str] | None = None,
) -> StakeOffer:
    """Check against the chain and store the intent in `quoted` (amount None = all); times shown in the reader's zone."""
    who = await x.sender(user_id)
    await x.ready(user_id, who)
    v = await read(x.chain, x.profile, t, who.address)
    units = check(kind, t, v, None if amount is None else int(amount.scaleb(t.token.decimals)))
    if kind == "unstake" and v.cooldown is None:
        raise UserError("error.unstake.cooldown_unknown", token=t.staking.symbol)
    new_end = v.now + v.cooldown if kind == "unstake" and v.cooldown is not None else None
    params: dict[str, Any] = {
        "index": t.symbol, "staking": t.staking.address, "token": t.token.address, "symbol": t.symbol,
        "staked_symbol": t.staking.symbol, "decimals": t.token.decimals, "amount": units,
        "pending": v.cooling, "pending_end": v.cooling_end, "cooldown": v.cooldown,
        "restart": kind == "unstake" and v.cooling > 0,
        **(points or {}),  # what it does to the daily points, as told at quote time (bot.staking.points_effect)
    }
    if who.kind == "connected":
        params["wallet"] = "connected"
    intent_id = await x.intents.create(
        user_id=user_id, address=who.address, kind=kind, chain_id=x.profile.chain_id, params=params,
        expires_at=int(x.clock()) + x.settings.quote_ttl_seconds, platform=platform, chat_id=chat_id,
    )
    return StakeOffer(intent_id, units, v, new_end, who.kind, who.address)


async def stake_txs(x: Executor, intent: Intent, fees: swap.Fees) -> list[swap.UnsignedTx]:
    """Checks again at the pending block, then the transactions, each with a gas limit."""
    prm = intent.params
    t = target_of(x.profile, prm["staking"])
    v = await read(x.chain, x.profile, t, intent.address, block="pending")
    kind, units, address = intent.kind, int(prm["amount"]), intent.address
    if kind == "unstake" and v.cooling > 0 and not prm.get("restart"):
        raise UserError("error.unstake.pending_appeared", amount=_amount(v.cooling, t.token.decimals), symbol=t.symbol)
    check(kind, t, v, units)
    call = swap.stake_call(kind, t.staking.address, units, 0)
    approval = None
    if kind == "stake":
        approval = await x.exact_approval(intent, t.token.address, t.staking.address, units, v.allowance)
    shown = Units(t.token.symbol if kind == "stake" else t.staking.symbol, t.token.decimals)  # a revert's amounts
    if approval:
        gas = await x.estimate_behind_approval(address, call.to, call.data, t.token.address, t.staking.address, units,
                                               STAKE_GAS_BOUND, shown)
        txs = [approval, swap.stake_call(kind, t.staking.address, units, gas)]
    else:
        txs = [swap.stake_call(kind, t.staking.address, units, await x._estimate(address, call.to, call.data, CALL_GAS, shown))]
    x._check_gas(txs, fees, v.eth)
    return txs


async def execute(x: Executor, intent: Intent) -> Any:
    """A custodial wallet's stake, unstake or claim: sign, store, broadcast under the address's nonce lock."""
    return await x.send_built(intent, lambda fees: stake_txs(x, intent, fees))


def requests(prm: dict[str, Any], txs: list[swap.UnsignedTx], chain_id: int) -> list[TxRequest]:
    """The steps for a connected wallet's signing page, in plain words."""
    amount = Amount(from_base_units(int(prm["amount"]), int(prm["decimals"])), int(prm["decimals"]))  # every digit
    out: list[TxRequest] = []
    for tx in txs:
        data = "0x" + tx.data.hex()
        if tx.purpose == "approve":
            what = Msg("sign.what.approve", {"spender": prm["staked_symbol"], "amount": amount, "symbol": prm["symbol"]})
            spend = Msg("sign.amount", {"amount": amount, "symbol": prm["symbol"]})
            out.append(TxRequest(tx.to, data, tx.value, chain_id, what, prm["symbol"], spend, gas=tx.gas))
        else:
            what = Msg(f"sign.what.{tx.purpose}", {"amount": amount, "symbol": prm["symbol"],
                                                  "staked_symbol": prm["staked_symbol"]})
            spend = Msg("sign.amount", {"amount": amount, "symbol": prm["symbol" if tx.purpose == "stake" else "staked_symbol"]})
            out.append(TxRequest(tx.to, data, tx.value, chain_id, what, prm["staked_symbol"],
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
