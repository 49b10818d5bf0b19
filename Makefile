# trailhouse: `make help` lists the targets. Every target installs what it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help demo serve test test-fast test-security soak lint typecheck check bench bench-warehouse bench-verify bench-delivery bench-backfill bench-scale bench-restart clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@# The Spark engine (an extra the tests use) needs a Java runtime: Debian's, if none is here.
	command -v java >/dev/null || (apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@# The console's browser tests drive Debian's Chromium; nothing downloads a browser.
	test -x /usr/bin/chromium || (apt-get update && apt-get install -y --no-install-recommends chromium)
	touch $(STAMP)

demo: $(STAMP)  ## run trailhouse with a few days of demo events on http://127.0.0.1:8080
	$(BIN)/trailhouse serve --demo --data-dir $${TRAILHOUSE_DATA_DIR:-./trailhouse-data}

serve: $(STAMP)  ## run trailhouse on ./trailhouse-data without demo data
	$(BIN)/trailhouse serve --data-dir $${TRAILHOUSE_DATA_DIR:-./trailhouse-data}

test: $(STAMP)  ## run the whole test suite (SQLite and PostgreSQL adapters, SDK compatibility)
	$(BIN)/pytest -q

test-fast: $(STAMP)  ## run the unit tests only
	$(BIN)/pytest -q tests/unit

test-security: $(STAMP)  ## run the security suite: every attack docs/security.md lists
	$(BIN)/pytest -q -m security

soak: $(STAMP)  ## kill a server under mixed load for 10 minutes, then check nothing was lost
	TRAILHOUSE_SOAK_SECONDS=$${TRAILHOUSE_SOAK_SECONDS:-600} $(BIN)/pytest -q -s tests/compat/test_soak.py

lint: $(STAMP)  ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)  ## mypy --strict over src/
	$(BIN)/mypy

check: lint typecheck test  ## everything CI checks

bench: $(STAMP)  ## run the ingest and lookup benchmark (takes a while)
	$(BIN)/python bench/ingest_lookup.py

bench-warehouse: $(STAMP)  ## run the warehouse benchmark: appends and audit queries over 10M events
	$(BIN)/python bench/warehouse.py

bench-delivery: $(STAMP)  ## run the delivery benchmark: lag at 5,000 events/s (2-3 minutes)
	$(BIN)/python bench/delivery.py

bench-backfill: $(STAMP)  ## run the backfill benchmark: a history job over 10M events beside the raw writer
	$(BIN)/python bench/backfill.py

bench-scale: $(STAMP)  ## run the scale benchmark: PutEvents on 1-3 servers on PostgreSQL, failover (~5 min)
	$(BIN)/python bench/scale.py

bench-restart: $(STAMP)  ## time start-up after kill -9 under load with 10M events, beside a clean restart
	$(BIN)/python bench/restart.py

bench-verify: $(STAMP)  ## verify a kept warehouse-bench table beside sha256sum (TABLE=path)
	$(BIN)/python bench/verify.py $(TABLE)

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
