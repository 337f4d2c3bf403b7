"""Functions that run inside the numerics pool processes (they import ``designer``).

Every function returns plain JSON-able data; input errors come back as
``{"error": {"field": ..., "message": ...}}`` because ``designer``'s exceptions do not survive
pickling across the process boundary.
"""

from __future__ import annotations

from typing import Any

REF_TEMPLATE = "#/components/schemas/{model}"


def _error(field: str, message: str) -> dict[str, Any]:
    return {"error": {"field": field, "message": message}}


def _pydantic_errors(exc, prefix: str) -> dict[str, Any]:
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        # pydantic puts the union tag after a discriminated field ("design", "shape"): drop it,
        # the client named "shape", not the branch.
        if len(loc) > 1 and err.get("type") not in ("union_tag_invalid", "union_tag_not_found"):
            loc = loc[1:]
        errors.append({"field": ".".join([prefix, *loc]) if loc else prefix, "message": err.get("msg", "invalid")})
    first = errors[0] if errors else {"field": prefix, "message": "invalid"}
    return {"error": first, "errors": errors}


def warm_up() -> bool:
    """Import the library once so the first real request does not pay for it."""
    import designer  # noqa: F401

    return True


def schemas() -> dict[str, Any]:
    """JSON schemas of ``JobSpec``, ``ParamSpec`` and ``MechanismSpec`` for the OpenAPI document.

    Returns ``{"roots": {name: schema}, "defs": {name: schema}}`` with references already
    pointing into ``#/components/schemas``.
    """
    from pydantic import TypeAdapter

    from designer.jobs import JobSpec
    from designer.specs import MechanismSpec, ParamSpec

    roots: dict[str, Any] = {}
    defs: dict[str, Any] = {}
    for name, tp in (("JobSpec", JobSpec), ("ParamSpec", ParamSpec), ("MechanismSpec", MechanismSpec)):
        schema = TypeAdapter(tp).json_schema(ref_template=REF_TEMPLATE, mode="validation")
        defs.update(schema.pop("$defs", {}))
        roots[name] = schema
    return {"roots": roots, "defs": defs}


def validate_job_spec(spec: Any) -> dict[str, Any]:
    """Validate a job spec with ``designer.jobs.JobSpec``; return ``{"spec": normalised}`` or an error."""
    from pydantic import TypeAdapter, ValidationError

    from designer.errors import DesignerInputError
    from designer.jobs import JobSpec

    try:
        model = TypeAdapter(JobSpec).validate_python(spec)
    except ValidationError as exc:
        return _pydantic_errors(exc, "body")
    except DesignerInputError as exc:
        return _error(f"body.{exc.field}", exc.message)
    return {"spec": model.model_dump(mode="json", by_alias=True)}


def evaluate_bias(param: Any, mechanism: Any, points: list[Any]) -> dict[str, Any]:
    """``designer.bias.evaluate_points`` with errors as data."""
    from designer.bias import evaluate_points
    from designer.errors import DesignerInputError, NumericalFailure

    try:
        return {"result": evaluate_points(param, mechanism, points)}
    except DesignerInputError as exc:
        return _error(exc.field if exc.field.startswith(("param", "mechanism", "points")) else f"body.{exc.field}", exc.message)
    except NumericalFailure as exc:
        return {"numerical_failure": str(exc)}


def catalog() -> dict[str, Any]:
    """``designer.catalog.describe()``."""
    from designer.catalog import describe

    return describe()
