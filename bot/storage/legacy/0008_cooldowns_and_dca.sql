-- Cooldown-end alerts and DCA plans (bot/alerts/cooldowns.py, bot/dca).

-- One watch per user and staking token: an unstake sets (or moves) its end; the alert fires once per end.
CREATE TABLE cooldown_watch (
    user_id    INTEGER NOT NULL REFERENCES users (id),
    token      TEXT    NOT NULL,                  -- the staking token's address, checksummed
    address    TEXT    NOT NULL,                  -- the wallet that unstaked
    ends_at    INTEGER NOT NULL,                  -- chain time (unix seconds)
    notified_end INTEGER,                         -- the end the alert was sent for
    PRIMARY KEY (user_id, token)
);

CREATE TABLE dca_plans (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    token       TEXT    NOT NULL,                 -- index token symbol
    usdc_units  INTEGER NOT NULL,                 -- USDC base units per run
    cadence     TEXT    NOT NULL CHECK (cadence IN ('daily', 'weekly')),
    at_minute   INTEGER NOT NULL,                 -- minutes after local midnight
    weekday     INTEGER,                          -- 0 = Monday, weekly plans only
    zone        TEXT    NOT NULL,                 -- IANA zone the time is in
    platform    TEXT    NOT NULL,
    chat_id     TEXT    NOT NULL,                 -- the private chat that set it up
    state       TEXT    NOT NULL CHECK (state IN ('active', 'paused', 'cancelled')),
    failures    INTEGER NOT NULL DEFAULT 0,       -- in a row; three pause the plan
    created_at  INTEGER NOT NULL
);
CREATE INDEX dca_by_user ON dca_plans (user_id);

-- One row per scheduled run (plan, due time): a run fired twice buys once.
CREATE TABLE dca_runs (
    plan_id    INTEGER NOT NULL REFERENCES dca_plans (id),
    due_at     INTEGER NOT NULL,
    intent_id  INTEGER REFERENCES intents (id),
    outcome    TEXT,                              -- NULL while running; done, failed
    error      TEXT,
    PRIMARY KEY (plan_id, due_at)
);
