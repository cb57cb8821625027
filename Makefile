# Style Studio: `make run` serves the app, `make test` checks everything, `make prod` runs
# it in production (settings in .env or the environment; see the README's Production).
# Both set up what they need first (idempotent): virtualenv, package, bun, database.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BUN := .tools/node_modules/bun/bin/bun.exe
BUN_VERSION := 1.4.5

export REFLEX_BUN_PATH := $(CURDIR)/$(BUN)
export REFLEX_TELEMETRY_ENABLED := false
# Hot reload watches the code only, not data/ (the SQLite file and media change constantly).
export REFLEX_HOT_RELOAD_OVERRIDE_PATHS := $(CURDIR)/stylestudio

.PHONY: setup run prod test test-fast lint typecheck pytest pytest-units pytest-browser bench \
	chromium worker clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(BUN):
	npm install --prefix .tools --no-audit --no-fund --loglevel=error bun@$(BUN_VERSION)
	test -x $(BUN)

setup: $(BIN)/.installed $(BUN)
	$(BIN)/stylestudio bootstrap

run: setup
	$(BIN)/reflex run --frontend-port 3000 --backend-port 8000

# Production on this machine: checks the settings (refusing what would break), migrates,
# builds the frontend, then runs and supervises the backend processes and the workers.
prod: $(BIN)/.installed $(BUN)
	$(BIN)/stylestudio serve --prod

worker: setup
	$(BIN)/stylestudio worker

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check stylestudio tests bench

typecheck: $(BIN)/.installed
	$(BIN)/mypy stylestudio tests bench

# Unit and integration tests on four workers; then the browser
# tests on two workers, each with an app of its own (its ports, Redis database, data and
# frontend folders: see tests/e2e/conftest.py) and whole files per worker (a file's tests
# share its fixtures). A test that hangs fails after 10 minutes instead of holding the run.
# A browser test that fails is run once more and reported as a rerun ("R" in the output): on
# this noisy 2-core machine a page load has been seen to stall for 30 s after a backend
# restart; a test that fails twice fails.
# The unit and integration tests wait on databases, sockets and subprocesses much of the
# time: on this 2-core machine four workers finish them in 3:00 where two took 4:34 (six:
# 3:12). Browser tests stay on two (each worker runs a whole app and a Chromium).
PYTEST_PARALLEL := --timeout 600
UNITS := tests/unit tests/integration

pytest-units: $(BIN)/.installed
	$(BIN)/pytest -q -n 4 $(PYTEST_PARALLEL) $(UNITS)

pytest-browser: $(BIN)/.installed $(BUN) chromium
	$(BIN)/pytest -q -n 2 $(PYTEST_PARALLEL) --dist loadfile --reruns 1 --reruns-delay 5 -rR tests/e2e

pytest: setup
	$(MAKE) --no-print-directory pytest-units
	$(MAKE) --no-print-directory pytest-browser

# Lint and types are checked while the unit and integration tests run (mypy's cold start on a
# fresh clone is over a minute of one core, the tests wait on databases and sockets part of
# the time); each part's output is printed whole when it ends, and any part failing fails
# the target (make -j runs the others to their end, then stops before the browser tests).
CHECK_AT_ONCE := $(MAKE) --no-print-directory -j 3 --output-sync=target

# The inner loop: lint, types, unit and integration tests on SQLite (no browser), leaving out
# the tests marked slow (`make test` runs them all): the randomized races, the fuzzers and
# the tests that kill and restart processes.
test-fast: $(BIN)/.installed
	$(CHECK_AT_ONCE) lint typecheck pytest-units UNITS='$(UNITS) -k "not postgresql" -m "not slow"'

test: setup
	$(CHECK_AT_ONCE) lint typecheck pytest-units
	$(MAKE) --no-print-directory pytest-browser

bench: setup
	$(BIN)/python bench/bench_credits.py
	$(BIN)/python bench/bench_local_engine.py
	$(BIN)/python bench/bench_sign_in_contention.py
	$(BIN)/python bench/bench_replicate_workers.py
	$(BIN)/python bench/bench_gallery_scale.py
	$(BIN)/python bench/bench_upload_pipeline.py
	$(BIN)/python bench/bench_observability.py
	$(BIN)/python bench/bench_media_route.py
	$(BIN)/python bench/bench_status_push.py
	$(BIN)/python bench/bench_tabs.py
	$(BIN)/python bench/bench_api.py

clean:
	rm -rf .web .web-gw* test-artifacts .mypy_cache .ruff_cache .pytest_cache
