"""Discord in a fleet: gateway shards chosen per process, and interactions acknowledged by the gateway process that
received them and answered by a worker of another.

The fleet is two `App`s on one PostgreSQL database, each with its own job engine (procrastinate) and its own
discord.py client: the gateway's receives INTERACTION_CREATE payloads through discord.py's own dispatch, the
worker's runs the engine's jobs. Both talk HTTP to the Discord stand-in (`rest`), which answers an interaction's
webhook only after that interaction was acknowledged, as Discord does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import discord
import pytest
import yarl
from discord.gateway import DiscordWebSocket
from sqlalchemy import select

from bot import roles as roles_of
from bot.app import App
from bot.config import ConfigError, DiscordShards, Secret, load_config
from bot.core.request import Request
from bot.logs import cap
from bot.metrics import INVALID_REQUESTS
from bot.core.router import Outcome
from bot.frontends.adapters.discord import DiscordFrontend, ShardedIndexClient, make_client
from bot.frontends.adapters.discord_render import MARKUP
from bot.core.messages import Msg, Rendered, RenderedButton, Reply
from bot.frontends.adapters.discord_handover import TASK, Finisher, answer, chat_lock
from bot.jobs.engine import cancelled
from bot.roles import ALL
from bot.storage.interactions import InteractionRows
from bot.storage.schema import discord_interactions, users
from conftest import make_config
from devnet.harness import Devnet
from discord_fake import APP_ID, CHANNEL_ID, DM_CHANNEL_ID, GUILD_ID, Call, FakeDiscord, dispatched, message_dict, press_payload, slash_payload, user_dict
from auxil.catalog import entry
from auxil.discord import ALICE

DEFERRED_WITH_THINKING = 5  # "the bot is thinking…": a command's answer comes later
DEFERRED_UPDATE = 6  # a press acknowledged silently: the pressed message is edited later
EPHEMERAL = 64
MODAL = 9  # the press is answered with a form
ACK_WINDOW = 3.0  # seconds Discord waits for the acknowledgement


# -- shards ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("count, ids, refused", [
    ("", "0,1", "needs DISCORD_SHARD_COUNT"),
    ("two", "", "whole number of shards"),
    ("0", "", "at least 1"),
    ("-2", "", "at least 1"),
    ("2", "0,2", "shard 2 does not exist; with DISCORD_SHARD_COUNT=2 the shards are 0 to 1"),
    ("4", "-1", "shard -1 does not exist"),
    ("4", "1,1", "names shard 1 more than once"),
    ("4", "0,,1", "separated by commas"),
    ("4", "one", "separated by commas"),
])
def test_shard_settings_that_cannot_work_are_refused(count: str, ids: str, refused: str) -> None:
    with pytest.raises(ConfigError, match=refused):
        load_config({"DISCORD_SHARD_COUNT": count, "DISCORD_SHARD_IDS": ids})


@pytest.mark.parametrize("count, ids, shards", [
    ("", "", None),
    ("4", "", DiscordShards(4)),
    ("4", "3", DiscordShards(4, (3,))),
    ("4", " 0, 2 ", DiscordShards(4, (0, 2))),
])
def test_shard_settings_taken(count: str, ids: str, shards: DiscordShards | None) -> None:
    assert load_config({"DISCORD_SHARD_COUNT": count, "DISCORD_SHARD_IDS": ids}).discord_shards == shards


async def test_each_shard_setting_gives_discord_py_its_shards(app: App) -> None:
    """Unset: one connection, as before; one id: a Client of that shard; several (or all): an AutoShardedClient."""
    plain = make_client(app, None, "!", discord.Intents.default(), None)
    assert not isinstance(plain, discord.AutoShardedClient) and plain.shard_id is None and plain.shard_count is None
    one = make_client(app, None, "!", discord.Intents.default(), DiscordShards(4, (3,)))
    assert not isinstance(one, discord.AutoShardedClient) and (one.shard_id, one.shard_count) == (3, 4)
    some = make_client(app, None, "!", discord.Intents.default(), DiscordShards(4, (0, 2)))
    assert isinstance(some, ShardedIndexClient) and (some.shard_ids, some.shard_count) == ([0, 2], 4)
    every = make_client(app, None, "!", discord.Intents.default(), DiscordShards(2))
    assert isinstance(every, ShardedIndexClient) and (every.shard_ids, every.shard_count) == (None, 2)
    for client in (plain, one):  # discord.py's sharded client can be closed only once it connected; unlogged, it holds nothing
        await client.close()


@pytest.mark.parametrize("shards, identified", [
    (None, [None]),  # unset: one connection that names no shard, as before
    (DiscordShards(4, (2,)), [[2, 4]]),
    (DiscordShards(4, (1, 3)), [[1, 4], [3, 4]]),  # discord.py waits 5 s between two identifies, as Discord asks
])
async def test_a_gateway_process_connects_as_its_shards_only(app: App, rest: FakeDiscord, monkeypatch: pytest.MonkeyPatch,
                                                             shards: DiscordShards | None, identified: list[Any]) -> None:
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(rest.gateway))
    front = DiscordFrontend(app, "test-token", guild_id=GUILD_ID, shards=shards)
    await front.start()
    try:
        seen = await rest.wait_identified(len(identified))
        assert [p.get("shard") for p in seen] == identified
    finally:
        await front.stop()
    assert len(rest.identified) == len(identified)


async def test_a_process_without_the_gateway_role_logs_in_but_neither_connects_nor_syncs(
        app: App, rest: FakeDiscord) -> None:
    front = DiscordFrontend(app, "test-token", guild_id=GUILD_ID, shards=DiscordShards(4, (0,)), gateway=False)
    await front.start()
    try:
        assert rest.where("GET", "/users/@me") and not rest.where("PUT", "/commands")
        assert front._gateway is None and front.bot.shard_id is None  # its shards are the gateway process's
    finally:
        await front.stop()
    assert not rest.identified


# -- a fleet: a gateway process and a worker process on PostgreSQL ------------------------------------------


@dataclass
class Handled:
    """The requests one process's router handled, and when."""

    requests: list[Request] = field(default_factory=list)
    at: list[float] = field(default_factory=list)


