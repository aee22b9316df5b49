# The README's commands: `make run` and `make test`. Only Python 3.11+ and make are needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck contracts unit e2e suite install clean bench soak

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "feeds needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run-deps: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.test-deps: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@ $(VENV)/.run-deps

## The JavaScript feed parsers of the interoperability tests (tests/interop/), where npm is
## installed; without it, those tests skip and say what to install.
INTEROP := tests/interop
ifneq ($(shell command -v npm 2>/dev/null),)
INTEROP_DEPS := $(INTEROP)/node_modules/.installed
endif

$(INTEROP)/node_modules/.installed: $(INTEROP)/package.json $(INTEROP)/package-lock.json
	npm ci --prefix $(INTEROP) --no-audit --no-fund --loglevel=error
	@touch $@

install: $(VENV)/.run-deps

## Install, import content/, serve on http://127.0.0.1:8000 with gunicorn.
run: $(VENV)/.run-deps
	$(BIN)/feeds migrate
	$(BIN)/feeds import content
	$(BIN)/feeds serve --bind 127.0.0.1:8000

## Install the test dependencies, then lint, type-check, check who imports whom and run the
## whole suite.
test: lint typecheck contracts suite

lint: $(VENV)/.test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.test-deps
	$(BIN)/mypy

## The import-linter contracts in pyproject.toml.
contracts: $(VENV)/.test-deps
	$(BIN)/lint-imports

## Every test: in-process (tests/unit/) and end to end (tests/e2e/: real gunicorn, nginx,
## feed clients).
suite: $(VENV)/.test-deps $(INTEROP_DEPS)
	$(BIN)/python -m pytest

## The in-process tests alone.
unit: $(VENV)/.test-deps
	$(BIN)/python -m pytest tests/unit

## The end-to-end tests alone.
e2e: $(VENV)/.test-deps $(INTEROP_DEPS)
	$(BIN)/python -m pytest tests/e2e

## Benchmark: ingest, warm and cold feeds against a ceiling, a million-article store; writes
## bench/results.json and bench/results.md. BENCH_ARGS=--quick for a short smoke run (see --help).
bench: $(VENV)/.run-deps
	$(BIN)/python -m bench $(BENCH_ARGS)

## Soak: the service under mixed load on loopback (polls of every kind, API writes, imports;
## through deploy/'s nginx where installed, and directly), checking every answer; prints a
## table, exits 1 when a check failed. SOAK_ARGS="--minutes 10" (default 3; see --help).
soak: $(VENV)/.run-deps
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache $(INTEROP)/node_modules
