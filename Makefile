# One command each: `make demo`, `make test`, `make check`, `make serve`.
# Everything runs from a project-local virtualenv (.venv) created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

.PHONY: install install-test demo serve test test-fast check format bench-quick

install: $(BIN)/activate
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/activate
	$(BIN)/pip install --quiet -e '.[test]'

demo: install
	$(BIN)/contact-center demo

serve: install
	$(BIN)/contact-center serve

test: install-test
	$(BIN)/python -m pytest

test-fast: install-test
	$(BIN)/python -m pytest -m "not slow and not integration"

check: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
