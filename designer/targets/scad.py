"""``scad``: the smoothly clipped absolute deviation penalty (Fan & Li 2001), ``sum_i p(|z_i|)``::

    p(t) = lambda t                                        for t <= lambda,
           (2 a lambda t - t^2 - lambda^2) / (2 (a - 1))   for lambda < t <= a lambda,
           lambda^2 (a + 1) / 2                            for t > a lambda,

i.e. ``p(0) = 0`` and ``p'(t) = lambda [1(t <= lambda) + (a lambda - t)_+ / ((a - 1) lambda) 1(t > lambda)]``,
``a > 2`` (3.7 in Fan & Li). Constant beyond ``a lambda``: no design is exact there (the transform
rule needs a strictly increasing profile).
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
class Scad(Target):
    lam: jax.Array | float = 1.0
    a: jax.Array | float = 3.7
    kind = "scad"

    def value(self, z):
        return jnp.sum(self.profile(jnp.abs(z)))

    def profile(self, t):
        lam, a = self.lam, self.a
        middle = (2.0 * a * lam * t - t * t - lam * lam) / (2.0 * (a - 1.0))
        flat = 0.5 * lam * lam * (a + 1.0)
        return jnp.where(t <= lam, lam * t, jnp.where(t <= a * lam, middle, flat))

    @property
    def profile_flat_from(self):
        return float(self.a) * float(self.lam)

    @property
    def quadratic_start(self):
        return False


class ScadSpec(BaseModel):
    """SCAD penalty (Fan & Li 2001): L1 up to lambda, a quadratic blend up to a lambda, constant beyond."""

    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)
    kind: Literal["scad"] = "scad"
    lam: float = Field(1.0, alias="lambda", gt=0.0, le=1e6, description="threshold lambda > 0 (slope at 0)")
    a: float = Field(3.7, gt=2.0, le=1e6, description="shape a > 2; the penalty is constant beyond a lambda")

    def build(self, shape: tuple[int, ...]) -> Scad:
        check_domain(self.kind, "vector", shape)
        return Scad(float(self.lam), float(self.a))
