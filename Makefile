# make demo: create .venv if missing, install, migrate, run the example chat on http://127.0.0.1:8000/
# make test: create .venv if missing, install the package with its test extras, lint (ruff, mypy), run pytest.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test
DEMO_STAMP := $(VENV)/.installed-demo
BENCH_STAMP := $(VENV)/.installed-bench
DOCS_STAMP := $(VENV)/.installed-docs
BENCH_ARGS ?=
PYTEST_ARGS ?=
DEMO_ADDR ?= 127.0.0.1:8000

.PHONY: demo test bench docs lint format clean matrix

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=python3.x).")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python setup.cfg setup.py
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $@

$(DEMO_STAMP): $(BIN)/python setup.cfg setup.py
	$(BIN)/python -m pip install --quiet -e ".[demo]"
	@touch $@

# daphne's runserver (the first app in example_project's INSTALLED_APPS) serves HTTP and sockets.
demo: $(DEMO_STAMP)
	$(BIN)/python manage.py migrate --noinput
	@echo "Open http://$(DEMO_ADDR)/ in two windows. Stop with Ctrl+C."
	$(BIN)/python manage.py runserver $(DEMO_ADDR)

$(BENCH_STAMP): $(BIN)/python setup.cfg setup.py
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	@touch $@

# Side-by-side benchmarks on loopback (bounded in time; prints tables, writes docs/benchmarks.md).
bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

$(DOCS_STAMP): $(BIN)/python setup.cfg setup.py
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	@touch $@

# The Sphinx site (docs/), warnings as errors, into docs/_build/html.
docs: $(DOCS_STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	@echo "Built docs/_build/html/index.html"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The core tests on the lowest and the newest supported versions (noxfile.py); needs
# python3.11 and python3.13 on PATH (pyenv's are found too).
matrix: $(STAMP)
	PATH="$$(ls -d $$HOME/.pyenv/versions/3.13*/bin 2>/dev/null | tail -1):$$PATH" $(BIN)/nox $(NOX_ARGS)

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) docs/_build build dist *.egg-info .pytest_cache .ruff_cache db.sqlite3 staticfiles
