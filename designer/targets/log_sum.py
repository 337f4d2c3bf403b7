"""``log_sum``: ``R*(z) = sum_i log(|z_i| + epsilon)`` (log-sparsity, Candes-Wakin-Boyd 2008)."""

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
class LogSum(Target):
    epsilon: jax.Array | float = 1e-5
    kind = "log_sum"

    def value(self, z):
        return jnp.sum(jnp.log(jnp.abs(z) + self.epsilon))

    def profile(self, t):
        # log(t + eps) - log(eps): R*(z) = d log(eps) + sum_i profile(|z_i|)
        return jnp.log1p(t / self.epsilon)

    @property
    def quadratic_start(self):
        return False


class LogSumSpec(BaseModel):
    """``sum_i log(|z_i| + epsilon)`` of a vector (the gauge bias of a Hadamard product is its epsilon -> 0 limit)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["log_sum"] = "log_sum"
    epsilon: float = Field(1e-5, gt=0.0, le=1e6, description="smoothing epsilon > 0 (default below the default sampling range)")

    def build(self, shape: tuple[int, ...]) -> LogSum:
        check_domain(self.kind, "vector", shape)
        return LogSum(float(self.epsilon))
