-- Several chains at once: a wallet's address has its own nonces on each chain, so a transaction's nonce is
-- unique per (chain, address), not per address.
ALTER TABLE intent_txs ADD COLUMN chain_id INTEGER;
UPDATE intent_txs SET chain_id = (SELECT chain_id FROM intents WHERE intents.id = intent_txs.intent_id);
DROP INDEX one_tx_per_nonce;
CREATE UNIQUE INDEX one_tx_per_nonce ON intent_txs (chain_id, address, nonce) WHERE state NOT IN ('replaced', 'dropped');

-- Issuance and redemption requests to an index factory (venue `issuance`): the intent that sent the request
-- mined, the factory fills it later (while the constituents' market is open) or it is cancelled. One row per
-- request, created from the mined intent (idempotent: the intent id is unique); its state only moves forward:
-- pending -> filled | cancelled.
CREATE TABLE issuance_orders (
    id           INTEGER PRIMARY KEY,
    intent_id    INTEGER NOT NULL UNIQUE REFERENCES intents (id),
    user_id      INTEGER NOT NULL REFERENCES users (id),
    chain        TEXT    NOT NULL,           -- the profile's name
    factory      TEXT    NOT NULL,
    index_symbol TEXT    NOT NULL,
    side         TEXT    NOT NULL,           -- issue (USDC in, index out) or redeem (index in, USDC out)
    nonce        INTEGER NOT NULL,           -- the factory's issuance or redemption nonce
    amount_in    TEXT    NOT NULL,           -- base units (USDC for issue, index tokens for redeem)
    requested_at INTEGER NOT NULL,           -- the request's block time
    requested_block INTEGER NOT NULL,        -- its block: the fill is looked for from there
    expected_at  INTEGER,                    -- when the market opens (NULL: it was open)
    state        TEXT    NOT NULL,           -- pending, filled, cancelled
    amount_out   TEXT,                       -- base units received, once filled
    price        TEXT,                       -- USD per index token (18 decimals), once filled
    cancel_intent INTEGER REFERENCES intents (id),  -- the user's cancellation, while it is being sent
    settled_at   INTEGER,
    UNIQUE (chain, factory, side, nonce)
);
CREATE INDEX pending_orders ON issuance_orders (state) WHERE state = 'pending';
CREATE INDEX orders_by_user ON issuance_orders (user_id, id);
