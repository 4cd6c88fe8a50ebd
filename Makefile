# Two commands for a fresh machine: `make demo` and `make test`. Everything installs into .venv.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test test-postgres bench clean

$(BIN)/drip: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(BIN)/drip

install: $(BIN)/drip

node_modules/.bin/prism: package.json package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error; else echo "npm not found: the Prism contract test will skip"; fi

## Run a whole six-infusion series for a sample patient (SQLite, embedded broker, file outbox).
demo: install
	$(BIN)/drip demo

## Install and run the test suite (SQLite by default; set DATABASE_URL for PostgreSQL).
test: install node_modules/.bin/prism
	$(BIN)/pytest

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var node_modules
