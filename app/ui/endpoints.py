"""``/ui``: web pages over the same services as the API (thin routes; logic in :mod:`app.ui.pages`).

Every page reads through :mod:`app.jobs.service` with the caller a session cookie names
(:mod:`app.ui.session`), so a user sees exactly what the API would show them. Forms are POSTed
with the session's CSRF token; pages carry a Content-Security-Policy that allows only the
package's own script and style sheet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi.responses import (
    FileResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles

from app.auth import repository as auth_repository
from app.auth.service import hash_token
from app.core.errors import AppError, InvalidInput
from app.jobs import service
from app.jobs.endpoints import MAX_EVENT_ID, SpecInvalid, _event_stream, submit_job
from app.jobs.exceptions import JobNotFound
from app.jobs.schemas import JobStatus
from app.ui import pages
from app.ui.session import (
    CsrfRefused,
    SignInRequired,
    check_csrf,
    clear_cookie,
    current,
    new_session,
    principal_of,
    set_cookie,
)

STATIC_DIR = Path(__file__).parent / "static"

router = APIRouter(prefix="/ui", include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only paths of these pages: never another site (no open redirect)."""
    if target and target.startswith("/ui") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/jobs"


async def _form(request: Request) -> dict[str, list[str]]:
    from app.ui.forms import parse_urlencoded

    return parse_urlencoded(await request.body())


async def _checked_form(request: Request):
    """The submitted form, after its CSRF token is checked against the session."""
    form = await _form(request)
    sess = current(request)
    check_csrf(sess, (form.get("csrf") or [None])[0])
    return sess, form


async def _read(request: Request, fn=None, *args):
    """(session, principal, fn(db, principal, *args)) in one trip to the thread pool."""
    sess = current(request)
    user_mode = request.app.state.user_mode

    def run(db):
        principal = principal_of(db, sess, user_mode)
        return principal, (fn(db, principal, *args) if fn is not None else None)

    principal, value = await request.app.state.unit_of_work.read(run)
    return sess, principal, value


async def _write(request: Request, fn, *args):
    sess = current(request)
    user_mode = request.app.state.user_mode

    def run(db):
        return fn(db, principal_of(db, sess, user_mode), *args)

    return await request.app.state.unit_of_work.write(run)


def _see_other(url: str) -> RedirectResponse:
    return pages.secure(RedirectResponse(url, status_code=303))


# --- sign-in ----------------------------------------------------------------------------------

@router.get("")
@router.get("/")
async def home() -> Response:
    return _see_other("/ui/jobs")


