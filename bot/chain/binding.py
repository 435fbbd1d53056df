"""A database bound to its chain: the chain id and genesis hash are recorded at the first start and checked at
every later one, before anything reads or writes what the database holds.

A database holds wallets, intents with signed transactions and their nonces, positions' history and points,
all of one chain. Started on another (a production database pointed at the wrong RPC, or a devnet that started
over while the database remembered the old one), it would show wrong balances, re-broadcast old transactions to
the new chain and sign with nonces far beyond the new chain's. So a start on a chain the database does not
belong to is refused, with a message naming both chains, and nothing is changed.

Companions on chains of their own are recorded by their chain id on first sight. A devnet also records an anchor
block (its head at the first start): devnets booted from the same deploy cache share block 0, so only a later
block tells a restored devnet (its saved state keeps every block) from a new one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, exc, select
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool
from web3.exceptions import BlockNotFound

from bot.chain.client import Chain
from bot.chain.profile import Profile
from bot.storage.db import Database
from bot.storage.schema import chain_bindings


class StartupRefused(RuntimeError):
    """The bot refuses to start: an operator-facing message (printed by the CLI), nothing was changed."""


class ChainMismatch(StartupRefused):
    """The database belongs to another chain than the one configured."""


@dataclass(frozen=True)
class Binding:
    chain_id: int
    genesis_hash: str
    anchor_block: int | None
    anchor_hash: str | None
    label: str
    home: bool


def _short(h: str) -> str:
    return h[:10] + "…" + h[-4:]


async def _block_hash(chain: Chain, number: int) -> str | None:
    try:
        block = await chain.w3.eth.get_block(number)
    except BlockNotFound:
        return None
    return "0x" + bytes(block["hash"]).hex()


async def _bindings(db: Database) -> dict[int, Binding]:
    t = chain_bindings
    rows = await db.fetch_all(select(t.c.chain_id, t.c.genesis_hash, t.c.anchor_block, t.c.anchor_hash, t.c.label, t.c.home))
    return {int(r.chain_id): Binding(int(r.chain_id), str(r.genesis_hash),
                                     None if r.anchor_block is None else int(r.anchor_block),
                                     None if r.anchor_hash is None else str(r.anchor_hash), str(r.label), bool(r.home))
            for r in rows}


async def bind_chains(db: Database, database_path: str | Path, chains: Sequence[tuple[Profile, Chain]],
                      clock: Callable[[], float] = time.time) -> list[Binding]:
    """Check every chain against what the database recorded, then record the ones it has not seen. The first
    pair is the home chain. Raises ChainMismatch (nothing recorded) on any mismatch; returns the new bindings."""
    known = await _bindings(db)
    home_was = next((b for b in known.values() if b.home), None)
    found: dict[int, tuple[Profile, Chain, str]] = {}
    for i, (profile, chain) in enumerate(chains):
        if profile.chain_id in found:
            continue  # a companion on the home chain (or two companions on one chain): checked once
        served = int(await chain.w3.eth.chain_id)
        if served != profile.chain_id:  # checked here too: a companion is verified after the binding
            raise ChainMismatch(f"the RPC of {profile.name!r} serves chain id {served}, the profile says chain id "
                                f"{profile.chain_id}; refusing to start, nothing was changed.")
        genesis = await _block_hash(chain, 0)
        assert genesis is not None
        found[profile.chain_id] = (profile, chain, genesis)
        if i == 0 and home_was is not None and home_was.chain_id != profile.chain_id:
            raise ChainMismatch(
                f"the database {database_path} belongs to chain id {home_was.chain_id} ({home_was.label}, genesis "
                f"{_short(home_was.genesis_hash)}), but the profile {profile.name!r} runs on chain id "
                f"{profile.chain_id} ({profile.chain_label}, genesis {_short(genesis)}); refusing to start, nothing "
                "was changed. Point the bot at the chain this database belongs to, or give it another database "
                "(INDEXBOT_DB).")
        was = known.get(profile.chain_id)
        if was is None:
            continue
        if was.genesis_hash != genesis:
            raise ChainMismatch(
                f"the database {database_path} belongs to chain id {was.chain_id} with genesis "
                f"{_short(was.genesis_hash)}, but the RPC of {profile.name!r} serves chain id {profile.chain_id} with "
                f"genesis {_short(genesis)}: another chain with the same id; refusing to start, nothing was changed. "
                + _remedy(profile))
        if was.anchor_block is not None:
            anchor = await _block_hash(chain, was.anchor_block)
            if anchor != was.anchor_hash:
                seen = "has no such block" if anchor is None else f"has {_short(anchor)} there"
                raise ChainMismatch(
                    f"the database {database_path} belongs to a devnet (chain id {was.chain_id}) whose block "
                    f"{was.anchor_block} is {_short(str(was.anchor_hash))}, but the devnet of {profile.name!r} "
                    f"{seen}: the devnet was started over while the database remembers the old one; refusing to "
                    "start, nothing was changed. " + _remedy(profile))
    new = []
    for chain_id, (profile, chain, genesis) in found.items():
        if chain_id in known:
            continue
        anchor_block = anchor_hash = None
        if "devnet" in profile.extra:
            anchor_block = await chain.block_number()
            anchor_hash = await _block_hash(chain, anchor_block)
        new.append(Binding(chain_id, genesis, anchor_block, anchor_hash, profile.chain_label,
                           home=home_was is None and chain_id == chains[0][0].chain_id))
    if not new:
        return new
    # Checked on what was read, then recorded: another process starting on this database at the same time (a
    # fleet's workers on PostgreSQL) may record a chain in between. Each row goes in with ON CONFLICT DO NOTHING
    # RETURNING; if one was there already, nothing is recorded and the whole check runs again on what that process
    # recorded.
    try:
        async with db.transaction() as tx:
            for b in new:
                if await tx.fetch_one(
                    tx.insert(chain_bindings)
                    .values(chain_id=b.chain_id, genesis_hash=b.genesis_hash, anchor_block=b.anchor_block,
                            anchor_hash=b.anchor_hash, label=b.label, home=int(b.home), bound_at=int(clock()))
                    .on_conflict_do_nothing(index_elements=[chain_bindings.c.chain_id])
                    .returning(chain_bindings.c.chain_id)
                ) is None:
                    raise _Raced
    except _Raced:
        return await bind_chains(db, database_path, chains, clock)
    return new


class _Raced(Exception):
    """Another process recorded one of the chains first: this start's records are rolled back."""


