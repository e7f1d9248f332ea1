# The two commands of the README:   make demo   and   make test
# Both set up everything they need on a fresh machine (virtualenv, pip packages; for the tests
# also Debian's Chromium and the npm packages of the browser interop tests).

PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test test-fast setup setup-dev setup-system setup-interop lint bench clean lock check-lock

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
	$(BIN)/ruff check kiosk tests bench tools
	$(BIN)/ruff format --check kiosk tests bench tools
	$(BIN)/mypy
	$(MAKE) --no-print-directory check-lock
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Everyday work: the unit tests only (no WebRTC, child processes or browser), well under a minute.
test-fast: setup-dev
	$(BIN)/python -m pytest -m unit -q $(PYTEST_ARGS)

lint: setup-dev
	$(BIN)/ruff check kiosk tests bench tools
	$(BIN)/ruff format --check kiosk tests bench tools
	$(BIN)/mypy

bench: setup-dev
	$(BIN)/python bench/render.py

# requirements.lock: the runtime set (and what building the kiosk needs) pinned with hashes, for
# install.sh's pip install --require-hashes. Regenerate after changing pyproject's dependencies.
LOCK_VENV := .lock-venv
lock:
	$(PY) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --disable-pip-version-check -q pip-tools
	$(LOCK_VENV)/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-index-url --no-emit-find-links --no-emit-trusted-host \
	  -o requirements.lock pyproject.toml tools/build-requirements.in

# Every pin resolves and every hash matches what the index serves (nothing is installed).
check-lock: setup-dev
	$(BIN)/pip install --disable-pip-version-check --dry-run --ignore-installed --require-hashes \
	  --no-deps -q -r requirements.lock

clean:
	rm -rf $(VENV) $(LOCK_VENV) tests/interop/node_modules .pytest_cache .mypy_cache .ruff_cache
