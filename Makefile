# Two commands on a fresh machine: `make demo` and `make test`. Both create the environment first if needed.
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.nir-studio-installed
PYTEST_ARGS ?=

.PHONY: setup demo test test-fast lint bench clean nerf-assets nerfstudio-env

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
	$(BIN)/ruff check nir_core compress app tests benchmarks integrations

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_foundation.py
	$(BIN)/python benchmarks/bench_extract.py

# The toy scene and the radiance fields the Compare NeRFs tab offers (assets/nerfs/toy; about 15 minutes here).
nerf-assets: $(STAMP)
	BIN=$(BIN) bash scripts/make_nerf_assets.sh

# nerfstudio with the nir-kmeans-nerf method, in a venv of its own (.venv-nerfstudio, about 8 GB).
nerfstudio-env: .venv-nerfstudio/.nir-nerfstudio-installed

.venv-nerfstudio/.nir-nerfstudio-installed: scripts/nerfstudio_env.sh integrations/nerfstudio/pyproject.toml
	bash scripts/nerfstudio_env.sh

clean:
	rm -rf $(VENV) out .pytest_cache
