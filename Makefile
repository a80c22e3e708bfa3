# mailseal developer commands. `make run` and `make test` are the quick start.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install compile run test cluster-test lint bench profile fuzz clean

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

# The suite runs in PYTEST_WORKERS processes (pytest-xdist), a test file per process at a time: every test makes
# its own home, ports and databases, so they do not meet. `make test PYTEST_WORKERS=0` runs it in one process.
PYTEST_WORKERS ?= 3

test: lint compile
	$(BIN)/python -m pytest -q $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile) $(PYTEST_ARGS)

# Two gateway nodes, Postfix, PostgreSQL and a sink on separate hosts (network namespaces; root): docs/cluster.md.
cluster-test: compile
	$(BIN)/python -m pytest -q -m cluster tests/cluster $(PYTEST_ARGS)

bench: compile
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/pq_bench.py

# Where the time goes, e.g. `make profile PROFILE_ARGS="sign 100M"` (pyinstrument; report in bench/profiles/).
profile: compile
	$(BIN)/python bench/profile.py $(PROFILE_ARGS)

# Coverage-guided fuzzing (atheris, tests/fuzz/README.md): each target for FUZZ_SECONDS, from the committed seed
# corpus; new inputs are kept in .fuzz/TARGET, crashes in .fuzz/crashes (a crash stops the run).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= open verify decrypt mime ber certificate revocation smtp_data settings

fuzz: install
	@for t in $(FUZZ_TARGETS); do \
		rm -rf .fuzz/work; mkdir -p .fuzz/$$t .fuzz/crashes .fuzz/work; \
		echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; \
		MAILSEAL_FUZZ_WORK=$(CURDIR)/.fuzz/work PYTHONPATH=$(CURDIR)/src:$(CURDIR) $(BIN)/python -m tests.fuzz.run $$t --seeds .fuzz/$$t .fuzz/$$t tests/fuzz/corpus/$$t \
			-max_total_time=$(FUZZ_SECONDS) -timeout=20 -rss_limit_mb=2048 -artifact_prefix=.fuzz/crashes/ \
			-print_final_stats=1 2>.fuzz/$$t.log || { tail -40 .fuzz/$$t.log; exit 1; }; \
		grep -E "^#[0-9]+[[:space:]]+DONE" .fuzz/$$t.log; \
	done

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .fuzz
