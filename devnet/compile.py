"""Compile the devnet's Solidity with the npm `solc` and load the Uniswap V2 and V3 artifacts from npm.

Compiler output is cached under devnet/build/, keyed by a hash of the sources and the solc version, so a
second run costs a file read. `INDEXBOT_NODE_MODULES` overrides where node_modules is looked for (by default
next to the repository's package.json).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import keccak

DEVNET_DIR = Path(__file__).resolve().parent
CONTRACTS_DIR = DEVNET_DIR / "contracts"
BUILD_DIR = DEVNET_DIR / "build"
POOL_INIT_CODE_HASH = "e34f199b19b2b4f47f68442619d555527d244f78a3297ea89325f843f87b8b54"
PAIR_INIT_CODE_HASH = "96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f"  # Uniswap V2, as on mainnet
EVM_VERSION = "cancun"

UNISWAP_ARTIFACTS = {
    "UniswapV3Factory": "@uniswap/v3-core/artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json",
    "UniswapV3Pool": "@uniswap/v3-core/artifacts/contracts/UniswapV3Pool.sol/UniswapV3Pool.json",
    "NonfungiblePositionManager": (
        "@uniswap/v3-periphery/artifacts/contracts/NonfungiblePositionManager.sol/NonfungiblePositionManager.json"
    ),
    "QuoterV2": "@uniswap/v3-periphery/artifacts/contracts/lens/QuoterV2.sol/QuoterV2.json",
    "SwapRouter02": "@uniswap/swap-router-contracts/artifacts/contracts/SwapRouter02.sol/SwapRouter02.json",
    "UniswapV2Factory": "@uniswap/v2-core/build/UniswapV2Factory.json",
    "UniswapV2Pair": "@uniswap/v2-core/build/UniswapV2Pair.json",
}

_SOLC_JS = """
const solc = require(process.argv[1]);
let input = '';
process.stdin.on('data', (c) => (input += c));
process.stdin.on('end', () => process.stdout.write(solc.compile(input)));
"""


class CompileError(RuntimeError):
    """solc reported errors, or an artifact is missing or not what the periphery expects."""


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str  # 0x-prefixed creation code


def repo_root() -> Path:
    for parent in DEVNET_DIR.parents:
        if (parent / "package.json").is_file():
            return parent
    raise CompileError("no package.json above devnet/; cannot locate node_modules")


def node_modules() -> Path:
    override = os.environ.get("INDEXBOT_NODE_MODULES")
    path = Path(override) if override else repo_root() / "node_modules"
    if not path.is_dir():
        raise CompileError(f"node_modules not found at {path}; run `make install`")
    return path


def solc_version() -> str:
    with (node_modules() / "solc" / "package.json").open() as fh:
        return str(json.load(fh)["version"])


def sources() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(CONTRACTS_DIR.glob("*.sol"))}


def sources_hash() -> str:
    h = hashlib.sha256(solc_version().encode())
    h.update(json.dumps(_standard_input({})["settings"], sort_keys=True).encode())
    for name, text in sources().items():
        h.update(name.encode() + b"\0" + text.encode() + b"\0")
    return h.hexdigest()[:16]


def _standard_input(srcs: dict[str, str]) -> dict[str, Any]:
    return {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in srcs.items()},
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "evmVersion": EVM_VERSION,
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }


def _run_solc(srcs: dict[str, str]) -> dict[str, Any]:
    solc_dir = node_modules() / "solc"
    proc = subprocess.run(
        ["node", "-e", _SOLC_JS, str(solc_dir)],
        input=json.dumps(_standard_input(srcs)),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise CompileError(f"solc failed: {proc.stderr.strip()}")
    out: dict[str, Any] = json.loads(proc.stdout)
    errors = [e for e in out.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompileError("\n".join(e.get("formattedMessage", e.get("message", "")) for e in errors))
    return out


@contextmanager
def build_lock(name: str) -> Iterator[None]:
    """Hold `devnet/build/.<name>.lock` (flock): several processes (pytest-xdist workers, a bench beside the bot)
    building the same cache wait for the first instead of each writing its own. One lock file per cache, because
    a second flock on a new descriptor of the same file would wait for this process's own first one."""
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with (BUILD_DIR / f".{name}.lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def compile_contracts() -> dict[str, Artifact]:
    """All devnet contracts by name, compiled once per source hash (by one process at a time)."""
    with build_lock("solc"):
        return _compiled()


def _compiled() -> dict[str, Artifact]:
    cache = BUILD_DIR / f"solc-{sources_hash()}.json"
    if cache.is_file():
        raw = json.loads(cache.read_text())
    else:
        out = _run_solc(sources())
        raw = {}
        for contracts in out["contracts"].values():
            for name, c in contracts.items():
                code = c["evm"]["bytecode"]["object"]
                if code:  # skip interfaces and abstract contracts
                    raw[name] = {"abi": c["abi"], "bytecode": "0x" + code}
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps(raw))
        tmp.replace(cache)
        for stale in BUILD_DIR.glob("solc-*.json"):
            if stale != cache:
                stale.unlink(missing_ok=True)
    return {name: Artifact(name, v["abi"], v["bytecode"]) for name, v in raw.items()}


def uniswap_artifacts() -> dict[str, Artifact]:
    """The Uniswap contracts as published on npm; checks the V3 pool init code hash the periphery expects and
    the V2 pair init code hash pair addresses are computed with (V2's build has unprefixed bytecode)."""
    base = node_modules()
    arts: dict[str, Artifact] = {}
    for name, rel in UNISWAP_ARTIFACTS.items():
        path = base / rel
        if not path.is_file():
            raise CompileError(f"missing Uniswap artifact {path}; run `make install`")
        with path.open() as fh:
            data = json.load(fh)
        arts[name] = Artifact(name, data["abi"], "0x" + str(data["bytecode"]).removeprefix("0x"))
    actual = keccak(hexstr=arts["UniswapV3Pool"].bytecode).hex().removeprefix("0x")
    if actual != POOL_INIT_CODE_HASH:
        raise CompileError(
            f"UniswapV3Pool init code hash is 0x{actual}, the periphery expects 0x{POOL_INIT_CODE_HASH}: "
            "v3-core and v3-periphery versions do not match"
        )
    for name in ("NonfungiblePositionManager", "QuoterV2", "SwapRouter02"):
        if POOL_INIT_CODE_HASH not in arts[name].bytecode:
            raise CompileError(f"{name} artifact does not embed the expected POOL_INIT_CODE_HASH")
    pair = arts["UniswapV2Pair"].bytecode
    if keccak(hexstr=pair).hex().removeprefix("0x") != PAIR_INIT_CODE_HASH:
        raise CompileError(f"UniswapV2Pair init code hash is not 0x{PAIR_INIT_CODE_HASH}: not v2-core 1.0.1")
    if pair.removeprefix("0x") not in arts["UniswapV2Factory"].bytecode:
        raise CompileError("UniswapV2Factory artifact does not create the UniswapV2Pair artifact")
    return arts


def artifacts_hash() -> str:
    """Hash of everything compiled or loaded: our sources, solc version and the Uniswap artifacts."""
    h = hashlib.sha256(sources_hash().encode())
    base = node_modules()
    for rel in UNISWAP_ARTIFACTS.values():
        h.update((base / rel).read_bytes())
    return h.hexdigest()[:16]


def all_artifacts() -> dict[str, Artifact]:
    return {**compile_contracts(), **uniswap_artifacts()}
