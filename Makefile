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
	# An empty database gets the district and 90 days of case history (about 2 min, progress every 10 days);
	# one that has areas is left as it is, so a second make demo starts at once.
	$(BIN)/gridgov demo load --if-empty --history 90
	$(BIN)/gridgov demo users
	# The demo's sensors: an hour of readings at once (alarms and their cases), then live ones while it serves.
	mkdir -p var
	$(BIN)/gridgov iot simulate --devices 0 --backfill --duration 3600 --rate 1
	$(BIN)/gridgov iot simulate --devices 0 --rate 1 --duration 0 > var/simulator.log 2>&1 & trap 'kill $$!' EXIT; \
		$(BIN)/gridgov serve --no-migrate

test: install lint test-sqlite test-postgresql

test-sqlite: install
	$(BIN)/pytest -q --db sqlite

test-postgresql: install
	$(BIN)/pytest -q --db postgresql

bench: install
	$(BIN)/python bench/locate.py
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/telemetry.py
	$(BIN)/python bench/triage.py
	$(BIN)/python bench/duplicates.py
	$(BIN)/python bench/evaluation.py

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: install
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
