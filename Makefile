# Two commands for people: `make lab` opens the course, `make test` runs the tests.
# Both set everything up first (a virtualenv in .venv, Kafka's jars in the user cache).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: setup lab test test-fast bench lint format clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

setup: $(INSTALLED)
	$(BIN)/kafkalab install

lab: setup
	PATH="$$($(BIN)/kafkalab bin-dir):$(abspath $(BIN)):$$PATH" $(BIN)/jupyter lab course/

test: setup
	$(BIN)/pytest

test-fast: setup
	$(BIN)/pytest -m "not slow"

bench: setup
	$(BIN)/python benchmarks/cluster_start.py

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
