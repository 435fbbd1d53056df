-- Rebalance and price alerts (bot/alerts).

-- How far the rebalance watcher has read each index token's events; it re-reads a few blocks behind the
-- cursor (reorgs) and `rebalance_events` makes each event count once.
CREATE TABLE rebalance_cursor (
    token  TEXT    PRIMARY KEY,                   -- the index token's address, checksummed
    block  INTEGER NOT NULL,                      -- every block up to this one is read
    since  INTEGER NOT NULL                       -- the head when watching began: blocks before it are never read
);
CREATE TABLE rebalance_events (
    token      TEXT    NOT NULL,
    block      INTEGER NOT NULL,
    tx_hash    TEXT    NOT NULL,
    log_index  INTEGER NOT NULL,
    kind       TEXT    NOT NULL,                  -- start, tokenset, end
    done       INTEGER NOT NULL DEFAULT 0,        -- 1 once handled (subscribers told, or nothing to tell): a crash
                                                  -- before that handles it again, the outbox keys keep it once
    PRIMARY KEY (tx_hash, log_index)
);
CREATE INDEX rebalance_events_by_token ON rebalance_events (token, block, log_index);
CREATE INDEX rebalance_events_open ON rebalance_events (block, log_index) WHERE done = 0;

-- /alert MAG7 above 105, /alert MAG7 premium 2: armed alerts fire once, then re-arm when the price has moved
-- back past the line by the re-arm margin.
CREATE TABLE price_alerts (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    token       TEXT    NOT NULL,                 -- index token symbol, e.g. MAG7.ssi
    kind        TEXT    NOT NULL CHECK (kind IN ('above', 'below', 'premium')),
    threshold   TEXT    NOT NULL,                 -- Decimal as text: USD, or percent for premium
    armed       INTEGER NOT NULL DEFAULT 1,
    fired_count INTEGER NOT NULL DEFAULT 0,   -- times it fired; the outbox key is price:<id>:<fired_count>
    sent_count  INTEGER NOT NULL DEFAULT 0,   -- times its message was queued: below fired_count after a crash, queued again
    fired_value TEXT,                         -- the value (USD, or premium as a ratio) that fired it last
    fired_block INTEGER,
    last_fired_at INTEGER,
    created_at  INTEGER NOT NULL,
    deleted_at  INTEGER
);
CREATE INDEX price_alerts_live ON price_alerts (token) WHERE deleted_at IS NULL;
CREATE INDEX price_alerts_by_user ON price_alerts (user_id) WHERE deleted_at IS NULL;
