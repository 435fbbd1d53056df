"""What several features share: the Confirm / Cancel of an intent, choosing an index, the staking offer, how
points are shown, whose holdings a user means. Feature modules import from here, never from each other (an
import-linter `independence` contract in pyproject.toml keeps it so)."""
