"""The library's spec types as seen by the API process: JSON objects whose schema is a reference.

The models themselves (``designer.jobs.JobSpec``, ``designer.specs.ParamSpec``,
``designer.specs.MechanismSpec``) import JAX, so the API process keeps specs as plain dicts,
validates them in the numerics pool, and its OpenAPI document references the models' JSON
schemas, which :func:`app.openapi.build_openapi` copies in from the library.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

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
