"""``path_norm``: ``R*(Z) = sum_j |z_j|_2`` over the rows of ``Z`` (the path norm of a ReLU layer).

For a two-layer bias-free ReLU network with one output, the predictor row ``z_j = v_j w_j`` is a
hidden unit's outer product, and ``sum_j |z_j| = sum_j |v_j| |w_j|`` is the network's path norm
(Neyshabur et al. 2015). Weight decay on ``relu_two_layer`` induces it exactly (the balanced point
has ``|v_j| = |w_j| = |z_j|^{1/2}``).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from pydantic import BaseModel, ConfigDict

from designer._lazy import jnp, pytree

from ._base import Target, check_domain


@pytree
@dataclasses.dataclass(frozen=True)
class PathNorm(Target):
    kind = "path_norm"
    domain = "matrix"

    def value(self, z):
        return jnp.sum(jnp.sqrt(jnp.sum(z * z, axis=1)))


class PathNormSpec(BaseModel):
    """Path norm ``sum_j |z_j|_2`` over the rows (hidden units) of a ReLU layer's predictor."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["path_norm"] = "path_norm"

    def build(self, shape: tuple[int, ...]) -> PathNorm:
        check_domain(self.kind, "matrix", shape)
        return PathNorm()
