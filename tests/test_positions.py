"""Staking positions, boost and time zones: the reader against the real devnet (state made with web3 from the
deployer's dev key, read back independently), /positions, /boost and /timezone through the real router, and
the boost table's pure functions."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from web3 import AsyncWeb3

from bot.app import App
from bot.points.boost import DEFAULT_LEVELS, BoostConfigError, BoostTable, level_for, multiplier, next_level, parse_boost
from bot.config import ConfigError, load_config
from bot.core.amounts import from_base_units
from bot.market.positions import boost_of
from devnet import operator
from devnet.harness import Devnet
from devnet.rpc import DEV_KEYS, Sender, contract
from test_wallet_commands import EN, ZH
from auxil.catalog import starts
from auxil.requests import CHAT_PER_TYPE

say = CHAT_PER_TYPE.reply_text  # the answer's text, as test_wallet_commands.py's users write


KEY = DEV_KEYS[0]  # the deployer: holds index tokens and SOSO, owns every staking token
TABLE = BoostTable()

# -- boost table (pure) ------------------------------------------------------------------------------------

LEVELS = [
    (None, None), (Decimal(0), None), (Decimal("0.0099"), None), (Decimal("0.01"), 1), (Decimal("0.0499"), 1),
    (Decimal("0.05"), 2), (Decimal("0.0999"), 2), (Decimal("0.10"), 3), (Decimal("0.25"), 4), (Decimal("0.4999"), 4),
    (Decimal("0.50"), 5), (Decimal("0.9999"), 5), (Decimal(1), 6), (Decimal(50), 6),
]


@pytest.mark.parametrize(("ratio", "level"), LEVELS, ids=[str(r) for r, _ in LEVELS])
def test_level_boundaries(ratio: Decimal | None, level: int | None) -> None:
    found = level_for(TABLE, ratio)
    assert (found.number if found else None) == level


MULTIPLIERS = [
    ("DEFI.ssi", "held", None, Decimal(3)), ("DEFI.ssi", "staked", None, Decimal(15)),
    ("DEFI.ssi", "cooling", DEFAULT_LEVELS[5], Decimal(0)), ("DEFI.ssi", "held", DEFAULT_LEVELS[0], Decimal(6)),
    ("DEFI.ssi", "staked", DEFAULT_LEVELS[4], Decimal(165)),  # 15 x 11 = 165: exactly the cap
    ("DEFI.ssi", "staked", DEFAULT_LEVELS[5], Decimal(165)),  # 15 x 15 = 225, capped
    ("MAG7.ssi", "staked", DEFAULT_LEVELS[5], Decimal(220)),  # MAG7's own cap
    ("MAG7.ssi", "held", DEFAULT_LEVELS[5], Decimal(45)),
]


@pytest.mark.parametrize(("index", "part", "level", "expected"), MULTIPLIERS)
def test_multiplier_is_base_times_boost_capped_per_index(index: str, part: Any, level: Any, expected: Decimal) -> None:
    assert multiplier(TABLE, index, part, level) == expected


def test_next_level_and_what_it_takes() -> None:
    assert next_level(TABLE, None) == DEFAULT_LEVELS[0] and next_level(TABLE, DEFAULT_LEVELS[-1]) is None
    b = boost_of(TABLE, Decimal(100), Decimal("0.5"), Decimal(10_000))  # $50 of SOSO on $10,000: 0.5 %
    assert (b.ratio, b.level, b.next) == (Decimal("0.005"), None, DEFAULT_LEVELS[0])
    assert b.soso_to_next == Decimal(100)  # $100 = 1 % needs 200 SOSO: 100 more
    top = boost_of(TABLE, Decimal(1_000_000), Decimal(1), Decimal(10))
    assert top.level == DEFAULT_LEVELS[-1] and top.next is None and top.soso_to_next is None
    unpriced = boost_of(TABLE, Decimal(5), None, Decimal(10_000))
    assert not unpriced.priced and unpriced.level is None and unpriced.ratio is None
    nothing_held = boost_of(TABLE, Decimal(5), Decimal(1), Decimal(0))
    assert nothing_held.ratio is None and nothing_held.level is None


BAD_BOOST = [
    {"levels": []}, {"levels": [["0.05", "2"], ["0.01", "3"]]}, {"levels": [["0.01", "4"], ["0.05", "2"]]},
    {"levels": [["0", "2"]]}, {"levels": [["0.01", "0.5"]]}, {"levels": [["x", "2"]]}, {"levels": ["0.01"]},
    {"cap": "lots"}, {"caps": {"MAG7.ssi": "NaN"}}, {"turbo": 1},
]


@pytest.mark.parametrize("raw", BAD_BOOST, ids=[str(r)[:30] for r in BAD_BOOST])
def test_bad_boost_config_is_refused(raw: dict[str, Any]) -> None:
    with pytest.raises(BoostConfigError):
        parse_boost(raw)


def test_boost_config_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[boost]\nlevels = [["0.02", "3"], ["0.2", "9"]]\ncap = "100"\ncaps = { "USSI" = "50" }\n')
    boost = load_config({"INDEXBOT_CONFIG": str(path)}).boost
    assert [(lv.min_ratio, lv.boost) for lv in boost.levels] == [(Decimal("0.02"), 3), (Decimal("0.2"), 9)]
    assert boost.cap_for("USSI") == 50 and boost.cap_for("MAG7.ssi") == 100 and boost.held == 3
    path.write_text('[boost]\nlevels = [["0.2", "3"], ["0.02", "9"]]\n')
    with pytest.raises(ConfigError):
        load_config({"INDEXBOT_CONFIG": str(path)})


# -- on the devnet -----------------------------------------------------------------------------------------


async def send(w3: AsyncWeb3, name: str, address: str, fn: str, *args: Any) -> dict[str, Any]:
    receipt = await Sender(w3, KEY, await w3.eth.chain_id).transact(getattr(contract(w3, name, address).functions, fn)(*args))
    return dict(receipt)


async def stake(w3: AsyncWeb3, token: str, staking: str, units: int) -> None:
    await send(w3, "AssetToken", token, "approve", staking, units)
    await send(w3, "StakeToken", staking, "stake", units)


async def onchain(w3: AsyncWeb3, staking: str, token: str, who: str) -> tuple[int, int, int, int, int]:
    """(held, staked, cooling amount, cooling end, cooldown) read independently with web3."""
    st = contract(w3, "StakeToken", staking)
    held = await contract(w3, "AssetToken", token).functions.balanceOf(who).call()
    amount, end = await st.functions.cooldownInfos(who).call()
    return held, await st.functions.balanceOf(who).call(), amount, end, await st.functions.cooldown().call()


async def test_positions_match_the_chain_and_flip_to_claimable_after_the_end(app: App, chain: Devnet, w3: AsyncWeb3) -> None:
    me = Sender(w3, KEY).address
    ref = app.profile.indexes[0]
    assert ref.staking is not None
    await stake(w3, ref.token.address, ref.staking.address, 5 * 10**8)
    receipt = await send(w3, "StakeToken", ref.staking.address, "unstake", 2 * 10**8)
    unstaked_at = int((await w3.eth.get_block(receipt["blockNumber"]))["timestamp"])
    await app.head.poll_once()
    got = await app.services.positions.read(me)  # type: ignore[union-attr]
    pos = next(p for p in got.indexes if p.symbol == ref.symbol)
    held, staked, cooling, end, cooldown = await onchain(w3, ref.staking.address, ref.token.address, me)
    assert (pos.held, pos.staked, pos.cooling) == tuple(from_base_units(u, 8) for u in (held, staked, cooling))
    assert (pos.staked, pos.cooling, pos.claimable) == (Decimal(3), Decimal(2), Decimal(0))
    assert pos.cooling_ends_at == end == unstaked_at + cooldown and pos.cooldown_seconds == cooldown
    assert pos.paused is False and pos.price == got.balances.of(ref.staking.symbol).usd / pos.staked  # type: ignore[operator]

    await operator.advance(chain.url, end - got.timestamp - 10)  # 10 s before the end: still cooling
    await app.head.poll_once()
    early = next(p for p in (await app.services.positions.read(me)).indexes if p.symbol == ref.symbol)  # type: ignore[union-attr]
    assert (early.cooling, early.claimable, early.cooling_down) == (Decimal(2), Decimal(0), Decimal(2))
    await operator.advance(chain.url, 10)  # at the end time: claimable
    await app.head.poll_once()
    after = await app.services.positions.read(me)  # type: ignore[union-attr]
    late = next(p for p in after.indexes if p.symbol == ref.symbol)
    assert after.timestamp >= end and (late.cooling, late.claimable, late.cooling_down) == (Decimal(2), Decimal(2), Decimal(0))


async def test_a_paused_staking_token_is_reported(app: App, w3: AsyncWeb3) -> None:
    ref = app.profile.indexes[1]
    assert ref.staking is not None
    await send(w3, "StakeToken", ref.staking.address, "pause")
    await app.head.poll_once()
    got = await app.services.positions.read(Sender(w3, KEY).address)  # type: ignore[union-attr]
    assert {p.symbol: p.paused for p in got.indexes if p.staking_symbol} == {
        r.symbol: r.symbol == ref.symbol for r in app.profile.indexes if r.staking
    }
    await say(app, "/wallet import " + KEY)
    reply = await say(app, "/positions")
    assert EN["positions.paused"].replace("{staking}", ref.staking.symbol) in reply


async def test_boost_level_follows_the_soso_staked(app: App, w3: AsyncWeb3) -> None:
    me, soso, ssoso = Sender(w3, KEY).address, app.profile.soso, app.profile.soso_staking
    assert soso is not None and ssoso is not None
    reader = app.services.positions
    assert reader is not None
    await app.head.poll_once()
    before = (await reader.read(me)).boost
    assert before.priced and before.level is None  # SOSO from its pool's TWAP: the $0.60 it was seeded at, to a tick
    assert before.soso_price is not None and abs(before.soso_price / Decimal("0.6") - 1) < Decimal("0.0001")
    for ratio, level in ((Decimal("0.02"), 1), (Decimal("0.12"), 3)):
        units = int((ratio * before.index_usd / before.soso_price).scaleb(18)) - int(before.soso_staked.scaleb(18))  # type: ignore[operator]
        await send(w3, "TestToken", soso.address, "approve", ssoso.address, units)
        await send(w3, "StakeToken", ssoso.address, "stake", units)
        await app.head.poll_once()
        got = await reader.read(me)
        staked = await contract(w3, "StakeToken", ssoso.address).functions.balanceOf(me).call()
        assert got.boost.soso_staked == from_base_units(staked, 18) and got.soso is not None and got.soso.staked == got.boost.soso_staked
        assert got.boost.level is not None and got.boost.level.number == level
        before = got.boost
    await say(app, "/wallet import " + KEY)
    reply = await say(app, "/boost")
    assert starts("boost.level") + "3" in reply and starts("boost.next") + "4" in reply
    rows = [line for line in reply.splitlines() if line.startswith(starts("boost.table.row")) and ": from " in line]
    assert len(rows) == len(DEFAULT_LEVELS) and rows[0] == "Level 1: from 1%, ×2"


async def test_positions_is_one_round_trip_and_in_the_chosen_zone_in_chinese(app: App, w3: AsyncWeb3) -> None:
    ref = app.profile.indexes[2]
    assert ref.staking is not None
    await stake(w3, ref.token.address, ref.staking.address, 4 * 10**8)
    await send(w3, "StakeToken", ref.staking.address, "unstake", 10**8)
    _, _, _, end, _ = await onchain(w3, ref.staking.address, ref.token.address, Sender(w3, KEY).address)
    await say(app, "/wallet import " + KEY)
    assert starts("timezone.set") in await say(app, "/timezone asia/shanghai")
    await app.head.poll_once()  # the head the reader reads at includes the unstake above
    await app.head.stop()  # no background polls: every round trip counted is the command's
    for ref in app.services.issuance.indexes:  # each factory's state at this block, read once per block for every view
        await app.services.issuance.state(ref)
    trips = app.chain.round_trips
    reply = await say(app, "/positions", locale="zh")
    factory_chains = {app.services.issuance.chain_of(ref).name for ref in app.services.issuance.indexes}
    # the home chain's read, and one balance read per chain of factory-issued indexes (the devnet's stock chain is
    # the same node, counted here), shared by the view and its transfer detection
    assert app.chain.round_trips - trips == 1 + len(factory_chains)
    local = datetime.fromtimestamp(end, UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"{local.year}年{local.month}月{local.day}日 {local:%H:%M} Asia/Shanghai" in reply  # to the minute
    assert starts("positions.staked", ZH) in reply and starts("positions.cooling", ZH) in reply
    assert "每日 15X 积分" in reply  # staked, no boost


BAD_ZONES = [
    ("/timezone Mars/Olympus", "error.timezone.unknown"), ("/timezone ../../etc/passwd", "error.timezone.unknown"),
    ("/timezone localtime", "error.timezone.unknown"), ("/timezone +08:00", "error.timezone.unknown"),
    ("/timezone " + "A" * 80, "error.timezone.unknown"), ("/timezone Asia/Shanghai extra", "error.args.extra"),
]


@pytest.mark.parametrize(("text", "key"), BAD_ZONES, ids=[t[10:30] for t, _ in BAD_ZONES])
async def test_bad_time_zones_are_refused_with_examples_and_change_nothing(app: App, text: str, key: str) -> None:
    reply = await say(app, text)
    assert reply.startswith(starts(key)), reply
    if key == "error.timezone.unknown":
        assert "Asia/Shanghai" in reply
    user = await app.services.users.seen("console", "u1")
    assert await app.services.settings.get_timezone(user.id) is None
    assert "UTC" in await say(app, "/timezone")


async def test_boost_sub_commands_dispatch_to_the_registered_hook(app: App) -> None:
    from bot.core.messages import Msg, Reply

    registered = dict(app.router.sub_commands)  # whatever the staking feature registered, put back after
    seen: list[tuple[str, ...]] = []

    async def add(caller: Any, args: tuple[str, ...]) -> Reply:
        seen.append(args)
        return Reply.of(Msg("boost.top"))

    try:
        app.router.sub_commands.clear()
        assert (await say(app, "/boost add 5")).startswith(starts("error.boost.unavailable"))
        app.router.sub_command("boost", "add", add)
        assert await say(app, "/boost ADD 5 more") == EN["boost.top"] and seen == [("5", "more")]
        assert (await say(app, "/boost frob")).startswith(starts("error.args.extra"))
    finally:
        app.router.sub_commands.clear()
        app.router.sub_commands.update(registered)


async def test_a_staking_token_without_paused_is_unknown_never_paused(app: App, w3: AsyncWeb3, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.chain import protocol
    from bot.chain.client import Fn

    monkeypatch.setattr(protocol, "PAUSED", Fn("pausedAbsent()", "bool"))  # what a StakeToken without paused() answers
    await app.head.poll_once()
    got = await app.services.positions.read(Sender(w3, KEY).address)  # type: ignore[union-attr]
    assert [p.paused for p in got.indexes if p.staking_symbol] == [None] * sum(1 for r in app.profile.indexes if r.staking)
    await say(app, "/wallet import " + KEY)
    assert EN["positions.paused"].split("}", 1)[1] not in await say(app, "/positions")


async def test_without_a_soso_feed_boost_needs_a_price_instead_of_guessing(app: App, w3: AsyncWeb3) -> None:
    from dataclasses import replace

    from bot.market.balances import BalanceReader
    from bot.market.quotes import Market
    from bot.market.positions import PositionReader
    from handlers.boost import level_lines

    profile = replace(app.profile, feeds={k: v for k, v in app.profile.feeds.items() if k != "SOSO"},
                      prices={k: v for k, v in app.profile.prices.items() if k != "SOSO"})  # no source for SOSO
    m = app.services.market
    market = Market(profile, app.chain, m.setup, app.head, m.settings)
    reader = PositionReader(profile, market, BalanceReader(profile, app.chain, market), TABLE)
    await app.head.poll_once()
    got = await reader.read(Sender(w3, KEY).address)
    b = got.boost
    assert not b.priced and b.level is None and b.soso_to_next is None
    soso = got.balances.of("SOSO")
    assert soso.units > 0 and soso.usd is None and soso in got.balances.unpriced  # shown, left out of the total
    assert [m.key for m in level_lines(b)] == ["boost.needs_price"]


@pytest.mark.parametrize(("text", "key"), [("/positions", "error.wallet.none"), ("/positions MAG7", "error.args.extra"),
                                           ("/boost", "error.wallet.none")])
async def test_positions_and_boost_bad_input(app: App, text: str, key: str) -> None:
    await app.head.stop()  # no background polls: every round trip counted is the command's
    trips = app.chain.round_trips
    assert (await say(app, text)).startswith(starts(key))
    assert app.chain.round_trips == trips  # refused before reading the chain
