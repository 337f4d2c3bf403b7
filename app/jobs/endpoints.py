"""``/v1/design-jobs``: thin routes over :mod:`app.jobs.service`."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated

from fastapi import APIRouter, Body, Header, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.core.deps import DatabaseDep, PrincipalDep, SettingsDep, UnitOfWorkDep
from app.core.errors import InvalidInput, problem_responses
from app.core.responses import model_response
from app.core.specs import JobSpecBody
from app.jobs import repository, service, storage
from app.jobs.schemas import TERMINAL_STATUSES, JobPublic, JobResult, JobsPage, JobStatus

router = APIRouter(prefix="/v1/design-jobs", tags=["design-jobs"])

#: Event ids are a 32-bit integer column (PostgreSQL's ``integer``): a larger Last-Event-ID
#: could not be compared in the database and is no event's id.
MAX_EVENT_ID = 2**31 - 1

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=255,
           description="Retry-safe submission: the same key and body return the first job; another body answers 409."),
]


class SpecInvalid(InvalidInput):
    """A job spec the library refused: the first offending field, and all of them in ``field_errors``."""

    def __init__(self, checked: dict):
        err = checked["error"]
        super().__init__(f"{err['field']}: {err['message']}", field=err["field"])
        self.field_errors: list[dict] = checked.get("errors") or [err]


async def submit_job(request: Request, principal, spec: dict, key: str | None) -> tuple[JobPublic, bool]:
    """Check a spec (in this process) and enqueue it: ``(job, created)`` (also used by the web pages)."""
    checked = await request.app.state.job_specs.check(spec)
    if "error" in checked:
        raise SpecInvalid(checked)
    database, settings = request.app.state.database, request.app.state.settings

    def _create():
        if key is not None:  # a retry: answered from a read, without taking the write lock
            with database.reading() as session:
                replayed = service.find_replay(session, principal, checked["spec"], key)
            if replayed is not None:
                return replayed, False
        with database.transaction() as session:
            job, owner, created = service.create_job(session, settings, principal, checked["spec"], key)
            return service.to_public(job, owner), created

    return await run_in_threadpool(_create)


@router.post(
    "", operation_id="create_design_job", status_code=201, response_model=JobPublic,
    responses={200: {"model": JobPublic, "description": "Replay of an earlier submission with the same Idempotency-Key"},
               **problem_responses(400, 401, 409, 413, 422, 503, 504)},
)
async def create_design_job(
    request: Request, spec: Annotated[JobSpecBody, Body()],
    principal: PrincipalDep, idempotency_key: IdempotencyKey = None,
) -> JobPublic:
    """Submit a design job (a design, optionally validated, or a figure reproduction)."""
    key = service.check_idempotency_key(idempotency_key)
    public, created = await submit_job(request, principal, spec, key)
    headers = {"Location": f"/v1/design-jobs/{public.id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return model_response(public, 201 if created else 200, headers)


@router.get("", operation_id="list_design_jobs", response_model=JobsPage, responses=problem_responses(401, 422))
async def list_design_jobs(
    uow: UnitOfWorkDep, principal: PrincipalDep,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
    page_size: Annotated[int, Query(ge=1, le=100, description="Jobs per page (1 to 100).")] = 20,
    page_token: Annotated[str | None, Query(max_length=512, description="`next_page_token` of the previous page.")] = None,
) -> JobsPage:
    """Jobs of the caller (all jobs for an admin), newest first, one page at a time."""
    page = await uow.read(service.list_jobs, principal, status.value if status else None, page_size, page_token)
    return model_response(page)


@router.get("/{job_id}", operation_id="get_design_job", response_model=JobPublic, responses=problem_responses(401, 404))
async def get_design_job(job_id: str, uow: UnitOfWorkDep, principal: PrincipalDep) -> JobPublic:
    """Status, progress, attempt, timestamps and error of one job."""
    return model_response(await uow.read(service.get_public, principal, job_id))


@router.post(
    "/{job_id}/cancel", operation_id="cancel_design_job", status_code=202, response_model=JobPublic,
    responses=problem_responses(401, 404),
)
async def cancel_design_job(job_id: str, uow: UnitOfWorkDep, settings: SettingsDep, principal: PrincipalDep) -> JobPublic:
    """Ask a job to stop (idempotent). A finished job is returned as it is."""
    public = await uow.write(service.cancel_public, principal, job_id)
    if public.status == "cancelled":  # a queued job may hold the checkpoint of a killed attempt
        await run_in_threadpool(storage.remove_attempts, settings, job_id)
    return model_response(public, 202)


@router.delete(
    "/{job_id}", operation_id="delete_design_job", status_code=204, response_class=Response,
    responses=problem_responses(401, 404, 409),
)
async def delete_design_job(job_id: str, uow: UnitOfWorkDep, settings: SettingsDep, principal: PrincipalDep) -> Response:
    """Delete a finished job, its event log and its files."""
    await uow.write(service.delete_finished, settings, principal, job_id)
    return Response(status_code=204)


@router.get(
    "/{job_id}/result", operation_id="get_design_job_result", response_model=JobResult,
    responses=problem_responses(401, 404, 409),
)
async def get_design_job_result(job_id: str, uow: UnitOfWorkDep, settings: SettingsDep, principal: PrincipalDep) -> JobResult:
    """The result of a succeeded job (409 until then)."""
    return model_response(await uow.read(service.result_of, settings, principal, job_id))


@router.get(
    "/{job_id}/artifacts/{name}", operation_id="get_design_job_artifact", response_class=FileResponse,
    # Declared as binary only: with an application/json entry, generated clients parse the PNG as JSON.
    responses={200: {"description": "The file (PNG plot; JSON data files are served as application/json)",
                     "content": {"image/png": {"schema": {"type": "string", "format": "binary"}},
                                 "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
               **problem_responses(401, 404)},
)
async def get_design_job_artifact(job_id: str, name: str, uow: UnitOfWorkDep, settings: SettingsDep, principal: PrincipalDep) -> FileResponse:
    """One artifact file of a job."""
    path, media_type = await uow.read(service.artifact_path, settings, principal, job_id, name)
    return FileResponse(path, media_type=media_type, filename=name)


@router.get(
    "/{job_id}/events", operation_id="stream_design_job_events", response_class=StreamingResponse,
    responses={200: {"description": "Server-Sent Events: `id:` is the event's seq, `event:` its type, "
                                    "`data:` a JobEventPublic JSON. The stream ends after the final status.",
                     "content": {"text/event-stream": {
                         "schema": {"type": "string", "description": "text/event-stream: events separated by a "
                                    "blank line, each with `id:`, `event:` and one `data:` line"},
                         # The schema of each event's data line (OpenAPI 3.1 has no item schema for streams).
                         "x-sse-data": {"$ref": "#/components/schemas/JobEventPublic"}}}},
               **problem_responses(401, 404, 422)},
)
async def stream_design_job_events(
    job_id: str, request: Request, uow: UnitOfWorkDep, database: DatabaseDep, settings: SettingsDep,
    principal: PrincipalDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> StreamingResponse:
    """Follow a job's progress; reconnect with ``Last-Event-ID`` to resume where you left off."""
    await uow.read(service.get_visible, principal, job_id)
    try:
        after = int(last_event_id) if last_event_id not in (None, "") else 0
        if not 0 <= after <= MAX_EVENT_ID:
            raise ValueError
    except ValueError:
        raise InvalidInput(f"Last-Event-ID must be an integer from 0 to {MAX_EVENT_ID} (the id of an event)",
                           field="Last-Event-ID") from None
    return StreamingResponse(
        _event_stream(request, database, settings, job_id, after), media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _event_stream(request: Request, database, settings, job_id: str, after: int):
    def _poll(last: int):
        with database.reading() as s:
            events = repository.events_after(s, job_id, last)
            status = repository.status_of(s, job_id) if not events else None
            return [(e.seq, e.type, e.data, e.created_at) for e in events], status

    last_sent = time.monotonic()
    yield "retry: 1000\n\n"
    while True:
        events, status = await run_in_threadpool(_poll, after)
        finished = False
        for seq, type_, data, created_at in events:
            payload = {"seq": seq, "type": type_, "data": data, "created_at": created_at.isoformat()}
            yield f"id: {seq}\nevent: {type_}\ndata: {json.dumps(payload)}\n\n"
            after = seq
            last_sent = time.monotonic()
            if type_ == "status" and data.get("status") in TERMINAL_STATUSES:
                finished = True
        if finished or (not events and (status is None or status in TERMINAL_STATUSES)):
            return
        if await request.is_disconnected():
            return
        if time.monotonic() - last_sent > settings.sse_keepalive_seconds:
            yield ": keep-alive\n\n"
            last_sent = time.monotonic()
        await asyncio.sleep(settings.sse_poll_seconds)
