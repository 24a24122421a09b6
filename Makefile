# The two set-up commands of the README: `make demo` and `make test`. Each creates the virtual
# environment itself (.venv, about 2 minutes the first time: torch comes from the local pip cache).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.hni-installed

.PHONY: lint venv browser demo demo-posebias demo-quick lint-examples test test-all bench bench-all fmt-examples clean

$(STAMP): pyproject.toml
	@echo "creating $(VENV) (one-time, about 2 minutes)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[engine,dev]'
	@touch $(STAMP)

venv: $(STAMP)

# The main job: from nothing to a before/after table (generate, train, extract, apply the example script).
# It runs the zero-shot demo: the edit teaches the network classes it has never seen (about 3 minutes).
# `make demo-posebias` is `hni demo`'s own default (the pose-bias edit at default size), and
# `make demo-quick` its small version; `make lint-examples` checks and plans the language examples.
demo: venv
	$(BIN)/hni demo --scenario zeroshot --quick --force

demo-posebias: venv
	$(BIN)/hni demo --force

demo-quick: venv
	$(BIN)/hni demo --quick --force

lint-examples: venv
	$(BIN)/hni check --library examples/library.json examples/edits/*.hni
	@# plan exits 2 when there are changes (expected here), 1 on errors
	$(BIN)/hni plan --library examples/library.json examples/edits/*.hni || test $$? -eq 2

# Headless Chromium for the report's browser test (Debian packages). Best effort: without it (no root, no
# apt) the browser test skips and says why.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium and chromium-driver (apt, one-time)"; \
	    (timeout 600 apt-get update -qq && timeout 900 apt-get install -y -qq --no-install-recommends \
	      chromium chromium-driver >/dev/null) || echo "could not install chromium; the browser test will skip"; \
	  else echo "chromium not installed and no root apt-get; the browser test will skip"; fi; }

# The default test run: lint (ruff), format check, types (mypy), then the fast tests (slow ones are marked
# and run by test-all / benchmarks). Any red check fails the run.
LINTED := hni_dsl hni_engine tests benchmarks

lint: venv
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

test: venv browser lint
	$(BIN)/python -m pytest

test-all: venv
	$(BIN)/python -m pytest -m ''

# Benchmarks (BENCHMARKS.md): each is a module, `$(BIN)/python -m benchmarks.NAME` from this folder.
# `make bench` is the fast one: P5, the language's speed (a few seconds).
bench: venv
	$(BIN)/python -m benchmarks.p5_dsl_speed

# `make bench-all` runs every benchmark in its default mode, one after another, stopping at the first
# failure, and rewrites their default result files in benchmarks/results/ (compare with `git diff`).
# Workspaces go to BENCH_DIR. It takes most of a working day (roughly 6-10 hours) on the two-core machine
# of BENCHMARKS.md's figures: P5 seconds, P4 about a minute, P1/P2 a few minutes (it trains its own
# spurious --quick workspace); nn_to_human trains and extracts 3 scenarios x 3 seeds at default size (up to
# 8 min per training, 2-25 min per extraction: about 3 hours); library_checks checks those nine libraries
# (seconds); evidence measures E1-E4 on them (held-out deletion tests, minutes each); human_to_nn reuses
# them and applies each example script with its controls (posebias about
# 50 min for 3 seeds, zeroshot 4-14 min per seed; spurious at default size was never timed: its edit alone
# took 4-7 min per seed at quick size, with 3 controls per seed and 4x the images here, so hours).
BENCH_DIR ?= /tmp/hni-bench
BENCH_WORKSPACES := $(foreach s,spurious posebias zeroshot,$(foreach n,0 1 2,$(BENCH_DIR)/$(s)-$(n)))

bench-all: venv
	$(BIN)/python -m benchmarks.p5_dsl_speed
	$(BIN)/python -m benchmarks.check_speed
	$(BIN)/python -m benchmarks.fault_cases
	$(BIN)/python -m benchmarks.p4_grn_throughput
	$(BIN)/python -m benchmarks.p1_p2_features --workdir $(BENCH_DIR)
	$(BIN)/python -m benchmarks.nn_to_human --workdir $(BENCH_DIR)
	$(BIN)/python -m benchmarks.library_checks $(BENCH_WORKSPACES)
	$(BIN)/python -m benchmarks.evidence $(BENCH_WORKSPACES) --out benchmarks/results/evidence.json
	$(BIN)/python -m benchmarks.human_to_nn --workdir $(BENCH_DIR)

clean:
	rm -rf $(VENV) build dist .pytest_cache .hypothesis
