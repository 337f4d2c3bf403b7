"""``lp``: ``R*(z) = sum_i |z_i|^p`` with ``0 < p < 2`` (a quasi-norm for p < 1)."""

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
class Lp(Target):
    p: jax.Array | float = 1.0
    kind = "lp"

    def value(self, z):
        return jnp.sum(jnp.abs(z) ** self.p)

    def profile(self, t):
        return t ** self.p

    @property
    def quadratic_start(self):
        return float(self.p) >= 2.0  # never for a valid spec (p < 2)


class LpSpec(BaseModel):
    """``sum_i |z_i|^p`` of a vector, 0 < p < 2 (Hadamard depth D with weight decay gives p = 2/D)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["lp"] = "lp"
    p: float = Field(1.0, gt=0.0, lt=2.0, description="exponent, 0 < p < 2")

    def build(self, shape: tuple[int, ...]) -> Lp:
        check_domain(self.kind, "vector", shape)
        return Lp(float(self.p))
