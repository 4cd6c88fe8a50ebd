# Two commands for a fresh machine: `make demo` and `make test`. Everything installs into .venv.
# The first of python3.13, python3.12, python3.11, python3 that is Python 3.11 or newer.
PY ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo demo-web test test-postgres bench clean python

$(BIN)/drip: pyproject.toml
	@test -n "$(PY)" || { echo "drip needs Python 3.11 or newer (python3.13, 3.12, 3.11 or python3 on PATH)"; exit 1; }
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

## After `make demo`: the staff pages on the demo's data (http://127.0.0.1:8000/, account printed).
demo-web: install
	$(BIN)/drip demo --serve

## Install and run the test suite (SQLite by default; set DATABASE_URL for PostgreSQL).
test: install node_modules/.bin/prism
	$(BIN)/pytest

bench: install
	$(BIN)/python -m bench

## Which Python `make install` would use.
python:
	@echo $(PY)

clean:
	rm -rf $(VENV) var node_modules
