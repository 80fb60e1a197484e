# The two commands a newcomer needs: `make run` (set up + serve the demo) and `make test`.
# Everything they need is installed by these targets: the venv, Python packages, npm packages and
# the bpmn-js assets, and Debian's chromium for the browser tests.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LIYUAN := $(VENV)/bin/liyuan
VENV_STAMP := $(VENV)/.installed-stamp

.PHONY: setup run test bench bench-scale lint wheel-check clean
.DEFAULT_GOAL := run

include .ci/assets.mk

setup: $(VENV_STAMP) assets

$(VENV_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required, found " + sys.version.split()[0]'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

run: setup
	$(LIYUAN) init --demo
	$(LIYUAN) serve --host 127.0.0.1 --port 5000

# Cheap checks first: lint and the wheel fail in seconds, the test suite takes minutes. The suite runs on
# every core (TEST_WORKERS=1 for one process); each worker gets its own SQLite files and PostgreSQL
# database. The slowest tests are listed at the end, so a test that grows slow is seen.
TEST_WORKERS ?= auto
test: setup chromium lint wheel-check
	$(PY) -m tests.postgres_status
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=15

# The quick set. http_lifecycle.py serves the API with a real `liyuan serve` on a free port (SQLite, and
# PostgreSQL when reachable) and reads its CPU from /proc; here with 10 lifecycles a row.
bench: setup
	$(PY) bench/engine.py
	$(PY) bench/http_lifecycle.py -n 10
	$(PY) bench/sqlite_synchronous.py
	@if [ -f bench/timers.py ]; then $(PY) bench/timers.py; fi
	$(PY) bench/audit_signing.py
	$(PY) bench/audit_scale.py
	$(PY) bench/month_report.py

# The staff pages at 1,000 and 10,000 requests on SQLite and PostgreSQL (bench/scale.py; builds are cached
# under bench/.cache/). SCALE_ARGS=--with-100k adds 100,000, which takes an hour or more to build.
# Then the HTTP lifecycle bench at 100 lifecycles a row, with 1, 2 and 4 server processes on PostgreSQL.
bench-scale: setup
	$(PY) bench/scale.py $(SCALE_ARGS)
	$(PY) bench/http_lifecycle.py -n 100 --workers 1 2 4

# ruff: style and bugs. deptry: every imported package is declared in pyproject.toml, none unused.
# lint-imports: the [tool.importlinter] contracts (the house's layers, no Flask in engine/, no circles).
lint: setup
	$(VENV)/bin/ruff check engine webapp migrations tests bench
	$(VENV)/bin/deptry .
	$(VENV)/bin/lint-imports --no-logo pyproject.toml

# The package as users get it: every import declared, the wheel holds the code, templates, static files
# and migrations, and the installed `liyuan` works in a clean venv run from outside the checkout.
# Steps and reasons in .ci/wheel_check.sh. The first run downloads the dependencies; later ones use pip's cache.
wheel-check: setup
	PY=$(PY) PYTHON=$(PYTHON) .ci/wheel_check.sh

clean:
	rm -rf $(VENV) node_modules webapp/static/vendor test-artifacts build
