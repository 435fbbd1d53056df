# The two commands of the README: `make run` and `make test`. Everything else is set-up they depend on.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CHROMIUM := /usr/bin/chromium
# Test processes: each boots its own devnet (anvil) from the shared deploy cache. Three on two cores: most of a test's
# time is spent waiting (on anvil, a subprocess's start-up, a rate limit), so a third process fills the gaps.
TEST_WORKERS ?= 3

.PHONY: run test install bench clean chromium caddy fonts audit lock

run: install fonts
	$(BIN)/indexbot chat

# PostgreSQL for the tests that run on it: scripts/test-postgres finds one (INDEXBOT_TEST_DATABASE_URL, the local server)
# or starts a throwaway cluster (installing Debian's PostgreSQL as root, like Chromium) and prints its URL; without one
# those tests are skipped and say why. Each run makes databases of its own on that server (tests/auxil/postgres.py).
# Journeys run a second time with every started bot on PostgreSQL (INDEXBOT_TEST_ENGINE): those that write the most
# (trades and their faults, nonces, two chains, points, the outbox, both chat front ends, chain bindings, key rotation,
# the portfolio's journey on three front ends, orders of connected wallets).
# Every test on the `db` fixture already runs on both engines in the first pass; the whole suite passes with
# INDEXBOT_TEST_ENGINE=postgresql too, but twice the suite is more than CI's few minutes.
PG_JOURNEYS := tests/test_trading.py tests/test_trading_faults.py tests/test_nonce_guard.py tests/test_two_chains.py \
	tests/test_points_journey.py tests/test_outbox.py tests/test_console.py tests/test_telegram.py \
	tests/test_chainbind.py tests/test_key_rotation.py tests/test_journey_portfolio.py tests/test_limit_orders_connected.py

test: install chromium caddy fonts
	$(BIN)/lint-imports --config pyproject.toml
	$(BIN)/mypy
	export INDEXBOT_TEST_DATABASE_URL=$$(scripts/test-postgres) && \
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile && \
	if [ -n "$$INDEXBOT_TEST_DATABASE_URL" ]; then \
		INDEXBOT_TEST_ENGINE=postgresql $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile -m "not pure" $(PG_JOURNEYS); \
	else echo "make: no PostgreSQL (scripts/test-postgres said why): the journeys on PostgreSQL were skipped" >&2; fi

bench: install
	$(BIN)/python bench/quote.py
	$(BIN)/python bench/updates.py
	$(BIN)/python bench/buttons.py
	$(BIN)/python bench/orders.py
	$(BIN)/python bench/fairness.py
	$(BIN)/python bench/trade.py
	$(BIN)/python bench/positions.py
	$(BIN)/python bench/snapshot.py
	$(BIN)/python bench/ledger.py
	$(BIN)/python bench/broadcast.py
	$(BIN)/python bench/issuance.py
	$(BIN)/python bench/prices.py
	$(BIN)/python bench/logs.py
	$(BIN)/python bench/devnet_start.py
	$(BIN)/python bench/durability.py

install: $(VENV)/.installed node_modules/.installed

# Debian's Chromium for the connected-wallet browser test (tests/test_connected_browser.py drives it with
# playwright; never `playwright install`, which downloads). CI runs as root on Debian; elsewhere, without
# root, the step says so and the browser test is skipped. Part of `make test`, not `make run`.
chromium:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "make: $(CHROMIUM) is missing and this is not root on Debian: the browser test will be skipped" >&2; fi

# Debian's Noto CJK fonts, so /chart and /points chart draw Chinese, Japanese and Korean titles (DejaVu, matplotlib's
# own, covers the Latin, Cyrillic and Vietnamese catalogs); tests/test_charts.py fails on a missing glyph. Part of
# `make run` too: a host without them draws those titles as boxes.
fonts:
	@if fc-list 2>/dev/null | grep -q 'Noto Sans CJK'; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null; \
	else echo "make: fonts-noto-cjk is missing and this is not root on Debian: charts draw CJK text as boxes" >&2; fi

# Caddy, the TLS reverse proxy of docs/deploy.md, whose configuration (deploy/Caddyfile) the page's test checks.
caddy:
	@if command -v caddy >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq caddy >/dev/null; \
	else echo "make: caddy is missing and this is not root on Debian: tests/test_deploy_doc.py will fail" >&2; fi

# Every package (the test extra, pip and setuptools included) from requirements.lock, each checked against its
# hashes; then the project itself, built by the locked setuptools (no build isolation: nothing unhashed fetched).
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# requirements.lock again from pyproject.toml (and requirements-venv.in), after a dependency changes: pip-tools
# in a throwaway venv of its own.
lock:
	$(PYTHON) -m venv $(VENV)-tools
	$(VENV)-tools/bin/pip install --quiet --upgrade pip pip-tools
	$(VENV)-tools/bin/pip-compile --quiet --generate-hashes --allow-unsafe --extra test --strip-extras \
		--no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml requirements-venv.in
	rm -rf $(VENV)-tools

# Known advisories in the locked Python packages (pip-audit, in a venv of its own: it is not a dependency) and in
# the Node packages (npm audit). Needs the advisory databases (PyPI's and npm's): not for offline machines.
audit: node_modules/.installed
	$(PYTHON) -m venv $(VENV)-audit
	$(VENV)-audit/bin/pip install --quiet --upgrade pip pip-audit
	$(VENV)-audit/bin/pip-audit --strict --require-hashes --disable-pip -r requirements.lock
	npm audit

node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund --no-save
	touch $@

clean:
	rm -rf $(VENV) $(VENV)-audit $(VENV)-tools node_modules devnet/build .indexbot
