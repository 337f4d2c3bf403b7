"""Shared validation of the registries' discriminated-union specs (families, mechanisms, targets,
noises, tasks): one place that turns a pydantic error into a :class:`DesignerInputError`."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from .errors import DesignerInputError


def pydantic_error(exc: ValidationError, prefix: str) -> DesignerInputError:
    """The first pydantic error as a :class:`DesignerInputError` with a dotted field path."""
    err = exc.errors()[0]
    # Drop the union-member name pydantic puts after the tag (e.g. "hadamard" in
    # ("hadamard", "depth")): users named the field, not the union branch.
    loc = [str(p) for p in err.get("loc", ())]
    if len(loc) > 1 and err.get("type") not in ("union_tag_invalid", "union_tag_not_found"):
        loc = loc[1:]
    field = ".".join([prefix, *loc]) if loc else prefix
    return DesignerInputError(field, err.get("msg", "invalid"))


def validate_spec(adapter: TypeAdapter, spec: Any, field: str):
    """Validate a spec given as a dict, JSON text or spec object; errors name ``field``."""
    try:
        if isinstance(spec, (str, bytes)):
            return adapter.validate_json(spec)
        return adapter.validate_python(spec)
    except ValidationError as exc:
        raise pydantic_error(exc, field) from None
