# Undersign: `make run` starts the bot (the console when nothing else is configured);
# `make test` installs everything the tests need and runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BYTECODE := $(VENV)/.bytecode
CONFIG ?=

.PHONY: install run test check lint typecheck pytest bench clean synapse systemd-analyze

install: $(STAMP) $(BYTECODE)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[slack,matrix,test]'
	touch $(STAMP)

# Our modules' byte-code, made at install as pip makes the libraries': a service that runs
# from a read-only checkout (deploy/) could not write it, and would compile every module
# from source at each start (about 60 ms on a 2-core machine).
$(BYTECODE): $(STAMP) $(wildcard bot/*.py commands/*.py adapters/*.py)
	$(BIN)/python -m compileall -q bot commands adapters
	touch $(BYTECODE)

run: $(STAMP) $(BYTECODE)
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

# systemd-analyze checks the unit in deploy/ (the distribution's systemd package).
SYSTEMD_ANALYZE := $(shell command -v systemd-analyze)
systemd-analyze:
ifeq ($(SYSTEMD_ANALYZE),)
	apt-get install -y -q --no-install-recommends systemd >/dev/null \
		|| (apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends systemd >/dev/null) \
		|| echo "systemd-analyze could not be installed: tests/test_deploy.py will say so"
endif

JS_PEOPLE := tests/js/node_modules/.installed

# People on Element's own stack (matrix-js-sdk with Rust crypto, in Node) for the Matrix
# tests: exactly the versions in tests/js/package-lock.json.
$(JS_PEOPLE): tests/js/package.json tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund
	touch $(JS_PEOPLE)

pytest: $(STAMP) $(SYNAPSE) $(JS_PEOPLE) systemd-analyze
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

PEER := bench/.venvs/reminder-bot/.installed

# The peer bot for bench/matrix_reply.py and bench/footprint.py, in its own virtual
# environment (its pins are not ours). If it cannot be installed, the benchmarks run
# without it and say so.
$(PEER):
	$(PYTHON) -m venv bench/.venvs/reminder-bot
	bench/.venvs/reminder-bot/bin/python -m pip install --quiet --upgrade pip
	bench/.venvs/reminder-bot/bin/python -m pip install --quiet matrix-reminder-bot \
		&& touch $(PEER) || echo "matrix-reminder-bot could not be installed; see bench/README.md"

bench: $(STAMP) $(BYTECODE) $(SYNAPSE) $(PEER)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .synapse-venv .pytest_cache .mypy_cache .ruff_cache tests/js/node_modules
