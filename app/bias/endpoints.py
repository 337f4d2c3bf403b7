"""``POST /v1/bias:evaluate``."""

from fastapi import APIRouter, Request
from fastapi.params import Body
from typing import Annotated

from app.bias import service
from app.bias.schemas import BiasEvaluateRequest, BiasEvaluateResponse
from app.core.deps import PrincipalDep, SettingsDep
from app.core.errors import problem_responses
from app.core.limits import check_json_limits

router = APIRouter(prefix="/v1", tags=["bias"])


@router.post(
    "/bias:evaluate", operation_id="evaluate_bias", response_model=BiasEvaluateResponse,
    responses=problem_responses(400, 401, 413, 422, 503, 504),
)
async def evaluate_bias(
    request: Request, body: Annotated[BiasEvaluateRequest, Body()], _principal: PrincipalDep, settings: SettingsDep,
) -> BiasEvaluateResponse:
    """The induced bias R(z) of a parameterization under a mechanism, at each given predictor."""
    check_json_limits(body.param, "body.param")
    check_json_limits(body.mechanism, "body.mechanism")
    return await service.evaluate(request.app.state.numerics, body, settings.bias_timeout_seconds)