def spy(app: App) -> Handled:
    handled = Handled()
    real = app.router.handle

    async def handle(request: Request, markup: Any) -> Outcome:
        handled.requests.append(request)
        handled.at.append(time.monotonic())
        return await real(request, markup)

    app.router.handle = handle  # type: ignore[method-assign]
    return handled


@dataclass
class Fleet:
    gateway: DiscordFrontend  # receives interactions; never runs a handler
    worker: DiscordFrontend  # holds no gateway; answers what the job engine hands it
    gateway_handled: Handled
    worker_handled: Handled
    start_worker: Callable[[], None]


@pytest.fixture
async def fleet(chain: Devnet, tmp_path: Path, pg_url: str, rest: FakeDiscord) -> AsyncIterator[Fleet]:
    """`indexbot run --role gateway` and `--role worker` on one PostgreSQL database, as `indexbot run` builds their
    Discord front ends (logged in to the stand-in; the gateway's INTERACTION_CREATEs are fed by each test)."""
    settings = dict(database_url=pg_url, discord_token=Secret("test-token"), discord_guild_id=GUILD_ID)
    gateway_app = await App.start(make_config(chain, tmp_path / "gateway", **settings), track_head=False)
    worker_app = await App.start(make_config(chain, tmp_path / "worker", **settings))
    assert gateway_app.jobs is not None and worker_app.jobs is not None
    gateway = roles_of.discord_front(gateway_app.config, gateway_app, frozenset({"gateway"}))
    worker = roles_of.discord_front(worker_app.config, worker_app, frozenset({"worker"}))
    assert isinstance(gateway, DiscordFrontend) and isinstance(worker, DiscordFrontend)
    assert gateway.bot.handover is not None and worker.bot.handover is None and not worker.gateway
    assert TASK in worker_app.jobs.app.tasks and TASK not in gateway_app.jobs.app.tasks
    work: list[asyncio.Task[None]] = []
    try:
        await gateway.bot.login("test-token")
        await worker.bot.login("test-token")
        assert len(rest.where("PUT", "/commands")) == 1  # the process without the gateway leaves the sync to it
        rest.calls.clear()
        jobs = worker_app.jobs
        yield Fleet(gateway, worker, spy(gateway_app), spy(worker_app),
                    lambda: work.append(asyncio.create_task(jobs.work(concurrency=2))))
    finally:
        for task in work:
            await cancelled(task)
        await gateway.bot.close()
        await worker.bot.close()
        await worker_app.stop()
        await gateway_app.stop()


