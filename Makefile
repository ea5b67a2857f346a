# psa-sync — the two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

PSA    ?= redmine

.PHONY: setup redmine tryton demo test test-fast test-unit lint bench bench-parts soak clean proto

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,forecast,events]'
	touch $@

# A real Redmine 5.0.4 on 127.0.0.1:3000 (Debian package; needs root the first time).
redmine:
	bash scripts/redmine.sh start >/dev/null

# A real Tryton 8.2 (pip into its own venv, SQLite) with psa-sync's psa_sync_key module, on 127.0.0.1:8000.
tryton:
	bash scripts/tryton.sh start >/dev/null

# `make demo` tells the story on Redmine; `make demo PSA=tryton` on Tryton.
demo: setup $(PSA)
	$(BIN)/python scripts/$(if $(filter tryton,$(PSA)),demo_tryton,demo).py

# lint first (ruff and mypy: under a minute): a type error fails CI before the long suite starts.
# The whole suite (what CI runs, .ci/run); Hypothesis searches as much as under CI. On WORKERS
# pytest-xdist workers, a test file each at a time: the suite waits on Redmine more than it computes,
# so three workers keep two cores busy; each worker has its own Redmine and Tryton
# (tests/fixtures/workers.py: each starts its own from the pristine database prepared here).
WORKERS ?= 3
test: lint redmine tryton
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(BIN)/pytest -q -m "not slow" -n $(WORKERS) --dist loadfile

# A developer's loop (README "Tests"): no real Redmine or Tryton, no psa-sync subprocess, a smaller
# Hypothesis search.
FAST := not realpsa and not subprocess and not slow
test-fast: setup
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-dev} $(BIN)/pytest -q -m "$(FAST)" -n 2 --dist loadfile

test-unit: setup
	$(BIN)/pytest -q tests/unit

# mypy: the typed core (pipeline, runtime, load, state, connectors) annotated; pyproject [tool.mypy]
lint: setup
	$(BIN)/ruff check sync tests scripts
	$(BIN)/mypy

# One table: psa-sync beside the hand-written baseline, its runs, plan, backfill (docs/benchmarks.md).
# Needs no Redmine (a dry PSA). BENCH_ARGS=--full adds plan over 1,000,000 deals and the runs over
# 100,000; BENCH_ARGS=--redmine adds the Redmine push at write_concurrency 1-8 on SQLite and on
# PostgreSQL (root: starts both through scripts/redmine.sh, instances bench and bench-pg, ports 3024/3025).
bench: setup
	$(BIN)/python scripts/bench/bench.py $(BENCH_ARGS)

# The pieces one by one (transform, emulator, daemon latency against the local Redmine, Tryton's logins
# after one expired session).
bench-parts: setup redmine tryton
	$(BIN)/python scripts/bench/bench_transform.py
	$(BIN)/python scripts/bench/bench_structure.py
	$(BIN)/python scripts/bench/bench_emulator.py
	$(BIN)/python scripts/bench/bench_daemon.py
	$(BIN)/python scripts/bench/bench_events.py
	$(BIN)/python scripts/bench/bench_tryton_relogin.py

soak: setup redmine
	PSA_SYNC_SOAK=1 $(BIN)/pytest -q -m slow

clean:
	rm -rf $(VENV) demo .pytest_cache

# The Pub/Sub API's Python modules from sync/events/pubsub_api.proto (committed; run after editing it).
proto: setup
	$(BIN)/pip install --quiet grpcio-tools
	$(BIN)/python -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. sync/events/pubsub_api.proto

