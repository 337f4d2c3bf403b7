"""The design request: target, predictor shape, mechanisms, sampling distribution, budget, seed."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .. import limits
from ..errors import DesignerInputError
from ..families import pydantic_error
from ..targets import TargetSpec, build_target

#: Size limits of a design (the search holds a d x d matrix per basis and N x d samples).
MAX_DESIGN_VECTOR_DIM = 1_024
MAX_DESIGN_MATRIX_SIDE = 128
MAX_DESIGN_POINTS = 4_096
MAX_DESIGN_DEPTH = 8

MechanismName = Literal["gauge", "weight_decay", "label_noise"]
ALL_MECHANISMS: tuple[str, ...] = ("weight_decay", "label_noise", "gauge")


class SamplingSpec(BaseModel):
    """Distribution of predictors over which ``R_phi ~ a R* + b`` is fitted.

    Vectors: coefficients (in the target's own basis: cumsum for tv, the basis for basis_l1,
    identity otherwise) with magnitudes ``10^U(log10_min, log10_max)`` and random signs. Matrices:
    singular values ``10^U(log10_min, log10_max)`` between Haar-random orthogonal factors. A
    tabulated target uses its own points instead.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    n_points: int | None = Field(None, ge=8, le=MAX_DESIGN_POINTS, description="number of sampled predictors (default 128 for vectors, 64 for matrices)")
    log10_min: float = Field(-2.0, ge=-12.0, le=12.0, description="smallest magnitude, log10")
    log10_max: float = Field(2.0, ge=-12.0, le=12.0, description="largest magnitude, log10")


class DesignRequest(BaseModel):
    """Everything an inverse design needs (the CLI, the job runner and the API share it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    target: TargetSpec
    shape: list[int] = Field(..., min_length=1, max_length=2, description="predictor shape: [d] or [m, n]")
    mechanisms: list[MechanismName] = Field(default_factory=lambda: list(ALL_MECHANISMS), min_length=1, description="mechanisms to search")
    max_depth: int = Field(4, ge=2, le=MAX_DESIGN_DEPTH, description="largest factorization depth D searched")
    transforms: bool = Field(True, description="also search monotone transforms (asinh scale, signed_power exponent) with fitted knobs")
    budget: int | None = Field(None, ge=1, le=100_000, description="largest number of candidates to score (default: all)")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="seed of the sampling distribution")
    sampling: SamplingSpec = Field(default_factory=SamplingSpec)
    strength: float = Field(1.0, gt=0.0, le=1e6, description="requested regularization strength lambda: the design's bias is lambda R*(z) + const")
    learning_rate: float = Field(0.01, gt=0.0, le=1e3, description="SGD step for the label-noise mapping (variance = 4 lambda / (a eta))")
    gradient_noise_variance: float = Field(1.0, gt=0.0, le=1e6, description="per-example gradient-noise variance s^2 for T ~ eta s^2 / (2 B)")


def parse_design_request(spec: Any, field: str = "request") -> tuple[DesignRequest, Any]:
    """Validate a request (dict or JSON) and build its target; errors name the field.

    Returns ``(request, target)``.
    """
    try:
        if isinstance(spec, (str, bytes)):
            req = DesignRequest.model_validate_json(spec)
        elif isinstance(spec, DesignRequest):
            req = spec
        else:
            req = DesignRequest.model_validate(spec)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err.get("loc", ())]
        if loc and loc[0] == "target" and len(loc) > 2 and err.get("type") not in ("union_tag_invalid", "union_tag_not_found"):
            loc = [loc[0], *loc[2:]]  # drop the union tag pydantic puts after "target"
        raise DesignerInputError(".".join(loc) if loc else field, err.get("msg", "invalid")) from None
    shape = tuple(int(s) for s in req.shape)
    if any(s < 1 for s in shape):
        raise DesignerInputError("shape", f"sizes must be positive, got {list(shape)}")
    if len(shape) == 1 and shape[0] > min(MAX_DESIGN_VECTOR_DIM, limits.MAX_VECTOR_DIM):
        raise DesignerInputError("shape", f"vector designs are limited to d <= {MAX_DESIGN_VECTOR_DIM}, got {shape[0]}")
    if len(shape) == 2 and max(shape) > min(MAX_DESIGN_MATRIX_SIDE, limits.MAX_MATRIX_SIDE):
        raise DesignerInputError("shape", f"matrix designs are limited to sides <= {MAX_DESIGN_MATRIX_SIDE}, got {list(shape)}")
    if req.sampling.log10_min > req.sampling.log10_max:
        raise DesignerInputError("sampling.log10_min", "must not exceed sampling.log10_max")
    if len(set(req.mechanisms)) != len(req.mechanisms):
        raise DesignerInputError("mechanisms", "a mechanism is listed twice")
    target = req.target.build(shape)
    return req, target


__all__ = ["DesignRequest", "SamplingSpec", "parse_design_request", "ALL_MECHANISMS", "pydantic_error"]
