"""The library's spec types as seen by the API process: JSON objects whose schema is a reference.

Request bodies keep specs as plain dicts, and the OpenAPI document references the models' JSON
schemas, which :func:`app.openapi.build_openapi` copies in from the library. A job spec is
checked at submission in this process by :class:`JobSpecChecker` with the library's own models
and checks (``designer.jobs.check_job_spec``): the spec modules import without JAX, so the API
process never loads JAX and a submission needs no trip to another process.
"""

from __future__ import annotations

import logging
import threading
from typing import Annotated, Any, Callable

from pydantic import BeforeValidator, WithJsonSchema
from starlette.concurrency import run_in_threadpool

from app.core.limits import check_json_limits


SPEC_MARKER = "x-designer-spec"


def _ref(name: str) -> WithJsonSchema:
    # A marker, not a "$ref": pydantic would try to resolve the reference itself.
    # app.openapi.build_openapi replaces it with a reference to the copied-in schema.
    return WithJsonSchema({SPEC_MARKER: name})


def _object(value: Any) -> Any:
    check_json_limits(value, "body")
    return value


JobSpecJSON = Annotated[dict[str, Any], _ref("JobSpec")]
ParamSpecJSON = Annotated[dict[str, Any], _ref("ParamSpec")]
MechanismSpecJSON = Annotated[dict[str, Any], _ref("MechanismSpec")]

#: A job spec in a request body: limits checked before anything else looks at it.
JobSpecBody = Annotated[dict[str, Any], BeforeValidator(_object), _ref("JobSpec")]


log = logging.getLogger("app.specs")


class JobSpecChecker:
    """Checks job specs in this process with ``designer.jobs``; loaded once, off the event loop.

    :meth:`check` returns ``{"spec": normalised JSON}`` or ``{"error": {"field", "message"},
    "errors": [...]}`` with fields as dotted paths under ``body``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._check: Callable[[Any], dict[str, Any]] | None = None

    @property
    def ready(self) -> bool:
        return self._check is not None

    def load(self) -> None:
        """Import the spec models (seconds: pydantic builds the validators); idempotent."""
        with self._lock:
            if self._check is not None:
                return
            from pydantic import TypeAdapter, ValidationError

            from designer._specs import field_errors
            from designer.errors import DesignerInputError
            from designer.jobs import JobSpec, check_job_spec

            adapter = TypeAdapter(JobSpec)

            def _check(spec: Any) -> dict[str, Any]:
                try:
                    job = check_job_spec(adapter.validate_python(spec))
                except ValidationError as exc:
                    errors = field_errors(exc, spec, "body")
                    return {"error": errors[0], "errors": errors}
                except DesignerInputError as exc:
                    error = {"field": f"body.{exc.field}" if exc.field else "body", "message": exc.message}
                    return {"error": error, "errors": [error]}
                return {"spec": job.model_dump(mode="json", by_alias=True)}

            self._check = _check

    def start_loading(self) -> None:
        def _run() -> None:
            try:
                self.load()
            except Exception:  # readiness stays false; the first submission retries and answers 500
                log.exception("loading the job spec models failed")

        threading.Thread(target=_run, name="job-spec-models", daemon=True).start()

    def check_now(self, spec: Any) -> dict[str, Any]:
        """:meth:`check`, blocking (loads the models first if needed)."""
        self.load()
        return self._check(spec)

    async def check(self, spec: Any) -> dict[str, Any]:
        """Check a spec (about a millisecond, on the event loop once the models are loaded)."""
        if self._check is None:
            await run_in_threadpool(self.load)
        return self._check(spec)
