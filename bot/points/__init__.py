"""Points, epochs and referrals: the off-chain programme's ledger (see shared/protocol-facts.md).

`config` holds the numbers (all configurable), `ledger` the append-only rows and the set-based daily credit,
`snapshot` reads every linked wallet at one block and hands the day to the ledger, `locks` reads the LP each
wallet has locked in the AssetLocking contract (in the snapshot's batches), and `referrals` the invite codes and
who invited whom.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from bot.core.frontends import FrontEnds
from bot.points.config import PointsConfig
from bot.points.ledger import Ledger
from bot.points.referrals import Referrals
from bot.points.snapshot import Snapshotter


@dataclass(frozen=True)
class Points:
    """What the points handlers use: the ledger, the referrals, the snapshot and the numbers behind them.

    `invite_links` maps a platform to how its invite looks: the Telegram front end attaches
    `https://t.me/<bot>?start=ref_{code}` once it knows its username; `discord` is the configured server invite.
    `bot_names` are the bot's own usernames (attached by the front ends): no /name may look like one. Both are read
    from `front_ends` (bot.core.frontends), built by the composition root.
    """

    config: PointsConfig
    ledger: Ledger
    referrals: Referrals
    snapshot: Snapshotter
    front_ends: FrontEnds

    @property
    def invite_links(self) -> Mapping[str, str]:
        return MappingProxyType(self.front_ends.invite_links)  # read here; written only by FrontEnds.attach

    @property
    def bot_names(self) -> frozenset[str]:
        return frozenset(self.front_ends.bot_names)
