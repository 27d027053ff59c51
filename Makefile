# TwinCell: two commands for a fresh machine (see README).
#   make run   - set up .venv if needed, then identify SLE drug targets on the bundled data
#                (the first run trains the default model, about 2 minutes, cached in ~/.cache/twincell)
#   make test  - set up .venv if needed, then run the whole test suite
#   make bench - quick smoke run of every benchmark (drop --quick in benchmarks/ for full figures)
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.twincell-installed

.PHONY: setup run test bench chromium clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# The CPU build of torch first, from the local wheel cache / index (see README).
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c requirements.lock -e ".[all,test]"
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/twincell identify --disease SLE --top 50 --explain 5 --out results/SLE

chromium:
	@bash scripts/ensure_chromium.sh

test: $(STAMP) chromium
	$(BIN)/python -m pytest -n 2 --dist loadfile

bench: $(STAMP)
	for f in benchmarks/[a-z]*.py; do echo "== $$f"; $(BIN)/python $$f --quick || exit 1; done

clean:
	rm -rf $(VENV) results .pytest_cache
