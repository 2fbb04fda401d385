# Two entry points, both from a fresh clone: `make demo` and `make test`.
# Every install goes through constraints.txt, which pins torch==2.13.0 (CPU build).

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# The machine's local wheel folder holds the CPU torch build; use it when present.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt $(FIND_LINKS)
# Test-only peer evaluator (ActionFormer's metrics.py, MIT), downloaded, never committed.
PEER_DIR := $(VENV)/reference
PEER_METRICS := $(PEER_DIR)/actionformer-1.5.0/actionformer/utils/metrics.py

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP_INSTALL) -e ".[dev]"
	touch $@ $(VENV)/.installed

$(PEER_METRICS): | $(VENV)/.installed-dev
	mkdir -p $(PEER_DIR)
	$(BIN)/python -m pip download --quiet --disable-pip-version-check --no-deps \
		--no-build-isolation --no-binary :all: -d $(PEER_DIR) actionformer==1.5.0
	tar -xzf $(PEER_DIR)/actionformer-1.5.0.tar.gz -C $(PEER_DIR) \
		actionformer-1.5.0/actionformer/utils/metrics.py actionformer-1.5.0/LICENSE
	touch $@

demo: $(VENV)/.installed
	$(BIN)/tadapt demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src/tadapt

test: lint $(PEER_METRICS)
	$(BIN)/pytest

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/eval_speed.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
