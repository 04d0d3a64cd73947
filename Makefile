# The few commands a newcomer needs. `make demo` and `make test` are the README's two commands.
SHELL := /bin/bash
DATA ?= ../shared/data
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: setup demo test lint bench clean-db

setup:
	@deploy/scripts/setup.sh

demo: setup
	.venv/bin/stacworks demo --from $(DATA) --port $(PORT)

test: setup
	.venv/bin/python -m pytest -q $(PYTEST_ARGS)

lint:
	.venv/bin/ruff check .
	.venv/bin/mypy catalog objectstore stacworks ingest tiler processing

bench: setup
	.venv/bin/python bench/search/run.py

clean-db:
	-.venv/bin/stacworks db stop
	rm -rf .stacworks
