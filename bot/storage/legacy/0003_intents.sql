-- Every trade is an intent stored before anything is signed; its state only moves forward.
CREATE TABLE intents (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users (id),
    address         TEXT    NOT NULL,           -- the sender, checksummed: which wallet traded
    kind            TEXT    NOT NULL,           -- buy, sell, withdraw (later: stake, unstake, claim, …)
    chain_id        INTEGER NOT NULL,
    params          TEXT    NOT NULL,           -- JSON: what the user asked for, amounts in base units
    state           TEXT    NOT NULL,           -- see bot/trading/intents.py
    quote_expires_at INTEGER NOT NULL,
    platform        TEXT    NOT NULL,           -- where progress is shown
    chat_id         TEXT    NOT NULL,
    message_ref     TEXT,                       -- the message edited as the trade moves
    result          TEXT,                       -- JSON: amounts received, price, fee, revert reason
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX unfinished_intents ON intents (state) WHERE state IN ('confirmed', 'signed', 'sent');
CREATE INDEX intents_by_user ON intents (user_id, id);

-- The transactions of an intent (an exact approval, then the swap), each signed and stored before broadcast.
-- A fee-bumped replacement is a new row for the same step and nonce; the row it replaces points at it.
-- A connected wallet signs and sends its own transactions: their rows hold only the hash the wallet reported
-- (state 'sent', no raw_tx), with the nonce and fees read from the node when it knew the transaction then
-- (NULL otherwise; the follower goes by receipts, and by the nonce when it is known).
CREATE TABLE intent_txs (
    id          INTEGER PRIMARY KEY,
    intent_id   INTEGER NOT NULL REFERENCES intents (id),
    step        INTEGER NOT NULL,                -- 0, 1, … in nonce order
    purpose     TEXT    NOT NULL,                -- approve, swap, transfer
    address     TEXT    NOT NULL,                -- the sender
    nonce       INTEGER,                         -- NULL: a connected wallet's, not yet seen by our node
    raw_tx      BLOB,                            -- signed bytes (custodial); NULL for connected wallets
    tx_hash     TEXT    NOT NULL UNIQUE,
    max_fee     INTEGER,                         -- wei per gas, as signed (NULL: connected, unknown)
    priority_fee INTEGER,
    state       TEXT    NOT NULL,                -- signed, sent, mined, reverted, dropped, replaced
    replaced_by TEXT,                            -- hash of a fee-bumped replacement
    block       INTEGER,
    signed_at   REAL    NOT NULL,
    sent_at     REAL
);
CREATE INDEX txs_of_intent ON intent_txs (intent_id, step);
CREATE UNIQUE INDEX one_tx_per_nonce ON intent_txs (address, nonce) WHERE state NOT IN ('replaced', 'dropped');
