# The two commands of the README: `make run` and `make test`. Everything else is set-up they depend on.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test install bench clean

run: install
	$(BIN)/indexbot chat

test: install
	$(BIN)/lint-imports --config pyproject.toml
	$(BIN)/mypy
	$(BIN)/pytest

bench: install
	$(BIN)/python bench/quote.py
	$(BIN)/python bench/updates.py

install: $(VENV)/.installed node_modules/.installed

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
