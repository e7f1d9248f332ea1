# The two commands of the README:   make demo   and   make test
# Both set up everything they need on a fresh machine (virtualenv, pip packages; for the tests
# also Debian's Chromium and the npm packages of the browser interop tests).

PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test setup setup-dev setup-system setup-interop lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -e '.[dev]'
	touch $@ $(VENV)/.runtime

setup: $(VENV)/.runtime
setup-dev: $(VENV)/.dev

setup-system:
	bash tools/setup-system.sh

setup-interop:
	bash tests/interop/setup.sh

demo: setup
	$(BIN)/kiosk demo $(DEMO_ARGS)

# Lint first (ruff, mypy --strict): pytest's summary stays the last thing printed.
test: setup-dev setup-system setup-interop
	$(BIN)/ruff check kiosk tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup-dev
	$(BIN)/ruff check kiosk tests bench
	$(BIN)/mypy

bench: setup-dev
	$(BIN)/python bench/render.py

clean:
	rm -rf $(VENV) tests/interop/node_modules .pytest_cache .mypy_cache .ruff_cache
