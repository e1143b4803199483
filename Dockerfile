# Rural24 API: one image for the web service, the SAQ worker and the release step.
#
#   web      rural24 serve      (the default CMD; granian, honours HOST, PORT, WEB_CONCURRENCY)
#   worker   rural24 worker     (Render: dockerCommand of the worker service)
#   release  rural24 migrate    (Render: preDeployCommand of the web service)
#
# Migrations are a release step, never part of start-up: `rural24 migrate` applies the Alembic
# migrations and the reference data, is idempotent, and runs once per deploy before the new
# instances take traffic (Render's preDeployCommand; elsewhere:
# `docker run --rm --env-file prod.env IMAGE rural24 migrate`, with the service's variables:
# production settings are checked whole, whatever the command).
#
# The `embedded` extra (pgserver, the development PostgreSQL) is deliberately left out: production
# always has DATABASE_URL.

ARG PYTHON_IMAGE=python:3.11-slim
ARG NODE_IMAGE=node:22-slim

# --------------------------------------------------------------------------------------------
# docs-ui: the API reference bundle (Scalar), pinned by src/rural24/docs_ui/package-lock.json,
# copied into the package so the app serves it at /schema/assets; nothing is fetched at run time
# --------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS docs-ui
WORKDIR /docs-ui
COPY src/rural24/docs_ui/package.json src/rural24/docs_ui/package-lock.json src/rural24/docs_ui/vendor.mjs ./
RUN npm ci --ignore-scripts --no-audit --no-fund && npm run vendor

# --------------------------------------------------------------------------------------------
# builder: resolve nothing, install exactly what uv.lock says into /app/.venv
# --------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

# Pinned uv, installed from PyPI like every other dependency.
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"

ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3.11 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1

WORKDIR /src

# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-editable --no-install-project

# Then the project itself, installed as a regular (non-editable) wheel: the venv is self-contained
# and the migrations ship inside it (the `migrations` package is part of the wheel).
COPY src/ ./src/
COPY domain/ ./domain/
COPY infrastructure/ ./infrastructure/
COPY migrations/ ./migrations/
COPY demo/ ./demo/
COPY --from=docs-ui /docs-ui/static/ ./src/rural24/docs_ui/static/
RUN uv sync --frozen --no-dev --no-editable

# --------------------------------------------------------------------------------------------
# runtime: the venv, the migrations, a non-root user
# --------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# libpq5: psycopg (SAQ's PostgreSQL queue, used when Redis is disabled) is the pure-Python build
# and loads libpq at run time. asyncpg needs nothing.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 rural24 \
    && useradd --system --uid 10001 --gid rural24 --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin rural24

WORKDIR /app

COPY --from=builder /app/.venv /app/.venv
# The code runs from the venv; this copy of the migrations is for operators (alembic history,
# reading a revision) and matches what the installed `migrations` package holds. There is no
# alembic.ini: the Alembic configuration lives in infrastructure/database/primary.py.
COPY migrations/ /app/migrations/

# The one folder the app may write to: production wants an s3:// MEDIA_STORAGE_URL and accepts the
# default file://./media only with ALLOW_LOCAL_MEDIA=true (a single container with a volume here).
RUN mkdir -p /app/media && chown rural24:rural24 /app/media

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_ENV=production

USER rural24:rural24

EXPOSE 8000

# Probes the server only: when the container runs `rural24 worker` (or `migrate`) there is no HTTP
# listener, so the check passes as long as the process is alive. Render ignores HEALTHCHECK and
# uses the service's healthCheckPath; this is for docker run / compose / swarm.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import sys, urllib.request; cmd = open('/proc/1/cmdline', 'rb').read(); sys.exit(0) if b'serve' not in cmd else urllib.request.urlopen('http://127.0.0.1:${PORT:-8000}/api/health', timeout=4)"

CMD ["rural24", "serve"]
