"""Synchronous bias evaluation, delegated to the numerics pool (JAX stays out of the API)."""

from __future__ import annotations

from typing import Any

from app.bias.schemas import BiasEvaluateRequest, BiasEvaluateResponse
from app.core.errors import InvalidInput
from app.bias.exceptions import BiasNumericalFailure
from app.numerics import child
from app.numerics.gateway import NumericsGateway


async def evaluate(numerics: NumericsGateway, body: BiasEvaluateRequest, timeout: float) -> BiasEvaluateResponse:
    """Evaluate ``R`` at every point; input errors come back as 422 naming the field."""
    answer: dict[str, Any] = await numerics.acall(child.evaluate_bias, body.param, body.mechanism, body.points, timeout=timeout)
    if "error" in answer:
        err = answer["error"]
        raise InvalidInput(f"{err['field']}: {err['message']}", field=err["field"])
    if "numerical_failure" in answer:
        raise BiasNumericalFailure(answer["numerical_failure"])
    return BiasEvaluateResponse.model_validate(answer["result"])
