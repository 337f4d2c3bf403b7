"""``elastic_net``: ``R*(z) = l1_ratio |z|_1 + (1 - l1_ratio)/2 |z|_2^2`` (Zou & Hastie 2005).

The convention is scikit-learn's ``ElasticNet`` penalty with ``alpha = 1``: ``l1_ratio = 1`` is the
L1 norm, ``l1_ratio = 0`` half the squared L2 norm. An overall scale is what the design fits
(``R_phi ~ a R* + b``), so one mixing knob covers every pair of L1 and L2 weights.
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
class ElasticNet(Target):
    l1_ratio: jax.Array | float = 0.5
    kind = "elastic_net"

    def value(self, z):
        return jnp.sum(self.profile(jnp.abs(z)))

    def profile(self, t):
        return self.l1_ratio * t + 0.5 * (1.0 - self.l1_ratio) * t * t

    @property
    def quadratic_start(self):
        # r(t) ~ l1_ratio t at 0 unless l1_ratio = 0 (then t^2 / 2)
        return float(self.l1_ratio) == 0.0


class ElasticNetSpec(BaseModel):
    """Elastic net ``l1_ratio |z|_1 + (1 - l1_ratio)/2 |z|_2^2`` of a vector (scikit-learn's penalty, alpha = 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["elastic_net"] = "elastic_net"
    l1_ratio: float = Field(0.5, ge=0.0, le=1.0, description="weight of |z|_1; (1 - l1_ratio)/2 weighs |z|_2^2")

    def build(self, shape: tuple[int, ...]) -> ElasticNet:
        check_domain(self.kind, "vector", shape)
        return ElasticNet(float(self.l1_ratio))
