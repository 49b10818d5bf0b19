# trailhouse: `make help` lists the targets. Every target installs what it needs first:
# running trailhouse (demo, serve) needs only the package; tests, lint, types and benchmarks
# also install the `dev` extra (Spark, Playwright, the SDK, ruff, mypy), Java and Chromium.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN    := $(VENV)/.installed-run
DEV    := $(VENV)/.installed-dev

.PHONY: help demo serve test test-fast test-security soak lint typecheck check bench bench-warehouse bench-verify bench-delivery bench-backfill bench-scale bench-restart clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# A Debian package the tests need, installed with apt only by root or with passwordless sudo;
# otherwise a note saying how, and the tests that need it are skipped, naming it (never in CI).
# $(1): the package, $(2): a shell test that holds once it is there.
define system_package
	@if $(2); then :; \
	elif ! command -v apt-get >/dev/null; then \
	  echo "note: $(1) is missing and there is no apt-get here: install $(1) (or its equivalent) to run the tests that need it; they are skipped until then"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(1) >/dev/null \
	  || echo "note: apt-get install $(1) failed: the tests that need it are skipped"; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then \
	  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(1) >/dev/null \
	  || echo "note: sudo apt-get install $(1) failed: the tests that need it are skipped"; \
	else \
	  echo "note: $(1) is missing: the tests that need it are skipped. Install it with: sudo apt-get install $(1)"; \
	fi
endef

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV): pyproject.toml $(RUN)
	$(BIN)/pip install --quiet -e '.[dev]'
	@# Java for the Spark engine's tests; Debian's Chromium for the console's browser tests
	@# (nothing downloads a browser).
	$(call system_package,openjdk-17-jre-headless,command -v java >/dev/null)
	$(call system_package,chromium,test -x /usr/bin/chromium)
	touch $@

demo: $(RUN)  ## run trailhouse on demo data at http://127.0.0.1:8080 (TRAILHOUSE_PORT= to change)
	$(BIN)/trailhouse serve --demo --data-dir $${TRAILHOUSE_DATA_DIR:-./trailhouse-data}

serve: $(RUN)  ## run trailhouse on ./trailhouse-data without demo data
	$(BIN)/trailhouse serve --data-dir $${TRAILHOUSE_DATA_DIR:-./trailhouse-data}

# Test processes: two by default (a 2-core machine), each module's tests in one of them.
TEST_WORKERS ?= 2

test: $(DEV)  ## run the whole test suite (SQLite and PostgreSQL adapters, SDK compatibility)
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

test-fast: $(DEV)  ## run the unit tests only
	$(BIN)/pytest -q tests/unit

test-security: $(DEV)  ## run the security suite: every attack docs/security.md lists
	$(BIN)/pytest -q -m security

soak: $(DEV)  ## kill a server under mixed load for 10 minutes, then check nothing was lost
	TRAILHOUSE_SOAK_SECONDS=$${TRAILHOUSE_SOAK_SECONDS:-600} $(BIN)/pytest -q -s tests/compat/test_soak.py

lint: $(DEV)  ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV)  ## mypy --strict over src/
	$(BIN)/mypy

check: lint typecheck test  ## everything CI checks

bench: $(DEV)  ## run the ingest and lookup benchmark (takes a while)
	$(BIN)/python bench/ingest_lookup.py

bench-warehouse: $(DEV)  ## run the warehouse benchmark: appends and audit queries over 10M events
	$(BIN)/python bench/warehouse.py

bench-delivery: $(DEV)  ## run the delivery benchmark: lag at 5,000 events/s (2-3 minutes)
	$(BIN)/python bench/delivery.py

bench-backfill: $(DEV)  ## run the backfill benchmark: a history job over 10M events beside the raw writer
	$(BIN)/python bench/backfill.py

bench-scale: $(DEV)  ## run the scale benchmark: PutEvents on 1-3 servers on PostgreSQL, failover (~5 min)
	$(BIN)/python bench/scale.py

bench-restart: $(DEV)  ## time start-up after kill -9 under load with 10M events, beside a clean restart
	$(BIN)/python bench/restart.py

bench-verify: $(DEV)  ## verify a kept warehouse-bench table beside sha256sum (TABLE=path)
	$(BIN)/python bench/verify.py $(TABLE)

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
