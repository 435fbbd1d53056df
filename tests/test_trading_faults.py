"""Faults: a crash around the broadcast, a stuck transaction, the chain going away mid-trade."""

import asyncio
import logging
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import make_config
from rpc_proxy import RpcProxy, tamper_transactions
from auxil.cli import database_env
from auxil.trading import settled, Recorder, click, funded_user, say, token_balance

from bot.config import Config
from bot.chain import protocol as p
from bot.app import App
from bot.trading.executor import Crash
from bot.trading.txs import unsigned_of
from bot.trading.intents import State
from bot.trading.ports import TradeSettings
from devnet import anvil as anvil_rpc
from devnet.harness import Devnet
from devnet.rpc import connect


async def last_notice(told: Recorder) -> str:
    """The text of the newest notice the recorder got, waiting up to 2.5 s for one to arrive."""
    for _ in range(50):
        if told.sent:
            break
        await asyncio.sleep(0.05)
    assert told.sent, "no notice was sent"
    return str(told.sent[-1][1])


@pytest.mark.parametrize("point", ["after_store", "after_broadcast"])
async def test_crash_around_broadcast_neither_loses_nor_repeats(chain: Devnet, tmp_path: Path, point: str) -> None:
    config = make_config(chain, tmp_path)
    first = await App.start(config)
    user, address = await funded_user(first)
    mag7 = first.profile.index("MAG7.ssi").token
    quoted = await say(first, "/buy MAG7.ssi 100")
    x = first.services.desks.home
    assert x is not None

    async def die(where: str) -> None:
        if where == point:
            raise Crash(where)

    x.fault = die
    with pytest.raises(Crash):
        await click(first, quoted, "Confirm", message_ref="quote-msg")
    intent = (await x.intents.of_user(user))[0]
    assert intent.state is State.SIGNED  # stored before broadcast; the crash came before "sent" was recorded
    await first.stop()

    second = await App.start(config)  # a fresh process on the same database and chain
    try:
        told = Recorder()
        second.notices.attach(told)
        await second.reconcile()
        assert await settled(second, intent.id) is State.MINED
        assert await second.chain.nonce(address) == 2  # one approval, one swap: nothing repeated
        assert await token_balance(second, mag7.address, address) >= int(intent.params["quoted_out"]) * 995 // 1000
        sent = await told.wait_sent(1)
        assert sent[-1][2] == "quote-msg" and "Confirmed in block" in sent[-1][1], sent
        await second.reconcile()  # a second start-up finds nothing left to do
        assert len(told.sent) == 1
    finally:
        await second.stop()


async def test_stuck_transaction_is_replaced_with_a_fee_bump(chain: Devnet, tmp_path: Path) -> None:
    settings = TradeSettings(inline_wait_seconds=0.2, replace_after_seconds=0.4, retry_seconds=0.1, max_replacements=1)
    app = await App.start(make_config(chain, tmp_path, trading=settings))
    told = Recorder()
    app.notices.attach(told)
    async with connect(chain.url) as w3:
        try:
            user, address = await funded_user(app)
            await anvil_rpc.node_call(w3, "evm_setAutomine", False)
            quoted = await say(app, "/buy MAG7.ssi 100")
            submitted = await click(app, quoted, "Confirm")
            assert submitted.rendered.text.startswith("Submitted."), submitted.rendered.text
            x = app.services.desks.home
            assert x is not None
            intent = (await x.intents.of_user(user))[0]
            deadline = time.monotonic() + 10
            while [(t.step, t.state) for t in await x.intents.txs(intent.id)] != [
                (0, "replaced"), (0, "sent"), (1, "replaced"), (1, "sent")
            ]:
                assert time.monotonic() < deadline, await x.intents.txs(intent.id)
                await asyncio.sleep(0.05)
            await anvil_rpc.node_call(w3, "evm_mine")
        finally:
            await anvil_rpc.node_call(w3, "evm_setAutomine", True)
        try:
            assert await settled(app, intent.id) is State.MINED
            rows = await x.intents.txs(intent.id)
            replaced = [r for r in rows if r.state == "replaced" or r.replaced_by]
            mined = [r for r in rows if r.state == "mined"]
            assert len(mined) == 2 and all(r.tx_hash in {o.replaced_by for o in replaced} for r in mined)
            for old in replaced:
                new = next(r for r in rows if r.tx_hash == old.replaced_by)
                assert new.nonce == old.nonce and new.max_fee >= old.max_fee * 11 // 10
                assert new.priority_fee >= old.priority_fee * 11 // 10
            assert await app.chain.nonce(address) == 2
            assert "Confirmed in block" in await last_notice(told)
        finally:
            await app.stop()