def _remedy(profile: Profile) -> str:
    if "devnet" in profile.extra:
        return "`indexbot devnet reset` starts the devnet and its database over."
    return "Point the bot at the chain this database belongs to, or give it another database (INDEXBOT_DB)."


def bound_chain_ids(database_path: str | Path) -> list[int]:
    """The chain ids a database file is bound to, read without opening it for writing ([] when there is no file
    or no binding yet): a devnet whose saved state is missing is refused before anything starts."""
    path = Path(database_path)
    if not path.is_file():
        return []
    # SQLite's read-only URI (the embedded devnet's database is a SQLite file), with no pool left behind
    engine = create_engine(URL.create("sqlite", database=f"file:{path.resolve()}", query={"mode": "ro", "uri": "true"}),
                           poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [int(chain_id) for chain_id in conn.scalars(select(chain_bindings.c.chain_id))]
    except exc.DBAPIError:
        return []  # no binding table yet (a database from before bindings): bound at this start
    finally:
        engine.dispose()


def refuse_lost_devnet(database_path: str | Path, state_path: Path) -> None:
    """The embedded devnet's saved chain is gone while the database is bound to it: refused before a new devnet
    starts (it would show every wallet empty and sign with nonces the new chain never reached)."""
    bound = bound_chain_ids(database_path)
    if not state_path.is_file() and bound:
        raise ChainMismatch(
            f"the database {database_path} belongs to chain id {', '.join(map(str, bound))}, but the embedded "
            f"devnet's saved chain {state_path} is missing: a new devnet would be another chain; refusing to start, "
            "nothing was changed. `indexbot devnet reset` starts the devnet and its database over (or set "
            "INDEXBOT_CHAIN to the chain this database belongs to).")
