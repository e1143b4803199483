"""``rural24``: the one console script (serve, migrate, seed, database …)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import click
from advanced_alchemy.cli import add_migration_commands, get_alchemy_group

from domain.shared.models import EMAIL_STATUSES
from infrastructure.settings import Settings, SettingsError, get_settings
from rural24 import __version__


def _settings(logs: Literal["stdout", "stderr"] = "stderr") -> Settings:
    """The validated settings; a bad one ends the command in one line naming the variable (exit 2).

    Logging is configured from them (``rural24.logs``: ``LOG_LEVEL``, JSON lines, readable text in
    development) on ``logs``: stdout for the long-running ``serve`` and ``worker``, stderr for the
    operator commands, whose stdout is their answer."""
    context = click.get_current_context(silent=True)
    try:
        settings = get_settings()
    except SettingsError as exc:
        command = context.command_path if context is not None else "rural24"
        click.echo(f"{command}: configuration error: {exc}", err=True)
        sys.exit(2)
    from rural24.logs import configure_logging

    debug = context is not None and bool(context.find_root().params.get("debug"))
    level = settings.app.log_level
    if logs == "stderr" and not debug and logging.getLevelName(level.upper()) < logging.WARNING:
        # an operator command answers on stdout; its stderr stays empty unless something goes
        # wrong (alembic's "Context impl PostgresqlImpl." and the like need --debug)
        level = "WARNING"
    configure_logging(level, pretty=_pretty_logs(settings), stream=logs)
    if debug:
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.NOTSET)  # its plugins, announced
    return settings


def _pretty_logs(settings: Settings) -> bool:
    """Readable text instead of JSON lines: in development only."""
    return settings.app.env == "development"


def _primary_url(settings: Settings) -> str:
    from rural24.services import primary_url

    return primary_url(settings)


def _direct_url(settings: Settings) -> str:
    """The primary without a pooler (``DATABASE_DIRECT_URL``) when there is one: migrations and
    seeding hold session state (locks, prepared statements) a transaction pooler would break."""
    return settings.db.direct_url or _primary_url(settings)


class _OneLineErrors(click.Group):
    """A command that fails ends in one line on stderr and exit status 1, never a traceback
    (``rural24 --debug <command>`` shows it). A usage error (a bad option value, an unknown
    command) is one line too, with Click's exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            command = (exc.ctx or ctx).command_path
            click.echo(f"{command}: {exc.format_message()} (see {command} --help)", err=True)
            ctx.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            command = ctx.invoked_subcommand or ""
            click.echo(f"rural24 {command}: {_one_line(exc)}", err=True)
            ctx.exit(1)


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rural24")
@click.option("--debug", is_flag=True, help="Show the traceback of a failing command.")
def main(debug: bool) -> None:
    """Rural24: the API of a classifieds marketplace for rural Argentina."""
    # Logging is configured with the settings, by each command (_settings).


