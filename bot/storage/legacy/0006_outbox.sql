-- Everything the bot says unprompted (bot/outbox): stored before it is sent, marked when the platform took it.

ALTER TABLE users ADD COLUMN dm_chat TEXT;          -- the user's private chat with the bot, once known
ALTER TABLE users ADD COLUMN blocked_at INTEGER;    -- the platform said the user blocked the bot: skipped from then on

-- One row per message to one chat. `state` only moves forward: pending -> sending -> sent | blocked | failed,
-- pending -> cancelled, and a row found 'sending' after a crash becomes 'unknown' (it may have arrived: it is
-- never sent again, so nobody gets a message twice).
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    platform        TEXT    NOT NULL,
    chat_id         TEXT    NOT NULL,
    user_id         INTEGER REFERENCES users (id),  -- NULL for a channel or group
    kind            TEXT    NOT NULL,               -- trade, rebalance, digest, cooldown, price, dca, announcement
    priority        INTEGER NOT NULL,               -- 0 a user's own business (trades), 1 alerts, 2 bulk
    urgent          INTEGER NOT NULL DEFAULT 0,     -- 1: delivered during the user's quiet hours too
    dedupe          TEXT    UNIQUE,                 -- the same key is the same message: stored once, sent once
    payload         TEXT    NOT NULL,               -- JSON (bot/outbox/codec.py)
    edit_ref        TEXT,                           -- edit this message of the bot's in place
    announcement_id INTEGER,
    due_at          INTEGER NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sending', 'sent', 'blocked', 'failed', 'cancelled', 'unknown')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    sent_ref        TEXT,                           -- the platform's id of the message shown
    error           TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX outbox_due ON outbox (platform, priority, due_at, id) WHERE state = 'pending';
CREATE INDEX outbox_in_flight ON outbox (state) WHERE state = 'sending';
CREATE INDEX outbox_by_announcement ON outbox (announcement_id, state) WHERE announcement_id IS NOT NULL;

-- /alerts: which kinds a user receives, quiet hours and the digest time (minutes after local midnight, in the
-- user's /timezone). No row: everything on, no quiet hours, digest at 09:00.
CREATE TABLE alert_settings (
    user_id       INTEGER PRIMARY KEY REFERENCES users (id),
    rebalance     INTEGER NOT NULL DEFAULT 1,
    digest        INTEGER NOT NULL DEFAULT 1,
    cooldown      INTEGER NOT NULL DEFAULT 1,
    price         INTEGER NOT NULL DEFAULT 1,
    dca           INTEGER NOT NULL DEFAULT 1,
    announcement  INTEGER NOT NULL DEFAULT 1,
    quiet_start   INTEGER,                        -- both NULL: no quiet hours
    quiet_end     INTEGER,
    digest_at     INTEGER NOT NULL DEFAULT 540
);
