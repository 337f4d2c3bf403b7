"""``/healthz``, ``/readyz``, ``/metrics``, ``/v1/version``."""

from __future__ import annotations

import platform
from importlib import metadata

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from app.system.schemas import Health, Readiness, Version

router = APIRouter(tags=["system"])
DISTRIBUTION = "implicit-bias-designer"


@router.get("/healthz", operation_id="get_health", response_model=Health)
def get_health() -> Health:
    """Liveness: the process answers."""
    return Health(status="ok")


@router.get("/readyz", operation_id="get_readiness", response_model=Readiness,
            responses={503: {"model": Readiness, "description": "Not ready (see which check failed)"}})
async def get_readiness(request: Request) -> Response:
    """Readiness: database reachable, workers alive, numerical library loaded."""
    state = request.app.state
    try:
        await run_in_threadpool(state.database.ping)
        db_ok = True
    except Exception:
        db_ok = False
    alive = state.supervisor.alive_workers() if state.supervisor else 0
    expected = state.settings.workers
    numerics = state.numerics.warm.is_set() and state.job_specs.ready
    ready = db_ok and alive >= expected and numerics
    body = Readiness(status="ready" if ready else "not_ready", database=db_ok, workers_alive=alive,
                     workers_expected=expected, numerics_ready=numerics)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", operation_id="get_metrics",
            responses={200: {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}},
            response_class=Response)
def get_metrics(request: Request) -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/version", operation_id="get_version", response_model=Version)
def get_version(request: Request) -> Version:
    """Versions of the service, its API and the numerical library."""
    try:
        version = metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        version = "unknown"
    return Version(service=version, api="v1", library=version, python=platform.python_version(),
                   database="sqlite" if request.app.state.database.is_sqlite else "postgresql")
