# Two entry points on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# loadgroup: the tests of a module marked xdist_group share one worker (and its module-scoped fixtures)
PYTEST_ARGS ?= -n 2 --dist loadgroup

.PHONY: demo test lint bench setup browser test-deps clean

$(BIN)/funnelwatch: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	@touch $@

setup: $(BIN)/funnelwatch browser

browser: $(BIN)/funnelwatch
	@bash scripts/ensure-system-packages.sh browser

test-deps:
	@bash scripts/ensure-system-packages.sh imap
	@bash scripts/ensure-system-packages.sh postgres

demo: setup
	$(BIN)/funnelwatch demo

lint: $(BIN)/funnelwatch
	$(BIN)/ruff check funnelwatch tests bench
	$(BIN)/mypy

test: setup test-deps lint
	$(BIN)/pytest $(PYTEST_ARGS)

bench: setup test-deps
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) reports/*.html reports/funnels reports/artifacts reports/demo
