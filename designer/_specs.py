"""One place that turns pydantic validation errors into field paths (CLI, job parser and API).

pydantic's error locations name the branch of a discriminated union after the field that holds
it (``("target", "lp", "p")`` for ``{"target": {"kind": "lp", "p": 3}}``) and validator wrappers
(``function-after[...]``). Users named the field, not the branch: :func:`field_path` walks the
location along the submitted data and keeps only the steps that are keys or indices in it (and
the last step, a missing field), so ``target.p`` is reported the same by every front end.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter, ValidationError

from .errors import DesignerInputError

_MISSING = object()


def field_path(loc: tuple | list, data: Any, prefix: str = "") -> str:
    """Dotted path of a pydantic error location in ``data`` (list indices as ``.i``)."""
    parts: list[str] = [prefix] if prefix else []
    node = data
    loc = list(loc)
    for i, step in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict) and isinstance(step, str) and step in node:
            parts.append(step)
            node = node[step]
        elif isinstance(node, (list, tuple)) and isinstance(step, int) and 0 <= step < len(node):
            parts.append(str(step))
            node = node[step]
        elif last and not (isinstance(node, dict) and isinstance(step, str)
                           and (step.startswith("function-") or step in node.values())):
            parts.append(str(step))  # a missing field, or a value that is not a container
            node = _MISSING
        elif not isinstance(node, (dict, list, tuple)):
            parts.append(str(step))  # input not a container (e.g. a string): keep the schema's path
            node = _MISSING
        # else: a union branch tag or a validator wrapper: not part of the user's path
    return ".".join(parts) if parts else (prefix or "body")


def _as_data(spec: Any) -> Any:
    if isinstance(spec, (str, bytes)):
        try:
            return json.loads(spec)
        except ValueError:
            return None
    if hasattr(spec, "model_dump"):
        return spec.model_dump(mode="json", by_alias=True)
    return spec


def field_errors(exc: ValidationError, data: Any = None, prefix: str = "") -> list[dict[str, str]]:
    """Every error of ``exc`` as ``{"field": dotted path, "message": ...}`` (see :func:`field_path`)."""
    data = _as_data(data)
    out = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        if not loc and err.get("type") in ("union_tag_invalid", "union_tag_not_found"):
            loc = (str((err.get("ctx") or {}).get("discriminator", "kind")).strip("'"),)  # the tag itself is wrong
        out.append({"field": field_path(loc, data, prefix), "message": err.get("msg", "invalid")})
    return out or [{"field": prefix or "body", "message": "invalid"}]


def pydantic_error(exc: ValidationError, prefix: str = "", data: Any = None) -> DesignerInputError:
    """The first pydantic error as a :class:`DesignerInputError` naming the field."""
    first = field_errors(exc, data, prefix)[0]
    return DesignerInputError(first["field"], first["message"])


def validate_tagged(registry: dict[str, type], tag: str, spec: Any, field: str):
    """Validate a spec of a registry (families, mechanisms, ...) by its tag, looked up at call time.

    Dispatching through the registry (rather than a union fixed at import) means an entry added to
    the registry is accepted everywhere at once. Errors name the field; an unknown tag lists the
    registry's choices.
    """
    if isinstance(spec, tuple(registry.values())):
        return spec
    data = _as_data(spec)
    if isinstance(spec, (str, bytes)) and data is None:
        raise DesignerInputError(field, "not valid JSON")
    if not isinstance(data, dict):
        raise DesignerInputError(field, f"expected an object with a {tag!r} field")
    kind = data.get(tag)
    if kind not in registry:
        choices = ", ".join(registry)
        what = "missing" if kind is None else f"unknown {tag} {kind!r}"
        raise DesignerInputError(field, f"{what}; choose one of {choices}")
    try:
        return registry[kind].model_validate(data)
    except ValidationError as exc:
        raise pydantic_error(exc, field, data) from None


def validate_spec(adapter: TypeAdapter, spec: Any, field: str):
    """Validate a spec given as a dict, JSON text or spec object; errors name ``field``."""
    try:
        if isinstance(spec, (str, bytes)):
            return adapter.validate_json(spec)
        return adapter.validate_python(spec)
    except ValidationError as exc:
        raise pydantic_error(exc, field, spec) from None
