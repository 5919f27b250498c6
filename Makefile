# Vigil developer entry points. Two commands set up a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
# Every recipe line fails on the first failing command, including inside a pipe.
.SHELLFLAGS := -eo pipefail -c
# A recipe that fails half-way must not leave its target looking up to date.
.DELETE_ON_ERROR:
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STACK := deploy/local/stack
export VIGIL_CACHE_DIR ?= $(HOME)/.cache/vigil
export PIP_CACHE_DIR ?= $(VIGIL_CACHE_DIR)/pip
export npm_config_cache ?= $(VIGIL_CACHE_DIR)/npm
ASSETS := api/static/vendor/.installed

.PHONY: venv test unit integration check lint typecheck demo assets stack-up stack-down browser clean

venv: $(STAMP)

# Re-install only when the dependency list or a compiled module changes; the pip cache lives
# outside the repo.
$(STAMP): pyproject.toml setup.py $(wildcard stream/detect/_*.c stream/detect/_*.h)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@# setuptools prints an 11-line 'Editable installation' notice (not a problem) on every install
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

## make test: install, start the real local stack, run every test (unit, doctest, integration, browser)
test: venv assets browser
	$(STACK) up
	$(BIN)/python -m pytest -p no:cacheprovider

## make unit: tests that need no service (seconds)
unit: venv
	$(BIN)/python -m pytest -p no:cacheprovider -m "not integration and not browser and not slow"

check: venv lint typecheck unit

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

## make demo: the whole system in one process (embedded MQTT, in-process bus, SQLite), dashboard at :8000
demo: venv assets
	$(BIN)/vigil demo $(DEMO_ARGS)

# The dashboard's charting library, from npm (package-lock pins it), copied where the API serves it.
assets: $(ASSETS)

$(ASSETS): dashboard/package-lock.json
	cd dashboard && npm ci --no-audit --no-fund --loglevel=error
	mkdir -p api/static/vendor
	cp dashboard/node_modules/uplot/dist/uPlot.esm.js dashboard/node_modules/uplot/dist/uPlot.min.css api/static/vendor/
	@touch $@

stack-up:
	$(STACK) up

stack-down:
	$(STACK) down

# Debian's Chromium for the dashboard's browser test (Playwright's own browser download can't work here).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache dashboard/node_modules api/static/vendor
	rm -f stream/detect/_*.so
