# mailseal developer commands. `make run` and `make test` are the quick start.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install compile run test cluster-test lint bench profile clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Byte-compile the sources: with PYTHONDONTWRITEBYTECODE set, every start would otherwise compile them again.
compile: install
	$(BIN)/python -m compileall -q src >/dev/null

# The demo's data directory is named in full, so that it does not depend on the current folder nor on a
# $MAILSEAL_HOME of the shell. Options of the demo: `make run DEMO_ARGS="--port 2610 --sink-port 2611"`.
DEMO_HOME ?= $(CURDIR)/mailseal-data
DEMO_ARGS ?=

run: compile
	$(BIN)/python -m mailseal.demo --home "$(DEMO_HOME)" $(DEMO_ARGS)

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/mypy src

test: lint compile
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# Two gateway nodes, Postfix, PostgreSQL and a sink on separate hosts (network namespaces; root): docs/cluster.md.
cluster-test: compile
	$(BIN)/python -m pytest -q -m cluster tests/cluster $(PYTEST_ARGS)

bench: compile
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Where the time goes, e.g. `make profile PROFILE_ARGS="sign 100M"` (pyinstrument; report in bench/profiles/).
profile: compile
	$(BIN)/python bench/profile.py $(PROFILE_ARGS)

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