@router.get("/sign-in")
async def sign_in_page(request: Request, next: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
    single = not await request.app.state.unit_of_work.read(request.app.state.user_mode.has_users)
    return pages.render(request, "sign_in.html", current(request), None, next=_safe_next(next), single_user=single, error=None)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    sess, form = await _checked_form(request)
    token = ((form.get("token") or [""])[0]).strip()
    target = _safe_next((form.get("next") or [None])[0])
    user_mode = request.app.state.user_mode

    def check(db):
        if token:
            return auth_repository.get_by_token_hash(db, hash_token(token)) is not None
        return not user_mode.has_users(db)

    if not await request.app.state.unit_of_work.read(check):
        single = not await request.app.state.unit_of_work.read(user_mode.has_users)
        message = "That token is not valid." if token else "Enter your API token (from `designer users add NAME`)."
        return pages.render(request, "sign_in.html", sess, None, status_code=401, next=target, single_user=single,
                            error=message)
    response = _see_other(target)
    set_cookie(request, response, new_session(hash_token(token) if token else None, signed_in=True))
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    await _checked_form(request)
    response = _see_other("/ui/sign-in")
    clear_cookie(request, response)
    return response


# --- jobs -------------------------------------------------------------------------------------

@router.get("/jobs")
async def jobs_page(
    request: Request,
    status: Annotated[JobStatus | None, Query()] = None,
    kind: Annotated[str | None, Query(max_length=32, pattern="^(design|reproduce)?$")] = None,
    page_token: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    kind = kind or None
    sess, principal, page = await _read(
        request, service.list_jobs, status.value if status else None, pages.PAGE_SIZE, page_token, kind)
    return pages.render(request, "jobs.html", sess, principal, page=page, rows=[pages.row(j) for j in page.items],
                        status=status.value if status else "", kind=kind or "",
                        statuses=[s.value for s in JobStatus], next_url=pages.next_url(status, kind, page.next_page_token))


@router.get("/jobs/rows.json")
async def job_rows(request: Request, id: Annotated[list[str], Query(max_length=100)] = []) -> Response:  # noqa: B006
    def rows(db, principal):
        out = {}
        for job_id in id:
            try:
                out[job_id] = pages.row(service.get_public(db, principal, job_id))
            except JobNotFound:
                continue
        return out

    _, _, found = await _read(request, rows)
    return pages.json_response(found)


@router.get("/jobs/new")
async def new_job_page(request: Request) -> Response:
    sess, principal, _ = await _read(request)
    form = await pages.design_form(request)
    return pages.render(request, "new_job.html", sess, principal, form=form, values={}, errors={}, general=[])


@router.post("/jobs/new")
async def new_job(request: Request) -> Response:
    sess, submitted = await _checked_form(request)
    _, principal, _ = await _read(request)
    form = await pages.design_form(request)
    paths: dict[str, str] = {}
    spec = pages.collect_design(form, submitted, paths)
    try:
        public, _ = await submit_job(request, principal, spec, None)
    except SpecInvalid as exc:
        errors, general = pages.place_errors(form, exc.field_errors, paths)
        return pages.render(request, "new_job.html", sess, principal, status_code=422, form=form,
                            values=pages.flat_values(submitted), errors=errors, general=general)
    except InvalidInput as exc:
        return pages.render(request, "new_job.html", sess, principal, status_code=422, form=form,
                            values=pages.flat_values(submitted), errors={}, general=[exc.detail])
    return _see_other(f"/ui/jobs/{quote(public.id)}")


@router.get("/jobs/{job_id}")
async def job_page(request: Request, job_id: str) -> Response:
    settings = request.app.state.settings
    sess, principal, view = await _read(request, pages.job_view, settings, job_id)
    return pages.render(request, "job.html", sess, principal, **view)


@router.get("/jobs/{job_id}/events")
async def job_events(
    request: Request, job_id: str,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_EVENT_ID)] = None,
) -> Response:
    """The job's event stream (as the API's), resuming after ``Last-Event-ID`` or ``?after=``."""
    await _read(request, service.get_visible, job_id)
    try:
        start = int(last_event_id) if last_event_id else (after or 0)
        if not 0 <= start <= MAX_EVENT_ID:
            raise ValueError
    except ValueError:
        raise InvalidInput(f"Last-Event-ID must be an integer from 0 to {MAX_EVENT_ID}", field="Last-Event-ID") from None
    app = request.app
    return StreamingResponse(
        _event_stream(request, app.state.database, app.state.settings, job_id, start), media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/jobs/{job_id}/artifacts/{name}")
async def job_artifact(request: Request, job_id: str, name: str) -> Response:
    settings = request.app.state.settings
    _, _, (path, media_type) = await _read(request, lambda db, p: service.artifact_path(db, settings, p, job_id, name))
    inline = media_type.startswith("image/png")
    return pages.secure(FileResponse(path, media_type=media_type, filename=name,
                                     content_disposition_type="inline" if inline else "attachment"))


@router.get("/jobs/{job_id}/result.json")
async def job_result(request: Request, job_id: str) -> Response:
    settings = request.app.state.settings
    _, _, result = await _read(request, lambda db, p: service.result_of(db, settings, p, job_id))
    response = pages.json_response(result.result)
    response.headers["Content-Disposition"] = f'attachment; filename="{job_id}-result.json"'
    return response


@router.post("/jobs/{job_id}/cancel")
async def cancel_job(request: Request, job_id: str) -> Response:
    await _checked_form(request)
    await _write(request, service.cancel_public, job_id)
    return _see_other(f"/ui/jobs/{quote(job_id)}")


@router.post("/jobs/{job_id}/delete")
async def delete_job(request: Request, job_id: str) -> Response:
    await _checked_form(request)
    settings = request.app.state.settings
    await _write(request, lambda db, p: service.delete_finished(db, settings, p, job_id))
    return _see_other("/ui/jobs")


# --- compare and bias -------------------------------------------------------------------------

@router.get("/compare")
async def compare_page(request: Request, id: Annotated[list[str], Query(max_length=12)] = []) -> Response:  # noqa: B006
    sess, principal, view = await _read(request, pages.compare_view, request.app.state.settings, id)
    return pages.render(request, "compare.html", sess, principal, **view)


@router.get("/bias")
async def bias_page(request: Request) -> Response:
    sess, principal, _ = await _read(request)
    form = await pages.bias_form(request)
    return pages.render(request, "bias.html", sess, principal, form=form, values={}, errors={}, general=[], plot=None)


@router.post("/bias")
async def bias_evaluate(request: Request) -> Response:
    sess, submitted = await _checked_form(request)
    _, principal, _ = await _read(request)
    form = await pages.bias_form(request)
    outcome = await pages.evaluate_bias(request, form, submitted)
    return pages.render(request, "bias.html", sess, principal, status_code=200 if outcome["plot"] else 422,
                        form=form, values=pages.flat_values(submitted), **outcome)


# --- installation -----------------------------------------------------------------------------

def install(app: FastAPI) -> None:
    """Mount the pages, their static files and their error pages on ``app``."""
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    problem = app.exception_handlers[AppError]

    async def _sign_in(request: Request, _exc: SignInRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET" or request.url.path.endswith((".json", "/events")):
            return pages.secure(Response("sign in first", status_code=401, media_type="text/plain"))
        response = _see_other(f"/ui/sign-in?next={quote(target)}")
        clear_cookie(request, response)
        return response

    async def _app_error(request: Request, exc: AppError):
        if not request.url.path.startswith("/ui/") or request.url.path.endswith((".json", "/events")):
            return await problem(request, exc)
        sess = current(request)
        try:
            _, principal, _ = await _read(request)
        except (SignInRequired, AppError):
            principal = None
        return pages.render(request, "error.html", sess, principal, status_code=exc.status_code, title=exc.title,
                            detail=exc.detail, csrf_failed=isinstance(exc, CsrfRefused))

    app.add_exception_handler(SignInRequired, _sign_in)
    app.add_exception_handler(AppError, _app_error)