@main.command()
@click.option("--host", default=None, help="Address to bind (HOST; 127.0.0.1, or 0.0.0.0 in production).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (PORT, default 8000).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes (WEB_CONCURRENCY, 1).")
@click.option("--reload", is_flag=True, help="Restart the workers when a source file changes (not in production).")
@click.option(
    "--reload-dir",
    "reload_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Also watch this folder (repeatable; implies --reload).",
)
def serve(host: str | None, port: int | None, workers: int | None, reload: bool, reload_dirs: tuple[Path, ...]) -> None:
    """Run the API under granian. In development, with no DATABASE_URL, first start the embedded
    PostgreSQL (data in .data/postgres), migrate it and load the reference data."""
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    from rural24.logs import logging_dictconfig

    settings = _settings(logs="stdout")
    reload = reload or bool(reload_dirs)
    if reload and settings.app.is_production:
        click.echo("rural24 serve: --reload is for development: refused when APP_ENV=production", err=True)
        sys.exit(2)
    from infrastructure.metrics_dir import prepare_multiprocess_dir, remove_multiprocess_dir

    workers = workers or settings.server.workers
    if workers > 1 and settings.app.is_production and not settings.redis.enabled:
        click.echo(
            "rural24 serve: --workers above 1 needs REDIS_ENABLED=true when APP_ENV=production "
            "(memory adapters are per process)",
            err=True,
        )
        sys.exit(2)
    # Several workers add up their metrics in files of a private folder: it must be named before
    # anything imports prometheus_client, since granian forks the workers from this process.
    metrics_dir = prepare_multiprocess_dir(workers)
    url = _primary_url(settings)
    # Worker processes inherit the resolved URL: they join the running embedded server
    # instead of each starting (and stopping) their own.
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    server = Granian(
        "rural24.app:create_app",
        factory=True,
        address=host or settings.server.host,
        port=port or settings.server.port,
        workers=workers,
        interface=Interfaces.ASGI,
        # granian's processes log through the same configuration; its access log stays off: the
        # app writes one line a request with the route template and the request id (AccessLog)
        log_level=LogLevels(settings.app.log_level.lower()),
        log_dictconfig=logging_dictconfig(settings.app.log_level, pretty=_pretty_logs(settings), stream="stdout"),
        log_access=False,
        reload=reload,
        reload_paths=[*_source_folders(), *reload_dirs] if reload else None,
        reload_ignore_worker_failure=reload,  # a syntax error waits for the next save instead of stopping
        # SIGTERM: a worker still starting (waiting on a database, say) is killed after 25 s rather
        # than holding the shutdown forever; platforms send SIGKILL at 30 s (Render, Kubernetes)
        workers_kill_timeout=25,
    )
    try:
        server.serve()
    finally:
        remove_multiprocess_dir(metrics_dir)


def _source_folders() -> list[Path]:
    """What ``serve --reload`` watches: the packages of this project (not the current folder,
    which may hold the embedded database's data and the uploaded media)."""
    import demo
    import domain
    import infrastructure
    import rural24

    return [Path(module.__file__).parent for module in (rural24, domain, infrastructure, demo) if module.__file__]


@main.command()
@click.option("--concurrency", type=click.IntRange(min=1), default=10, show_default=True, help="Jobs at once.")
def worker(concurrency: int) -> None:
    """Run the SAQ worker: scheduled ad expiry and the background jobs. Its queue lives on
    Redis when REDIS_ENABLED=true, else on the primary PostgreSQL (QUEUE_URL overrides)."""
    from rural24.worker import run_worker

    asyncio.run(run_worker(_settings(logs="stdout"), concurrency=concurrency))


@main.command()
def migrate() -> None:
    """Apply the migrations and the reference data (provinces, categories). Safe to run twice."""
    from infrastructure.database.migrations import migrate as run_migrations

    settings = _settings()
    url = settings.db.url
    if url is None:
        _primary_url(settings)  # the embedded server migrates itself as it starts
        click.echo("embedded PostgreSQL migrated")
        return
    loaded = run_migrations(_direct_url(settings))
    click.echo(f"migrated: {loaded.provinces} provinces, {loaded.categories} categories")


