"""``l1``: ``R*(z) = sum_i |z_i|`` (sparsity)."""

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
class L1(Target):
    kind = "l1"

    def value(self, z):
        return jnp.sum(jnp.abs(z))

    def profile(self, t):
        return t

    @property
    def quadratic_start(self):
        return False


class L1Spec(BaseModel):
    """L1 norm ``sum_i |z_i|`` of a vector (sparsity)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["l1"] = "l1"

    def build(self, shape: tuple[int, ...]) -> L1:
        check_domain(self.kind, "vector", shape)
        return L1()
