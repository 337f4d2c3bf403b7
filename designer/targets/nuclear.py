"""``nuclear``: ``R*(M) = |M|_* = sum_i s_i(M)`` (low rank)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from designer._lazy import jax
from designer._lazy import pytree
from designer._lazy import jnp
from pydantic import BaseModel, ConfigDict

from ._base import Target, check_domain


@pytree
@dataclasses.dataclass(frozen=True)
class Nuclear(Target):
    kind = "nuclear"
    domain = "matrix"

    def value(self, z):
        return jnp.sum(jnp.linalg.svd(z, compute_uv=False))

    def spectral_profile(self, s):
        return s

    @property
    def quadratic_start(self):
        return False


class NuclearSpec(BaseModel):
    """Nuclear norm ``sum_i s_i(M)`` of a matrix (M = P Q with weight decay gives it exactly)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["nuclear"] = "nuclear"

    def build(self, shape: tuple[int, ...]) -> Nuclear:
        check_domain(self.kind, "matrix", shape)
        return Nuclear()