def to(token: str, method: str, ending: str = "") -> Callable[[Call], bool]:
    return lambda c: c.method == method and c.path.startswith(f"/webhooks/{APP_ID}/{token}") and c.path.endswith(ending)


async def stored(app: App, interaction_id: str) -> Any:
    return await app.db.fetch_one(select(discord_interactions).where(discord_interactions.c.id == interaction_id))


async def test_a_command_is_acknowledged_by_the_gateway_and_answered_by_a_worker_through_its_token(
        fleet: Fleet, rest: FakeDiscord, caplog: pytest.LogCaptureFixture) -> None:
    payload = slash_payload("quote", {"index": "MAG7.ssi", "amount": "100"}, ALICE)
    token = payload["token"]
    with caplog.at_level(logging.DEBUG):
        sent_at = time.monotonic()
        await dispatched(lambda: fleet.gateway.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]
        fleet.start_worker()  # (a worker started before it would find the job at its next poll, seconds later)
        answer = await rest.wait_for(to(token, "PATCH", "/messages/@original"), timeout=40)

    (ack,) = rest.where("POST", f"/interactions/{payload['id']}/")
    assert ack.body["type"] == DEFERRED_WITH_THINKING and ack.at - sent_at < ACK_WINDOW
    assert ack.flags & EPHEMERAL  # a quote in a server is personal: the answer the worker edits in only Alice sees
    assert "Buy quote: MAG7.ssi" in answer.content and answer.status == 200
    assert answer.custom_ids and all(c.startswith("b:") for c in answer.custom_ids)  # Refresh, Buy… still work
    assert not fleet.gateway_handled.requests  # the gateway only acknowledged
    (request,) = fleet.worker_handled.requests
    assert (request.command, request.args, request.chat_id, request.community) == (
        "quote", ("MAG7.ssi", "100"), str(CHANNEL_ID), str(GUILD_ID))
    assert ack.at < fleet.worker_handled.at[0]  # acknowledged before any handler ran, not after it
    row = await stored(fleet.worker.app, payload["id"])
    assert row.token is None and row.taken_at is not None  # the credential left the database once used
    # what the bot's log shows at DEBUG (discord.py's own DEBUG lines, which print webhook URLs, are capped at INFO)
    shown = [r.getMessage() for r in caplog.records if r.levelno >= cap(r.name, logging.DEBUG)]
    assert any(payload["id"] in line for line in shown) and not any(token in line for line in shown)

    # the quote's Refresh, pressed: acknowledged silently by the gateway, the fresh quote edited by the worker into
    # the message it was pressed on (an ephemeral message stays one: only Alice sees the edit)
    message = message_dict(answer.content, user_dict(APP_ID, "indexbot", bot=True), CHANNEL_ID, guild_id=GUILD_ID,
                           components=answer.body["components"], flags=EPHEMERAL)
    press = press_payload(answer.custom_ids[0], message, ALICE)
    await dispatched(lambda: fleet.gateway.bot._connection.parse_interaction_create(press))  # type: ignore[arg-type]
    fresh = await rest.wait_for(to(press["token"], "PATCH", "/messages/@original"), timeout=40)
    (pressed,) = rest.where("POST", f"/interactions/{press['id']}/")
    assert pressed.body["type"] == DEFERRED_UPDATE and pressed.at < fresh.at
    assert "Buy quote: MAG7.ssi" in fresh.content and fresh.custom_ids
    assert not rest.where("POST", f"/webhooks/{APP_ID}/{press['token']}")  # no new message, public or not
    assert fresh.custom_ids != answer.custom_ids  # the worker stored the fresh quote's buttons
    assert not fleet.gateway_handled.requests and [r.button_token for r in fleet.worker_handled.requests][1:] == [
        answer.custom_ids[0].removeprefix("b:")]


