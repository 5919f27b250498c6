# Vigil developer entry points. Two commands set up a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STACK := deploy/local/stack
export VIGIL_CACHE_DIR ?= $(HOME)/.cache/vigil
export PIP_CACHE_DIR ?= $(VIGIL_CACHE_DIR)/pip

.PHONY: venv test unit integration check lint typecheck demo stack-up stack-down browser clean

venv: $(STAMP)

# Re-install only when the dependency list changes; the pip cache lives outside the repo.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

## make test: install, start the real local stack, run every test (unit, doctest, integration, browser)
test: venv browser
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

stack-up:
	$(STACK) up

stack-down:
	$(STACK) down

# Debian's Chromium for the dashboard's browser test (Playwright's own browser download can't work here).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
