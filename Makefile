# The two set-up commands of the README: `make demo` and `make test`. Each creates the virtual
# environment itself (.venv, about 2 minutes the first time: torch comes from the local pip cache).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.hni-installed

.PHONY: venv demo demo-quick lint-examples test test-all bench fmt-examples clean

$(STAMP): pyproject.toml
	@echo "creating $(VENV) (one-time, about 2 minutes)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[engine,dev]'
	@touch $(STAMP)

venv: $(STAMP)

# The main job: from nothing to a before/after table (generate, train, extract, apply the example script).
# `make demo-quick` is the small version; `make lint-examples` checks and plans the language examples.
demo: venv
	$(BIN)/hni demo --force

demo-quick: venv
	$(BIN)/hni demo --quick --force

lint-examples: venv
	$(BIN)/hni check --library examples/library.json examples/edits/*.hni
	@# plan exits 2 when there are changes (expected here), 1 on errors
	$(BIN)/hni plan --library examples/library.json examples/edits/*.hni || test $$? -eq 2

# The default test run: fast tests only (slow ones are marked and run by test-all / benchmarks).
test: venv
	$(BIN)/python -m pytest

test-all: venv
	$(BIN)/python -m pytest -m ''

bench: venv
	$(BIN)/python benchmarks/p5_dsl_speed.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .hypothesis
