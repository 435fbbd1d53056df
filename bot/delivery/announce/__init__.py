"""Moderator announcements: drafts, previews per language, fan-out through the outbox, the audit log."""
