"""A plugin per bounded context: what a context brings to the app and to the worker.

Each context (``rural24.accounts``, ``.catalog``, ``.ads``, ``.messaging``) is a
:class:`ContextPlugin`: its controllers, its dependencies, and the jobs its worker runs.
``rural24.app.create_app`` composes the infrastructure plugin and ``rural24.app.context_plugins``;
``rural24.worker`` collects the jobs of the same plugins. Adding a context is adding one plugin
there.

A job function takes ``(ctx: JobContext, **kwargs)``: ``ctx["services"]`` is the worker's
``rural24.services.Services`` (the same composition root as the API's).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.plugins import InitPluginProtocol
from litestar.types import ControllerRouterHandler
from saq.types import Context as SaqContext

if TYPE_CHECKING:
    from rural24.services import Services


class JobContext(SaqContext, total=False):
    """SAQ's job context plus the worker's services."""

    services: Services


JobFunction = Callable[..., Awaitable[Any]]


def provide(value: object) -> Provide:
    """A dependency that is always ``value`` (built once, by a context plugin).

    A context hands its routes one such object (its "ports": the read helper, the limits … it
    uses), not one dependency per piece: Litestar resolves a route's sibling dependencies
    concurrently, in an anyio task group per request (~25 µs each, measured on the cached search)."""

    def dependency() -> object:
        return value

    return Provide(dependency, sync_to_thread=False)


@dataclass(frozen=True)
class Scheduled:
    """A job on a cron schedule (UTC)."""

    function: JobFunction
    cron: str
    timeout: int = 300
    retries: int | None = None
    """``None``: the queue's default (``infrastructure.jobs.JOB_DEFAULTS``)."""


@dataclass(eq=False)  # hashable by identity: Litestar keeps its plugins in a set
class ContextPlugin(InitPluginProtocol):
    """One context: registers its route handlers and dependencies; declares its jobs."""

    name: str
    route_handlers: Sequence[ControllerRouterHandler] = ()
    dependencies: dict[str, Provide] = field(default_factory=dict)
    jobs: Sequence[JobFunction] = ()
    schedules: Sequence[Scheduled] = ()

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend(self.route_handlers)
        app_config.dependencies.update(self.dependencies)
        return app_config
