# Tessera: `make run` starts it (with the demo on a new database), `make test` runs the whole
# suite. Both set up from scratch: a virtual environment with pinned Python packages, the
# browser libraries from npm, and the database schema.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
UI_STAMP := builder-ui/node_modules/.installed
# Browser tests drive Debian's Chromium (never a downloaded browser).
CHROMIUM := /usr/bin/chromium
# Tests run on every core (pytest-xdist); TEST_WORKERS=0 runs them in this one process.
TEST_WORKERS ?= auto

export TESSERA_ADMIN_EMAIL ?= admin@example.com
export TESSERA_ADMIN_PASSWORD ?= admin-password

.PHONY: run test setup lint bench clean

# A database with no template installed starts with the demo (the CRM and service desk with
# sample data and demo people; TESSERA_DEMO=0 starts it empty); one the demo cannot be
# installed on is served all the same, after the demo's problems.
run: setup
	$(BIN)/tessera demo --if-empty || echo "make run: the demo was not installed (see above); serving without it"
	$(BIN)/tessera serve

test: setup $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

lint: setup
	$(BIN)/ruff check .

setup: $(STAMP) $(UI_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml constraints.txt examples/plugins/tessera-example/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	# The example plugin (docs/plugins.md's tutorial): its tests install it into platforms.
	$(BIN)/python -m pip install --quiet -e examples/plugins/tessera-example
	rm -f $(VENV)/.installed-*
	touch $@

$(UI_STAMP): builder-ui/package.json builder-ui/package-lock.json
	cd builder-ui && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CHROMIUM):
	@echo "Installing Debian's Chromium for the browser tests"
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -q --no-install-recommends chromium \
	  || ($(if $(filter 0,$(shell id -u)),,sudo) apt-get update -q \
	      && $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -q --no-install-recommends chromium)

clean:
	rm -rf $(VENV) builder-ui/node_modules tessera.db tessera.db-wal tessera.db-shm
