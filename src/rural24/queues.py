"""The queue dashboard: SAQ's web UI and its JSON API (from litestar-saq) at ``/api/admin/queues``,
admins only.

litestar-saq's ``SAQPlugin`` would build queues and workers of its own; this app builds its one queue
in the composition root (``rural24.services``) and runs the worker as a process apart
(``rural24.worker``). So only the plugin's controller and its static files are mounted here, behind
``requires_admin``, and fed with that same queue: the dashboard shows exactly the jobs the API
enqueues and the worker runs, on PostgreSQL (stage 1) or Redis alike.
"""

from __future__ import annotations

import warnings

from litestar import Router
from litestar.di import Provide
from litestar.static_files import create_static_files_router
from litestar_saq.config import SAQConfig, TaskQueues
from litestar_saq.controllers import build_controller

from rural24.auth import requires_admin
from rural24.contexts import ContextPlugin
from rural24.services import Services

DASHBOARD_PATH = "/api/admin/queues"

# litestar-saq's controller takes ``task_queues`` as an inferred dependency, which Litestar 2.x warns
# about on every app build (it will need ``NamedDependency`` in Litestar 3): a fix for upstream, not
# something an operator can act on, so only that exact warning is silenced.
warnings.filterwarnings("ignore", message=r".*Inferred dependency field 'task_queues'", module="litestar.*")


def queues_plugin(services: Services) -> ContextPlugin:
    """The dashboard's routes, plugged in like a context (it has no jobs of its own)."""
    saq = SAQConfig()  # only for what litestar-saq ships: its static files and its type names

    async def task_queues() -> TaskQueues:
        await services.jobs.connect()  # connect-once, shared with the enqueues
        queue = services.jobs.queue
        return TaskQueues(queues={queue.name: queue})

    dashboard = Router(
        path="/",
        guards=[requires_admin],  # the page, its scripts and every JSON route: 401 anonymous, 403 non-admin
        dependencies={"task_queues": Provide(task_queues)},
        signature_namespace=saq.signature_namespace,
        route_handlers=[
            build_controller(DASHBOARD_PATH),
            create_static_files_router(
                path=f"{DASHBOARD_PATH}/static",
                directories=[saq.static_files],
                name="queue-dashboard-static",
                include_in_schema=False,
            ),
        ],
        include_in_schema=False,
    )
    return ContextPlugin(name="queues", route_handlers=[dashboard])
