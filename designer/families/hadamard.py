"""Hadamard product of depth D, optionally behind a fixed basis and a monotone transform.

``w = B psi(u_1 * ... * u_D)`` (elementwise product of D arrays of the predictor's shape: vectors
of length d, or matrices ``[h, w]`` entrywise; ``B`` a fixed linear map, :mod:`designer.linear_maps`). Per coordinate the
symmetry is the (D-1)-dimensional torus of rescalings that keep the product: coordinate ``a`` of
the Lie algebra scales ``u_a`` by ``e^t`` and ``u_{a+1}`` by ``e^-t``. All generators are symmetric.
The balanced point has ``|u_1,i| = ... = |u_D,i| = |c_i|^{1/D}`` with ``c = psi^{-1}(B^{-1} w)``.
Gauge bias: ``T (D-1)/D sum_i log|c_i| + const``; weight decay: ``(lambda D / 2) sum_i |c_i|^{2/D}``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from designer._lazy import jnp, register_dataclass

from .. import limits
from ..linear_maps import BasisSpec, NamedMap, build_map
from ..transforms import IdentityTransform, TransformSpec
from ._base import Family, require


@dataclasses.dataclass(frozen=True)
class Hadamard(Family):
    depth: int
    dim: int
    basis: Any = None
    transform: Any = dataclasses.field(default_factory=IdentityTransform)
    #: predictor shape when it is a matrix (``dim`` is then its number of entries)
    matrix_shape: tuple[int, ...] | None = None

    name = "hadamard"
    linear_predictor = True

    def __post_init__(self):
        if self.basis is None:
            object.__setattr__(self, "basis", NamedMap("identity", self.predictor_shape))

    @property
    def predictor_shape(self):
        return (self.dim,) if self.matrix_shape is None else tuple(self.matrix_shape)

    def param_shapes(self):
        return {"u": (self.depth, *self.predictor_shape)}

    def _synth(self, c):
        return self.basis.synth(c)

    def _analysis(self, w):
        return self.basis.analysis(w)

    def coefficients(self, z):
        """``c = psi^{-1}(B^{-1} z)``: the elementwise product on the fibre over ``z``."""
        return self.transform.inverse(self._analysis(z))

    def predictor(self, params):
        return self._synth(self.transform.forward(jnp.prod(params["u"], axis=0)))

    @property
    def n_blocks(self):
        return self.dim

    @property
    def block_size(self):
        return self.depth

    @property
    def symmetric_mask(self):
        return (True,) * (self.depth - 1)

    def to_blocks(self, params):
        return params["u"].reshape(self.depth, self.dim).T

    def from_blocks(self, blocks):
        return {"u": blocks.T.reshape(self.depth, *self.predictor_shape)}

    def block_action(self, x, t):
        zero = jnp.zeros((1,), t.dtype)
        logs = jnp.concatenate([t, zero]) - jnp.concatenate([zero, t])
        return x * jnp.exp(logs)

    def closed_form(self, mechanism: str):
        """The registered closed form of ``mechanism``'s shape, ``z -> shape``, or ``None``."""
        from ._hadamard_closed import closed_form

        return closed_form(self, mechanism)

    def convex_atom(self, mechanism: str):
        """Depth 2, no transform: weight decay ``|c|_1``, label noise ``sum_i 2 |B e_i|^2 |c_i|``."""
        from ._sum_closed import ORTHONORMAL, column_norms_sq, map_atom

        if self.depth != 2 or self.transform.name != "identity" or mechanism not in ("weight_decay", "label_noise"):
            return None
        if mechanism == "weight_decay" or getattr(self.basis, "name", None) in ORTHONORMAL:
            return map_atom("l1", self.basis, 1.0 if mechanism == "weight_decay" else 2.0)
        return map_atom("l1", self.basis, 2.0 * column_norms_sq(self.basis))

    @property
    def finite_slope(self) -> bool:
        return self.transform.finite_slope

    def balanced_point(self, z):
        c = self.coefficients(z)
        a = jnp.abs(c) ** (1.0 / self.depth)
        u = jnp.broadcast_to(a, (self.depth, *self.predictor_shape))
        u = u.at[0].multiply(jnp.where(c < 0, -1.0, 1.0).astype(u.dtype))
        return {"u": u}


register_dataclass(
    Hadamard, data_fields=["basis", "transform"], meta_fields=["depth", "dim", "matrix_shape"]
)


class HadamardSpec(BaseModel):
    """Hadamard product of depth D, ``w = B psi(u_1 * ... * u_D)`` (vectors, or matrices entrywise)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    family: Literal["hadamard"] = "hadamard"
    depth: int = Field(2, ge=2, le=limits.MAX_DEPTH, description="number of factors D >= 2")
    basis: BasisSpec = Field(
        "identity",
        description="fixed synthesis map B: identity, cosine, cumsum, haar (vectors), cumsum2d (matrices), "
        "or a given invertible matrix {kind: matrix, values}",
    )
    transform: TransformSpec | None = Field(None, description="optional monotone elementwise transform psi")
    dim: int | None = Field(None, ge=1, le=limits.MAX_VECTOR_DIM, description="d; taken from the points when omitted")

    def build(self, shape: tuple[int, ...] | None = None) -> Hadamard:
        dim, matrix_shape = self.dim, None
        if shape is not None:
            require(len(shape) in (1, 2), "points", f"hadamard predictors are vectors or matrices, got shape {list(shape)}")
            if len(shape) == 2:
                require(self.dim is None, "param.dim", "dim is for vector predictors; matrix shapes come from the points")
                matrix_shape = tuple(int(s) for s in shape)
                require(max(matrix_shape) <= limits.MAX_MATRIX_SIDE, "points", f"matrix sides at most {limits.MAX_MATRIX_SIDE}")
                dim = matrix_shape[0] * matrix_shape[1]
            else:
                require(dim is None or dim == shape[0], "param.dim", f"dim={dim} but the points have length {shape[0]}")
                dim = shape[0]
        require(dim is not None, "param.dim", "give dim or points to take it from")
        require(dim <= limits.MAX_VECTOR_DIM, "param.dim", f"at most {limits.MAX_VECTOR_DIM}, got {dim}")
        basis = build_map(self.basis, matrix_shape or (dim,), "param.basis")
        transform = self.transform.build("param.transform") if self.transform is not None else IdentityTransform()
        return Hadamard(depth=self.depth, dim=dim, basis=basis, transform=transform, matrix_shape=matrix_shape)

    # -- the design search (closed forms registered next to the family: _hadamard_closed.py) --
    @classmethod
    def design_candidates(cls, problem, screened=None):
        from . import _hadamard_closed

        return _hadamard_closed.design_candidates(problem, screened)

    @classmethod
    def score_candidates(cls, problem, chunk):
        from . import _hadamard_closed

        return _hadamard_closed.score_candidates(problem, chunk)

    @classmethod
    def inexact_reasons(cls, problem):
        from . import _hadamard_closed

        return _hadamard_closed.inexact_reasons(problem)
