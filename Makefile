# Two commands on a fresh machine: `make demo` and `make test`. Both create the environment first if needed.
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.nir-studio-installed
PYTEST_ARGS ?=

.PHONY: setup demo test test-fast lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh

demo: $(STAMP)
	$(BIN)/nir-studio demo --out out/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The tests not marked slow (see the pytest markers in pyproject.toml): under a minute on 2 cores.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check nir_core compress app tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_foundation.py
	$(BIN)/python benchmarks/bench_extract.py

clean:
	rm -rf $(VENV) out .pytest_cache