@main.command()
@click.option("--ads", "ads", type=click.IntRange(min=0), default=1000, show_default=True, help="Ads to create.")
@click.option("--seed", "seed", type=int, default=24, show_default=True, help="Random seed: same seed, same data.")
@click.option("--users", type=click.IntRange(min=1), default=None, help="Demo sellers (default: ads/50, at least 10).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def seed(ads: int, seed: int, users: int | None, no_progress: bool) -> None:
    """Create demo sellers and ads with realistic Spanish titles (deterministic for a seed)."""
    from demo.seed import seed_demo_data

    settings = _settings()
    url = _direct_url(settings)  # many statements, one session: never through a transaction pooler
    report = asyncio.run(seed_demo_data(url, ads=ads, seed=seed, users=users, progress=not no_progress))
    click.echo(f"seeded {report.users_created} users and {report.ads_created} ads in {report.seconds:.1f} s")


@main.command("promote-admin")
@click.argument("email")
def promote_admin(email: str) -> None:
    """Give a registered user the admin role (their current sessions end: log in again)."""
    from rural24.admin import promote

    settings = _settings()
    try:
        user_id = asyncio.run(promote(settings, email))
    except LookupError as exc:
        click.echo(f"rural24 promote-admin: {exc}", err=True)
        sys.exit(1)
    click.echo(f"{email} is now an admin (user {user_id})")


@main.command()
@click.option("--status", type=click.Choice(EMAIL_STATUSES), default="failed", show_default=True)
@click.option("--limit", type=click.IntRange(min=1, max=1000), default=50, show_default=True)
def emails(status: str, limit: int) -> None:
    """List emails by delivery state: failed ones (after 3 attempts) are never silent."""
    from rural24.admin import list_emails

    settings = _settings()
    deliveries = asyncio.run(list_emails(settings, status, limit))
    for d in deliveries:
        click.echo(
            f"{d.created_at:%Y-%m-%d %H:%M} {d.status:<7} {d.attempts}x {d.kind:<10} {d.to:<32} {d.last_error or ''}"
        )
    click.echo(f"{len(deliveries)} {status} email(s)")


@main.command("redispatch-jobs")
@click.option(
    "--since",
    required=True,
    help="How far back: the jobs dispatched within this window are queued again (e.g. 90m, 6h, 2d; at most 7d).",
)
def redispatch_jobs(since: str) -> None:
    """Queue again the jobs dispatched recently: after the queue lost them (Redis restarted empty).
    Jobs are idempotent; a job that already ran runs again to no effect."""
    from infrastructure.settings import parse_duration
    from rural24.admin import redispatch_jobs as redispatch

    try:
        seconds = parse_duration(since)
    except ValueError:
        raise click.BadParameter("expected a duration such as 90m, 6h or 2d", param_hint="--since") from None
    if seconds > 7 * 86400:
        raise click.BadParameter("at most 7d (dispatched jobs are kept 7 days)", param_hint="--since")
    settings = _settings()
    count = asyncio.run(redispatch(settings, timedelta(seconds=seconds)))
    click.echo(f"{count} job(s) back in the outbox: the worker's relay queues them again")


@main.command()
@click.option("--url", default=None, help="A running instance (default http://127.0.0.1:PORT).")
@click.option("--seconds", type=click.FloatRange(min=1, max=300), default=10, show_default=True)
def doctor(url: str | None, seconds: float) -> None:
    """The stage advisor: live figures against the original design's thresholds, and what to switch on next."""
    from rural24.doctor import InstanceUnreachable, examine

    settings = _settings()
    try:
        stage, seen, advice = examine(url or f"http://127.0.0.1:{settings.server.port}", settings, seconds)
    except InstanceUnreachable as exc:
        click.echo(f"rural24 doctor: {exc}", err=True)
        sys.exit(1)

    def show(value: float | None, unit: str = "", digits: int = 1) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}{unit}"

    click.echo(
        f"stage {stage} (Redis {'on' if settings.redis.enabled else 'off'}, "
        f"replicas {len(settings.db.read_urls)}, {settings.server.workers} worker(s))"
    )
    click.echo(f"  requests/s        {show(seen.rps)}")
    click.echo(f"  p95 latency       {show(seen.p95_ms, ' ms', 0)}")
    click.echo(
        f"  cache hit rate    {show(None if seen.cache_hit_rate is None else seen.cache_hit_rate * 100, ' %', 0)}"
    )
    click.echo(f"  429s/s            {show(seen.rate_limited_per_s, '', 2)}")
    click.echo(f"  DB pool busy      {show(None if seen.pool_busy is None else seen.pool_busy * 100, ' %', 0)}")
    click.echo(f"  replica lag       {show(seen.replica_lag_s, ' s', 2)}")
    click.echo(f"  queue depth       {show(seen.queue_depth, '', 0)}")
    for line in advice or ["nothing to switch on: this stage fits the traffic"]:
        click.echo(f"→ {line}")


# advanced-alchemy's migration commands (upgrade, downgrade, revision, history …) under
# `rural24 database`, pointed at our config by default.
_database = get_alchemy_group()
_database.name = "database"
add_migration_commands(_database)
main.add_command(_database)
main.context_settings["default_map"] = {"database": {"config": "rural24.cli.alchemy_config"}}


def __getattr__(name: str) -> Any:
    """``alchemy_config`` is built on first access (it may start the embedded PostgreSQL)."""
    if name == "alchemy_config":
        from infrastructure.database.primary import migration_config

        return migration_config(_direct_url(_settings()))
    raise AttributeError(name)
