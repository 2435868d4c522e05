# Two commands: `make run` installs and serves luffy on the embedded default,
# `make test` installs and runs the tests (all of them: CI's suite). Both create .venv
# on first use. `make test-fast` leaves out the slow, load and browser tests (their
# markers are in setup.cfg).
# constraints.txt pins the versions the tests last passed with (pip freeze of .venv).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 5000
PYTEST_ARGS ?=

.PHONY: run test test-fast install install-test clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.run: $(PY) setup.cfg pyproject.toml constraints.txt
	$(PY) -m pip install -q -c constraints.txt -e .
	touch $@

$(VENV)/.test: $(VENV)/.run
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	touch $@

install: $(VENV)/.run
install-test: $(VENV)/.test

# Development is chosen by name: any other start is production, which refuses the
# repository's secret and a missing REDIS_URL.
run: install
	LUFFY_CONFIG=development $(PY) -m flask --app wsgi db upgrade
	LUFFY_CONFIG=development $(PY) -m flask --app wsgi users demo
	LUFFY_CONFIG=development $(PY) -m flask --app wsgi run --port $(PORT)

test: install-test
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install-test
	$(PY) -m pytest -m 'not slow and not load and not e2e' $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache
