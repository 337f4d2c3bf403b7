"""Schemas of ``POST /v1/bias:evaluate``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, model_validator

from app.core.limits import check_json_limits

from app.core.specs import MechanismSpecJSON, ParamSpecJSON

#: Points per request; the body size limit usually binds first.
MAX_POINTS = 10_000

Predictor = float | list[float] | list[list[float]]


class BiasEvaluateRequest(BaseModel):
    """A parameterization, a mechanism, and the predictors at which to evaluate its induced bias."""

    param: ParamSpecJSON
    mechanism: MechanismSpecJSON
    points: list[Predictor] = Field(
        min_length=1, max_length=MAX_POINTS,
        description=f"Predictors (numbers, vectors or matrices), at most {MAX_POINTS}.",
    )

    @model_validator(mode="before")
    @classmethod
    def _limits(cls, data: Any) -> Any:
        # NaN, Infinity, oversized arrays: refused here, with the field named.
        return check_json_limits(data, "body")


class BiasEvaluateResponse(BaseModel):
    """``values[i]`` is R(points[i]), or null where the bias is singular (listed in ``singular``)."""

    values: list[float | None]
    singular: list[int]