async def test_a_replacement_is_rebuilt_from_the_signed_tx_not_from_a_lying_node(
        chain: Devnet, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A hostile RPC answers eth_getTransaction for our stuck transactions with another recipient and calldata (a
    USDC transfer to itself). The fee-bumped replacement still goes where the user sent it, with the signed data;
    the mismatch is an ERROR, the intent is held for the operator (listed by `indexbot intents --held`, no further
    replacement), and the user is told "held for review", not "failed". Old code signed the node's answer."""
    settings = TradeSettings(inline_wait_seconds=0.2, replace_after_seconds=0.4, retry_seconds=0.1, max_replacements=3)
    attacker = "0x000000000000000000000000000000000000bad1"
    async with RpcProxy(chain.url) as proxy, connect(chain.url) as w3:
        app = await App.start(make_config(chain, tmp_path, trading=settings, rpc_urls=(proxy.url,)))
        try:
            told = Recorder()
            app.notices.attach(told)
            hashes: set[str] = set()
            usdc = app.profile.usdc.address
            stolen = "0x" + p.TRANSFER.encode(attacker, 100 * 10**6).hex()
            proxy.rewrite = tamper_transactions(hashes, to=usdc.lower(), input=stolen, value="0x0")
            user, address = await funded_user(app)
            await anvil_rpc.node_call(w3, "evm_setAutomine", False)
            quoted = await say(app, "/buy MAG7.ssi 100")
            x = app.services.desks.home
            assert x is not None
            with caplog.at_level(logging.ERROR, logger="bot.trading.follow"):
                submitted = await click(app, quoted, "Confirm")
                assert submitted.rendered.text.startswith("Submitted."), submitted.rendered.text
                intent = (await x.intents.of_user(user))[0]
                signed = {r.tx_hash: r for r in await x.intents.txs(intent.id)}
                hashes.update(h.lower() for h in signed)
                deadline = time.monotonic() + 10
                while len(rows := await x.intents.txs(intent.id)) == len(signed):
                    assert time.monotonic() < deadline, rows
                    await asyncio.sleep(0.05)
                await asyncio.sleep(1.0)  # longer than replace_after_seconds: a held intent is not replaced again
            old = next(r for r in rows if r.state == "replaced")
            new = next(r for r in rows if r.tx_hash == old.replaced_by)
            assert (unsigned_of(new).to, unsigned_of(new).data, unsigned_of(new).value) == (
                unsigned_of(old).to, unsigned_of(old).data, unsigned_of(old).value)  # not what the node said
            assert stolen[2:] not in unsigned_of(new).data.hex() and new.nonce == old.nonce
            assert len(await x.intents.txs(intent.id)) == len(signed) + 1  # held: no second replacement
            assert (await x.intents.get(intent.id)).state is State.HELD  # type: ignore[union-attr]
            alarms = [r for r in caplog.records if r.levelno == logging.ERROR and "differs" in r.getMessage()]
            assert alarms and old.tx_hash in alarms[0].getMessage()
            assert "Held for review" in await last_notice(told)
            listing = await asyncio.to_thread(operator, tmp_path, app.config, "--held")
            assert listing.returncode == 0 and f"{intent.id:>6}  held" in listing.stdout, listing
            assert old.tx_hash in listing.stdout and "input" in listing.stdout, listing.stdout
            await anvil_rpc.node_call(w3, "evm_mine")
            assert await token_balance(app, usdc, attacker) == 0
            assert await app.chain.nonce(address) == 2  # the approval's replacement and the swap: as signed
            assert (await x.intents.get(intent.id)).state is State.HELD  # type: ignore[union-attr]
            released = await asyncio.to_thread(operator, tmp_path, app.config, "--release", str(intent.id))
            assert released.returncode == 0 and (await x.intents.get(intent.id)).state is State.SENT  # type: ignore[union-attr]
        finally:
            await anvil_rpc.node_call(w3, "evm_setAutomine", True)
            await app.stop()


def operator(home: Path, config: Config, *args: str) -> subprocess.CompletedProcess[str]:
    """`indexbot intents ARGS` as the operator runs it, on the bot's database."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("INDEXBOT_", "TELEGRAM_", "DISCORD_"))}
    environ.update(INDEXBOT_HOME=str(home), LANG="C.UTF-8", **database_env(config))
    return subprocess.run([str(Path(sys.executable).with_name("indexbot")), "intents", *args], capture_output=True,
                          text=True, timeout=60, env=environ)


async def test_a_buy_behind_the_wallets_unmined_swap_approves_afresh(app: App, chain: Devnet) -> None:
    """The wallet's allowance covers a buy that is signed but not mined yet; a second buy signed meanwhile
    cannot count on that allowance (the first spends it), so it sends its own approval, with the gas of
    writing an allowance from zero. Both are mined in one block; neither runs out of gas or allowance."""
    user, address = await funded_user(app)
    x = app.services.desks.home
    assert x is not None
    x.settings = replace(x.settings, inline_wait_seconds=0.2)
    router, usdc = app.profile.swap_router02, app.profile.usdc.address
    async with connect(chain.url) as w3:
        await anvil_rpc.node_call(w3, "anvil_impersonateAccount", address)
        approve = {"from": address, "to": usdc, "data": "0x" + p.APPROVE.encode(router, 10 * 10**6).hex()}
        await w3.eth.wait_for_transaction_receipt(await w3.eth.send_transaction(approve))  # type: ignore[arg-type]
        await anvil_rpc.node_call(w3, "anvil_stopImpersonatingAccount", address)
        await anvil_rpc.node_call(w3, "evm_setAutomine", False)
        try:
            for ref in ("first", "second"):
                quoted = await say(app, "/buy MAG7.ssi 10")
                submitted = await click(app, quoted, "Confirm", message_ref=ref)
                assert submitted.rendered.text.startswith("Submitted."), submitted.rendered.text
            first, second = sorted(await x.intents.of_user(user), key=lambda i: i.id)
            assert [t.purpose for t in await x.intents.txs(first.id)] == ["swap"]  # the allowance covered it
            approval, _ = await x.intents.txs(second.id)
            assert approval.purpose == "approve"
            await anvil_rpc.node_call(w3, "evm_mine")
        finally:
            await anvil_rpc.node_call(w3, "evm_setAutomine", True)
    assert await settled(app, first.id) is State.MINED
    assert await settled(app, second.id) is State.MINED
    receipt = await app.chain.w3.eth.get_transaction_receipt(approval.tx_hash)
    sent = await app.chain.transaction(approval.tx_hash)
    assert sent is not None and receipt["status"] == 1
    assert receipt["gasUsed"] > 40_000 and sent["gas"] > receipt["gasUsed"]  # written from zero, and covered
    assert await token_balance(app, usdc, address) == (10_000 - 20) * 10**6


async def test_a_nonce_read_ahead_of_the_receipts_is_not_a_dropped_trade(
        app: App, chain: Devnet, monkeypatch: pytest.MonkeyPatch) -> None:
    """Some nodes (anvil while it mines, a load-balanced RPC) count a transaction in the sender's nonce before
    they serve its receipt. The follower then sees the nonce used and no receipt: it must wait for the
    receipt while the node still knows the transaction, never tell "not executed" about a trade that ran."""
    user, address = await funded_user(app)
    x = app.services.desks.home
    assert x is not None
    x.settings = replace(x.settings, inline_wait_seconds=0.3)
    read = app.chain.nonce

    async def ahead(who: str, block: object = "pending") -> int:
        return await read(who, "pending")  # the pool's transactions counted as if mined

    async with connect(chain.url) as w3:
        await anvil_rpc.node_call(w3, "evm_setAutomine", False)
        try:
            quoted = await say(app, "/buy MAG7.ssi 10")
            monkeypatch.setattr(app.chain, "nonce", ahead)
            submitted = await click(app, quoted, "Confirm")
            assert submitted.rendered.text.startswith("Submitted."), submitted.rendered.text
            (intent,) = await x.intents.of_user(user)
            assert await x.follower.check(intent.id) is None  # nonce "used", no receipt, the node has it: pending
            await anvil_rpc.node_call(w3, "evm_mine")
        finally:
            await anvil_rpc.node_call(w3, "evm_setAutomine", True)
    assert await settled(app, intent.id) is State.MINED
    assert await token_balance(app, app.profile.index("MAG7.ssi").token.address, address) > 0


async def test_a_trade_whose_nonce_another_transaction_took_is_dropped(app: App, chain: Devnet) -> None:
    """The wallet's key sends something else with the trade's nonce first (the user imported the key into
    another wallet): the trade never runs, and the user is told nothing was traded."""
    user, address = await funded_user(app)
    x = app.services.desks.home
    assert x is not None
    x.settings = replace(x.settings, inline_wait_seconds=0.3)
    account = await app.services.wallets.account(user)
    async with connect(chain.url) as w3:
        await anvil_rpc.node_call(w3, "evm_setAutomine", False)
        try:
            quoted = await say(app, "/buy MAG7.ssi 10")
            submitted = await click(app, quoted, "Confirm")
            assert submitted.rendered.text.startswith("Submitted."), submitted.rendered.text
            (intent,) = await x.intents.of_user(user)
            first = min(await x.intents.txs(intent.id), key=lambda t: t.nonce)
            await anvil_rpc.node_call(w3, "anvil_dropAllTransactions")  # the other wallet's reaches the miner first
            other = account.sign_transaction({
                "to": address, "value": 1, "gas": 21_000, "nonce": first.nonce, "chainId": app.profile.chain_id,
                "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9})
            await w3.eth.send_raw_transaction(other.raw_transaction)
            await anvil_rpc.node_call(w3, "evm_mine")
        finally:
            await anvil_rpc.node_call(w3, "evm_setAutomine", True)
    assert await settled(app, intent.id) is State.DROPPED
    assert (await x.intents.get(intent.id)).result == {"reason": "nonce used elsewhere"}  # type: ignore[union-attr]
    assert await token_balance(app, app.profile.usdc.address, address) == 10_000 * 10**6


@pytest.mark.chain  # starts a devnet (anvil) itself
async def test_chain_outage_mid_trade_recovers(tmp_path: Path) -> None:
    net = await Devnet.start(tmp_path / "net")
    settings = TradeSettings(inline_wait_seconds=0.3, retry_seconds=0.1)
    app = await App.start(make_config(net, tmp_path, trading=settings))
    try:
        told = Recorder()
        app.notices.attach(told)
        user, address = await funded_user(app)
        quoted = await say(app, "/buy MAG7.ssi 100")
        port = net.anvil.port
        saved: list[str] = []

        async def outage(where: str) -> None:
            if where == "after_store":  # signed and stored: now the node goes away before the broadcast
                async with connect(net.url) as w3:
                    saved.append(await anvil_rpc.dump_state(w3))
                await net.anvil.stop()

        x = app.services.desks.home
        assert x is not None
        x.fault = outage
        reply = await click(app, quoted, "Confirm")
        assert reply.rendered.text.startswith("Signed and saved, but the network is not answering"), reply.rendered.text
        intent = (await x.intents.of_user(user))[0]
        assert intent.state is State.SIGNED
        await asyncio.sleep(0.3)  # the follower keeps trying while the node is down
        await net.anvil.start(port=port)
        async with connect(net.url) as w3:
            await anvil_rpc.load_state(w3, saved[0])
        assert await settled(app, intent.id) is State.MINED
        assert await app.chain.nonce(address) == 2
        assert "Confirmed in block" in await last_notice(told)
    finally:
        await app.stop()
        await net.stop()
