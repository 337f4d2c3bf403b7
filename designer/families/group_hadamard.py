"""Group-shared scales: ``z_i = s_{g(i)} v_i`` with contiguous groups of equal size.

Symmetry per group: ``(s_g, v_g) -> (e^t s_g, e^-t v_g)``. Balanced: ``s_g^2 = |v_g|^2``, so
``s_g = |z_g|^{1/2}``. Weight decay gives the group lasso ``lambda sum_g |z_g|_2``; the gauge bias
is ``(T/2) sum_g log(2 |z_g|_2)``.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from designer._lazy import jax
from designer._lazy import register_dataclass
from designer._lazy import jnp
from pydantic import BaseModel, ConfigDict, Field

from .. import limits
from ._base import Family, require


@dataclasses.dataclass(frozen=True)
class GroupHadamard(Family):
    dim: int
    group_size: int

    name = "group_hadamard"
    linear_predictor = True

    @property
    def n_groups(self):
        return self.dim // self.group_size

    @property
    def predictor_shape(self):
        return (self.dim,)

    def param_shapes(self):
        return {"s": (self.n_groups,), "v": (self.dim,)}

    def predictor(self, params):
        return jnp.repeat(params["s"], self.group_size) * params["v"]

    @property
    def n_blocks(self):
        return self.n_groups

    @property
    def block_size(self):
        return 1 + self.group_size

    symmetric_mask = (True,)

    def to_blocks(self, params):
        return jnp.concatenate([params["s"][:, None], params["v"].reshape(self.n_groups, self.group_size)], axis=1)

    def from_blocks(self, blocks):
        return {"s": blocks[:, 0], "v": blocks[:, 1:].reshape(-1)}

    def block_action(self, x, t):
        return x * jnp.exp(jnp.concatenate([t, jnp.broadcast_to(-t, (self.group_size,))]))

    def closed_form(self, mechanism: str):
        """The registered closed form of ``mechanism``'s shape, ``z -> shape``, or ``None``."""
        from ._group_closed import closed_form

        return closed_form(self, mechanism)

    def balanced_point(self, z):
        zg = z.reshape(self.n_groups, self.group_size)
        norm = jnp.linalg.norm(zg, axis=1)
        s = jnp.sqrt(norm)
        safe = jnp.where(s > 0, s, 1.0)
        v = jnp.where(s[:, None] > 0, zg / safe[:, None], 0.0)
        return {"s": s, "v": v.reshape(-1)}


register_dataclass(GroupHadamard, data_fields=[], meta_fields=["dim", "group_size"])


class GroupHadamardSpec(BaseModel):
    """One shared scale per contiguous group: ``z_i = s_{g(i)} v_i``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    family: Literal["group_hadamard"] = "group_hadamard"
    group_size: int = Field(..., ge=1, le=limits.MAX_VECTOR_DIM, description="coordinates per group (contiguous)")
    dim: int | None = Field(None, ge=1, le=limits.MAX_VECTOR_DIM, description="d; taken from the points when omitted")

    def build(self, shape: tuple[int, ...] | None = None) -> GroupHadamard:
        dim = self.dim
        if shape is not None:
            require(len(shape) == 1, "points", f"group_hadamard predictors are vectors, got shape {list(shape)}")
            require(dim is None or dim == shape[0], "param.dim", f"dim={dim} but the points have length {shape[0]}")
            dim = shape[0]
        require(dim is not None, "param.dim", "give dim or points to take it from")
        require(dim % self.group_size == 0, "param.group_size", f"group_size={self.group_size} does not divide d={dim}")
        return GroupHadamard(dim=dim, group_size=self.group_size)

    # -- the design search (closed forms registered next to the family: _group_closed.py) --
    @classmethod
    def design_candidates(cls, problem, screened=None):
        from . import _group_closed

        return _group_closed.design_candidates(problem, screened)

    @classmethod
    def score_candidates(cls, problem, chunk):
        from . import _group_closed

        return _group_closed.score_candidates(problem, chunk)
