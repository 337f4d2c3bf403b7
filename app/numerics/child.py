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
    from designer.jobs import JobSpec
    from designer.specs import MechanismSpec, ParamSpec

    return spec_schemas({"JobSpec": JobSpec, "ParamSpec": ParamSpec, "MechanismSpec": MechanismSpec})


def spec_schemas(types: dict[str, Any]) -> dict[str, Any]:
    """``{"roots": {name: schema}, "defs": {name: schema}}`` of these types, references into
    ``#/components/schemas``; raises ``ValueError`` when two models publish one name with
    different schemas (one would silently replace the other in the document)."""
    from pydantic import TypeAdapter

    roots: dict[str, Any] = {}
    defs: dict[str, Any] = {}
    for name, tp in types.items():
        schema = TypeAdapter(tp).json_schema(ref_template=REF_TEMPLATE, mode="validation")
        for def_name, definition in schema.pop("$defs", {}).items():
            if def_name in defs and defs[def_name] != definition:
                raise ValueError(
                    f"two models publish the schema name {def_name!r} with different fields "
                    f"({sorted(defs[def_name].get('properties', {}))} and {sorted(definition.get('properties', {}))}); "
                    "rename one of them")
            defs[def_name] = definition
        roots[name] = schema
    for name in roots.keys() & defs.keys():
        if roots[name] != defs[name]:
            raise ValueError(f"two models publish the schema name {name!r} with different fields; rename one of them")
    return {"roots": roots, "defs": defs}


def validate_job_spec(spec: Any) -> dict[str, Any]:
    """The API's check of a job spec (:class:`app.core.specs.JobSpecChecker`): ``{"spec": normalised}`` or an error."""
    from app.core.specs import JobSpecChecker

    return JobSpecChecker().check_now(spec)


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
