"""Baseline: the schema the legacy SQL migrations 0001-0016 (bot/storage/legacy) build, for both engines.

Revision ID: 0016
Revises: none
Create Date: 2026-12-03

Frozen: explicit tables and indexes, not bot.storage.schema (which follows the head). An existing SQLite database
from before Alembic is brought to legacy 0016 by its SQL files and stamped with this revision
(bot.storage.migrate); tests/test_schema.py checks that both paths build the same SQLite schema.
Types: INT is INTEGER on SQLite (the rowid alias for `id`) and BIGINT on PostgreSQL; AMOUNT (token amounts in
base units) TEXT on SQLite and NUMERIC(78,0) on PostgreSQL; REAL (fractional seconds) double precision there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = None
branch_labels = None
depends_on = None

INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
REAL = sa.Float().with_variant(sa.REAL(), "sqlite")
AMOUNT = sa.Text().with_variant(sa.Numeric(78, 0), "postgresql")


def upgrade() -> None:
    # legacy 0001
    op.create_table('users',
        sa.Column('id', INT, autoincrement=True, nullable=False),
        sa.Column('platform', sa.Text(), nullable=False),
        sa.Column('platform_user_id', sa.Text(), nullable=False),
        sa.Column('display_name', sa.Text(), server_default='', nullable=False),
        sa.Column('locale', sa.Text(), nullable=True),
        sa.Column('created_at', INT, nullable=False),
        sa.Column('last_seen_at', INT, nullable=False),
        sa.Column('platform_locale', sa.Text(), nullable=True),
        sa.Column('started_at', INT, nullable=True),
        sa.Column('leaderboard_name', sa.Text(), nullable=True),
        sa.Column('dm_chat', sa.Text(), nullable=True),
        sa.Column('blocked_at', INT, nullable=True),
        sa.Column('leaderboard_key', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('platform', 'platform_user_id')
        )
    op.create_index('users_by_leaderboard_key', 'users', ['leaderboard_key'], unique=True, sqlite_where=sa.text('leaderboard_key IS NOT NULL'), postgresql_where=sa.text('leaderboard_key IS NOT NULL'))
    op.create_table('buttons',
        sa.Column('token', sa.Text(), nullable=False),
        sa.Column('user_id', INT, nullable=False),
        sa.Column('action', sa.Text(), nullable=False),
        sa.Column('args', sa.Text(), nullable=False),
        sa.Column('created_at', INT, nullable=False),
        sa.Column('expires_at', INT, nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('token')
        )
    op.create_index('buttons_by_expiry', 'buttons', ['expires_at'], unique=False)
    # legacy 0002
    op.create_table('wallets',
        sa.Column('id', INT, autoincrement=True, nullable=False),
        sa.Column('user_id', INT, nullable=False),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('address', sa.Text(), nullable=False),
        sa.Column('encrypted_key', sa.LargeBinary(), nullable=True),
        sa.Column('key_id', sa.Text(), nullable=True),
        sa.Column('created_at', INT, nullable=False),
        sa.Column('removed_at', INT, nullable=True),
        sa.CheckConstraint("kind IN ('custodial', 'connected')"),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('id')
        )
    op.create_index('one_live_wallet_per_kind', 'wallets', ['user_id', 'kind'], unique=True, sqlite_where=sa.text('removed_at IS NULL'), postgresql_where=sa.text('removed_at IS NULL'))
    op.create_index('wallets_by_address', 'wallets', ['address'], unique=False)
    op.create_table('pins',
        sa.Column('user_id', INT, autoincrement=False, nullable=False),
        sa.Column('salt', sa.LargeBinary(), nullable=False),
        sa.Column('hash', sa.LargeBinary(), nullable=False),
        sa.Column('params', sa.Text(), nullable=False),
        sa.Column('failures', INT, server_default=sa.text('0'), nullable=False),
        sa.Column('locked_until', INT, server_default=sa.text('0'), nullable=False),
        sa.Column('key_id', sa.Text(), nullable=True),
        sa.Column('pepper', sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('user_id')
        )
    op.create_table('user_settings',
        sa.Column('user_id', INT, autoincrement=False, nullable=False),
        sa.Column('slippage_bps', INT, server_default=sa.text('50'), nullable=False),
        sa.Column('timezone', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('user_id')
        )
    # legacy 0003
    op.create_table('intents',
        sa.Column('id', INT, autoincrement=True, nullable=False),
        sa.Column('user_id', INT, nullable=False),
        sa.Column('address', sa.Text(), nullable=False),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('chain_id', INT, nullable=False),
        sa.Column('params', sa.Text(), nullable=False),
        sa.Column('state', sa.Text(), nullable=False),
        sa.Column('quote_expires_at', INT, nullable=False),
        sa.Column('platform', sa.Text(), nullable=False),
        sa.Column('chat_id', sa.Text(), nullable=False),
        sa.Column('message_ref', sa.Text(), nullable=True),
        sa.Column('result', sa.Text(), nullable=True),
        sa.Column('created_at', INT, nullable=False),
        sa.Column('updated_at', INT, nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('id')
        )
    op.create_index('intents_by_user', 'intents', ['user_id', 'id'], unique=False)
    op.create_index('unfinished_intents', 'intents', ['state'], unique=False, sqlite_where=sa.text("state IN ('confirmed', 'signed', 'sent')"), postgresql_where=sa.text("state IN ('confirmed', 'signed', 'sent')"))
    op.create_table('intent_txs',
        sa.Column('id', INT, autoincrement=True, nullable=False),
        sa.Column('intent_id', INT, nullable=False),
        sa.Column('step', INT, nullable=False),
        sa.Column('purpose', sa.Text(), nullable=False),
        sa.Column('address', sa.Text(), nullable=False),
        sa.Column('nonce', INT, nullable=True),
        sa.Column('raw_tx', sa.LargeBinary(), nullable=True),
        sa.Column('tx_hash', sa.Text(), nullable=False),
        sa.Column('max_fee', INT, nullable=True),
        sa.Column('priority_fee', INT, nullable=True),
        sa.Column('state', sa.Text(), nullable=False),
        sa.Column('replaced_by', sa.Text(), nullable=True),
        sa.Column('block', INT, nullable=True),
        sa.Column('signed_at', REAL, nullable=False),
        sa.Column('sent_at', REAL, nullable=True),
        sa.Column('chain_id', INT, nullable=True),
        sa.ForeignKeyConstraint(['intent_id'], ['intents.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('tx_hash')
        )
    op.create_index('one_tx_per_nonce', 'intent_txs', ['chain_id', 'address', 'nonce'], unique=True, sqlite_where=sa.text("state NOT IN ('replaced', 'dropped')"), postgresql_where=sa.text("state NOT IN ('replaced', 'dropped')"))
    op.create_index('txs_of_intent', 'intent_txs', ['intent_id', 'step'], unique=False)
    # legacy 0004
    op.create_table('connect_links',
        sa.Column('token_hash', sa.Text(), nullable=False),
        sa.Column('user_id', INT, nullable=False),
        sa.Column('platform', sa.Text(), nullable=False),
        sa.Column('chat_id', sa.Text(), nullable=False),
        sa.Column('nonce', sa.Text(), nullable=False),
        sa.Column('created_at', INT, nullable=False),
        sa.Column('expires_at', INT, nullable=False),
        sa.Column('used_at', INT, nullable=True),
        sa.Column('address', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('token_hash')
        )
    op.create_index('connect_links_by_user', 'connect_links', ['user_id'], unique=False)
    op.create_table('signing_links',
        sa.Column('token_hash', sa.Text(), nullable=False),
        sa.Column('intent_id', INT, nullable=False),
        sa.Column('user_id', INT, nullable=False),
        sa.Column('address', sa.Text(), nullable=False),
        sa.Column('chain_id', INT, nullable=False),
        sa.Column('txs', sa.Text(), nullable=False),
        sa.Column('session_hash', sa.Text(), nullable=True),
        sa.Column('hashes', sa.Text(), server_default='[]', nullable=False),
        sa.Column('created_at', INT, nullable=False),
        sa.Column('expires_at', INT, nullable=False),
        sa.Column('used_at', INT, nullable=True),
        sa.ForeignKeyConstraint(['intent_id'], ['intents.id'], ),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('token_hash')
        )
    op.create_index('signing_links_by_intent', 'signing_links', ['intent_id'], unique=False)
    # legacy 0005
    op.create_table('referral_codes',
        sa.Column('user_id', INT, autoincrement=False, nullable=False),
        sa.Column('code', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('user_id'),
        sa.UniqueConstraint('code')
        )
    op.create_table('referrals',
        sa.Column('invitee_id', INT, autoincrement=False, nullable=False),
        sa.Column('referrer_id', INT, nullable=False),
        sa.Column('joined_at', INT, nullable=False),
        sa.Column('qualified_day', sa.Text(), nullable=True),
        sa.Column('void_reason', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['invitee_id'], ['users.id'], ),
        sa.ForeignKeyConstraint(['referrer_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('invitee_id')
        )
    op.create_index('referrals_by_referrer', 'referrals', ['referrer_id'], unique=False)
    op.create_table('point_snapshots',
        sa.Column('day', sa.Text(), nullable=False),
        sa.Column('epoch', sa.Text(), nullable=False),
        sa.Column('block', INT, nullable=False),
        sa.Column('timestamp', INT, nullable=False),
        sa.Column('next_wallet', INT, server_default=sa.text('0'), nullable=False),
        sa.Column('state', sa.Text(), nullable=False),
        sa.Column('started_at', INT, nullable=False),
        sa.Column('finished_at', INT, nullable=True),
        sa.CheckConstraint("state IN ('reading', 'credited')"),
        sa.PrimaryKeyConstraint('day')
        )
    op.create_table('point_holdings',
        sa.Column('day', sa.Text(), nullable=False),
        sa.Column('user_id', INT, nullable=False),
        sa.Column('address', sa.Text(), nullable=False),
        sa.Column('index_symbol', sa.Text(), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('usd_e4', INT, nullable=False),
        sa.CheckConstraint("source IN ('held', 'staked', 'locked', 'soso')"),
        sa.PrimaryKeyConstraint('day', 'address', 'index_symbol', 'source'),
        sqlite_with_rowid=False
        )
    op.create_table('point_ledger',
        sa.Column('user_id', INT, nullable=False),
        sa.Column('day', sa.Text(), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('epoch', sa.Text(), nullable=False),
        sa.Column('points', INT, nullable=False),
        sa.PrimaryKeyConstraint('user_id', 'day', 'source', 'reason'),
        sqlite_with_rowid=False
        )
    op.create_index('point_ledger_by_day', 'point_ledger', ['day'], unique=False)
    op.create_table('point_totals',
        sa.Column('user_id', INT, nullable=False),
        sa.Column('epoch', sa.Text(), nullable=False),
        sa.Column('points', INT, nullable=False),
        sa.PrimaryKeyConstraint('user_id', 'epoch'),
        sqlite_with_rowid=False
        )
    op.create_index('point_totals_rank', 'point_totals', ['epoch', sa.literal_column('points DESC')], unique=False)
    op.create_table('lock_events',
        sa.Column('locker', sa.Text(), nullable=False),
        sa.Column('token', sa.Text(), nullable=False),
        sa.Column('block', INT, nullable=False),
        sa.Column('log_index', INT, nullable=False),
        sa.Column('amount', AMOUNT, nullable=False),
        sa.PrimaryKeyConstraint('locker', 'token', 'block', 'log_index'),
        sqlite_with_rowid=False
        )
    op.create_table('lock_scan',
        sa.Column('contract', sa.Text(), nullable=False),
        sa.Column('block', INT, nullable=False),
        sa.PrimaryKeyConstraint('contract')
        )
    # legacy 0006
    op.create_table('outbox',
        sa.Column('id', INT, autoincrement=True, nullable=False),
        sa.Column('platform', sa.Text(), nullable=False),
        sa.Column('chat_id', sa.Text(), nullable=False),
        sa.Column('user_id', INT, nullable=True),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('priority', INT, nullable=False),
        sa.Column('urgent', INT, server_default=sa.text('0'), nullable=False),
        sa.Column('dedupe', sa.Text(), nullable=True),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('edit_ref', sa.Text(), nullable=True),
        sa.Column('announcement_id', INT, nullable=True),
        sa.Column('due_at', INT, nullable=False),
        sa.Column('state', sa.Text(), server_default='pending', nullable=False),
        sa.Column('attempts', INT, server_default=sa.text('0'), nullable=False),
        sa.Column('sent_ref', sa.Text(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', INT, nullable=False),
        sa.Column('sent_at', INT, nullable=True),
        sa.CheckConstraint("state IN ('pending', 'sending', 'sent', 'blocked', 'failed', 'cancelled', 'unknown')"),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('dedupe')
        )
    op.create_index('outbox_by_announcement', 'outbox', ['announcement_id', 'state'], unique=False, sqlite_where=sa.text('announcement_id IS NOT NULL'), postgresql_where=sa.text('announcement_id IS NOT NULL'))
    op.create_index('outbox_due', 'outbox', ['platform', 'priority', 'due_at', 'id'], unique=False, sqlite_where=sa.text("state = 'pending'"), postgresql_where=sa.text("state = 'pending'"))
    op.create_index('outbox_finished', 'outbox', ['created_at'], unique=False, sqlite_where=sa.text("state NOT IN ('pending', 'sending')"), postgresql_where=sa.text("state NOT IN ('pending', 'sending')"))
    op.create_index('outbox_in_flight', 'outbox', ['state'], unique=False, sqlite_where=sa.text("state = 'sending'"), postgresql_where=sa.text("state = 'sending'"))
    op.create_table('alert_settings',
        sa.Column('user_id', INT, autoincrement=False, nullable=False),
        sa.Column('rebalance', INT, server_default=sa.text('1'), nullable=False),
        sa.Column('digest', INT, server_default=sa.text('1'), nullable=False),
        sa.Column('cooldown', INT, server_default=sa.text('1'), nullable=False),
        sa.Column('price', INT, server_default=sa.text('1'), nullable=False),
        sa.Column('dca', INT, server_default=sa.text('1'), nullable=False),
        sa.Column('announcement', INT, server_default=sa.text('1'), nullable=False),
        sa.Column('quiet_start', INT, nullable=True),
        sa.Column('quiet_end', INT, nullable=True),
        sa.Column('digest_at', INT, server_default=sa.text('540'), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('user_id')
        )
    # legacy 0007
    op.create_table('rebalance_cursor',
        sa.Column('token', sa.Text(), nullable=False),
        sa.Column('block', INT, nullable=False),
        sa.Column('since', INT, nullable=False),
        sa.PrimaryKeyConstraint('token')
        )
    op.create_table('rebalance_events',
        sa.Column('token', sa.Text(), nullable=False),
        sa.Column('block', INT, nullable=False),
        sa.Column('tx_hash', sa.Text(), nullable=False),
        sa.Column('log_index', INT, nullable=False),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('done', INT, server_default=sa.text('0'), nullable=False),
        sa.PrimaryKeyConstraint('tx_hash', 'log_index')
        )
    op.create_index('rebalance_events_by_token', 'rebalance_events', ['token', 'block', 'log_index'], unique=False)
    op.create_index('rebalance_events_open', 'rebalance_events', ['block', 'log_index'], unique=False, sqlite_where=sa.text('done = 0'), postgresql_where=sa.text('done = 0'))
    op.create_table('price_alerts',
        sa.Column('id', INT, autoincrement=True, nullable=False),
        sa.Column('user_id', INT, nullable=False),
        sa.Column('token', sa.Text(), nullable=False),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('threshold', sa.Text(), nullable=False),
        sa.Column('armed', INT, server_default=sa.text('1'), nullable=False),
        sa.Column('fired_count', INT, server_default=sa.text('0'), nullable=False),
        sa.Column('sent_count', INT, server_default=sa.text('0'), nullable=False),
        sa.Column('fired_value', sa.Text(), nullable=True),
        sa.Column('fired_block', INT, nullable=True),
        sa.Column('last_fired_at', INT, nullable=True),
        sa.Column('created_at', INT, nullable=False),
        sa.Column('deleted_at', INT, nullable=True),
        sa.CheckConstraint("kind IN ('above', 'below', 'premium')"),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('id')
        )
    op.create_index('price_alerts_by_user', 'price_alerts', ['user_id'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
    op.create_index('price_alerts_live', 'price_alerts', ['token'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
    # legacy 0008
    op.create_table('cooldown_watch',
        sa.Column('user_id', INT, nullable=False),
        sa.Column('token', sa.Text(), nullable=False),
        sa.Column('address', sa.Text(), nullable=False),
        sa.Column('ends_at', INT, nullable=False),
        sa.Column('notified_end', INT, nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('user_id', 'token')
        )
    op.create_table('dca_plans',
        sa.Column('id', INT, autoincrement=True, nullable=False),
        sa.Column('user_id', INT, nullable=False),
        sa.Column('token', sa.Text(), nullable=False),
        sa.Column('usdc_units', INT, nullable=False),
        sa.Column('cadence', sa.Text(), nullable=False),
        sa.Column('at_minute', INT, nullable=False),
        sa.Column('weekday', INT, nullable=True),
        sa.Column('zone', sa.Text(), nullable=False),
        sa.Column('platform', sa.Text(), nullable=False),
        sa.Column('chat_id', sa.Text(), nullable=False),
        sa.Column('state', sa.Text(), nullable=False),
        sa.Column('failures', INT, server_default=sa.text('0'), nullable=False),
        sa.Column('created_at', INT, nullable=False),
        sa.CheckConstraint("cadence IN ('daily', 'weekly')"),
        sa.CheckConstraint("state IN ('active', 'paused', 'cancelled')"),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('id')
        )
    op.create_index('dca_by_user', 'dca_plans', ['user_id'], unique=False)
    op.create_table('dca_runs',
        sa.Column('plan_id', INT, nullable=False),
        sa.Column('due_at', INT, nullable=False),
        sa.Column('intent_id', INT, nullable=True),
        sa.Column('outcome', sa.Text(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['intent_id'], ['intents.id'], ),
        sa.ForeignKeyConstraint(['plan_id'], ['dca_plans.id'], ),
        sa.PrimaryKeyConstraint('plan_id', 'due_at')
        )
    # legacy 0009
    op.create_table('announcements',
        sa.Column('id', INT, autoincrement=True, nullable=False),
        sa.Column('author_id', INT, nullable=False),
        sa.Column('platform', sa.Text(), nullable=False),
        sa.Column('scope', sa.Text(), nullable=False),
        sa.Column('origin_chat', sa.Text(), nullable=True),
        sa.Column('texts', sa.Text(), nullable=False),
        sa.Column('image', sa.LargeBinary(), nullable=True),
        sa.Column('state', sa.Text(), nullable=False),
        sa.Column('send_at', INT, nullable=True),
        sa.Column('created_at', INT, nullable=False),
        sa.Column('community_name', sa.Text(), nullable=True),
        sa.CheckConstraint("state IN ('draft', 'scheduled', 'sending', 'done', 'cancelled')"),
        sa.ForeignKeyConstraint(['author_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('id')
        )
    op.create_index('announcements_by_author', 'announcements', ['author_id', 'id'], unique=False)
    op.create_index('announcements_due', 'announcements', ['state'], unique=False, sqlite_where=sa.text("state IN ('scheduled', 'sending')"), postgresql_where=sa.text("state IN ('scheduled', 'sending')"))
    op.create_table('community_members',
        sa.Column('platform', sa.Text(), nullable=False),
        sa.Column('community', sa.Text(), nullable=False),
        sa.Column('user_id', INT, nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('platform', 'community', 'user_id')
        )
    op.create_table('audit_log',
        sa.Column('id', INT, autoincrement=True, nullable=False),
        sa.Column('at', INT, nullable=False),
        sa.Column('user_id', INT, nullable=True),
        sa.Column('action', sa.Text(), nullable=False),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.Column('repeats', INT, server_default=sa.text('1'), nullable=False),
        sa.Column('last_at', INT, nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('id')
        )
    op.create_index('audit_by_time', 'audit_log', ['at'], unique=False)
    op.create_index('audit_by_user_action', 'audit_log', ['user_id', 'action', 'at'], unique=False)
    # legacy 0010
    op.create_table('issuance_orders',
        sa.Column('id', INT, autoincrement=True, nullable=False),
        sa.Column('intent_id', INT, nullable=False),
        sa.Column('user_id', INT, nullable=False),
        sa.Column('chain', sa.Text(), nullable=False),
        sa.Column('factory', sa.Text(), nullable=False),
        sa.Column('index_symbol', sa.Text(), nullable=False),
        sa.Column('side', sa.Text(), nullable=False),
        sa.Column('nonce', INT, nullable=False),
        sa.Column('amount_in', AMOUNT, nullable=False),
        sa.Column('requested_at', INT, nullable=False),
        sa.Column('requested_block', INT, nullable=False),
        sa.Column('expected_at', INT, nullable=True),
        sa.Column('state', sa.Text(), nullable=False),
        sa.Column('amount_out', AMOUNT, nullable=True),
        sa.Column('price', AMOUNT, nullable=True),
        sa.Column('cancel_intent', INT, nullable=True),
        sa.Column('settled_at', INT, nullable=True),
        sa.ForeignKeyConstraint(['cancel_intent'], ['intents.id'], ),
        sa.ForeignKeyConstraint(['intent_id'], ['intents.id'], ),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('chain', 'factory', 'side', 'nonce'),
        sa.UniqueConstraint('intent_id')
        )
    op.create_index('orders_by_user', 'issuance_orders', ['user_id', 'id'], unique=False)
    op.create_index('pending_orders', 'issuance_orders', ['state'], unique=False, sqlite_where=sa.text("state = 'pending'"), postgresql_where=sa.text("state = 'pending'"))
    # legacy 0011
    op.create_table('chain_bindings',
        sa.Column('chain_id', INT, autoincrement=False, nullable=False),
        sa.Column('genesis_hash', sa.Text(), nullable=False),
        sa.Column('anchor_block', INT, nullable=True),
        sa.Column('anchor_hash', sa.Text(), nullable=True),
        sa.Column('label', sa.Text(), nullable=False),
        sa.Column('home', INT, server_default=sa.text('0'), nullable=False),
        sa.Column('bound_at', INT, nullable=False),
        sa.PrimaryKeyConstraint('chain_id')
        )
    # legacy 0012
    op.create_table('last_fresh_prices',
        sa.Column('chain_id', INT, nullable=False),
        sa.Column('symbol', sa.Text(), nullable=False),
        sa.Column('price', sa.Text(), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('published_at', INT, nullable=False),
        sa.PrimaryKeyConstraint('chain_id', 'symbol')
        )
    op.create_table('point_price_fallbacks',
        sa.Column('day', sa.Text(), nullable=False),
        sa.Column('symbol', sa.Text(), nullable=False),
        sa.Column('price', sa.Text(), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('published_at', INT, nullable=False),
        sa.Column('age_seconds', INT, nullable=False),
        sa.ForeignKeyConstraint(['day'], ['point_snapshots.day'], ),
        sa.PrimaryKeyConstraint('day', 'symbol')
        )
    # legacy 0014
    op.create_table('pending_deletions',
        sa.Column('platform', sa.Text(), nullable=False),
        sa.Column('chat_id', sa.Text(), nullable=False),
        sa.Column('message_id', sa.Text(), nullable=False),
        sa.Column('due_at', INT, nullable=False),
        sa.PrimaryKeyConstraint('platform', 'chat_id', 'message_id')
        )
    # legacy 0015
    op.create_table('telegram_presses',
        sa.Column('update_id', INT, autoincrement=False, nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('fetched_at', INT, nullable=False),
        sa.PrimaryKeyConstraint('update_id')
        )


def downgrade() -> None:
    op.drop_table('telegram_presses')
    op.drop_table('pending_deletions')
    op.drop_table('point_price_fallbacks')
    op.drop_table('last_fresh_prices')
    op.drop_table('chain_bindings')
    op.drop_table('issuance_orders')
    op.drop_table('audit_log')
    op.drop_table('community_members')
    op.drop_table('announcements')
    op.drop_table('dca_runs')
    op.drop_table('dca_plans')
    op.drop_table('cooldown_watch')
    op.drop_table('price_alerts')
    op.drop_table('rebalance_events')
    op.drop_table('rebalance_cursor')
    op.drop_table('alert_settings')
    op.drop_table('outbox')
    op.drop_table('lock_scan')
    op.drop_table('lock_events')
    op.drop_table('point_totals')
    op.drop_table('point_ledger')
    op.drop_table('point_holdings')
    op.drop_table('point_snapshots')
    op.drop_table('referrals')
    op.drop_table('referral_codes')
    op.drop_table('signing_links')
    op.drop_table('connect_links')
    op.drop_table('intent_txs')
    op.drop_table('intents')
    op.drop_table('user_settings')
    op.drop_table('pins')
    op.drop_table('wallets')
    op.drop_table('buttons')
    op.drop_table('users')
