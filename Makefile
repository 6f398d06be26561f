# The two commands the README promises: `make demo` and `make test`. Both create .venv if it
# is missing and install the project (editable, with its test extras) before running.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.samizdat-installed

.PHONY: install demo test lint bench soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/samizdat demo

lint: $(STAMP)
	$(BIN)/ruff check protocol node tests examples
	$(BIN)/mypy protocol/samizdat_protocol node/samizdat_node
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest

# Opt-in long runs (kill -9 soak, scale): never part of `make test`.
soak: $(STAMP)
	SAMIZDAT_SOAK=1 $(BIN)/python -m pytest -m soak

bench: $(STAMP)
	$(BIN)/python -m samizdat_node.bench.core --entries 1000000

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
