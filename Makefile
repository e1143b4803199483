# The habits, named. Everything installs into .venv from uv.lock; uv itself is bootstrapped
# into .tools/ with the machine's Python, so a fresh machine needs only python3 (3.11+).
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv

.PHONY: run test test-pooler lint format worker migrate seed bench explain-1m fuzz openapi hostile-report client client-check docs-ui clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

.venv/.synced: pyproject.toml uv.lock $(UV)
	$(UV) sync --frozen --all-extras
	@touch $@

run: .venv/.synced  ## the API on the embedded PostgreSQL (or DATABASE_URL), memory adapters by default
	@test -f $(DOCS_UI)/static/scalar-api-reference.js || ! command -v npm >/dev/null || $(MAKE) --no-print-directory docs-ui
	.venv/bin/rural24 serve

# The API reference page at /schema: Scalar's bundle, pinned by its npm lock and copied into the
# package (never fetched at run time). Without npm, /schema says how to build it.
DOCS_UI := src/rural24/docs_ui

docs-ui:  ## build the pinned API reference bundle served at /schema
	npm ci --prefix $(DOCS_UI) --ignore-scripts --no-audit --no-fund --loglevel=error
	npm run --prefix $(DOCS_UI) vendor

# Two pytest-xdist workers (TEST_WORKERS): much of the suite waits on processes and servers (a dead
# worker's heartbeat lapsing, granian starting), so two share the cores well. Each worker has its own
# throwaway PostgreSQL pair and Redis. Not --dist loadfile/loadscope/loadgroup: they key tests by node
# id, and schemathesis's share one, so they silently ran 2 of 45 (tests/conftest.py now fails a run in
# which a collected test never reports). TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2

test: .venv/.synced  ## the whole suite: unit, integration (real PostgreSQL primary + replica, Redis), e2e
	.venv/bin/pytest -n $(TEST_WORKERS) --dist worksteal

lint: .venv/.synced
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

format: .venv/.synced
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

worker: .venv/.synced
	.venv/bin/rural24 worker

migrate: .venv/.synced
	.venv/bin/rural24 migrate

seed: .venv/.synced
	.venv/bin/rural24 seed --ads 100000 --seed 24

BENCH_ADS ?= 100000
BENCH_DURATION ?= 10

bench: .venv/.synced  ## authentication cost per request, then the wrk suite: the API against its ceilings in one run
	.venv/bin/python bench/auth_bench.py
	.venv/bin/python bench/wrk_bench.py --ads $(BENCH_ADS) --duration $(BENCH_DURATION)

explain-1m: .venv/.synced  ## the search-plan test (rows examined per row returned) over 1 000 000 seeded ads: ~15 min
	RURAL24_PLAN_ADS=$(or $(PLAN_ADS),1000000) .venv/bin/pytest -p no:cacheprovider -q tests/integration/test_search_plans.py

test-pooler: .venv/.synced  ## the API suite (tests/integration) with every app reaching its primary through PgBouncer in transaction mode: ~7 min on 2 cores
	command -v pgbouncer >/dev/null || (apt-get update && apt-get install -y pgbouncer)
	RURAL24_TEST_POOLER=transaction .venv/bin/pytest -n $(TEST_WORKERS) --dist worksteal tests/integration

fuzz: .venv/.synced  ## schemathesis over every operation of the OpenAPI document, long (FUZZ_EXAMPLES per operation and phase)
	RURAL24_FUZZ_EXAMPLES=$(or $(FUZZ_EXAMPLES),200) .venv/bin/pytest tests/integration/test_fuzz_openapi.py -q

openapi: .venv/.synced  ## rewrite docs/openapi.json, the committed snapshot of the served OpenAPI document (then make client)
	.venv/bin/python -m rural24.contract docs/openapi.json

hostile-report: .venv/.synced  ## runs the bad-input catalogue, the fuzzer and the fault tests, writes docs/hostile-input.md
	.venv/bin/python -m tests.hostile_report

# The typed TypeScript client: its types are generated from the committed OpenAPI snapshot and
# committed too, so a change of the API shows up as a reviewable diff of the client.
CLIENT := clients/typescript

$(CLIENT)/node_modules/.package-lock.json: $(CLIENT)/package-lock.json
	cd $(CLIENT) && npm ci --no-audit --no-fund --loglevel=error

client: $(CLIENT)/node_modules/.package-lock.json  ## regenerate clients/typescript/src/schema.d.ts from docs/openapi.json
	cd $(CLIENT) && npm run --silent generate

client-check:  ## CI: install from the lock, fail if the committed types are not what the snapshot generates, compile strictly
	cd $(CLIENT) && npm ci --no-audit --no-fund --loglevel=error
	cd $(CLIENT) && generated=$$(mktemp -d) && trap 'rm -rf "$$generated"' EXIT && \
		npx --no-install openapi-typescript ../../docs/openapi.json --output "$$generated/schema.d.ts" && \
		{ diff -u src/schema.d.ts "$$generated/schema.d.ts" || \
			{ echo "$(CLIENT)/src/schema.d.ts is not what docs/openapi.json generates: run make client" >&2; exit 1; }; }
	cd $(CLIENT) && npm run --silent check

clean:
	rm -rf .venv .tools .pytest_cache .mypy_cache .ruff_cache $(CLIENT)/node_modules
