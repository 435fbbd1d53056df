"""The database schema as SQLAlchemy Core tables: one `Table` per table, the same on SQLite and PostgreSQL.

Equal to what the legacy migrations 0001-0016 (bot/storage/legacy) built, plus the Alembic revisions after the
baseline (bot/storage/alembic/versions). A change here goes with a new revision; tests/test_schema.py checks that
the migrated database and this metadata agree on both engines.

Types, on both engines:
- `Int`: INTEGER on SQLite (64-bit there; `INTEGER PRIMARY KEY` stays the rowid), BIGINT on PostgreSQL (its
  INTEGER is 32-bit: epoch seconds, fees in wei and chat ids outgrow it). A single `id` primary key is
  auto-assigned (the rowid; BIGSERIAL on PostgreSQL).
- `Amount`: token amounts in base units, Python ints; exact up to 2**256-1 (TEXT on SQLite, NUMERIC(78,0) on
  PostgreSQL). SQLite compares and sorts the text, not the number: never order or compare amounts in SQL.
- `Real`: times in fractional seconds (REAL on SQLite, double precision on PostgreSQL). Never money.
- Timestamps are integer epoch seconds (UTC); booleans are INTEGER 0/1.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    REAL,
    BigInteger,
    CheckConstraint,
    Column,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

metadata = MetaData()

Int = BigInteger().with_variant(Integer(), "sqlite")
Real = Float().with_variant(REAL(), "sqlite")
AMOUNT_DIGITS = 78  # 2**256 - 1 has 78 digits


class Amount(TypeDecorator[int]):
    """A token amount in base units: a Python int in and out, exact up to 2**256-1 on both engines."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(AMOUNT_DIGITS, 0))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"an amount is an int of base units, not {type(value).__name__}: {value!r}")
        if dialect.name == "postgresql":
            return value
        return str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, Decimal):
            if value != value.to_integral_value():
                raise ValueError(f"an amount in base units has no fraction: {value}")
            return int(value)
        return int(value)

    def process_literal_param(self, value: int | None, dialect: Dialect) -> str:
        bound = self.process_bind_param(value, dialect)
        if bound is None:
            return "NULL"
        return str(bound) if dialect.name == "postgresql" else f"'{bound}'"

    @property
    def python_type(self) -> type[int]:
        return int


def _in(column: str, *values: str) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _where(sql: str) -> dict[str, Any]:
    """A partial index's WHERE, the same on both engines."""
    return {"sqlite_where": text(sql), "postgresql_where": text(sql)}


def _id() -> Column[int]:
    return Column("id", Int, primary_key=True, autoincrement=True)


# 0001: users as the platforms know them, with their language override, and the server side of buttons.
users = Table(
    "users", metadata,
    _id(),
    Column("platform", Text, nullable=False),
    Column("platform_user_id", Text, nullable=False),
    Column("display_name", Text, nullable=False, server_default=text("''")),
    Column("locale", Text),  # set by /lang; NULL follows the platform's language
    Column("created_at", Int, nullable=False),
    Column("last_seen_at", Int, nullable=False),
    Column("platform_locale", Text),  # the language the platform last reported
    Column("started_at", Int),  # the first /start (fixes the referrer)
    Column("leaderboard_name", Text),  # NULL: shown anonymized
    Column("dm_chat", Text),  # the user's private chat with the bot, once known
    Column("blocked_at", Int),  # the platform said the user blocked the bot
    Column("leaderboard_key", Text),  # look-alike key of the leaderboard name (bot.points.names.name_key)
    UniqueConstraint("platform", "platform_user_id"),
)
Index("users_by_leaderboard_key", users.c.leaderboard_key, unique=True, **_where("leaderboard_key IS NOT NULL"))

# A button on the wire carries only `token`; what it does and for whom lives here.
buttons = Table(
    "buttons", metadata,
    Column("token", Text, primary_key=True),
    Column("user_id", Int, ForeignKey("users.id"), nullable=False),
    Column("action", Text, nullable=False),
    Column("args", Text, nullable=False),  # JSON array of strings
    Column("created_at", Int, nullable=False),
    Column("expires_at", Int, nullable=False),
)
Index("buttons_by_expiry", buttons.c.expires_at)

