-- Connected wallets: single-use links to the connect page, and signing links for a connected wallet's trades.
-- Only a SHA-256 of each link token is stored: a copy of the database opens no page.
CREATE TABLE connect_links (
    token_hash TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    platform   TEXT    NOT NULL,               -- where /connect was asked, so the outcome is told there
    chat_id    TEXT    NOT NULL,
    nonce      TEXT    NOT NULL,               -- the SIWE nonce the signed message must carry
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,                        -- set once, by the signature that linked an address
    address    TEXT                            -- the address it linked
);
CREATE INDEX connect_links_by_user ON connect_links (user_id);

CREATE TABLE signing_links (
    token_hash   TEXT    PRIMARY KEY,
    intent_id    INTEGER NOT NULL REFERENCES intents (id),
    user_id      INTEGER NOT NULL REFERENCES users (id),
    address      TEXT    NOT NULL,             -- the connected wallet that must send, checksummed
    chain_id     INTEGER NOT NULL,
    txs          TEXT    NOT NULL,             -- JSON: the transactions in order, with their plain-words descriptions
    session_hash TEXT,                         -- the browser that opened the page first; only it may go on
    hashes       TEXT    NOT NULL DEFAULT '[]',-- JSON: the hashes reported, in step order
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER                       -- every transaction reported
);
CREATE INDEX signing_links_by_intent ON signing_links (intent_id);
