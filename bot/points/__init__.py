"""Points, epochs and referrals: the off-chain programme's ledger (see shared/protocol-facts.md).

`config` holds the numbers (all configurable), `ledger` the append-only rows and the set-based daily credit,
`snapshot` reads every linked wallet at one block and hands the day to the ledger, `locks` reads the LP each
wallet has locked in the AssetLocking contract (in the snapshot's batches), and `referrals` the invite codes and
who invited whom.
"""

from __future__ import annotations



from dataclasses import dataclass, field

from bot.points.config import PointsConfig
from bot.points.ledger import Ledger
from bot.points.referrals import Referrals
from bot.points.snapshot import Snapshotter


@dataclass(frozen=True)
class Points:
    """What the points handlers use: the ledger, the referrals, the snapshot and the numbers behind them.

    `invite_links` maps a platform to how its invite looks: the Telegram front end adds
    `https://t.me/<bot>?start=ref_{code}` once it knows its username; `discord` is the configured server invite.
    `bot_names` are the bot's own usernames (added by the front ends): no /name may look like one.
    """

    config: PointsConfig
    ledger: Ledger
    referrals: Referrals
    snapshot: Snapshotter
    invite_links: dict[str, str] = field(default_factory=dict)
    bot_names: set[str] = field(default_factory=set)
