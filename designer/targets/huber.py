"""``huber``: ``R*(z) = sum_i H_delta(z_i)`` (Huber 1964), with

    H_delta(t) = t^2 / 2                  for |t| <= delta,
                 delta (|t| - delta / 2)  otherwise

(``scipy.special.huber(delta, t)``). It is the infimal convolution of ``delta |.|`` and half the
squared L2 norm (theory.md 5.1, the sum rule), quadratic at 0 and linear in the tails: the sum
``(1/delta) u * v + theta`` (a depth-2 Hadamard product with weight ``1/delta`` plus a linear term)
under weight decay has exactly ``H_delta`` as its bias (:meth:`Huber.sum_designs`), with finite
gradients everywhere, unlike the table transform ``psi^{-1} = H_delta`` (``psi ~ sqrt(2|x|)`` at 0).
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
class Huber(Target):
    delta: jax.Array | float = 1.0
    kind = "huber"

    def value(self, z):
        return jnp.sum(self.profile(jnp.abs(z)))

    def profile(self, t):
        return jnp.where(t <= self.delta, 0.5 * t * t, self.delta * (t - 0.5 * self.delta))

    @property
    def quadratic_start(self):
        return True

    def sum_designs(self, shape):
        delta = float(self.delta)
        return ({
            "param": {"family": "sum", "terms": [{"family": "hadamard"}, {"family": "linear"}], "weights": [1.0 / delta, 1.0]},
            "mechanisms": ("weight_decay",),
            "rule": f"H_delta(z) = min_(x+y=z) delta |x|_1 + |y|^2 / 2 with delta = {delta:.6g}: a depth-2 Hadamard product "
                    "with weight 1/delta (weight decay: |x / w|_1 = delta |x|_1) plus a linear term (weight decay: |y|^2 / 2); "
                    "the sum rule's bias is their infimal convolution, and both maps have finite slopes (trainable from 0)",
        },)


class HuberSpec(BaseModel):
    """Huber function ``sum_i H_delta(z_i)``: ``t^2/2`` for ``|t| <= delta``, ``delta (|t| - delta/2)`` beyond."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["huber"] = "huber"
    delta: float = Field(1.0, gt=0.0, le=1e6, description="threshold between the quadratic and the linear part, > 0")

    def build(self, shape: tuple[int, ...]) -> Huber:
        check_domain(self.kind, "vector", shape)
        return Huber(float(self.delta))