# 0002: wallets (custodial keys encrypted at rest; connected wallets by address only), PINs and user settings.
wallets = Table(
    "wallets", metadata,
    _id(),
    Column("user_id", Int, ForeignKey("users.id"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("address", Text, nullable=False),  # checksummed
    Column("encrypted_key", LargeBinary),  # custodial only: AES-256-GCM nonce || ciphertext, AAD = user id
    Column("key_id", Text),  # which master key encrypted it (rotation)
    Column("created_at", Int, nullable=False),
    Column("removed_at", Int),  # set on /disconnect or replacement; rows are never deleted
    CheckConstraint(_in("kind", "custodial", "connected")),
)
Index("one_live_wallet_per_kind", wallets.c.user_id, wallets.c.kind, unique=True, **_where("removed_at IS NULL"))
Index("wallets_by_address", wallets.c.address)

pins = Table(
    "pins", metadata,
    Column("user_id", Int, ForeignKey("users.id"), primary_key=True, autoincrement=False),
    Column("salt", LargeBinary, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    Column("params", Text, nullable=False),  # KDF and its parameters, JSON
    Column("failures", Int, nullable=False, server_default=text("0")),  # consecutive wrong tries
    Column("locked_until", Int, nullable=False, server_default=text("0")),
    Column("key_id", Text),  # the master key the pepper comes from
    Column("pepper", LargeBinary),  # a rotated-over pepper, sealed under `key_id`; NULL: derived from it
)

user_settings = Table(
    "user_settings", metadata,
    Column("user_id", Int, ForeignKey("users.id"), primary_key=True, autoincrement=False),
    Column("slippage_bps", Int, nullable=False, server_default=text("50")),
    Column("timezone", Text),
    Column("buy_presets", Text),  # 0024: the Buy screen's amounts in USDC, e.g. "25,50,100,250"; NULL: the defaults
)

# 0003: every trade is an intent stored before anything is signed; its state only moves forward.
intents = Table(
    "intents", metadata,
    _id(),
    Column("user_id", Int, ForeignKey("users.id"), nullable=False),
    Column("address", Text, nullable=False),  # the sender, checksummed
    Column("kind", Text, nullable=False),  # buy, sell, withdraw, ...
    Column("chain_id", Int, nullable=False),
    Column("params", Text, nullable=False),  # JSON: what the user asked for, amounts in base units (as strings)
    Column("state", Text, nullable=False),  # see bot/trading/intents.py
    Column("quote_expires_at", Int, nullable=False),
    Column("platform", Text, nullable=False),  # where progress is shown
    Column("chat_id", Text, nullable=False),
    Column("message_ref", Text),  # the message edited as the trade moves
    Column("result", Text),  # JSON: amounts received, price, fee, revert reason
    Column("created_at", Int, nullable=False),
    Column("updated_at", Int, nullable=False),
)
Index("unfinished_intents", intents.c.state, **_where(_in("state", "confirmed", "signed", "sent")))
Index("intents_by_user", intents.c.user_id, intents.c.id)

# The transactions of an intent, each signed and stored before broadcast; a fee bump is a new row for the same
# step and nonce. A connected wallet's rows hold only the hash it reported (no raw_tx; nonce and fees if known).
intent_txs = Table(
    "intent_txs", metadata,
    _id(),
    Column("intent_id", Int, ForeignKey("intents.id"), nullable=False),
    Column("step", Int, nullable=False),  # 0, 1, ... in nonce order
    Column("purpose", Text, nullable=False),  # approve, swap, transfer
    Column("address", Text, nullable=False),  # the sender
    Column("nonce", Int),  # NULL: a connected wallet's, not yet seen by our node
    Column("raw_tx", LargeBinary),  # signed bytes (custodial)
    Column("tx_hash", Text, nullable=False, unique=True),
    Column("max_fee", Int),  # wei per gas, as signed (a fee rate, not an amount: 64 bits is plenty)
    Column("priority_fee", Int),
    Column("state", Text, nullable=False),  # signed, sent, mined, reverted, dropped, replaced
    Column("replaced_by", Text),  # hash of a fee-bumped replacement
    Column("block", Int),
    Column("signed_at", Real, nullable=False),
    Column("sent_at", Real),
    Column("chain_id", Int, nullable=False),  # nonces are per (chain, address); 0018: NOT NULL
)
Index("txs_of_intent", intent_txs.c.intent_id, intent_txs.c.step)
Index("one_tx_per_nonce", intent_txs.c.chain_id, intent_txs.c.address, intent_txs.c.nonce, unique=True,
      **_where("state NOT IN ('replaced', 'dropped')"))

# 0004: single-use links to the connect page, and signing links for a connected wallet's trades (SHA-256 of the
# link token only).
connect_links = Table(
    "connect_links", metadata,
    Column("token_hash", Text, primary_key=True),
    Column("user_id", Int, ForeignKey("users.id"), nullable=False),
    Column("platform", Text, nullable=False),  # where /connect was asked
    Column("chat_id", Text, nullable=False),
    Column("nonce", Text, nullable=False),  # the SIWE nonce the signed message must carry
    Column("created_at", Int, nullable=False),
    Column("expires_at", Int, nullable=False),
    Column("used_at", Int),
    Column("address", Text),  # the address it linked
)
Index("connect_links_by_user", connect_links.c.user_id)

signing_links = Table(
    "signing_links", metadata,
    Column("token_hash", Text, primary_key=True),
    Column("intent_id", Int, ForeignKey("intents.id"), nullable=False),
    Column("user_id", Int, ForeignKey("users.id"), nullable=False),
    Column("address", Text, nullable=False),  # the connected wallet that must send
    Column("chain_id", Int, nullable=False),
    Column("txs", Text, nullable=False),  # JSON: the transactions in order, with their descriptions
    Column("session_hash", Text),  # the browser that opened the page first
    Column("hashes", Text, nullable=False, server_default=text("'[]'")),  # JSON: the hashes reported, in step order
    Column("created_at", Int, nullable=False),
    Column("expires_at", Int, nullable=False),
    Column("used_at", Int),  # every transaction reported
)
Index("signing_links_by_intent", signing_links.c.intent_id)

# 0005: points, epochs and referrals (bot/points). USD in 1e-4 units, points in milli-points: integers.
referral_codes = Table(
    "referral_codes", metadata,
    Column("user_id", Int, ForeignKey("users.id"), primary_key=True, autoincrement=False),
    Column("code", Text, nullable=False, unique=True),  # what /invite shares
)

referrals = Table(
    "referrals", metadata,
    Column("invitee_id", Int, ForeignKey("users.id"), primary_key=True, autoincrement=False),
    Column("referrer_id", Int, ForeignKey("users.id"), nullable=False),
    Column("joined_at", Int, nullable=False),
    Column("qualified_day", Text),  # the snapshot day of the first qualifying holding
    Column("void_reason", Text),  # 'self': the invitee shares a wallet up the chain
)
Index("referrals_by_referrer", referrals.c.referrer_id)

# One row per snapshot day; `credited` moves once, with the day's ledger rows and totals.
point_snapshots = Table(
    "point_snapshots", metadata,
    Column("day", Text, primary_key=True),  # YYYY-MM-DD, UTC
    Column("epoch", Text, nullable=False),
    Column("block", Int, nullable=False),
    Column("timestamp", Int, nullable=False),
    Column("next_wallet", Int, nullable=False, server_default=text("0")),  # wallets.id below this are read
    Column("state", Text, nullable=False),
    Column("started_at", Int, nullable=False),
    Column("finished_at", Int),
    CheckConstraint(_in("state", "reading", "credited")),
)

# What each wallet held at the snapshot's block, in USD units of 1e-4.
point_holdings = Table(
    "point_holdings", metadata,
    Column("day", Text, nullable=False),
    Column("user_id", Int, nullable=False),
    Column("address", Text, nullable=False),
    Column("index_symbol", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("usd_e4", Int, nullable=False),
    PrimaryKeyConstraint("day", "address", "index_symbol", "source"),
    CheckConstraint(_in("source", "held", "staked", "locked", "soso")),
    sqlite_with_rowid=False,
)

# The ledger: append-only, one row per user, day, source and reason. Corrections are new rows.
point_ledger = Table(
    "point_ledger", metadata,
    Column("user_id", Int, nullable=False),
    Column("day", Text, nullable=False),
    Column("source", Text, nullable=False),  # held, staked, locked, boost, referral, bonus, correction
    Column("reason", Text, nullable=False),  # daily, welcome, invitee:<user id>, or a correction's note
    Column("epoch", Text, nullable=False),
    Column("points", Int, nullable=False),  # milli-points
    PrimaryKeyConstraint("user_id", "day", "source", "reason"),
    sqlite_with_rowid=False,
)
Index("point_ledger_by_day", point_ledger.c.day)

# Per user and epoch, kept in step with the ledger.
point_totals = Table(
    "point_totals", metadata,
    Column("user_id", Int, nullable=False),
    Column("epoch", Text, nullable=False),
    Column("points", Int, nullable=False),
    PrimaryKeyConstraint("user_id", "epoch"),
    sqlite_with_rowid=False,
)
Index("point_totals_rank", point_totals.c.epoch, point_totals.c.points.desc())

# Lock/UnLock events of the AssetLocking contract, scanned up to `lock_scan`.
lock_events = Table(
    "lock_events", metadata,
    Column("locker", Text, nullable=False),
    Column("token", Text, nullable=False),
    Column("block", Int, nullable=False),
    Column("log_index", Int, nullable=False),
    Column("amount", Amount, nullable=False),  # userLockAmount after the event, base units
    PrimaryKeyConstraint("locker", "token", "block", "log_index"),
    sqlite_with_rowid=False,
)
lock_scan = Table(
    "lock_scan", metadata,
    Column("contract", Text, primary_key=True),
    Column("block", Int, nullable=False),  # scanned through this block
)

# 0006: everything the bot says unprompted (bot/outbox). `state` only moves forward; 'sending' found after a crash
# becomes 'unknown' and is never sent again.
outbox = Table(
    "outbox", metadata,
    _id(),
    Column("platform", Text, nullable=False),
    Column("chat_id", Text, nullable=False),
    Column("user_id", Int, ForeignKey("users.id")),  # NULL for a channel or group
    Column("kind", Text, nullable=False),  # trade, rebalance, digest, cooldown, price, dca, announcement
    Column("priority", Int, nullable=False),  # 0 a user's own business, 1 alerts, 2 bulk
    Column("urgent", Int, nullable=False, server_default=text("0")),  # 1: during quiet hours too
    Column("dedupe", Text, unique=True),  # the same key is the same message: stored once, sent once
    Column("payload", Text, nullable=False),  # JSON (bot/outbox/codec.py)
    Column("edit_ref", Text),  # edit this message of the bot's in place
    Column("announcement_id", Int),
    Column("due_at", Int, nullable=False),
    Column("state", Text, nullable=False, server_default=text("'pending'")),
    Column("attempts", Int, nullable=False, server_default=text("0")),
    Column("sent_ref", Text),  # the platform's id of the message shown
    Column("error", Text),
    Column("created_at", Int, nullable=False),
    Column("sent_at", Int),
    CheckConstraint(_in("state", "pending", "sending", "sent", "blocked", "failed", "cancelled", "unknown")),
)
Index("outbox_due", outbox.c.platform, outbox.c.priority, outbox.c.due_at, outbox.c.id, **_where("state = 'pending'"))
Index("outbox_in_flight", outbox.c.state, **_where("state = 'sending'"))
Index("outbox_by_announcement", outbox.c.announcement_id, outbox.c.state, **_where("announcement_id IS NOT NULL"))
Index("outbox_finished", outbox.c.created_at, **_where("state NOT IN ('pending', 'sending')"))
# a user's messages their private chat refused, kept to be shown when they next come (Discord: bot.storage.outbox.take_kept)
Index("outbox_kept", outbox.c.user_id, outbox.c.id, **_where("state = 'blocked'"))

# /alerts: kinds received (1/0), quiet hours and the digest time (minutes after local midnight). No row: defaults.
alert_settings = Table(
    "alert_settings", metadata,
    Column("user_id", Int, ForeignKey("users.id"), primary_key=True, autoincrement=False),
    Column("rebalance", Int, nullable=False, server_default=text("1")),
    Column("digest", Int, nullable=False, server_default=text("1")),
    Column("cooldown", Int, nullable=False, server_default=text("1")),
    Column("price", Int, nullable=False, server_default=text("1")),
    Column("dca", Int, nullable=False, server_default=text("1")),
    Column("announcement", Int, nullable=False, server_default=text("1")),
    Column("reserves", Int, nullable=False, server_default=text("0")),  # 0025: opt-in, off until switched on
    Column("quiet_start", Int),  # both NULL: no quiet hours
    Column("quiet_end", Int),
    Column("digest_at", Int, nullable=False, server_default=text("540")),
)

# 0007: rebalance and price alerts (bot/alerts).
rebalance_cursor = Table(
    "rebalance_cursor", metadata,
    Column("token", Text, primary_key=True),  # the index token's address, checksummed
    Column("block", Int, nullable=False),  # every block up to this one is read
    Column("since", Int, nullable=False),  # the head when watching began
)
rebalance_events = Table(
    "rebalance_events", metadata,
    Column("token", Text, nullable=False),
    Column("block", Int, nullable=False),
    Column("tx_hash", Text, nullable=False),
    Column("log_index", Int, nullable=False),
    Column("kind", Text, nullable=False),  # start, tokenset, end
    Column("done", Int, nullable=False, server_default=text("0")),  # 1 once handled
    PrimaryKeyConstraint("tx_hash", "log_index"),
)
Index("rebalance_events_by_token", rebalance_events.c.token, rebalance_events.c.block, rebalance_events.c.log_index)
Index("rebalance_events_open", rebalance_events.c.block, rebalance_events.c.log_index, **_where("done = 0"))

# 0025: proof of reserves (bot/delivery/alerts/reserves.py): whether each index was last seen short of backing.
reserve_state = Table(
    "reserve_state", metadata,
    Column("token", Text, primary_key=True),  # the index token's address, checksummed
    Column("short", Int, nullable=False),  # 1: backed below 100 % by more than the fee explains
    Column("crossings", Int, nullable=False),  # how many times it fell short: numbers each crossing's messages
    Column("block", Int, nullable=False),  # the block where it was last found to change
)

# /alert: armed alerts fire once, then re-arm past the line by the re-arm margin.
price_alerts = Table(
    "price_alerts", metadata,
    _id(),
    Column("user_id", Int, ForeignKey("users.id"), nullable=False),
    Column("token", Text, nullable=False),  # index token symbol, e.g. MAG7.ssi
    Column("kind", Text, nullable=False),
    Column("threshold", Text, nullable=False),  # Decimal as text: USD, or percent for premium
    Column("armed", Int, nullable=False, server_default=text("1")),
    Column("fired_count", Int, nullable=False, server_default=text("0")),  # outbox key price:<id>:<fired_count>
    Column("sent_count", Int, nullable=False, server_default=text("0")),  # times its message was queued
    Column("fired_value", Text),  # Decimal as text: the value that fired it last
    Column("fired_block", Int),
    Column("last_fired_at", Int),
    Column("created_at", Int, nullable=False),
    Column("deleted_at", Int),
    CheckConstraint(_in("kind", "above", "below", "premium")),
)
Index("price_alerts_live", price_alerts.c.token, **_where("deleted_at IS NULL"))
Index("price_alerts_by_user", price_alerts.c.user_id, **_where("deleted_at IS NULL"))

# 0008: cooldown-end alerts and DCA plans (bot/alerts/cooldowns.py, bot/dca).
cooldown_watch = Table(
    "cooldown_watch", metadata,
    Column("user_id", Int, ForeignKey("users.id"), nullable=False),
    Column("token", Text, nullable=False),  # the staking token's address, checksummed
    Column("address", Text, nullable=False),  # the wallet that unstaked
    Column("ends_at", Int, nullable=False),  # chain time (unix seconds)
    Column("notified_end", Int),  # the end the alert was sent for
    PrimaryKeyConstraint("user_id", "token"),
)

dca_plans = Table(
    "dca_plans", metadata,
    _id(),
    Column("user_id", Int, ForeignKey("users.id"), nullable=False),
    Column("token", Text, nullable=False),  # index token symbol
    Column("usdc_units", Amount, nullable=False),  # USDC base units per run (Amount since revision 0017)
    Column("cadence", Text, nullable=False),
    Column("at_minute", Int, nullable=False),  # minutes after local midnight
    Column("weekday", Int),  # 0 = Monday, weekly plans only
    Column("zone", Text, nullable=False),  # IANA zone the time is in
    Column("platform", Text, nullable=False),
    Column("chat_id", Text, nullable=False),  # the private chat that set it up
    Column("state", Text, nullable=False),
    Column("failures", Int, nullable=False, server_default=text("0")),  # in a row; three pause the plan
    Column("created_at", Int, nullable=False),
    CheckConstraint(_in("cadence", "daily", "weekly")),
    CheckConstraint(_in("state", "active", "paused", "cancelled")),
)
Index("dca_by_user", dca_plans.c.user_id)

# One row per scheduled run (plan, due time): a run fired twice buys once.
dca_runs = Table(
    "dca_runs", metadata,
    Column("plan_id", Int, ForeignKey("dca_plans.id"), nullable=False),
    Column("due_at", Int, nullable=False),
    Column("intent_id", Int, ForeignKey("intents.id")),
    Column("outcome", Text),  # NULL while running; done, failed
    Column("error", Text),
    PrimaryKeyConstraint("plan_id", "due_at"),
)

# 0009: moderator announcements and the audit log (bot/announce).
announcements = Table(
    "announcements", metadata,
    _id(),
    Column("author_id", Int, ForeignKey("users.id"), nullable=False),
    Column("platform", Text, nullable=False),  # where the author drafted it
    Column("scope", Text, nullable=False),  # 'all', or '<platform>:<group or server id>'
    Column("origin_chat", Text),  # a community announcement also goes to this chat
    Column("texts", Text, nullable=False),  # JSON {locale: text}; "" is the default text
    Column("image", LargeBinary),
    Column("state", Text, nullable=False),
    Column("send_at", Int),
    Column("created_at", Int, nullable=False),
    Column("community_name", Text),  # the group's title, the server's name, when drafted
    CheckConstraint(_in("state", "draft", "scheduled", "sending", "done", "cancelled")),
)
Index("announcements_by_author", announcements.c.author_id, announcements.c.id)
Index("announcements_due", announcements.c.state, **_where(_in("state", "scheduled", "sending")))

# Where a user has been seen using the bot.
community_members = Table(
    "community_members", metadata,
    Column("platform", Text, nullable=False),
    Column("community", Text, nullable=False),  # Telegram group chat id, Discord server id
    Column("user_id", Int, ForeignKey("users.id"), nullable=False),
    PrimaryKeyConstraint("platform", "community", "user_id"),
)

audit_log = Table(
    "audit_log", metadata,
    _id(),
    Column("at", Int, nullable=False),
    Column("user_id", Int, ForeignKey("users.id")),
    Column("action", Text, nullable=False),  # announce.refused, announce.draft, announce.send, ...
    Column("detail", Text, nullable=False),  # JSON
    Column("repeats", Int, nullable=False, server_default=text("1")),  # refusals counted once a minute
    Column("last_at", Int),
)
Index("audit_by_time", audit_log.c.at)
Index("audit_by_user_action", audit_log.c.user_id, audit_log.c.action, audit_log.c.at)

# 0010: issuance and redemption requests to an index factory; state pending -> filled | cancelled.
issuance_orders = Table(
    "issuance_orders", metadata,
    _id(),
    Column("intent_id", Int, ForeignKey("intents.id"), nullable=False, unique=True),
    Column("user_id", Int, ForeignKey("users.id"), nullable=False),
    Column("chain", Text, nullable=False),  # the profile's name
    Column("factory", Text, nullable=False),
    Column("index_symbol", Text, nullable=False),
    Column("side", Text, nullable=False),  # issue or redeem
    Column("nonce", Int, nullable=False),  # the factory's issuance or redemption nonce
    Column("amount_in", Amount, nullable=False),  # base units (USDC for issue, index tokens for redeem)
    Column("requested_at", Int, nullable=False),  # the request's block time
    Column("requested_block", Int, nullable=False),
    Column("expected_at", Int),  # when the market opens (NULL: it was open)
    Column("state", Text, nullable=False),  # pending, filled, cancelled
    Column("amount_out", Amount),  # base units received, once filled
    Column("price", Amount),  # USD per index token with 18 decimals (an integer), once filled
    Column("cancel_intent", Int, ForeignKey("intents.id")),  # the user's cancellation, while it is being sent
    Column("settled_at", Int),
    Column("fill_tx", Text),  # 0029: the factory's fill transaction, once filled
    UniqueConstraint("chain", "factory", "side", "nonce"),
)
Index("pending_orders", issuance_orders.c.state, **_where("state = 'pending'"))
Index("orders_by_user", issuance_orders.c.user_id, issuance_orders.c.id)

# 0011: the chains this database belongs to (bot.chainbind), keyed by chain id.
chain_bindings = Table(
    "chain_bindings", metadata,
    Column("chain_id", Int, primary_key=True, autoincrement=False),
    Column("genesis_hash", Text, nullable=False),  # block 0's hash, 0x-prefixed lowercase hex
    Column("anchor_block", Int),  # a devnet's head at its first start (NULL on a real chain)
    Column("anchor_hash", Text),
    Column("label", Text, nullable=False),  # the chain's name as the profile gave it
    Column("home", Int, nullable=False, server_default=text("0")),  # 1: the bot's own profile's chain
    Column("bound_at", Int, nullable=False),
)

# 0012: the last fresh price of each symbol per chain (bot.prices), and the fallbacks a snapshot used.
last_fresh_prices = Table(
    "last_fresh_prices", metadata,
    Column("chain_id", Int, nullable=False),
    Column("symbol", Text, nullable=False),
    Column("price", Text, nullable=False),  # USD per whole unit, a Decimal's text
    Column("source", Text, nullable=False),  # chainlink, pyth, twap
    Column("published_at", Int, nullable=False),
    PrimaryKeyConstraint("chain_id", "symbol"),
)

point_price_fallbacks = Table(
    "point_price_fallbacks", metadata,
    Column("day", Text, ForeignKey("point_snapshots.day"), nullable=False),
    Column("symbol", Text, nullable=False),
    Column("price", Text, nullable=False),  # a Decimal's text
    Column("source", Text, nullable=False),
    Column("published_at", Int, nullable=False),
    Column("age_seconds", Int, nullable=False),  # at the snapshot's block
    PrimaryKeyConstraint("day", "symbol"),
)

# 0014: messages the bot must delete at a given time (an exported private key), carried out after a crash too.
pending_deletions = Table(
    "pending_deletions", metadata,
    Column("platform", Text, nullable=False),
    Column("chat_id", Text, nullable=False),
    Column("message_id", Text, nullable=False),
    Column("due_at", Int, nullable=False),
    PrimaryKeyConstraint("platform", "chat_id", "message_id"),
)

# 0015: button presses Telegram delivered that the bot has not finished handling.
telegram_presses = Table(
    "telegram_presses", metadata,
    Column("update_id", Int, primary_key=True, autoincrement=False),
    Column("body", Text, nullable=False),  # the Update as JSON
    Column("fetched_at", Int, nullable=False),
)

# 0019: Telegram updates received by webhook, stored once per update_id before Telegram gets its 200, handled once
# (bot.storage.telegram_updates): `chat_key` orders a chat's updates, `handled_at` stays NULL until handled.
telegram_updates = Table(
    "telegram_updates", metadata,
    Column("update_id", Int, primary_key=True, autoincrement=False),
    Column("chat_key", Text),  # "<chat>:<user>" (bot.frontends.adapters.telegram_updates.chat_key); NULL: not ordered
    Column("body", Text, nullable=False),  # the Update as Telegram posted it (JSON)
    Column("received_at", Int, nullable=False),
    Column("handled_at", Int),
)
Index("telegram_updates_waiting", telegram_updates.c.chat_key, telegram_updates.c.update_id,
      sqlite_where=text("handled_at IS NULL"), postgresql_where=text("handled_at IS NULL"))
# 0020: Discord interactions a gateway acknowledged and handed to the job engine (bot.storage.interactions). The
# token answers the interaction for 15 minutes: it is cleared when a worker takes it, and the row (kept so that a
# second delivery of the same interaction is known) is purged once the token would have expired anyway.
discord_interactions = Table(
    "discord_interactions", metadata,
    Column("id", Text, primary_key=True),  # Discord's interaction id (a snowflake)
    Column("token", Text),  # NULL once taken
    Column("ask", Text, nullable=False),  # what the handler needs, as JSON (bot.frontends.adapters.discord_handover)
    Column("received_at", Int, nullable=False),
    Column("taken_at", Int),
    Index("discord_interactions_by_age", "received_at"),
)
# 0021: the fleet's shared pacing of messages to a platform (bot.storage.send_pace); UNLOGGED on PostgreSQL.
send_pace = Table(
    "send_pace", metadata,
    Column("key", Text, primary_key=True),  # 'telegram' (overall) or 'telegram:<chat>'
    Column("tat", Real, nullable=False),  # the key's theoretical arrival time (GCRA), epoch seconds
    Column("spacing", Real, nullable=False),  # seconds between messages at the sustained rate
    Column("burst", Integer, nullable=False),  # messages that may leave at once after a quiet spell
)
# 0022: Telegram Mini App sign-in data already used (bot.storage.miniapp): the SHA-256 of its signature and the page
# (the SHA-256 of the link's token) it was used on; the same data on another page is a replay. Purged once expired.
miniapp_init_data = Table(
    "miniapp_init_data", metadata,
    Column("hash", Text, primary_key=True),  # SHA-256 of the initData's `hash` field
    Column("scope", Text, nullable=False),  # SHA-256 of the link token it was first used on
    Column("used_at", Int, nullable=False),
    Column("expires_at", Int, nullable=False),  # when its auth_date is too old anyway: the row may go
    Index("miniapp_init_data_by_expiry", "expires_at"),
)
# 0023: the question a user is asked (bot.storage.prompts): one open prompt per user and chat, answered by their next
# plain message there; it outlives a restart and is taken by one process of a fleet (DELETE ... RETURNING).
prompts = Table(
    "prompts", metadata,
    Column("user_id", Int, ForeignKey("users.id"), nullable=False),
    Column("chat_id", Text, nullable=False),
    Column("prompt", Text, nullable=False),  # the registered prompt that takes the answer
    Column("state", Text, nullable=False),  # JSON array of strings: what the asking step kept
    Column("field", Text, nullable=False),  # the catalog entry naming the value asked for
    Column("secret", Text),  # "pin": the answer is deleted from the chat
    Column("created_at", Int, nullable=False),
    Column("expires_at", Int, nullable=False),
    Column("page", Text),  # 0026: SHA-256 of the link of the page it may be answered on (a PIN pad); NULL: chat only
    PrimaryKeyConstraint("user_id", "chat_id"),
    Index("prompts_by_expiry", "expires_at"),
    Index("prompts_by_page", "page", unique=True),
)
# 0027: quotes on show (bot.delivery.quotes): the message that shows an intent's quote with its Confirm, edited to say
# the quote expired when it falls due, unless it was confirmed, cancelled or replaced meanwhile. One row per message:
# a message edited into another quote points at the new intent, one edited into anything else loses its row.
quote_messages = Table(
    "quote_messages", metadata,
    Column("platform", Text, nullable=False),
    Column("chat_id", Text, nullable=False),
    Column("message_ref", Text, nullable=False),  # what the platform edits it by (Discord's ephemeral: with its token)
    Column("intent_id", Int, ForeignKey("intents.id"), nullable=False),
    Column("user_id", Int, ForeignKey("users.id"), nullable=False),
    Column("due_at", Int, nullable=False),  # the intent's quote_expires_at
    PrimaryKeyConstraint("platform", "chat_id", "message_ref"),
    Index("quote_messages_by_due", "due_at"),
)
# 0028: NAV samples (bot.market.history): per index token and block, NAV per token, the pool price and the premium,
# with the tokenset of that block and its constituents' prices (the weights before a rebalance). Pruned past an age.
nav_samples = Table(
    "nav_samples", metadata,
    Column("token", Text, nullable=False),  # the index token's address, checksummed
    Column("block", Int, nullable=False),
    Column("at", Int, nullable=False),  # the block's timestamp
    Column("nav", Text, nullable=False),  # Decimal as text: USD per whole index token
    Column("pool", Text),  # Decimal as text: USD per index token at the pool's mid price; NULL: no pool price
    Column("premium", Text),  # Decimal as text: pool / NAV - 1; NULL without a pool price
    Column("tokenset", Text, nullable=False),  # JSON [[symbol, decimals, amount], ...]: amounts as decimal strings
    Column("prices", Text, nullable=False),  # JSON {symbol: USD as text} of the tokenset's constituents
    PrimaryKeyConstraint("token", "block"),
    Index("nav_samples_by_time", "token", "at"),
)

# 0029: the portfolio's ledger: one row per filled intent (a buy, a sell), written once when it is mined.
# 0033: and one per transfer in or out seen from a wallet's balances (bot.portfolio.transfers): no intent, the wallet.
fills = Table(
    "fills", metadata,
    _id(),
    Column("intent_id", Int, ForeignKey("intents.id"), unique=True),  # once per intent; 0033: NULL for a transfer
    Column("user_id", Int, ForeignKey("users.id"), nullable=False),
    Column("chain_id", Int, nullable=False),
    Column("kind", Text, nullable=False),  # the intent's kind (buy, sell, issue, redeem); 0033: transfer_in, transfer_out
    Column("index_symbol", Text, nullable=False),
    Column("paid_symbol", Text, nullable=False),
    Column("paid_units", Amount, nullable=False),  # base units
    Column("paid_decimals", Int, nullable=False),
    Column("received_symbol", Text, nullable=False),
    Column("received_units", Amount, nullable=False),
    Column("received_decimals", Int, nullable=False),
    Column("price_usd", Text, nullable=False),  # USD per index token, a Decimal's text
    Column("pool_fee", Int, nullable=False),  # the pool's fee in millionths (3000 = 0.3 %)
    Column("gas_usd", Text, nullable=False),  # a Decimal's text
    Column("btc_usd", Text),  # BTC's price when it filled (the "held in BTC" comparison); NULL: unpriced
    Column("tx_hash", Text, nullable=False),
    Column("block", Int, nullable=False),
    Column("filled_at", Int, nullable=False),
    Column("wallet", Text),  # 0033: the address whose holding it moved (checksummed; backfilled from the intent)
    Index("fills_by_user", "user_id", "id"),
    Index("fills_by_wallet", "wallet", "chain_id", "index_symbol"),  # 0033: what a wallet's fills explain
    # 0033: a transfer is recorded once per wallet, index and block it was seen at, however many workers look
    Index("fills_transfer_once", "chain_id", "wallet", "index_symbol", "block", unique=True, **_where("intent_id IS NULL")),
)

# 0030: orders that act by themselves (/limit, /stop, /takeprofit, bot.limits): open until filled, failed, expired or
# cancelled; `intent_id` is the execution of its one trigger, stored before it is signed. 0031 adds `address` and `request_key`.
limit_orders = Table(
    "limit_orders", metadata,
    _id(),
    Column("user_id", Int, ForeignKey("users.id"), nullable=False),
    Column("token", Text, nullable=False),  # index symbol, e.g. MAG7.ssi
    Column("kind", Text, nullable=False),
    Column("amount", Text, nullable=False),  # a Decimal's text: USDC for a buy, else percent of the holding
    Column("line", Text, nullable=False),  # a Decimal's text: USD per token (pool price for buy/sell, NAV for stop/takeprofit)
    Column("trail", Text),  # a trailing stop's distance in percent; NULL: a fixed line
    Column("peak", Text),  # a trailing stop's highest NAV seen
    Column("state", Text, nullable=False, server_default=text("'open'")),
    Column("platform", Text, nullable=False),
    Column("chat_id", Text, nullable=False),
    Column("created_at", Int, nullable=False),
    Column("expires_at", Int),  # NULL: good till cancelled
    Column("trigger_block", Int),
    Column("trigger_value", Text),
    Column("intent_id", Int, ForeignKey("intents.id")),
    Column("outcome", Text),  # why it failed (a message key), or "mined"
    Column("told", Int, nullable=False, server_default=text("0")),  # its end was queued to the user
    Column("address", Text),  # 0031: the wallet it was set for (a trigger from another one fails); NULL: set before 0031
    Column("request_key", Text),  # 0031: the Confirm button that set it (a connected wallet's), so a second press sets none
    # 0032: the number of its latest move into or out of `open` (limit_order_clock's, taken in the same transaction)
    Column("changed", Int, nullable=False, server_default=text("0")),
    # 0034: what `line` is: 'price' (USD per token), or 'premium' (a limit buy/sell on the pool price's premium to NAV
    # per token, in percent, negative for a discount)
    Column("watch", Text, nullable=False, server_default=text("'price'")),
    CheckConstraint(_in("kind", "buy", "sell", "stop", "takeprofit")),
    CheckConstraint(_in("state", "open", "firing", "filled", "failed", "cancelled", "expired")),
    Index("limit_orders_open", "state"),
    Index("limit_orders_by_user", "user_id", "id"),
    Index("limit_orders_changed", "changed"),
)

# 0032: one row, the last change number given to a limit order. Taking the next one locks the row until the
# transaction ends, so on PostgreSQL change numbers commit in order: a watch reading `changed > n` misses none.
limit_order_clock = Table(
    "limit_order_clock", metadata,
    Column("id", Int, primary_key=True, autoincrement=False),  # the one row: 1
    Column("n", Int, nullable=False),
    CheckConstraint("id = 1"),
)
