# The few commands a newcomer needs. `make demo` and `make test` are the README's two commands.
SHELL := /bin/bash
DATA ?= ../shared/data
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: setup demo test test-py test-web lint bench clean-db

setup:
	@deploy/scripts/setup.sh

demo: setup
	.venv/bin/stacworks demo --from $(DATA) --port $(PORT)

# Every check there is, cheapest first; the first failure stops the run with a non-zero status.
test: setup lint test-web test-py

test-py:
	.venv/bin/python -m pytest -q $(PYTEST_ARGS)

test-web:
	cd web_map && npm test --silent

# Static checks of every Python package (and of infrastructure code, once there is some to lint).
lint:
	.venv/bin/ruff check .
	.venv/bin/mypy catalog objectstore stacworks ingest tiler processing

bench: setup
	.venv/bin/python bench/search/run.py

clean-db:
	-.venv/bin/stacworks db stop
	rm -rf .stacworks
