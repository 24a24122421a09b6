# The two set-up commands of the README: `make demo` and `make test`. Each creates the virtual
# environment itself (.venv, about 2 minutes the first time: torch comes from the local pip cache).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.hni-installed

.PHONY: venv browser demo demo-posebias demo-quick lint-examples test test-all bench fmt-examples clean

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

# The default test run: fast tests only (slow ones are marked and run by test-all / benchmarks).
test: venv browser
	$(BIN)/python -m pytest

test-all: venv
	$(BIN)/python -m pytest -m ''

bench: venv
	$(BIN)/python benchmarks/p5_dsl_speed.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .hypothesis
