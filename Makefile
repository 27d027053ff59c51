# TwinCell: two commands for a fresh machine (see README).
#   make run   - set up .venv if needed, then identify SLE drug targets on the bundled data
#   make test  - set up .venv if needed, then run the whole test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.twincell-installed

.PHONY: setup run test bench chromium clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The CPU build of torch first, from the local wheel cache / index (see README).
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c requirements.lock -e ".[all,test]"
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/twincell network summary

chromium:
	@bash scripts/ensure_chromium.sh

test: $(STAMP) chromium
	$(BIN)/python -m pytest -n 2 --dist loadfile

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) results .pytest_cache
