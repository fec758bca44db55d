# Foresight: `make demo` runs the main job end to end on the sample source, `make test` runs lint + tests.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The machines are offline: no telemetry from MLflow, Evidently or Prefect.
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_LOGGING_LEVEL ?= WARNING
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
# Waiting OpenMP threads sleep instead of spinning (see foresight.commands.common.share_cores).
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: help env browser postgres demo test lint unit integration bench mutation lock docs clean stack-up stack-down

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

env: $(STAMP)  ## create the virtual environment from the lock file

# The browser tests drive Debian's Chromium through Playwright (Playwright's own download needs a network);
# the API bench uses wrk. Installed once, only when missing (CI starts from a clean machine).
APT_NEEDS := $(if $(wildcard /usr/bin/chromium),,chromium) $(if $(wildcard /usr/bin/wrk),,wrk)
browser:  ## Debian's chromium (browser tests) and wrk (API bench), when missing
	@if [ -n "$(strip $(APT_NEEDS))" ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(strip $(APT_NEEDS)); fi

# The team-stack tests start a throw-away PostgreSQL from Debian's server binaries (initdb, pg_ctl live in
# /usr/lib/postgresql/<version>/bin, off PATH). Installed once, only when missing.
PG_INITDB := $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb) $(shell command -v initdb))
postgres:  ## Debian's postgresql server binaries (team-stack tests, `foresight stack up`), when missing
	@if [ -z "$(PG_INITDB)" ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; fi

stack-up: $(STAMP) postgres  ## the team's stack on this machine over loopback (PostgreSQL, MLflow, Prefect, Dask, MongoDB, API)
	$(BIN)/foresight stack up

stack-down: $(STAMP)  ## stop what stack-up started
	$(BIN)/foresight stack down

demo: $(STAMP)  ## run the whole pipeline on the embedded sample market
	$(BIN)/foresight demo

lint: $(STAMP)  ## ruff + the import-linter layer contracts (pyproject.toml [tool.importlinter])
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: $(STAMP) browser postgres  ## lint (ruff, import layers) + the whole suite (unit and integration); screenshots land in reports/
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

integration: $(STAMP) browser postgres
	$(BIN)/python -m pytest -q tests/integration

bench: $(STAMP) browser  ## benchmarks; JSON results in bench/results/
	@mkdir -p bench/results
	@for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

mutation: $(STAMP)  ## mutation testing of the statistical core (mutmut, about an hour on 2 cores; not part of test)
	$(BIN)/python bench/mutation.py

docs: $(STAMP)  ## regenerate docs/features.md, docs/openapi.json and docs/api.md from the code
	$(BIN)/python -m features.docs > docs/features.md
	$(BIN)/python -m foresight.apidocs docs

lock:  ## re-resolve the lock file from pyproject.toml in a throw-away venv
	rm -rf /tmp/foresight-lock && $(PYTHON) -m venv /tmp/foresight-lock
	/tmp/foresight-lock/bin/pip install --quiet -e '.[dev]'
	( head -2 requirements.lock; /tmp/foresight-lock/bin/pip freeze --exclude-editable | grep -v '^foresight' ) > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:  ## remove local state (warehouse, MLflow, reports); keeps the venv
	rm -rf .foresight mlruns
