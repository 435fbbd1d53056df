-- The last fresh price of each symbol per chain (bot.prices): when no source prices a symbol at a points
-- snapshot's block, the points are valued with this price, and the snapshot records which one and how old.
CREATE TABLE last_fresh_prices (
    chain_id     INTEGER NOT NULL,
    symbol       TEXT    NOT NULL,
    price        TEXT    NOT NULL,           -- USD per whole unit, a Decimal's text
    source       TEXT    NOT NULL,           -- chainlink, pyth, twap
    published_at INTEGER NOT NULL,           -- unix seconds
    PRIMARY KEY (chain_id, symbol)
);

-- Each price a day's points snapshot took from last_fresh_prices instead of a fresh source, and its age then.
CREATE TABLE point_price_fallbacks (
    day          TEXT    NOT NULL REFERENCES point_snapshots (day),
    symbol       TEXT    NOT NULL,
    price        TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    published_at INTEGER NOT NULL,
    age_seconds  INTEGER NOT NULL,           -- at the snapshot's block
    PRIMARY KEY (day, symbol)
);
