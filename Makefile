# Undersign: `make run` starts the bot (the console when nothing else is configured);
# `make test` installs everything the tests need and runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?=

.PHONY: run test check lint typecheck pytest bench clean synapse

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[slack,matrix,test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/undersign run $(if $(CONFIG),--config $(CONFIG))

lint: $(STAMP)
	$(BIN)/ruff check bot commands adapters tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

SYNAPSE := .synapse-venv/.installed

# Synapse in its own virtual environment (its pins are not ours), for the Matrix tests.
$(SYNAPSE):
	sh scripts/synapse.sh
	touch $(SYNAPSE)

pytest: $(STAMP) $(SYNAPSE)
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .synapse-venv .pytest_cache .mypy_cache .ruff_cache
