# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-fast lint bench clean

install: $(STAMP)

# torch first, pinned to the CPU build the machine provides, so that
# sentence-transformers does not pull several GB of CUDA packages.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: install
	$(BIN)/stratum serve --demo --host $(HOST) --port $(PORT)

test: install lint
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check src workers tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	@$(BIN)/python -m benchmarks  # stdout is JSON only; progress on stderr

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
