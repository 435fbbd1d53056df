-- Issue 15's chat rules.

-- /name: the look-alike key of a leaderboard name (bot.points.names.name_key), unique among users; NULL: no name,
-- or a name chosen before keys existed that another user's name already looks like (keyed when first used).
ALTER TABLE users ADD COLUMN leaderboard_key TEXT;
CREATE UNIQUE INDEX users_by_leaderboard_key ON users (leaderboard_key) WHERE leaderboard_key IS NOT NULL;

-- A community announcement names its community (the group's title, the server's name) when it was drafted.
ALTER TABLE announcements ADD COLUMN community_name TEXT;

-- Refusals are audited once per user and action a minute: the row counts the repeats and when the last one was.
ALTER TABLE audit_log ADD COLUMN repeats INTEGER NOT NULL DEFAULT 1;
ALTER TABLE audit_log ADD COLUMN last_at INTEGER;
CREATE INDEX audit_by_user_action ON audit_log (user_id, action, at);

-- The outbox's finished rows are purged by age (bot.housekeeping); unsent ones are never purged.
CREATE INDEX outbox_finished ON outbox (created_at) WHERE state NOT IN ('pending', 'sending');
