-- Button presses Telegram delivered (getUpdates) that the bot has not finished handling. A press is stored
-- before the next getUpdates acknowledges it to Telegram, removed once handled, and handled again at start-up
-- when the bot was stopped in between (a kill, a crash), so no press goes unanswered. Handling a press twice
-- is harmless: a trade's intent moves from quoted to confirmed by compare-and-set, once.
CREATE TABLE telegram_presses (
    update_id  INTEGER PRIMARY KEY,
    body       TEXT    NOT NULL,  -- the Update as JSON; of the pressed message only its id, chat and date
    fetched_at INTEGER NOT NULL
);
