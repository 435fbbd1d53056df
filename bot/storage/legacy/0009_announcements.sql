-- Moderator announcements and the audit log (bot/announce).

CREATE TABLE announcements (
    id          INTEGER PRIMARY KEY,
    author_id   INTEGER NOT NULL REFERENCES users (id),
    platform    TEXT    NOT NULL,                 -- where the author drafted it
    scope       TEXT    NOT NULL,                 -- 'all', or '<platform>:<group or server id>' for a community's own
    origin_chat TEXT,                             -- a community announcement also goes to this chat (where it was drafted)
    texts       TEXT    NOT NULL,                 -- JSON {locale: text}; "" is the default text
    image       BLOB,
    state       TEXT    NOT NULL CHECK (state IN ('draft', 'scheduled', 'sending', 'done', 'cancelled')),
    send_at     INTEGER,
    created_at  INTEGER NOT NULL
);
CREATE INDEX announcements_by_author ON announcements (author_id, id);
CREATE INDEX announcements_due ON announcements (state) WHERE state IN ('scheduled', 'sending');

-- Where a user has been seen using the bot: a community moderator's announcement reaches its own members.
CREATE TABLE community_members (
    platform    TEXT    NOT NULL,
    community   TEXT    NOT NULL,                 -- Telegram group chat id, Discord server id
    user_id     INTEGER NOT NULL REFERENCES users (id),
    PRIMARY KEY (platform, community, user_id)
);

CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    user_id   INTEGER REFERENCES users (id),
    action    TEXT    NOT NULL,                   -- announce.refused, announce.draft, announce.send, ...
    detail    TEXT    NOT NULL                    -- JSON
);
CREATE INDEX audit_by_time ON audit_log (at);
