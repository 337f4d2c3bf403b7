"""``mcp``: the minimax concave penalty (Zhang 2010), ``sum_i p(|z_i|)``::

    p(t) = lambda t - t^2 / (2 gamma)   for t <= gamma lambda,
           gamma lambda^2 / 2           for t > gamma lambda,

i.e. ``p(t) = lambda int_0^t (1 - x / (gamma lambda))_+ dx``, ``gamma > 0``. Constant beyond
``gamma lambda``: no design is exact there (the transform rule needs a strictly increasing profile).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from designer._lazy import jax, pytree
from designer._lazy import jnp
from pydantic import BaseModel, ConfigDict, Field

from ._base import Target, check_domain


@pytree
@dataclasses.dataclass(frozen=True)
class Mcp(Target):
    lam: jax.Array | float = 1.0
    gamma: jax.Array | float = 3.0
    kind = "mcp"

    def value(self, z):
        return jnp.sum(self.profile(jnp.abs(z)))

    def profile(self, t):
        lam, gamma = self.lam, self.gamma
        return jnp.where(t <= gamma * lam, lam * t - t * t / (2.0 * gamma), 0.5 * gamma * lam * lam)

    @property
    def profile_flat_from(self):
        return float(self.gamma) * float(self.lam)

    @property
    def quadratic_start(self):
        return False


class McpSpec(BaseModel):
    """Minimax concave penalty (Zhang 2010): ``lambda t - t^2/(2 gamma)`` up to gamma lambda, constant beyond."""

    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)
    kind: Literal["mcp"] = "mcp"
    lam: float = Field(1.0, alias="lambda", gt=0.0, le=1e6, description="slope lambda > 0 at 0")
    gamma: float = Field(3.0, gt=0.0, le=1e6, description="concavity gamma > 0; the penalty is constant beyond gamma lambda")

    def build(self, shape: tuple[int, ...]) -> Mcp:
        check_domain(self.kind, "vector", shape)
        return Mcp(float(self.lam), float(self.gamma))
