-- Wallets (custodial keys encrypted at rest; connected wallets by address only), PINs and user settings.
CREATE TABLE wallets (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users (id),
    kind          TEXT    NOT NULL CHECK (kind IN ('custodial', 'connected')),
    address       TEXT    NOT NULL,             -- checksummed
    encrypted_key BLOB,                         -- custodial only: AES-256-GCM nonce || ciphertext, AAD = user id
    key_id        TEXT,                         -- which master key encrypted it (rotation)
    created_at    INTEGER NOT NULL,
    removed_at    INTEGER                       -- set on /disconnect or replacement; rows are never deleted
);
CREATE UNIQUE INDEX one_live_wallet_per_kind ON wallets (user_id, kind) WHERE removed_at IS NULL;

CREATE TABLE pins (
    user_id      INTEGER PRIMARY KEY REFERENCES users (id),
    salt         BLOB    NOT NULL,
    hash         BLOB    NOT NULL,
    params       TEXT    NOT NULL,              -- KDF and its parameters, JSON
    failures     INTEGER NOT NULL DEFAULT 0,    -- consecutive wrong tries
    locked_until INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE user_settings (
    user_id      INTEGER PRIMARY KEY REFERENCES users (id),
    slippage_bps INTEGER NOT NULL DEFAULT 50,
    timezone     TEXT
);

-- The language the platform last reported, so unprompted notices (a trade confirmed) use it too.
ALTER TABLE users ADD COLUMN platform_locale TEXT;
