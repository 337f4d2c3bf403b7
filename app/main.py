"""The FastAPI application: ``create_app(settings)``.

Importing this module (or any of ``app``) never imports ``designer`` or JAX; a test checks it.
"""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager
from importlib import metadata

import anyio.to_thread
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from app.auth.endpoints import router as auth_router
from app.auth.service import PrincipalCache, UserModeCache, ensure_local_user
from app.auth import repository as auth_repository
from app.bias.endpoints import router as bias_router
from app.catalog.endpoints import router as catalog_router
from app.core.config import Settings
from app.core.db import Database, run_migrations
from app.core.deps import UnitOfWork
from app.core.errors import install_error_handlers
from app.core.hosts import HostCheckMiddleware
from app.core.specs import JobSpecChecker
from app.core.limits import BodySizeLimitMiddleware
from app.core.metrics import Metrics, MetricsMiddleware
from app.core.query import KNOWN_QUERY_PARAMETERS
from app.jobs import repository as jobs_repository
from app.jobs.endpoints import router as jobs_router
from app.jobs.replays import ReplayMiddleware
from app.jobs.supervisor import Supervisor
from app.numerics.gateway import NumericsGateway
from app.openapi import build_openapi
from app.system.endpoints import router as system_router
from app.ui.endpoints import install as install_ui

log = logging.getLogger("app")

DESCRIPTION = (
    "Design jobs over the `designer` library (induced implicit bias, arXiv 2601.06597): submit, "
    "follow over Server-Sent Events, fetch results and plots. Errors are `application/problem+json` "
    "naming the offending field."
)


def prepare_database(database: Database) -> bool:
    """Apply migrations, make sure the single-user owner exists; return whether users exist."""
    run_migrations(database)
    with database.transaction() as session:
        ensure_local_user(session)
        return auth_repository.count_real_users(session) > 0


async def users_exist(app: FastAPI) -> bool:
    """Whether users exist (cached for a second; the database only on a miss)."""
    cached = app.state.user_mode.peek()
    if cached is not None:
        return cached

    def _read() -> bool:
        with app.state.database.reading() as session:
            return app.state.user_mode.has_users(session)

    return await run_in_threadpool(_read)


def create_app(settings: Settings | None = None, *, background: bool = True) -> FastAPI:
    """Build the application. With ``background`` the lifespan starts workers and the reaper."""
    settings = settings or Settings()
    try:
        version = metadata.version("implicit-bias-designer")
    except metadata.PackageNotFoundError:
        version = "0.0.0"

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Size the thread pool to the connection pool (see app.core.db.Database).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        has_users = await run_in_threadpool(prepare_database, app.state.database)
        if not has_users:
            log.warning("single-user mode: no users configured, requests need no token; listening on "
                        "loopback only. Add a user with `designer users add NAME` to require tokens.")
        app.state.numerics.start_warm_up()
        app.state.job_specs.start_loading()
        # Everything loaded so far (modules, app, schemas) lives as long as the process: move it
        # out of the collector's generations so full collections stay short under load.
        gc.freeze()
        if background:
            app.state.supervisor = Supervisor(settings, app.state.database)
            app.state.supervisor.start()
        try:
            yield
        finally:
            if app.state.supervisor is not None:
                await run_in_threadpool(app.state.supervisor.stop)
            app.state.numerics.shutdown()
            app.state.database.dispose()

    app = FastAPI(
        title="Implicit-bias designer", version=version, description=DESCRIPTION, lifespan=lifespan,
        separate_input_output_schemas=False,
    )
    app.state.settings = settings
    app.state.database = Database(settings)
    app.state.unit_of_work = UnitOfWork(app.state.database)
    app.state.numerics = NumericsGateway(settings.bias_processes, settings.bias_timeout_seconds)
    app.state.job_specs = JobSpecChecker()
    app.state.user_mode = UserModeCache()
    app.state.principal_cache = PrincipalCache()
    app.state.supervisor = None
    app.state.metrics = Metrics()

    def _job_counts():
        with app.state.database.reading() as session:
            return jobs_repository.count_by_status(session)

    app.state.metrics.register_job_gauges(_job_counts)

    install_error_handlers(app)
    app.include_router(system_router)  # probes and metrics: scrapers may add parameters of their own
    for router in (auth_router, jobs_router, bias_router, catalog_router):
        app.include_router(router, dependencies=[KNOWN_QUERY_PARAMETERS])
    install_ui(app)  # the web pages under /ui
    # Innermost first: retried submissions are answered inside the host, metrics and size checks.
    create_route = next(r for r in jobs_router.routes if getattr(r, "name", None) == "create_design_job")
    app.add_middleware(ReplayMiddleware, app_state=app.state, route=create_route,
                       answered=app.state.metrics.replays.inc)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(HostCheckMiddleware, allowed_hosts=settings.allowed_host_names,
                       has_users=lambda: users_exist(app))

    def _openapi():
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app, app.state.numerics.schemas())
        return app.openapi_schema

    app.openapi = _openapi
    return app
