"""The OpenAPI document: FastAPI's, with the library's spec schemas copied in.

``python -m app.openapi > openapi.json`` writes the committed document; a test keeps it
identical to the one the server serves.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.core.errors import PROBLEM_MEDIA_TYPE
from app.core.specs import SPEC_MARKER
from app.jobs.schemas import JobEventPublic


def _resolve_markers(node: Any) -> Any:
    if isinstance(node, dict):
        if SPEC_MARKER in node:
            ref: dict[str, Any] = {"$ref": f"#/components/schemas/{node[SPEC_MARKER]}"}
            if "description" in node:
                ref["description"] = node["description"]
            return ref
        return {k: _resolve_markers(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve_markers(v) for v in node]
    return node


def build_openapi(app: FastAPI, spec_schemas: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's document + the spec schemas + problem+json error bodies."""
    doc = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes,
        separate_input_output_schemas=False,
    )
    doc = _resolve_markers(doc)
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    # The data of each Server-Sent Event (referenced by the event stream's "x-sse-data").
    components["JobEventPublic"] = JobEventPublic.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, schema in {**spec_schemas["defs"], **spec_schemas["roots"]}.items():
        if name in components:
            raise RuntimeError(f"schema name {name!r} is defined both by the service and the library")
        components[name] = schema
    for path_item in doc.get("paths", {}).values():
        for operation in path_item.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status[:1] in ("4", "5") and "application/json" in content:
                    schema = content.pop("application/json")
                    if schema.get("schema", {}).get("$ref", "").endswith("/Problem"):
                        content[PROBLEM_MEDIA_TYPE] = schema
                    else:
                        content["application/json"] = schema
    # FastAPI's default validation-error schemas are unused: every 422 is a Problem.
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in components and f'"#/components/schemas/{unused}"' not in json.dumps(doc["paths"]):
            del components[unused]
    return dict(sorted(doc.items()))


def main() -> int:
    """Print the document of a default app (the numerics pool supplies the spec schemas)."""
    from app.core.config import Settings
    from app.main import create_app

    app = create_app(Settings(workers=0), background=False)
    try:
        text = json.dumps(app.openapi(), indent=2, sort_keys=False) + "\n"
    finally:
        app.state.numerics.shutdown()
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
