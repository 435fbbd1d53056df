"""Issue 5's "done" as a user would try it on Telegram: a referrer shares their link, a friend joins through it
and buys, the next snapshot credits both, /points, /referrals and /leaderboard agree with the ledger, and
running the snapshot again changes nothing."""

from __future__ import annotations

import re
from decimal import Decimal

from auxil.telegram import ask, press_and_wait_edit
from telegram_emulator import BotApiEmulator

from bot.frontends.adapters.telegram import TelegramFrontend
from bot.app import App
from bot.points.ledger import points_of
from auxil.cli import number


async def test_a_friend_joins_through_the_link_buys_and_the_snapshot_credits_both(
    app: App, emulator: BotApiEmulator, telegram: TelegramFrontend
) -> None:
    points = app.services.points
    assert points is not None
    referrer, friend = 7901, 7902
    for user in (referrer, friend):  # the referrer holds too, so the leaderboard has two names
        if user == friend:
            invite = (await ask(emulator, referrer, referrer, "/invite")).params["text"]
            link = re.search(r"https://t\.me/\S+\?start=(ref_[A-Z0-9]+)", invite)
            assert link, invite
            joined = await ask(emulator, friend, friend, f"/start {link.group(1)}")  # what opening the link sends
            assert "invite" in joined.params["text"].lower()
        await ask(emulator, user, user, "/wallet new")
        await ask(emulator, user, user, "/pin 4821")
        await ask(emulator, user, user, "/faucet")
        bought = await press_and_wait_edit(emulator, user, await ask(emulator, user, user, "/buy MAG7.ssi 100"), "Confirm")
        assert bought.params["text"].startswith("Confirmed in block")

    ran = await points.snapshot.run()
    assert ran.credited and ran.wallets == 2
    ids = {u: (await app.services.users.seen("telegram", str(u))).id for u in (referrer, friend)}
    rows = await app.db.fetch_all("SELECT user_id, source, reason, points FROM point_ledger ORDER BY 1, 2, 3")
    ledger = {(int(r[0]), str(r[1])): points_of(int(r[3])) for r in rows}
    share, bonus = points.config.referral_share, points.config.welcome_bonus
    assert ledger[(ids[friend], "bonus")] == bonus
    friend_base = ledger[(ids[friend], "held")] + ledger.get((ids[friend], "boost"), Decimal(0))
    assert ledger[(ids[referrer], "referral")] == (friend_base * share).quantize(Decimal("0.001"), rounding="ROUND_FLOOR")
    assert (ids[referrer], "bonus") not in ledger  # the referrer joined without a code

    for user in (referrer, friend):
        shown = (await ask(emulator, user, user, "/points")).params["text"]
        total = sum((v for (uid, _), v in ledger.items() if uid == ids[user]), Decimal(0))
        assert number(r"This epoch: ([\d,.]+)", shown) == total
        assert number(r"Held: ([\d,.]+)", shown) == ledger[(ids[user], "held")]
    referrals = (await ask(emulator, referrer, referrer, "/referrals")).params["text"]
    assert "Friends joined: 1 · active (holding an index): 1" in referrals
    assert number(r"Points from them: ([\d,.]+)", referrals) == ledger[(ids[referrer], "referral")]

    board = (await ask(emulator, friend, friend, "/leaderboard")).params["text"]
    standings = [(int(m[0]), Decimal(m[1].replace(",", ""))) for m in re.findall(r"#(\d+) Holder #\w+(?: \(you\))?\n  ([\d,.]+)", board)]
    expected = sorted((sum((v for (uid, _), v in ledger.items() if uid == i), Decimal(0)) for i in ids.values()), reverse=True)
    assert [p for _, p in standings] == expected and [r for r, _ in standings] == [1, 2]
    assert "(you)" in board and str(friend) not in board  # anonymized: no platform id or handle

    again = await points.snapshot.run(ran.day)
    assert not again.credited
    assert [tuple(r) for r in await app.db.fetch_all("SELECT user_id, source, reason, points FROM point_ledger ORDER BY 1, 2, 3")] == [tuple(r) for r in rows]
