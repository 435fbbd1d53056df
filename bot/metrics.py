"""Counters an operator scrapes with Prometheus (prometheus-client's default registry).

Only what a person has to act on is counted here. Nothing in this module knows a chat platform: adapters
increment the counters with their own labels.
"""

from __future__ import annotations

from prometheus_client import Counter

# Discord bans an IP for an hour after 10,000 invalid requests (401, 403, and 429 other than a shared-scope 429)
# in 10 minutes; this shows how close the bot runs to that.
INVALID_REQUESTS = Counter(
    "indexbot_invalid_requests",
    "Requests a chat platform refused in a way that counts toward its ban (Discord: 401, 403, 429)",
    ["platform", "status"],
)
