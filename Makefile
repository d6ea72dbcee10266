# gridgov: `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test test-sqlite test-postgresql bench lint format clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/gridgov db upgrade
	$(BIN)/gridgov demo load --if-empty
	$(BIN)/gridgov demo users
	$(BIN)/gridgov serve --no-migrate

test: install lint test-sqlite test-postgresql

test-sqlite: install
	$(BIN)/pytest -q --db sqlite

test-postgresql: install
	$(BIN)/pytest -q --db postgresql

bench: install
	$(BIN)/python bench/locate.py
	$(BIN)/python bench/intake.py

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: install
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
