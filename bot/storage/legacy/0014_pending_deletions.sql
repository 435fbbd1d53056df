-- Messages the bot must delete at a given time (an exported private key, shown for a minute): kept here, not
-- only in memory, so a crash or a kill cannot leave a key in a chat; carried out at their time, and at start-up
-- for every one that fell due while the bot was down.
CREATE TABLE pending_deletions (
    platform   TEXT    NOT NULL,             -- telegram, discord
    chat_id    TEXT    NOT NULL,
    message_id TEXT    NOT NULL,
    due_at     INTEGER NOT NULL,             -- unix seconds
    PRIMARY KEY (platform, chat_id, message_id)
);
