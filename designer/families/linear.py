"""A plain linear map ``z = B theta`` (no symmetry): ``theta = B^{-1} z`` is the whole fibre.

Weight decay gives ``(lambda/2) |B^{-1} z|^2``; label noise a constant (``tr(Sigma B B^T)``, the
Jacobian does not depend on theta); the gauge bias is 0 (no generators). In a sum it is the
smooth term: L1 (Hadamard) plus a linear term under weight decay is the Huber function.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .. import limits
from .._lazy import jnp, register_dataclass
from ..linear_maps import BasisSpec, build_map
from ._base import Family, require


@dataclasses.dataclass(frozen=True)
class Linear(Family):
    basis: Any
    shape: tuple[int, ...]

    name = "linear"
    linear_predictor = True

    @property
    def predictor_shape(self):
        return tuple(self.shape)

    def param_shapes(self):
        return {"theta": tuple(self.shape)}

    def predictor(self, params):
        return self.basis.synth(params["theta"])

    n_blocks = 1
    symmetric_mask = ()

    @property
    def block_size(self):
        return int(__import__("math").prod(self.shape))

    def to_blocks(self, params):
        return params["theta"].reshape(1, -1)

    def from_blocks(self, blocks):
        return {"theta": blocks.reshape(self.shape)}

    def block_action(self, x, t):
        return x

    def balanced_point(self, z):
        return {"theta": self.basis.analysis(z)}

    def closed_form(self, mechanism: str):
        """Weight decay ``|B^-1 z|^2 / 2``; label noise the constant ``|B|_F^2`` (identity second moment)."""
        atom = self.convex_atom(mechanism)
        if atom is None:
            return None
        if atom.kind == "sq":
            return lambda z: 0.5 * jnp.sum(self.basis.analysis(z) ** 2)
        return lambda z: jnp.sum(jnp.asarray(atom.const, z.dtype))

    def convex_atom(self, mechanism: str):
        from ._sum_closed import Atom, column_norms_sq, map_atom

        if mechanism == "weight_decay":
            return map_atom("sq", self.basis, 1.0)
        if mechanism == "label_noise":
            return Atom("free", span="all", const=jnp.sum(jnp.asarray(column_norms_sq(self.basis))))
        return None


register_dataclass(Linear, data_fields=["basis"], meta_fields=["shape"])


class LinearSpec(BaseModel):
    """``z = B theta`` with a fixed invertible map ``B`` (no symmetry)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    family: Literal["linear"] = "linear"
    basis: BasisSpec = Field("identity", description="the map B: a named basis or a given invertible matrix")
    dim: int | None = Field(None, ge=1, le=limits.MAX_VECTOR_DIM, description="d for vectors; taken from the points when omitted")

    def build(self, shape: tuple[int, ...] | None = None) -> Linear:
        if shape is None:
            require(self.dim is not None, "param.dim", "give dim or points to take it from")
            shape = (self.dim,)
        shape = tuple(int(s) for s in shape)
        require(len(shape) in (1, 2), "points", f"linear predictors are vectors or matrices, got shape {list(shape)}")
        require(self.dim is None or shape == (self.dim,), "param.dim", f"dim={self.dim} but the points have shape {list(shape)}")
        require(int(__import__("math").prod(shape)) <= limits.MAX_VECTOR_DIM, "points", f"at most {limits.MAX_VECTOR_DIM} entries")
        return Linear(build_map(self.basis, shape, "param.basis"), shape)

    @classmethod
    def design_candidates(cls, problem, screened=None):
        """None on its own (a quadratic or constant bias); a term of sums (half squared L2 in Huber)."""
        return []
