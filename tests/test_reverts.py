"""Every revert decoded (bot.core.reverts): reason strings, the protocol's custom errors by selector, panics,
and what cannot be decoded, rendered in both languages. Table-driven; the data is built with eth_abi as a node
returns it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError

from bot.core.messages import Amount, Msg
from bot.i18n import Catalogs
from bot.core.reverts import ERRORS, STRINGS, Revert, Units, explain, from_text, revert_of

USER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
CATALOGS = Catalogs()


def custom(signature: str, types: list[str], args: list[Any]) -> str:
    return "0x" + keccak(text=signature)[:4].hex() + encode(types, args).hex()


def string(text: str) -> str:
    return "0x08c379a0" + encode(["string"], [text]).hex()


SSOSO = Units("sSOSO", 18)

CASES: list[tuple[str, Units, Msg]] = [
    (custom("InsufficientAvailableBalance(address,uint256,uint256)", ["address", "uint256", "uint256"],
            [USER, 3 * 10**18, 5 * 10**18]), SSOSO,
     Msg("revert.e.insufficient_available", {"available": Amount(Decimal(3), 18), "required": Amount(Decimal(5), 18),
                                             "symbol": "sSOSO"})),
    (custom("EnforcedPause()", [], []), Units(), Msg("revert.e.paused")),
    (custom("ExpectedPause()", [], []), Units(), Msg("revert.e.not_paused")),
    (custom("OwnableUnauthorizedAccount(address)", ["address"], [USER]), Units(),
     Msg("revert.e.unauthorized", {"account": USER})),
    (custom("AccessControlUnauthorizedAccount(address,bytes32)", ["address", "bytes32"], [USER, keccak(text="ROLE")]),
     Units(), Msg("revert.e.unauthorized", {"account": USER})),
    (custom("ERC20InsufficientBalance(address,uint256,uint256)", ["address", "uint256", "uint256"], [USER, 1, 2]),
     Units("MAG7.ssi", 8),
     Msg("revert.e.balance", {"have": Amount(Decimal("1E-8"), 8), "need": Amount(Decimal("2E-8"), 8), "symbol": "MAG7.ssi"})),
    (custom("ERC20InsufficientAllowance(address,uint256,uint256)", ["address", "uint256", "uint256"], [USER, 0, 7]),
     Units(), Msg("revert.e.allowance", {"have": "0", "need": "7", "symbol": ""})),
    (custom("TooManyActiveLocks(address,uint256)", ["address", "uint256"], [USER, 200]), Units(),
     Msg("revert.e.too_many_locks")),
    (string("cooldowning"), Units(), Msg("revert.s.cooldowning", {"reason": "cooldowning"})),
    (string("coolingdown"), Units(), Msg("revert.s.cooldowning", {"reason": "coolingdown"})),
    (string("not enough cooldown amount"), Units(), Msg("revert.s.not_enough_cooldown", {"reason": "not enough cooldown amount"})),
    (string("Too little received"), Units(), Msg("revert.s.slippage", {"reason": "Too little received"})),
    (string("something new"), Units(), Msg("revert.string", {"reason": "something new"})),
    ("0x4e487b71" + encode(["uint256"], [0x11]).hex(), Units(), Msg("revert.panic", {"code": "0x11"})),
    ("0xdeadbeef", Units(), Msg("revert.unknown", {"selector": "0xdeadbeef"})),
    ("0xdeadbeef" + "00" * 32, Units(), Msg("revert.unknown", {"selector": "0xdeadbeef"})),
    # a known selector whose arguments do not decode: the selector, never a crash
    (custom("OwnableUnauthorizedAccount(address)", [], []), Units(),
     Msg("revert.unknown", {"selector": "0x118cdaa7"})),
    ("0x", Units(), Msg("revert.empty")),
    ("", Units(), Msg("revert.empty")),
]


@pytest.mark.parametrize(("data", "units", "expected"), CASES, ids=[c[2].key + str(i) for i, c in enumerate(CASES)])
def test_each_revert_is_decoded(data: str, units: Units, expected: Msg) -> None:
    assert explain(Revert(data), units) == expected


@pytest.mark.parametrize(("data", "units", "expected"), CASES, ids=[c[2].key + str(i) for i, c in enumerate(CASES)])
@pytest.mark.parametrize("locale", CATALOGS.locales)
def test_each_revert_renders_in_every_language(data: str, units: Units, expected: Msg, locale: str) -> None:
    text = CATALOGS.render_msg(explain(Revert(data), units), locale, lambda s: s)
    assert text and "{" not in text and "something went wrong" not in text.lower()
    if expected.key == "revert.unknown":
        assert str(expected.params["selector"]) in text


def test_every_registered_error_has_catalog_entries() -> None:
    keys = {e.key for e in ERRORS.values()} | set(STRINGS.values())
    for locale in CATALOGS.locales:
        assert sorted(keys - set(CATALOGS.entries[locale])) == []


def test_selectors_are_the_signatures() -> None:
    assert ERRORS["0xd93c0665"].signature == "EnforcedPause()"
    assert ERRORS["0x118cdaa7"].signature == "OwnableUnauthorizedAccount(address)"
    assert all(sel == "0x" + keccak(text=e.signature)[:4].hex() for sel, e in ERRORS.items())


EXCEPTIONS: list[tuple[BaseException, Revert | None]] = [
    (ContractLogicError("execution reverted: cooldowning", data=string("cooldowning")),
     Revert(string("cooldowning"), "execution reverted: cooldowning")),
    (ContractCustomError("0xd93c0665", data="0xd93c0665"), Revert("0xd93c0665", "0xd93c0665")),
    (ContractLogicError("execution reverted", data={"data": "0xd93c0665"}), Revert("0xd93c0665", "execution reverted")),
    (ContractLogicError("execution reverted", data=None), Revert("", "execution reverted")),
    (ContractLogicError("execution reverted", data="Reverted 0xd93c0665"), Revert("0xd93c0665", "execution reverted")),
    (Web3RPCError("x", rpc_response={"error": {"code": 3, "message": "execution reverted", "data": "0xd93c0665"}}),
     Revert("0xd93c0665", "execution reverted")),
    (Web3RPCError("x", rpc_response={"error": {"code": -32000, "message": "insufficient funds for gas"}}), None),
    (Web3RPCError("x", rpc_response={"error": {"code": -32005, "message": "rate limited"}}), None),
    (ValueError("not web3"), None),
]


@pytest.mark.parametrize(("exc", "expected"), EXCEPTIONS)
def test_revert_of_finds_the_data_in_web3_exceptions(exc: BaseException, expected: Revert | None) -> None:
    assert revert_of(exc) == expected


def test_an_old_result_known_only_by_its_text_is_decoded_the_same_way() -> None:
    assert explain(from_text("cooldowning")) == Msg("revert.s.cooldowning", {"reason": "cooldowning"})
    assert explain(from_text("unknown")) == Msg("revert.empty")


@pytest.mark.parametrize(("prm", "result", "expected"), [
    ({"staked_symbol": "sSOSO", "decimals": 18},
     {"revert": custom("InsufficientAvailableBalance(address,uint256,uint256)", ["address", "uint256", "uint256"],
                       [USER, 10**18, 2 * 10**18]), "reason": "0x…"},
     Msg("revert.e.insufficient_available", {"available": Amount(Decimal(1), 18), "required": Amount(Decimal(2), 18),
                                             "symbol": "sSOSO"})),
    ({"symbol_in": "USDC", "decimals_in": 6}, {"revert": string("Too little received")},
     Msg("revert.s.slippage", {"reason": "Too little received"})),
    ({}, {"reason": "cooldowning"}, Msg("revert.s.cooldowning", {"reason": "cooldowning"})),  # stored before the data was
    ({}, {"reason": "unknown"}, Msg("revert.empty")),
    ({}, {}, Msg("revert.empty")),
])
def test_a_mined_revert_is_explained_from_the_intents_result(prm: dict[str, Any], result: dict[str, Any], expected: Msg) -> None:
    from bot.trading.present import revert_reason

    assert revert_reason(prm, result) == expected


@pytest.mark.parametrize(("raised", "locale", "expected"), [
    (ContractCustomError("0xd93c0665", data="0xd93c0665"), "en",
     "The contract refused this (the contract is paused by its owner). Nothing was changed."),
    (ContractLogicError("execution reverted: is rebalancing", data=string("is rebalancing")), "zh-CN",
     "合约拒绝了此操作（指数正在再平衡）。未做任何更改。"),
    (ContractCustomError("0xdeadbeef", data="0xdeadbeef"), "en",
     "The contract refused this (reverted by the contract with error 0xdeadbeef). Nothing was changed."),
    (RuntimeError("boom"), "en", "Something went wrong on our side. Nothing was changed; please try again."),
])
async def test_a_revert_no_feature_expected_is_answered_in_words_by_the_router(
        tmp_path: Any, raised: Exception, locale: str, expected: str) -> None:
    from bot.frontends.adapters.base import PlainMarkup
    from bot.core.request import Caller, Request
    from bot.core.router import Router
    from bot.storage.db import Database
    from bot.storage.repositories import ButtonRows, UserRows

    db = await Database.open(tmp_path / "t.sqlite3")
    try:
        router = Router(UserRows(db), ButtonRows(db), Catalogs())

        async def refused(caller: Caller) -> Any:
            raise raised

        router.command("refused", refused)
        request = Request(platform="console", user_id="1", chat_id="c", chat_type="private", locale=locale,
                          command="refused")
        out = await router.handle(request, PlainMarkup())
        assert out.rendered.text == expected
    finally:
        await db.close()
