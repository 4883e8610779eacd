# fleet: the usual targets. `make run` serves the sample fleet on simulated devices; `make test`
# runs everything CI runs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# `make test` runs the suite in this many processes (each with its own databases and ports).
TEST_WORKERS ?= 2
# The border site's link drops 15 s in, so the whole show is on the board within 2 min.
RUN_OPTIONS ?= --cut-after 15

.PHONY: run install install-test lint typecheck test test-fast migrate messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(BIN)/fleet demo --host $(HOST) --port $(PORT) $(RUN_OPTIONS)

migrate: install
	$(BIN)/fleet db upgrade

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install-test
	$(BIN)/mypy

test: install-test lint typecheck
	scripts/ensure-postgres
	scripts/ensure-chromium
	scripts/ensure-promtool
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

test-fast: install-test
	$(BIN)/pytest -x -q -m "not postgres and not e2e"

# Extract the strings to translate into fleet/locale/messages.pot and merge them into every
# catalogue (fleet/locale/<lang>/LC_MESSAGES/messages.po); new and changed ones await a translator.
messages: install
	$(BIN)/pybabel extract --mapping-file babel.cfg --keyword N_ --no-location --sort-output \
		--omit-header --width 100 --output-file fleet/locale/messages.pot fleet
	$(BIN)/pybabel update --input-file fleet/locale/messages.pot --output-dir fleet/locale \
		--width 100 --ignore-obsolete --no-fuzzy-matching --ignore-pot-creation-date

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache fleet.db fleet.db-shm fleet.db-wal
