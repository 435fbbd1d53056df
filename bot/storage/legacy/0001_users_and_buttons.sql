-- Users as the platforms know them, with their language override, and the server side of buttons.
CREATE TABLE users (
    id               INTEGER PRIMARY KEY,
    platform         TEXT    NOT NULL,
    platform_user_id TEXT    NOT NULL,
    display_name     TEXT    NOT NULL DEFAULT '',
    locale           TEXT,                       -- set by /lang; NULL follows the platform's language
    created_at       INTEGER NOT NULL,
    last_seen_at     INTEGER NOT NULL,
    UNIQUE (platform, platform_user_id)
);

-- A button on the wire carries only `token`; what it does and for whom lives here.
CREATE TABLE buttons (
    token      TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    action     TEXT    NOT NULL,
    args       TEXT    NOT NULL,                 -- JSON array of strings
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX buttons_by_expiry ON buttons (expires_at);
