-- Points, epochs and referrals (bot/points). Amounts are integers: USD in 1e-4 units, points in milli-points.

-- The first /start fixes a user's referrer (or none) for good; /name sets how the leaderboard shows them.
ALTER TABLE users ADD COLUMN started_at INTEGER;
ALTER TABLE users ADD COLUMN leaderboard_name TEXT;          -- NULL: shown anonymized

CREATE TABLE referral_codes (
    user_id INTEGER PRIMARY KEY REFERENCES users (id),
    code    TEXT    NOT NULL UNIQUE                          -- what /invite shares; the same on every platform
);

CREATE TABLE referrals (
    invitee_id    INTEGER PRIMARY KEY REFERENCES users (id), -- one referrer per user, never changed
    referrer_id   INTEGER NOT NULL REFERENCES users (id),
    joined_at     INTEGER NOT NULL,
    qualified_day TEXT,                                      -- the snapshot day of the first qualifying holding
    void_reason   TEXT                                       -- 'self': the invitee shares a wallet up the chain
);
CREATE INDEX referrals_by_referrer ON referrals (referrer_id);

-- One row per snapshot day: the block it reads (fixed at its start, so a resumed run reads the same block),
-- how far it got through the wallets, and whether the day is credited. `credited` moves once, in the same
-- transaction as the day's ledger rows and totals: a second run or a second worker credits nothing.
CREATE TABLE point_snapshots (
    day         TEXT    PRIMARY KEY,                         -- YYYY-MM-DD, UTC
    epoch       TEXT    NOT NULL,
    block       INTEGER NOT NULL,
    timestamp   INTEGER NOT NULL,
    next_wallet INTEGER NOT NULL DEFAULT 0,                  -- wallets.id below this are read
    state       TEXT    NOT NULL CHECK (state IN ('reading', 'credited')),
    started_at  INTEGER NOT NULL,
    finished_at INTEGER
);

-- What each wallet held at the snapshot's block, valued at that block (USD in units of 1e-4). `source`: held, staked,
-- locked (LP locked in AssetLocking, valued through the pair) or soso (SOSO staked: the boost's numerator).
CREATE TABLE point_holdings (
    day       TEXT    NOT NULL,
    user_id   INTEGER NOT NULL,
    address   TEXT    NOT NULL,
    index_symbol TEXT NOT NULL,
    source    TEXT    NOT NULL CHECK (source IN ('held', 'staked', 'locked', 'soso')),
    usd_e4 INTEGER NOT NULL,
    PRIMARY KEY (day, address, index_symbol, source)
) WITHOUT ROWID;

-- The ledger: append-only, one row per user, day, source and reason. Corrections are new rows.
CREATE TABLE point_ledger (
    user_id  INTEGER NOT NULL,
    day      TEXT    NOT NULL,
    source   TEXT    NOT NULL,   -- held, staked, locked, boost, referral, bonus, correction
    reason   TEXT    NOT NULL,   -- daily, welcome, invitee:<user id>, or a correction's note
    epoch    TEXT    NOT NULL,
    points   INTEGER NOT NULL,   -- milli-points
    PRIMARY KEY (user_id, day, source, reason)
) WITHOUT ROWID;
CREATE INDEX point_ledger_by_day ON point_ledger (day);

-- Per user and epoch, kept in step with the ledger inside the transactions that append to it.
CREATE TABLE point_totals (
    user_id INTEGER NOT NULL,
    epoch   TEXT    NOT NULL,
    points  INTEGER NOT NULL,
    PRIMARY KEY (user_id, epoch)
) WITHOUT ROWID;
CREATE INDEX point_totals_rank ON point_totals (epoch, points DESC);

-- Lock/UnLock events of the AssetLocking contract (userLockAmount after each), scanned up to `lock_scan`.
CREATE TABLE lock_events (
    locker    TEXT    NOT NULL,
    token     TEXT    NOT NULL,
    block     INTEGER NOT NULL,
    log_index INTEGER NOT NULL,
    amount    TEXT    NOT NULL,  -- userLockAmount, base units (may exceed 64 bits)
    PRIMARY KEY (locker, token, block, log_index)
) WITHOUT ROWID;
CREATE TABLE lock_scan (
    contract TEXT    PRIMARY KEY,
    block    INTEGER NOT NULL    -- scanned through this block
);

-- The snapshot and the self-referral check look wallets up by address.
CREATE INDEX IF NOT EXISTS wallets_by_address ON wallets (address);