async def test_an_interaction_delivered_and_deferred_twice_is_handled_once(fleet: Fleet, rest: FakeDiscord) -> None:
    gateway_jobs = fleet.gateway.app.jobs
    assert gateway_jobs is not None
    payload = slash_payload("name", {"name": "Satoshi"}, ALICE)
    interaction_id, token = payload["id"], payload["token"]
    feed = lambda: fleet.gateway.bot._connection.parse_interaction_create(payload)  # type: ignore[arg-type]  # noqa: E731
    await dispatched(feed)
    await dispatched(feed)  # the gateway delivers it again (a resumed session replays it)
    lock = chat_lock("discord", str(CHANNEL_ID), ALICE["id"])
    again = await gateway_jobs.defer(TASK, lock=lock, queueing_lock=f"discord:{interaction_id}", interaction_id=interaction_id)
    assert again is None  # a second job for the same interaction is refused while the first waits

    fleet.start_worker()
    await rest.wait_for(to(token, "PATCH", "/messages/@original"), timeout=40)
    late = await gateway_jobs.defer(TASK, lock=lock, queueing_lock=f"discord:{interaction_id}", interaction_id=interaction_id)
    assert late is not None  # once the first ran, nothing refuses a job: the stored interaction must
    await finished(fleet.worker, late)

    assert len(fleet.worker_handled.requests) == 1 and not fleet.gateway_handled.requests
    assert len(rest.answers(token)) == 1 and len(rest.where("POST", f"/interactions/{interaction_id}/")) == 2
    names = await fleet.worker.app.db.fetch_all(select(discord_interactions.c.id))
    assert [r.id for r in names] == [interaction_id]


async def finished(front: DiscordFrontend, job_id: int, timeout: float = 30) -> None:
    """Wait for a job to end, and say it succeeded."""
    jobs = front.app.jobs
    assert jobs is not None
    deadline = time.monotonic() + timeout
    while True:
        (job,) = await jobs.app.job_manager.list_jobs_async(id=job_id)
        if job.status in ("succeeded", "failed"):
            assert job.status == "succeeded"
            return
        assert time.monotonic() < deadline, f"job {job_id} still {job.status}"
        await asyncio.sleep(0.05)


async def test_a_worker_too_late_for_the_token_says_nothing_and_logs_it(
        fleet: Fleet, rest: FakeDiscord, caplog: pytest.LogCaptureFixture) -> None:
    payload = slash_payload("help", {}, ALICE)
    await dispatched(lambda: fleet.gateway.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]
    rows = InteractionRows(fleet.worker.app.db)
    late = Finisher(fleet.worker.app, fleet.worker.bot, rows, MARKUP, clock=lambda: time.time() + 15 * 60)
    with caplog.at_level(logging.WARNING, logger="bot.frontends.adapters.discord_handover"):
        await late.finish(payload["id"])
    assert any(payload["id"] in r.getMessage() and "too late" in r.getMessage() for r in caplog.records)
    assert not rest.answers(payload["token"]) and not fleet.worker_handled.requests
    assert (await stored(fleet.worker.app, payload["id"])).token is None
    assert await rows.purge(int(time.time()) + 15 * 60 + 1) == 1  # and the row goes once the token would have expired


async def test_a_process_without_a_fleet_behind_it_answers_in_place_as_before(app: App, frontend: DiscordFrontend, rest: FakeDiscord) -> None:
    """The embedded default (and, with INDEXBOT_TEST_ENGINE=postgresql, a process both gateway and worker)."""
    assert frontend.bot.handover is None
    payload = slash_payload("quote", {"index": "MAG7.ssi", "amount": "100"}, ALICE)
    await dispatched(lambda: frontend.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]
    ack, answer = rest.sent()
    assert ack.body["type"] == DEFERRED_WITH_THINKING
    assert answer.method == "POST" and "Buy quote: MAG7.ssi" in answer.content  # the follow-up, from this process
    assert json.dumps(answer.body).count("b:") >= 1


