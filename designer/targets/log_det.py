"""``log_det``: ``R*(M) = sum_i log(s_i(M) + epsilon)`` (the log-det rank heuristic, Fazel et al. 2003)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from designer._lazy import jax
from designer._lazy import pytree
from designer._lazy import jnp
from pydantic import BaseModel, ConfigDict, Field

from ._base import Target, check_domain


@pytree
@dataclasses.dataclass(frozen=True)
class LogDet(Target):
    epsilon: jax.Array | float = 1e-5
    kind = "log_det"
    domain = "matrix"

    def value(self, z):
        return jnp.sum(jnp.log(jnp.linalg.svd(z, compute_uv=False) + self.epsilon))

    def spectral_profile(self, s):
        # log(s + eps) - log(eps): R*(M) = min(m, n) log(eps) + sum_i spectral_profile(s_i)
        return jnp.log1p(s / self.epsilon)

    @property
    def quadratic_start(self):
        return False


class LogDetSpec(BaseModel):
    """``sum_i log(s_i + epsilon)`` of a matrix (smoothed log-determinant, a spectral log-sparsity)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["log_det"] = "log_det"
    epsilon: float = Field(1e-5, gt=0.0, le=1e6, description="smoothing epsilon > 0")

    def build(self, shape: tuple[int, ...]) -> LogDet:
        check_domain(self.kind, "matrix", shape)
        return LogDet(float(self.epsilon))
