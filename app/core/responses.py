"""JSON responses serialised once.

An endpoint that returns a pydantic model lets FastAPI validate it again against the route's
``response_model`` and serialise it through ``jsonable_encoder``-like steps; our models are built
validated, so the hot endpoints hand back the bytes pydantic writes in one pass. The route still
declares ``response_model`` for the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Response
from pydantic import BaseModel


def model_response(model: BaseModel, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """``model`` as an ``application/json`` response (``model_dump_json``, by alias)."""
    return Response(model.model_dump_json(by_alias=True), status_code=status_code,
                    media_type="application/json", headers=headers)
