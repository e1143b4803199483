# The habits, named. Everything installs into .venv from uv.lock; uv itself is bootstrapped
# into .tools/ with the machine's Python, so a fresh machine needs only python3 (3.11+).
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv

.PHONY: run test lint format worker migrate seed bench fuzz hostile-report clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

.venv/.synced: pyproject.toml uv.lock $(UV)
	$(UV) sync --frozen --all-extras
	@touch $@

run: .venv/.synced  ## the API on the embedded PostgreSQL (or DATABASE_URL), memory adapters by default
	.venv/bin/rural24 serve

test: .venv/.synced  ## the whole suite: unit, integration (real PostgreSQL primary + replica, Redis), e2e
	.venv/bin/pytest

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

bench: .venv/.synced  ## authentication cost per request, then search throughput (full stack vs a bare route)
	.venv/bin/python bench/auth_bench.py
	.venv/bin/python bench/search_bench.py

fuzz: .venv/.synced  ## schemathesis over every operation of the OpenAPI document, long (FUZZ_EXAMPLES per operation and phase)
	RURAL24_FUZZ_EXAMPLES=$(or $(FUZZ_EXAMPLES),200) .venv/bin/pytest tests/integration/test_fuzz_openapi.py -q

hostile-report: .venv/.synced  ## runs the bad-input catalogue, the fuzzer and the fault tests, writes docs/hostile-input.md
	.venv/bin/python -m tests.hostile_report

clean:
	rm -rf .venv .tools .pytest_cache .mypy_cache .ruff_cache
