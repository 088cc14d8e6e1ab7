# One command each: `make demo`, `make test`, `make check`, `make serve`.
# Everything runs from a project-local virtualenv (.venv) created on first use.
# Installs are reproducible: exact versions with hashes from requirements/*.txt
# (`make lock` refreshes them from pyproject.toml's ranges; `make check-latest` tries
# the newest versions in a throwaway virtualenv without touching the locks).
# Installing compiles the router core with mypyc (setup.py); it is redone when the
# distribution or a routing module changes, and `make build` redoes just the compile.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_LOCK := requirements/run.txt
TEST_LOCK := requirements/test.txt
UV_VERSION := 0.13.8
INSTALL_INPUTS := pyproject.toml setup.py $(wildcard routing/*.py)
# Options for the demo, e.g. `make demo ARGS=--no-calls` or `make demo ARGS=--reset`.
ARGS ?=

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# The lock holds the build tools too (setuptools, mypy for mypyc), so the project
# itself installs without build isolation and without fetching anything unlocked.
$(VENV)/.installed: $(BIN)/activate $(INSTALL_INPUTS) $(RUN_LOCK)
	$(BIN)/pip install --quiet --require-hashes -r $(RUN_LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/activate $(INSTALL_INPUTS) $(TEST_LOCK)
	$(BIN)/pip install --quiet --require-hashes -r $(TEST_LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@ $(VENV)/.installed

.PHONY: install install-test build demo serve test test-fast check format lock check-latest i18n

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

build:
	test -x $(BIN)/mypyc || $(MAKE) install-test
	$(BIN)/python setup.py --quiet build_ext --inplace
	touch $(VENV)/.installed-test $(VENV)/.installed

demo: install
	$(BIN)/contact-center demo $(ARGS)

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

# Refresh both locks from pyproject.toml's ranges and requirements/build.in (every
# platform and Python >= 3.11, with hashes). Commit the result after `make test`.
lock: $(BIN)/activate
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip compile pyproject.toml requirements/build.in --universal \
		--python-version 3.11 --generate-hashes --quiet -o $(RUN_LOCK)
	$(BIN)/uv pip compile pyproject.toml requirements/build.in --extra test --universal \
		--python-version 3.11 --generate-hashes --quiet -o $(TEST_LOCK)

# The newest release of every dependency, in a throwaway virtualenv: an early warning
# of upstream changes (run it weekly). Not part of CI's gate, which uses the locks.
check-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/pip install --quiet --upgrade pip
	.venv-latest/bin/pip install --quiet -e '.[test]'
	.venv-latest/bin/ruff check .
	.venv-latest/bin/mypy
	.venv-latest/bin/python -m pytest -q -m "not slow"
	rm -rf .venv-latest

# The consoles' translations: extract every string (Python, templates, ES modules, see
# babel.cfg) into agent_ui/locale/messages.pot and merge it into each language's .po.
# Then translate the new (empty) and fuzzy entries; tests/agent_ui/test_i18n.py fails
# while any is left (docs/consoles.md, "Adding a string").
I18N_POT := agent_ui/locale/messages.pot
i18n: install-test
	$(BIN)/pybabel extract -F babel.cfg -k t --add-location=file --sort-by-file \
		--no-wrap --project=contact-center --omit-header -o $(I18N_POT) .
	$(BIN)/pybabel update -i $(I18N_POT) -d agent_ui/locale -l zh_CN --no-wrap \
		--omit-header --ignore-obsolete
