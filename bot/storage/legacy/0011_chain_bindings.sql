-- The chains this database belongs to, recorded at its first start on each (the home chain and every companion
-- on a chain of its own), keyed by chain id. A start on a chain whose id is unknown as the home chain, or whose
-- genesis block differs, is refused (bot.chainbind): the wallets, intents and nonces here belong to that chain.
-- A devnet's chain is also anchored on a later block (its head at the first start): devnets booted from one
-- deploy cache share their genesis block, and only that later block tells a restored chain from a new one.
CREATE TABLE chain_bindings (
    chain_id     INTEGER PRIMARY KEY,
    genesis_hash TEXT    NOT NULL,           -- block 0's hash, 0x-prefixed lowercase hex
    anchor_block INTEGER,                    -- a devnet's head at its first start (NULL on a real chain)
    anchor_hash  TEXT,
    label        TEXT    NOT NULL,           -- the chain's name as the profile gave it, for messages
    home         INTEGER NOT NULL DEFAULT 0, -- 1: the chain the bot's own profile runs on
    bound_at     INTEGER NOT NULL
);
