"""Delivery: everything the bot says without being asked (the outbox, alerts, announcements) and the
schedule of timed work that produces it (and purges what is no longer needed)."""
