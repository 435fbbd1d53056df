# The two commands of the README: `make run` and `make test`. Everything else is set-up they depend on.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CHROMIUM := /usr/bin/chromium

.PHONY: run test install bench clean chromium

run: install
	$(BIN)/indexbot chat

test: install chromium
	$(BIN)/lint-imports --config pyproject.toml
	$(BIN)/mypy
	$(BIN)/pytest

bench: install
	$(BIN)/python bench/quote.py
	$(BIN)/python bench/updates.py
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

install: $(VENV)/.installed node_modules/.installed

# Debian's Chromium for the connected-wallet browser test (tests/test_connected_browser.py drives it with
# playwright; never `playwright install`, which downloads). CI runs as root on Debian; elsewhere, without
# root, the step says so and the browser test is skipped. Part of `make test`, not `make run`.
chromium:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "make: $(CHROMIUM) is missing and this is not root on Debian: the browser test will be skipped" >&2; fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund --no-save
	touch $@

clean:
	rm -rf $(VENV) node_modules devnet/build .indexbot
