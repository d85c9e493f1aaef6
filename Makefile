# The newcomer's two commands, each doing its own set-up on a fresh clone:
#   make demo   the offline demo: the bulk job against the embedded fake server
#   make test   the test suite (the command CI runs)
#   make docs   the documentation site (docs/_build/html), warnings as errors
# Both create or refresh the virtual environment $(VENV) with what they need first.
# Another interpreter: make test PYTHON=python3.12 VENV=.venv-3.12

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Rebuilt when the project's dependencies or its version change (the installed metadata
# carries the version, which a test compares with plivo_numlink.__version__).
STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint docs clean

$(STAMP): pyproject.toml plivo_numlink/_version.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/plivo-numlink demo

test: $(STAMP)
	$(BIN)/python -m pytest --cov-fail-under=90

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict plivo_numlink
	$(BIN)/lint-imports

# The documentation site, into docs/_build/html: -n -W --keep-going makes every warning and
# broken cross-reference an error (all of them listed); -E re-reads every page. No network.
docs: $(STAMP)
	$(BIN)/sphinx-build -E -n -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: docs/_build/html/index.html"

clean:
	rm -rf docs/_build dist $(VENV) .venv-3.* .coverage .mypy_cache .pytest_cache .ruff_cache
