"""One error hierarchy, rendered as RFC 9457 ``application/problem+json`` by one handler."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

log = logging.getLogger("app.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    """One offending input: a dotted path into the request (``body.shape.0``) and what is wrong."""

    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document, with the offending field when there is one."""

    type: str = Field(default="about:blank", description="A URI naming the kind of problem.")
    title: str
    status: int
    detail: str
    code: str = Field(description="A stable machine-readable error code.")
    field: str | None = Field(default=None, description="The first offending field, if any.")
    errors: list[FieldError] = Field(default_factory=list)


class AppError(Exception):
    """Base of every error the service raises on purpose; carries its HTTP rendering."""

    status_code = 500
    code = "internal"
    title = "Internal error"

    def __init__(self, detail: str, *, field: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.headers = headers or {}


class BadRequest(AppError):
    status_code, code, title = 400, "bad_request", "Bad request"


class Unauthorized(AppError):
    status_code, code, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str):
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status_code, code, title = 403, "forbidden", "Forbidden"


class NotFound(AppError):
    status_code, code, title = 404, "not_found", "Not found"


class Conflict(AppError):
    status_code, code, title = 409, "conflict", "Conflict"


class PayloadTooLarge(AppError):
    status_code, code, title = 413, "payload_too_large", "Payload too large"


class InvalidInput(AppError):
    status_code, code, title = 422, "invalid_input", "Invalid input"


class ServiceUnavailable(AppError):
    status_code, code, title = 503, "unavailable", "Service unavailable"


class GatewayTimeout(AppError):
    status_code, code, title = 504, "timeout", "Timed out"


def problem_response(
    status: int, title: str, detail: str, code: str, *, field: str | None = None,
    errors: list[FieldError] | None = None, headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Render a problem document."""
    body = Problem(title=title, status=status, detail=detail, code=code, field=field, errors=errors or [])
    return JSONResponse(
        body.model_dump(mode="json"), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def _loc_to_field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    # Discriminated unions add the tag to the location ("body.design.shape"); keep it, it
    # tells the client which variant was checked.
    return ".".join(parts) if parts else "body"


def _short(value: Any, limit: int = 80) -> str:
    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _validation_problem(exc: RequestValidationError) -> JSONResponse:
    errors: list[FieldError] = []
    for err in exc.errors():
        field = _loc_to_field(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx") or {}
            message = f"malformed JSON: {ctx.get('error', err.get('msg'))}"
            return problem_response(400, "Malformed JSON", message, "malformed_json", field="body")
        message = err.get("msg", "invalid")
        if "input" in err and err.get("type") not in ("missing",):
            message = f"{message} (got {_short(err['input'])})"
        errors.append(FieldError(field=field, message=message))
    first = errors[0] if errors else FieldError(field="body", message="invalid request")
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
    return problem_response(422, "Invalid input", detail, "invalid_input", field=first.field, errors=errors)


def body_parse_error(cause: BaseException) -> str:
    """Why a request body could not be decoded as JSON, in words."""
    from app.core.limits import MAX_JSON_DEPTH  # (app.core.limits imports this module)

    if isinstance(cause, RecursionError):
        return f"malformed JSON: arrays or objects nested too deeply to parse (the limit is {MAX_JSON_DEPTH} levels)"
    if isinstance(cause, UnicodeDecodeError):
        return f"malformed JSON: the body is not valid UTF-8 (byte {cause.start}: {cause.reason})"
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return f"malformed JSON: an integer has more than {sys.get_int_max_str_digits()} digits"
    return f"malformed JSON: {type(cause).__name__}: {cause}"[:300]


def allowed_methods(request: Request) -> list[str]:
    """Methods of every route whose path matches the request's (the ``Allow`` of a 405)."""
    methods: set[str] = set()
    for route in _leaf_routes(request.app.router.routes):
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def _leaf_routes(routes):
    for route in routes:
        inner = getattr(route, "original_router", None)  # an included router (FastAPI >= 0.16x)
        if inner is not None:
            yield from _leaf_routes(inner.routes)
        else:
            yield route


def install_error_handlers(app: FastAPI) -> None:
    """Register the one handler per exception family."""

    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError):
        errors = [FieldError(field=exc.field, message=exc.detail)] if exc.field else []
        return problem_response(
            exc.status_code, exc.title, exc.detail, exc.code, field=exc.field, errors=errors, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError):
        return _validation_problem(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI could not decode the body; it keeps the reason as the cause.
            return problem_response(400, "Malformed JSON", body_parse_error(exc.__cause__), "malformed_json", field="body")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        detail = str(exc.detail)
        if exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}; allowed: {headers['Allow']}"
        return problem_response(exc.status_code, title, detail, code, headers=headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception):
        log.exception("unhandled error", exc_info=exc)
        return problem_response(500, "Internal error", "an unexpected error occurred; see the server log", "internal")


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entry of a route for the given error statuses."""
    descriptions = {
        400: "Malformed request", 401: "Missing or invalid bearer token", 403: "Forbidden",
        404: "Not found", 409: "Conflict", 413: "Request body too large",
        422: "Invalid input (names the field and the limit)", 503: "Unavailable", 504: "Timed out",
    }
    # 422 always: any route can get a malformed header or parameter.
    return {s: {"model": Problem, "description": descriptions.get(s, "Error")} for s in sorted({*statuses, 422})}
