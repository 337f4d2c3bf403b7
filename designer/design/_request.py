"""The design request: target, predictor shape, mechanisms, sampling distribution, budget, seed.

One schema for every front end: the CLI reads it, the job spec of ``POST /v1/design-jobs`` *is*
this model (plus the job's own fields), and the service validates it in its own process, so this
module imports without JAX (see :mod:`designer._lazy`). Sizes are strict integers (``"64"`` and
``true`` are refused) and every limit lives in :mod:`designer.limits`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from .. import limits
from .._lazy import specs_only
from .._specs import pydantic_error
from ..errors import DesignerInputError
from ..mechanisms import MECHANISMS
from ..targets import TargetSpec

#: Mechanism kinds a design may search (the registry's, in its order).
MechanismName = Literal[tuple(MECHANISMS)]  # type: ignore[valid-type]
ALL_MECHANISMS: tuple[str, ...] = tuple(MECHANISMS)

Size = Annotated[StrictInt, Field(ge=1, le=limits.MAX_DESIGN_VECTOR_DIM)]


class SamplingSpec(BaseModel):
    """Distribution of predictors over which ``R_phi ~ a R* + b`` is fitted.

    Vectors: coefficients (in the target's own basis: cumsum for tv, the basis for basis_l1,
    identity otherwise) with magnitudes ``10^U(log10_min, log10_max)`` and random signs. Matrices:
    singular values ``10^U(log10_min, log10_max)`` between Haar-random orthogonal factors. A
    tabulated target uses its own points instead.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    n_points: StrictInt | None = Field(None, ge=8, le=limits.MAX_DESIGN_POINTS,
                                       description="number of sampled predictors (default 128 for vectors, 64 for matrices)")
    log10_min: float = Field(-2.0, ge=-12.0, le=12.0, description="smallest magnitude, log10 (at most log10_max)")
    log10_max: float = Field(2.0, ge=-12.0, le=12.0, description="largest magnitude, log10 (at least log10_min)")

    @field_validator("log10_max")
    @classmethod
    def _ordered(cls, v: float, info) -> float:
        lo = info.data.get("log10_min")
        if lo is not None and v < lo:
            raise ValueError(f"log10_max={v} is below log10_min={lo}")
        return v


class DesignRequest(BaseModel):
    """Everything an inverse design needs (the CLI, the job runner and the API share it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    target: TargetSpec
    shape: list[Size] = Field(..., min_length=1, max_length=2, description=(
        f"predictor shape: [d] (d <= {limits.MAX_DESIGN_VECTOR_DIM:,}) or [m, n] "
        f"(m, n <= {limits.MAX_DESIGN_MATRIX_SIDE:,}); targets may set lower limits"))
    mechanisms: list[MechanismName] = Field(default_factory=lambda: list(ALL_MECHANISMS), min_length=1,
                                            max_length=len(ALL_MECHANISMS), description="mechanisms to search (each once)")
    max_depth: StrictInt = Field(4, ge=2, le=limits.MAX_DESIGN_DEPTH, description="largest factorization depth D searched")
    transforms: bool = Field(True, description="also search monotone transforms (fitted knobs, and transforms constructed "
                             "from the target's profile where that makes the design exact)")
    budget: StrictInt | None = Field(None, ge=1, le=100_000, description="largest number of candidates to score (default: all)")
    seed: StrictInt = Field(0, ge=0, le=2**31 - 1, description="seed of the sampling distribution")
    sampling: SamplingSpec = Field(default_factory=SamplingSpec)
    strength: float = Field(1.0, gt=0.0, le=1e6, description="requested regularization strength lambda: the design's bias is lambda R*(z) + const")
    learning_rate: float = Field(0.01, gt=0.0, le=1e3, description="SGD step for the label-noise mapping (variance = 4 lambda / (a eta))")
    gradient_noise_variance: float = Field(1.0, gt=0.0, le=1e6, description="per-example gradient-noise variance s^2 for T ~ eta s^2 / (2 B)")

    @field_validator("mechanisms")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("a mechanism is listed twice")
        return v

    @field_validator("shape")
    @classmethod
    def _sides(cls, v: list[int]) -> list[int]:
        if len(v) == 2 and max(v) > limits.MAX_DESIGN_MATRIX_SIDE:
            raise ValueError(f"matrix designs are limited to sides <= {limits.MAX_DESIGN_MATRIX_SIDE}, got {v}")
        return v


def _validated(spec: Any, field: str) -> DesignRequest:
    if isinstance(spec, DesignRequest):
        return spec
    try:
        if isinstance(spec, (str, bytes)):
            return DesignRequest.model_validate_json(spec)
        return DesignRequest.model_validate(spec)
    except ValidationError as exc:
        raise pydantic_error(exc, "", spec) from None


def parse_design_request(spec: Any, field: str = "request") -> tuple[DesignRequest, Any]:
    """Validate a request (dict, JSON or model) and build its target; errors name the field.

    Returns ``(request, target)``.
    """
    req = _validated(spec, field)
    target = req.target.build(tuple(int(s) for s in req.shape))
    return req, target


def check_design_request(spec: Any, field: str = "request") -> DesignRequest:
    """Every check of :func:`parse_design_request`, without loading JAX (the service's door)."""
    req = _validated(spec, field)
    with specs_only():
        req.target.build(tuple(int(s) for s in req.shape))
    return req


__all__ = ["ALL_MECHANISMS", "DesignRequest", "MechanismName", "SamplingSpec", "check_design_request",
           "parse_design_request", "DesignerInputError"]