async def test_a_handover_the_database_refuses_is_told_to_the_user_without_logging_the_token(
        fleet: Fleet, rest: FakeDiscord, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    payload = slash_payload("quote", {"index": "MAG7.ssi", "amount": "100"}, ALICE)

    async def refused(self: InteractionRows, interaction_id: str, token: str, ask: str, received_at: int) -> bool:
        raise OSError(f"connection lost while inserting ('{token}', …)")  # a driver error can quote the parameters

    monkeypatch.setattr(InteractionRows, "keep", refused)
    with caplog.at_level(logging.INFO):
        await dispatched(lambda: fleet.gateway.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]
    (told,) = rest.answers(payload["token"])
    assert told.method == "PATCH" and told.path.endswith("/messages/@original")
    assert "Something went wrong on our side. Nothing was changed" in told.content
    shown = [r.getMessage() for r in caplog.records if r.levelno >= cap(r.name, logging.DEBUG)]
    assert any("not handed to a worker (OSError)" in line for line in shown)
    assert not any(payload["token"] in line for line in shown)


async def test_an_answer_discord_refuses_is_logged_once_and_not_retried(
        fleet: Fleet, rest: FakeDiscord, caplog: pytest.LogCaptureFixture) -> None:
    payload = slash_payload("help", {}, ALICE)
    rest.refuse("PATCH", "/messages/@original", 404, 10015, "Unknown Webhook")  # the token expired meanwhile
    await dispatched(lambda: fleet.gateway.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]
    jobs = fleet.gateway.app.jobs
    assert jobs is not None
    (job,) = await jobs.app.job_manager.list_jobs_async(queueing_lock=f"discord:{payload['id']}")
    with caplog.at_level(logging.WARNING, logger="bot.frontends.adapters.discord_handover"):
        fleet.start_worker()
        assert job.id is not None
        await finished(fleet.worker, job.id)
    (tried,) = rest.answers(payload["token"])
    assert tried.status == 404 and len(fleet.worker_handled.requests) == 1
    assert any("handled but its answer failed (NotFound 404)" in r.getMessage() for r in caplog.records)


async def test_a_429_discord_py_leaves_to_us_is_waited_out_and_the_answer_still_arrives(
        fleet: Fleet, rest: FakeDiscord) -> None:
    """Cloudflare's 429 on the worker's answer (no Via header, so discord.py raises instead of waiting): the worker
    waits Retry-After, holds its process's other Discord requests (a global limit) and answers through the token
    again; the refusal is counted. It used to be logged as a failed answer, the user left "thinking" for good."""
    payload = slash_payload("help", {}, ALICE)
    rest.rate_limit("PATCH", "/messages/@original", 2.0, times=1)
    counted = INVALID_REQUESTS.labels(platform="discord", status="429")
    before = counted._value.get()
    await dispatched(lambda: fleet.gateway.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]
    fleet.start_worker()
    edited = to(payload["token"], "PATCH", "/messages/@original")
    shown = await rest.wait_for(lambda c: edited(c) and c.status == 200, timeout=40)
    refused, again = rest.answers(payload["token"])
    assert refused.status == 429 and again is shown and "**Commands**" in shown.content
    assert again.at - refused.at >= 2.0 - 0.05  # Retry-After, not discord.py's nor our own retry at once
    assert fleet.worker.backoff.until >= refused.at + 2.0 - 0.05  # the outbox's sends of that process held too
    assert counted._value.get() - before == 1


async def test_a_429_on_the_gateways_acknowledgement_is_waited_out_within_discords_three_seconds(
        fleet: Fleet, rest: FakeDiscord) -> None:
    """The same limit on the gateway's deferral: acknowledged again after Retry-After, still inside Discord's 3 s, and
    handed to a worker. It used to be logged as "not acknowledged" and dropped (Discord: "This interaction failed")."""
    payload = slash_payload("help", {}, ALICE)
    rest.rate_limit("POST", "/callback", 0.5, times=1)
    await dispatched(lambda: fleet.gateway.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]
    refused, acknowledged = rest.where("POST", f"/interactions/{payload['id']}/")
    assert (refused.status, acknowledged.status) == (429, 200)
    assert 0.5 - 0.05 <= acknowledged.at - refused.at < ACK_WINDOW
    fleet.start_worker()
    shown = await rest.wait_for(to(payload["token"], "PATCH", "/messages/@original"), timeout=40)
    assert "**Commands**" in shown.content


async def test_alert_in_a_server_answered_by_a_worker_says_at_once_when_dms_are_closed(
        fleet: Fleet, rest: FakeDiscord) -> None:
    """/alert from a server across the fleet, wired by role as `indexbot run` wires it: the worker queues the
    confirmation for Alice's DM and waits, the fleet's sender (the gateway's process here) opens her DM channel and
    hears 50007, and the worker's answer through the token says at once that her DMs are closed."""
    rest.refuse("POST", "/messages", 403, 50007, "Cannot send messages to this user")
    queues_only = await roles_of.send_outbox(fleet.worker.app, [fleet.worker], frozenset({"worker"}))
    sends = await roles_of.send_outbox(fleet.gateway.app, [fleet.gateway], frozenset({"gateway", "sender"}))
    try:
        payload = slash_payload("alert", {"index": "MAG7.ssi", "condition": "above", "value": "500000"}, ALICE)
        await dispatched(lambda: fleet.gateway.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]
        fleet.start_worker()
        shown = await rest.wait_for(to(payload["token"], "PATCH", "/messages/@original"), timeout=60)
    finally:
        await sends()
        await queues_only()
    app = fleet.worker.app
    assert "Alert #1 set" in shown.content and entry(app, "alert.dm_closed") in shown.content
    assert entry(app, "alert.goes_private") not in shown.content
    (opened,) = rest.where("POST", "/users/@me/channels")
    assert str(opened.body["recipient_id"]) == ALICE["id"] and len(rest.where("POST", "/messages")) == 1


async def test_a_process_both_gateway_and_worker_answers_its_own_interactions(fleet: Fleet) -> None:
    """`--role all` on PostgreSQL: the process that received an interaction answers it (and still answers what a
    gateway-only process hands over)."""
    app = fleet.gateway.app
    both = roles_of.discord_front(replace(app.config, discord_shards=DiscordShards(2, (1,))), app, ALL)
    assert isinstance(both, DiscordFrontend) and both.gateway and both.bot.handover is None and both.bot.shard_id == 1
    assert app.jobs is not None and TASK in app.jobs.app.tasks
    await both.bot.close()


async def test_a_long_answer_fills_the_deferred_response_then_follows_up_and_a_secret_one_is_deleted(
        fleet: Fleet, rest: FakeDiscord) -> None:
    """`answer` as a worker runs it, through a real interaction webhook: the "thinking…" response becomes the first
    part, the rest follows up privately with the buttons on the last part, and an answer due for deletion (an
    exported key) has each of its parts deleted through the token."""
    payload = slash_payload("help", {}, ALICE)
    await dispatched(lambda: fleet.gateway.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]
    webhook = discord.Webhook.from_state({"id": APP_ID, "type": 3, "token": payload["token"]}, state=fleet.worker.bot._connection)
    lines = "\n".join(f"line {i:04d} " + "x" * 90 for i in range(30))  # about 3,000 characters: two messages
    rendered = Rendered(lines, buttons=((RenderedButton("Refresh", "tok1"),),), delete_after=1)
    await answer(webhook, Outcome(rendered, "en", ephemeral=True), pressed=False, hidden=False)
    first, rest_of_it = rest.answers(payload["token"])
    assert first.method == "PATCH" and first.path.endswith("/messages/@original") and first.content.startswith("line 0000")
    assert rest_of_it.method == "POST" and rest_of_it.flags & EPHEMERAL and rest_of_it.custom_ids == ["b:tok1"]
    assert first.content + "\n" + rest_of_it.content == lines and not first.custom_ids
    deleted = await rest.wait_for(lambda c: c.method == "DELETE", timeout=10)
    await rest.wait_for(lambda c: c.method == "DELETE" and c is not deleted, timeout=10)
    assert all(c.path.startswith(f"/webhooks/{APP_ID}/{payload['token']}/messages/") for c in rest.where("DELETE", "/"))


async def test_a_trade_whose_edit_fails_is_told_through_the_outbox_by_the_worker(fleet: Fleet, rest: FakeDiscord) -> None:
    """Issue 15 in a fleet: the worker's edit of the pressed quote failing (the message deleted meanwhile) lost the
    trade's outcome ("handled but its answer failed"); now the outcome is stored in the outbox for the chat."""
    fleet.start_worker()

    async def in_dm(payload: dict[str, Any]) -> Call:
        await dispatched(lambda: fleet.gateway.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]
        return await rest.wait_for(to(payload["token"], "PATCH", "/messages/@original"), timeout=40)

    for name, options in (("wallet", {"action": "new"}), ("pin", {"pin": "4821"}), ("faucet", {})):
        await in_dm(slash_payload(name, options, ALICE, guild_id=None, channel_id=DM_CHANNEL_ID))
    quote = await in_dm(slash_payload("buy", {"index": "MAG7.ssi", "amount": "100"}, ALICE, guild_id=None,
                                      channel_id=DM_CHANNEL_ID))
    confirm = next(b["custom_id"] for row in quote.body["components"] for b in row["components"] if b["label"] == "Confirm")
    message = message_dict(quote.content, user_dict(APP_ID, "indexbot", bot=True), DM_CHANNEL_ID,
                           components=quote.body["components"])
    press = press_payload(confirm, message, ALICE, guild_id=None)
    rest.refuse("PATCH", f"/{press['token']}/messages/@original", 404, 10008, "Unknown Message")
    failed = await in_dm(press)
    assert failed.status == 404
    db = fleet.worker.app.db
    for _ in range(200):
        row = await db.fetch_one("SELECT kind, payload FROM outbox WHERE chat_id = :chat", {"chat": str(DM_CHANNEL_ID)})
        if row is not None:
            break
        await asyncio.sleep(0.05)
    assert row is not None and row[0] == "trade" and "trade.mined.buy" in row[1], row


async def test_a_trade_made_in_a_server_is_told_by_the_worker_in_the_users_dm(fleet: Fleet, rest: FakeDiscord) -> None:
    """A buy confirmed in a server, its outcome after the inline wait: the worker's follow-up goes to Alice's DM
    (the outbox row's chat `user:<id>`), never to the server's channel, and nothing edits the ephemeral quote."""
    desk = fleet.worker.app.services.desks.home
    desk.settings = replace(desk.settings, inline_wait_seconds=0.0)
    fleet.start_worker()

    async def in_server(payload: dict[str, Any]) -> Call:
        await dispatched(lambda: fleet.gateway.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]
        return await rest.wait_for(to(payload["token"], "PATCH", "/messages/@original"), timeout=40)

    for name, options in (("wallet", {"action": "new"}), ("pin", {"pin": "4821"}), ("faucet", {})):
        await in_server(slash_payload(name, options, ALICE))
    quote = await in_server(slash_payload("buy", {"index": "MAG7.ssi", "amount": "100"}, ALICE))
    confirm = next(b["custom_id"] for row in quote.body["components"] for b in row["components"] if b["label"] == "Confirm")
    message = rest.ephemeral(message_dict(quote.content, user_dict(APP_ID, "indexbot", bot=True), CHANNEL_ID,
                                          guild_id=GUILD_ID, components=quote.body["components"], flags=EPHEMERAL))
    worker = fleet.worker.app
    worker.notices.attach(fleet.worker)  # the worker sends what its follow-ups tell
    try:
        submitted = await in_server(press_payload(confirm, message, ALICE))
        assert "Confirmed" not in submitted.content
        told = await rest.wait_for(lambda c: c.method == "POST" and c.path.endswith("/messages") and c.path.startswith("/channels/")
                                   and rest.dms.get(c.path.split("/")[2], {}).get("id") == ALICE["id"], timeout=40)
        assert "Confirmed in block" in told.content.replace("\\", "")
    finally:
        await worker.notices.detach(fleet.worker)
    rows = await worker.db.fetch_all("SELECT chat_id, edit_ref FROM outbox WHERE kind = 'trade'")
    assert [tuple(r) for r in rows] == [(f"user:{ALICE['id']}", None)]
    assert not [c for c in rest.calls if c.path.startswith(f"/channels/{CHANNEL_ID}")]


async def test_a_question_asked_by_a_worker_is_answered_through_the_gateways_modal(fleet: Fleet, rest: FakeDiscord) -> None:
    """`/wallet export` in a server: a worker asks for the PIN (the question stored in PostgreSQL); Answer, pressed at
    the gateway, opens the form there (a modal must be the press's first response, no handover can wait for it), and
    the PIN sent through it is taken by the gateway's router from the worker's question: the key, to Alice only."""
    app = fleet.worker.app
    user = await app.services.users.seen("discord", ALICE["id"])
    await app.services.wallets.create(user.id)
    await app.services.pins.set_pin(user.id, "739146")
    fleet.start_worker()
    payload = slash_payload("wallet", {"action": "export"}, ALICE)
    await dispatched(lambda: fleet.gateway.bot._connection.parse_interaction_create(payload))  # type: ignore[arg-type]
    asked = await rest.wait_for(to(payload["token"], "PATCH", "/messages/@original"), timeout=40)
    assert entry(app, "wallet.export.ask").split("(")[0] in asked.content.replace("\\", "")
    labels = {c.get("label"): c["custom_id"] for row in asked.body["components"] for c in row["components"]}
    assert {"Answer", "Cancel"} <= set(labels)

    message = message_dict(asked.content, user_dict(APP_ID, "indexbot", bot=True), CHANNEL_ID, guild_id=GUILD_ID,
                           components=asked.body["components"], flags=EPHEMERAL)
    press = press_payload(labels["Answer"], message, ALICE)
    await dispatched(lambda: fleet.gateway.bot._connection.parse_interaction_create(press))  # type: ignore[arg-type]
    (modal,) = rest.where("POST", f"/interactions/{press['id']}/")
    assert modal.body["type"] == MODAL and modal.body["data"]["components"][0]["components"][0]["label"] == "PIN"

    field = modal.body["data"]["components"][0]["components"][0]
    submit = press_payload(labels["Answer"], message, ALICE)  # a MODAL_SUBMIT from the same member and message
    submit.update(type=5, id=str(int(press["id"]) + 1), token=f"itoken-submit-{press['id']}", data={
        "custom_id": modal.body["data"]["custom_id"],
        "components": [{"type": 1, "components": [{"type": 4, "custom_id": field["custom_id"], "value": "739146"}]}]})
    await dispatched(lambda: fleet.gateway.bot._connection.parse_interaction_create(submit))  # type: ignore[arg-type]
    shown = [c for c in rest.sent() if c.path.startswith(f"/interactions/{submit['id']}/") or submit["token"] in c.path]
    assert shown and any("0x" in c.content and c.flags & EPHEMERAL for c in shown), [c.body for c in shown]
    assert [r.text for r in fleet.gateway_handled.requests if r.text] == ["739146"]  # answered at the gateway
    assert await app.router.questions.peek(user.id, str(CHANNEL_ID)) is None


async def test_what_closed_dms_refused_is_shown_once_by_the_worker_answering_her_next_command(
        fleet: Fleet, rest: FakeDiscord) -> None:
    """An alert for Alice put by one process, refused (50007) by the fleet's sender in another, kept in the database;
    her next command from the server, answered by a worker through its token, follows up with it, only she sees it;
    the command after shows nothing more (bot/frontends/adapters/discord_kept.py)."""
    rest.refuse("POST", "/messages", 403, 50007, "Cannot send messages to this user")
    queues_only = await roles_of.send_outbox(fleet.worker.app, [fleet.worker], frozenset({"worker"}))
    sends = await roles_of.send_outbox(fleet.gateway.app, [fleet.gateway], frozenset({"gateway", "sender"}))
    app = fleet.worker.app
    try:
        fleet.start_worker()
        payloads = [slash_payload("help", {}, ALICE) for _ in range(3)]
        await dispatched(lambda: fleet.gateway.bot._connection.parse_interaction_create(payloads[0]))  # type: ignore[arg-type]
        await rest.wait_for(to(payloads[0]["token"], "PATCH", "/messages/@original"), timeout=60)
        user_id = await app.db.scalar(select(users.c.id).where(users.c.platform_user_id == ALICE["id"]))
        kept = await app.outbox.put(int(user_id), Reply.of(Msg("cooldown.alert.hint", {"symbol": "MAG7"})), "cooldown")
        assert kept is not None
        for _ in range(300):
            state = await app.outbox.rows.state_of(kept)
            if state is not None and state[0] == "blocked":
                break
            await asyncio.sleep(0.05)
        assert state == ("blocked", None)
        for payload in payloads[1:]:
            await dispatched(lambda p=payload: fleet.gateway.bot._connection.parse_interaction_create(p))  # type: ignore[misc]
            await rest.wait_for(to(payload["token"], "PATCH", "/messages/@original"), timeout=60)
        intro = entry(app, "kept.intro")
        first = await rest.wait_for(lambda c: to(payloads[1]["token"], "POST")(c) and "/claim MAG7" in c.content, timeout=30)
        assert first.flags & EPHEMERAL
        said = [c for c in rest.calls if c.path.startswith(f"/webhooks/{APP_ID}/{payloads[1]['token']}") and c.method == "POST"]
        assert said[-2].content == intro and said[-2].flags & EPHEMERAL
        await asyncio.sleep(0.5)  # the third command's follow-ups, had there been any
        assert not [c for c in rest.calls if to(payloads[2]["token"], "POST")(c) and c.content == intro]
        assert (await app.outbox.rows.state_of(kept) or ("",))[0] == "sent"
    finally:
        await sends()
        await queues_only()
