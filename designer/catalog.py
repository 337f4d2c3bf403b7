"""What a user can ask for: families, targets and mechanisms with their knobs (for the service's UI).

Generated from the pydantic specs' JSON schemas (the registries ``FAMILIES``, ``TARGETS``,
``MECHANISMS``), so the catalogue never drifts from what the specs accept.
"""

from __future__ import annotations

from typing import Any

from .families import FAMILIES
from .mechanisms import MECHANISMS
from .targets import TARGETS
from .transforms import TRANSFORMS

_TYPES = {"integer", "number", "string", "boolean", "array", "object"}


def _resolve(schema: dict, defs: dict) -> dict:
    ref = schema.get("$ref")
    return defs.get(ref.rsplit("/", 1)[-1], {}) if ref else schema


def _flatten(schema: dict, defs: dict) -> list[dict]:
    """The alternatives of a (possibly nested) union schema, references resolved."""
    schema = _resolve(schema, defs)
    alts = schema.get("anyOf") or schema.get("oneOf")
    if not alts:
        return [schema]
    return [leaf for alt in alts for leaf in _flatten(alt, defs)]


def _knob(name: str, prop: dict, defs: dict) -> dict:
    options = _flatten(prop, defs)
    concrete = [o for o in options if o.get("type") != "null"]
    main = concrete[0] if concrete else {}
    knob: dict[str, Any] = {
        "name": name,
        "type": main.get("type") if main.get("type") in _TYPES else ("object" if main.get("properties") else "any"),
        "minimum": main.get("minimum", main.get("exclusiveMinimum")),
        "maximum": main.get("maximum", main.get("exclusiveMaximum")),
        "default": prop.get("default"),
    }
    if len(concrete) != len(options):
        knob["nullable"] = True
    if "enum" in main:
        knob["choices"] = list(main["enum"])
        knob["type"] = "string" if all(isinstance(c, str) for c in main["enum"]) else knob["type"]
    elif len(concrete) > 1 and all("properties" in o for o in concrete):
        # a union of specs (e.g. a transform): its choices are the tags of the branches
        tags = []
        for o in concrete:
            tag = next((p for p in o["properties"].values() if "const" in p), None)
            if tag is not None:
                tags.append(tag["const"])
        knob["type"] = "object"
        knob["choices"] = tags
    if prop.get("description"):
        knob["description"] = prop["description"]
    return knob


def _entry(name: str, spec: type, tag: str) -> dict:
    schema = spec.model_json_schema()
    defs = schema.get("$defs", {})
    knobs = [_knob(k, v, defs) for k, v in schema.get("properties", {}).items() if k != tag]
    return {"name": name, "description": (spec.__doc__ or "").strip().splitlines()[0], "knobs": knobs}


def describe() -> dict:
    """``{"families": [...], "targets": [...], "mechanisms": [...], "transforms": [...]}``, each entry
    ``{"name", "description", "knobs": [{"name", "type", "minimum", "maximum", "default", "choices"?}]}``."""
    return {
        "families": [_entry(n, s, "family") for n, s in FAMILIES.items()],
        "targets": [_entry(n, s, "kind") for n, s in TARGETS.items()],
        "mechanisms": [_entry(n, s, "kind") for n, s in MECHANISMS.items()],
        "transforms": [_entry(n, s, "kind") for n, s in TRANSFORMS.items()],
    }


__all__ = ["describe"]
