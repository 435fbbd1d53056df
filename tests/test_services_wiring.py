"""Handlers receive what they use: every service is required (the devnet's faucet the only optional one), a
wiring mistake stops the start-up, handlers are top-level functions, and no handler module imports another."""

import ast
import inspect
import pkgutil
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from bot.app import App
from bot.services import OPTIONAL, Services
import handlers
from handlers import FEATURES

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = [f.name for f in fields(Services) if f.name not in OPTIONAL]


def stand_ins() -> dict[str, object]:
    return {f.name: object() for f in fields(Services)}


def test_the_faucet_is_the_only_optional_service() -> None:
    assert OPTIONAL == {"faucet"}
    assert Services(**{**stand_ins(), "faucet": None}).faucet is None  # type: ignore[arg-type]
    assert len(REQUIRED) == len(fields(Services)) - 1


@pytest.mark.parametrize("name", REQUIRED)
def test_a_service_left_out_stops_the_start_up(name: str) -> None:
    given = stand_ins()
    with pytest.raises(TypeError, match=name):
        Services(**{**given, name: None})  # type: ignore[arg-type]
    del given[name]
    with pytest.raises(TypeError, match=name):
        Services(**given)  # type: ignore[arg-type]


async def test_the_app_wires_every_service(app: App) -> None:
    assert [name for name in REQUIRED if getattr(app.services, name) is None] == []
    assert app.services.desks.home.profile == app.services.profile  # the home chain's executor, reached one way
    assert set(app.router.sub_commands) == {("boost", "add"), ("boost", "remove"),  # registered by the staking feature
                                            ("start", "private")}  # by the private answers' feature


def test_handlers_are_top_level_and_register_is_a_table() -> None:
    """No function is defined inside another in a feature module: each handler can be imported and tested alone."""
    for feature in FEATURES:
        tree = ast.parse(inspect.getsource(feature))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inner = [n.name for n in ast.walk(node) if n is not node and isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
                assert inner == [], f"{feature.__name__}.{node.name} defines {inner}"


def test_the_independence_contract_covers_every_feature() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    independent = next(c for c in contracts if c["type"] == "independence")
    assert set(independent["modules"]) == {feature.__name__ for feature in FEATURES}
    assert {"handlers.pnl", "handlers.share"} <= set(independent["modules"])  # the share cards' /pnl


def test_every_feature_module_is_registered() -> None:
    """A feature module left out of FEATURES would be a command that silently does not exist."""
    modules = {f"handlers.{m.name}" for m in pkgutil.iter_modules(handlers.__path__) if m.name != "shared"}
    assert modules == {feature.__name__ for feature in FEATURES}


async def test_orders_that_act_by_themselves_are_wired(app: App) -> None:
    """/limit, /stop, /takeprofit and /limits are one feature (handlers.limits, beside /orders' factory requests),
    the `order` kind is registered with the pipeline, and the ledger records its fills."""
    assert {"limit", "stop", "takeprofit", "limits", "orders"} <= set(app.router.commands)
    assert "handlers.limits" in {feature.__name__ for feature in FEATURES}
    assert app.services.desks.home.kinds.missing() == [] and "order" in set(app.services.desks.home.kinds)
    assert app.services.limit_orders.desk is app.services.desks.home
