"""``schatten``: ``R*(M) = sum_i s_i(M)^p`` (Schatten-p quasi-norm to the p-th power), 0 < p <= 2."""

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
class Schatten(Target):
    p: jax.Array | float = 1.0
    kind = "schatten"
    domain = "matrix"

    def value(self, z):
        return jnp.sum(jnp.linalg.svd(z, compute_uv=False) ** self.p)

    def spectral_profile(self, s):
        return s ** self.p

    @property
    def quadratic_start(self):
        return float(self.p) >= 2.0


class SchattenSpec(BaseModel):
    """``sum_i s_i^p`` of a matrix, 0 < p <= 2 (a depth-D matrix product with weight decay gives p = 2/D)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["schatten"] = "schatten"
    p: float = Field(1.0, gt=0.0, le=2.0, description="exponent, 0 < p <= 2")

    def build(self, shape: tuple[int, ...]) -> Schatten:
        check_domain(self.kind, "matrix", shape)
        return Schatten(float(self.p))
