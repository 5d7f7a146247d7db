# docmill: the two commands of the README are `make demo` and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench config-doc server-start server-stop clean-data

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/install.sh
	VENV=$(VENV) bash scripts/install.sh

## Install everything, generate the sample corpus if data/inbox is empty, start the Prefect server, run; leaves the
## server and the serve process (deployments, nightly schedule) running: `make server-stop` stops both.
demo: setup
	$(BIN)/docmill demo

## Install everything, then lint, type-check, check the architecture contract and run the test suite.
test: setup lint
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check src flows tests benchmarks
	$(BIN)/ruff format --check src flows tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: setup
	$(BIN)/python benchmarks/pipeline_benchmark.py
	$(BIN)/python benchmarks/extract_vs_unstructured.py

config-doc: setup
	$(BIN)/docmill config-doc > docs/configuration.md

server-start: setup
	$(BIN)/docmill server start

server-stop: setup
	$(BIN)/docmill server stop

## Remove everything a run wrote under data/ (keeps the inbox).
clean-data:
	-$(BIN)/docmill server stop
	rm -rf data/catalog.sqlite* data/qdrant data/datasets data/dvc-remote data/logs data/prefect
