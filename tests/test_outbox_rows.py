"""The outbox's, announcements' and alert settings' rows on their own, on each engine: what a second process
doing the same at the same moment may not break (a message claimed twice, two drafts, two refusal lines, a lost
text variant), and the counts a fan-out reports."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.storage.alert_settings import AlertSettingsRows
from bot.storage.announcements import AnnouncementRows
from bot.storage.db import Database
from bot.storage.outbox import NewMessage, OutboxRows
from bot.storage.schema import audit_log, outbox, point_totals, users


async def add_users(db: Database, n: int) -> list[int]:
    async with db.transaction() as tx:
        rows = await tx.fetch_all(
            users.insert().values([{"platform": "telegram", "platform_user_id": str(i), "created_at": 0,
                                    "last_seen_at": 0, "dm_chat": str(100 + i)} for i in range(n)])
            .returning(users.c.id)
        )
    return sorted(int(r[0]) for r in rows)




def message(chat: int, dedupe: str | None = None) -> NewMessage:
    return NewMessage("telegram", str(chat), None, "price", 1, "{}", dedupe=dedupe)


async def test_two_senders_claiming_overlapping_batches_claim_each_message_once(db: Database, other: Database) -> None:
    assert await OutboxRows(db).add_many([message(i % 7) for i in range(120)]) == 120
    ids = [int(r[0]) for r in await db.fetch_all(select(outbox.c.id).order_by(outbox.c.id))]
    senders = [OutboxRows(db), OutboxRows(other)]
    claimed: list[int] = []

    async def claim(k: int) -> None:  # batches of 12 that overlap the other senders', some in reverse order
        for j in range(20):
            batch = ids[(k * 7 + j * 5) % 108:][:12]
            claimed.extend(await senders[k % 2].claim(batch[::-1] if k % 3 else batch))

    await asyncio.gather(*(claim(k) for k in range(6)))
    assert len(claimed) == len(set(claimed))
    claimed.extend(await senders[0].claim(ids))
    assert sorted(claimed) == ids
    assert await db.scalar(select(func.max(outbox.c.attempts))) == 1


async def test_a_claimed_message_is_not_claimed_again_and_a_finished_one_not_moved(db: Database) -> None:
    rows = OutboxRows(db, clock=lambda: 500)
    first, second = await rows.add(message(1), now=100), await rows.add(message(2), now=100)
    assert first is not None and second is not None
    assert await rows.claim([second, first, first]) == [first, second]
    assert await rows.claim([first]) == []
    await rows.finish([first], "sent", "m1")
    await rows.postpone([first, second], 900, "later")  # only the one still being sent goes back
    assert await rows.state_of(first) == ("sent", "m1")
    assert await rows.state_of(second) == ("pending", None)
    assert [r.id for r in await rows.due("telegram", 899, 10)] == []
    assert [r.id for r in await rows.due("telegram", 900, 10)] == [second]
    assert await rows.next_due("telegram") == 900
    assert await rows.next_due("discord") is None


async def test_add_many_counts_what_it_stored_not_what_others_added(db: Database, other: Database) -> None:
    mine, theirs = OutboxRows(db), OutboxRows(other)
    assert await mine.add_many([message(1, "a"), message(2, "b")]) == 2
    counts = await asyncio.gather(
        mine.add_many([message(i, f"m{i}") for i in range(50)] + [message(1, "a")]),
        theirs.add_many([message(i, f"t{i}") for i in range(50)]),
    )
    assert counts == [50, 50]
    assert await mine.add(message(1, "a")) is None


async def test_a_fan_out_counts_its_rows_and_adds_nothing_when_resumed(db: Database) -> None:
    members = await add_users(db, 5)
    announcements = AnnouncementRows(db, clock=lambda: 1000)
    draft = await announcements.create(members[0], "telegram", "telegram:-1", "-1", "hello")
    for user in members[:3]:
        await announcements.join("telegram", "-1", user)
    await announcements.join("telegram", "-1", members[0])
    assert await announcements.count_recipients("telegram:-1") == 3
    assert await announcements.count_recipients("all") == 5
    assert await announcements.fan_out(draft.id, "telegram:-1", "{}") == 3
    assert await announcements.fan_out(draft.id, "all", "{}") == 2
    assert await announcements.fan_out(draft.id, "all", "{}") == 0
    assert await announcements.progress(draft.id) == {"pending": 5}
    assert await announcements.stop_pending(draft.id) == 5


async def test_drafts_begun_at_once_leave_one_draft(db: Database, other: Database) -> None:
    author = (await add_users(db, 1))[0]
    both = [AnnouncementRows(db), AnnouncementRows(other)]
    await asyncio.gather(*(both[k % 2].create(author, "telegram", "all", None, f"text {k}") for k in range(8)))
    drafts = await both[0].latest(author, ["draft"])
    assert drafts is not None
    assert [a.id for a in await both[0].in_state("draft")] == [drafts.id]


async def test_text_variants_added_at_once_are_all_kept(db: Database, other: Database) -> None:
    author = (await add_users(db, 1))[0]
    both = [AnnouncementRows(db), AnnouncementRows(other)]
    draft = await both[0].create(author, "telegram", "all", None, "hello")
    await asyncio.gather(*(both[k % 2].set_text(draft.id, f"l{k}", f"text {k}") for k in range(8)))
    kept = await both[0].get(draft.id)
    assert kept is not None and kept.texts == {"": "hello", **{f"l{k}": f"text {k}" for k in range(8)}}
    assert await both[0].move(draft.id, ["draft"], "scheduled", send_at=2000)
    assert await both[0].set_text(draft.id, "de", "hallo") is None


async def test_refusals_at_once_write_one_line_and_count_the_rest(db: Database, other: Database) -> None:
    user = (await add_users(db, 1))[0]
    both = [AnnouncementRows(db), AnnouncementRows(other)]
    added = await asyncio.gather(*(both[k % 2].audit_refusal(user, "announce.refused", {}, now=1000) for k in range(8)))
    assert sum(added) == 1
    assert [tuple(r) for r in await db.fetch_all(select(audit_log.c.action, audit_log.c.repeats))] == [
        ("announce.refused", 8)]
    assert [a for _, a, _ in await both[0].audit_trail("announce.")] == ["announce.refused"]
    assert await both[0].audit_trail("announce_") == []  # a prefix, not a LIKE pattern


async def test_alert_settings_written_at_once_keep_every_column(db: Database, other: Database) -> None:
    user = (await add_users(db, 1))[0]
    mine, theirs = AlertSettingsRows(db), AlertSettingsRows(other)
    await asyncio.gather(mine.set_switch(user, "price", False), theirs.set_quiet(user, (1320, 420)),
                         mine.set_digest_at(user, 600), theirs.set_switch(user, "dca", False))
    got = await mine.get(user)
    assert (got.switches["price"], got.switches["dca"], got.switches["digest"]) == (False, False, True)
    assert (got.quiet, got.digest_at) == ((1320, 420), 600)
    async with db.transaction() as tx:
        await tx.execute(point_totals.insert().values(user_id=user, epoch="e", points=3))
    assert await mine.digest_readers() == [(user, 600, "UTC")]
    assert await mine.digest_readers(user + 1) == []


async def test_kept_messages_are_taken_once_by_two_processes_newest_and_recent_only(db: Database, other: Database) -> None:
    """A Discord member's messages their closed DMs refused ('blocked'): two processes taking them at once (two
    interactions of hers answered by two workers) show each once; only the newest of the last week are shown, the
    rest no longer kept; another user's, an announcement and a message still pending are not hers to take."""
    async with db.transaction() as tx:
        rows = await tx.fetch_all(users.insert().values([
            {"platform": "discord", "platform_user_id": name, "created_at": 0, "last_seen_at": 0, "dm_chat": f"user:{name}"}
            for name in ("her", "him")]).returning(users.c.id, users.c.platform_user_id))
    ids = {str(r[1]): int(r[0]) for r in rows}
    mine = OutboxRows(db, clock=lambda: 10_000)

    async def refused(user: str, created_at: int, kind: str = "price") -> int:
        found = await mine.add(NewMessage("discord", f"user:{user}", ids[user], kind, 1, "{}"), now=created_at)
        assert found is not None
        await mine.drop_blocked([found])
        return found

    stale = await refused("her", 100)
    recent = [await refused("her", 1000 + i) for i in range(6)]
    announcement = await refused("her", 2000, "announcement")
    theirs = await refused("him", 2000)
    pending = await mine.add(NewMessage("discord", "user:her", ids["her"], "price", 1, "{}"), now=2000)
    assert pending is not None

    taken = await asyncio.gather(mine.take_kept("discord", "her", 4, 500), OutboxRows(other).take_kept("discord", "her", 4, 500))
    shown = [k.id for batch in taken for k in batch]
    assert sorted(shown) == recent[2:]  # the newest four, each once
    assert all([k.id for k in batch] == sorted(k.id for k in batch) for batch in taken)  # oldest first
    assert await mine.state_of(stale) == ("failed", None) and await mine.state_of(recent[0]) == ("failed", None)
    assert await mine.take_kept("discord", "her", 4, 500) == []  # taken: nothing left
    assert (await mine.state_of(announcement), await mine.state_of(theirs)) == (("blocked", None), ("blocked", None))
    assert await mine.state_of(pending) == ("pending", None)

    await mine.keep_again(shown[:1])  # refused by Discord as it was shown: kept for the next time
    assert [k.id for k in await mine.take_kept("discord", "her", 4, 500)] == shown[:1]
