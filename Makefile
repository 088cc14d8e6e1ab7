# One command each: `make demo`, `make test`, `make check`, `make serve`.
# Everything runs from a project-local virtualenv (.venv) created on first use.
# Installing compiles the router core with mypyc (setup.py); it is redone when the
# distribution or a routing module changes, and `make build` redoes just the compile.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALL_INPUTS := pyproject.toml setup.py $(wildcard routing/*.py)

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/activate $(INSTALL_INPUTS)
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/activate $(INSTALL_INPUTS)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

.PHONY: install install-test build demo serve test test-fast check format

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

build:
	test -x $(BIN)/mypyc || $(MAKE) install-test
	$(BIN)/python setup.py --quiet build_ext --inplace
	touch $(VENV)/.installed-test $(VENV)/.installed

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
