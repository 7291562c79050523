# The two commands a new user needs: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Where `make run` serves: `make run PORT=8080 HOST=0.0.0.0` (gunicorn, WORKERS processes).
HOST    ?= 127.0.0.1
PORT    ?= 5000
WORKERS ?= 3

.PHONY: run test lint bench setup clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## Set up, migrate a SQLite database under instance/, load demo data, serve with gunicorn
## on $(HOST):$(PORT) (default 127.0.0.1:5000), with a job worker beside it (exports,
## scheduled checkpoints) that stops with the server.
run: $(STAMP)
	$(BIN)/registry db upgrade
	$(BIN)/registry keys init --if-missing
	$(BIN)/registry demo
	$(BIN)/registry ledger checkpoint
	$(BIN)/registry worker & worker=$$!; \
	trap 'kill -INT $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(BIN)/registry serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

## Set up and pass the whole suite: lint, then every test on SQLite and PostgreSQL.
test: $(STAMP)
	bash .ci/ensure-postgres
	bash .ci/ensure-chromium
	bash .ci/ensure-fonts
	bash .ci/ensure-curl
	bash .ci/ensure-haproxy
	bash .ci/ensure-oidc-provider
	$(BIN)/ruff check .
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check registry tests migrations bench

## Benchmarks: each prints its figures and the ratio against a baseline of the same run.
bench: $(STAMP)
	bash .ci/ensure-postgres
	cd bench && ../$(BIN)/python records_write.py
	cd bench && ../$(BIN)/python sqlite_sync.py
	cd bench && ../$(BIN)/python as_of_read.py
	cd bench && ../$(BIN)/python ledger_append.py
	cd bench && ../$(BIN)/python ledger_verify.py
	cd bench && ../$(BIN)/python systems_map.py
	cd bench && ../$(BIN)/python witness_roundtrip.py
	cd bench && ../$(BIN)/python replay_api.py
	cd bench && ../$(BIN)/python api_load.py
	cd bench && ../$(BIN)/python api_load.py --writer owner
	cd bench && ../$(BIN)/python update_profile.py
	cd bench && ../$(BIN)/python pre_ping.py
	cd bench && ../$(BIN)/python evidence_pack.py
	cd bench && ../$(BIN)/python worker_start.py
	cd bench && ../$(BIN)/python first_write.py
	cd bench && ../$(BIN)/python document_upload.py
	cd bench && ../$(BIN)/python document_pack.py
	cd bench && ../$(BIN)/python export_job.py
	cd bench && ../$(BIN)/python scale.py
	bash .ci/ensure-haproxy
	cd bench && ../$(BIN)/python two_servers.py
	cd bench && ../$(BIN)/python worker_memory.py
	cd bench && ../$(BIN)/python token_last_use.py
	cd bench && ../$(BIN)/python frameworks.py
	cd bench && ../$(BIN)/python reminders.py

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
