"""Hadamard product of depth D, optionally behind a fixed basis and a monotone transform.

``w = B psi(u_1 * ... * u_D)`` (elementwise product of D vectors of length d). Per coordinate the
symmetry is the (D-1)-dimensional torus of rescalings that keep the product: coordinate ``a`` of
the Lie algebra scales ``u_a`` by ``e^t`` and ``u_{a+1}`` by ``e^-t``. All generators are symmetric.
The balanced point has ``|u_1,i| = ... = |u_D,i| = |c_i|^{1/D}`` with ``c = psi^{-1}(B^{-1} w)``.
Gauge bias: ``T (D-1)/D sum_i log|c_i| + const``; weight decay: ``(lambda D / 2) sum_i |c_i|^{2/D}``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from designer._lazy import jax
from designer._lazy import register_dataclass
from designer._lazy import jnp
from pydantic import BaseModel, ConfigDict, Field

from .. import bases, limits
from ..transforms import IdentityTransform, TransformSpec
from ._base import Family, require


@dataclasses.dataclass(frozen=True)
class Hadamard(Family):
    depth: int
    dim: int
    basis: str = "identity"
    transform: Any = dataclasses.field(default_factory=IdentityTransform)

    name = "hadamard"
    linear_predictor = True

    @property
    def predictor_shape(self):
        return (self.dim,)

    def param_shapes(self):
        return {"u": (self.depth, self.dim)}

    def _synth(self, c):
        return bases.synthesize_jnp(self.basis, c)

    def _analysis(self, w):
        return bases.analyze_jnp(self.basis, w)

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
        return params["u"].T

    def from_blocks(self, blocks):
        return {"u": blocks.T}

    def block_action(self, x, t):
        zero = jnp.zeros((1,), t.dtype)
        logs = jnp.concatenate([t, zero]) - jnp.concatenate([zero, t])
        return x * jnp.exp(logs)

    def closed_form(self, mechanism: str):
        """The registered closed form of ``mechanism``'s shape, ``z -> shape``, or ``None``."""
        from ._hadamard_closed import closed_form

        return closed_form(self, mechanism)

    def balanced_point(self, z):
        c = self.coefficients(z)
        a = jnp.abs(c) ** (1.0 / self.depth)
        u = jnp.broadcast_to(a, (self.depth, self.dim))
        u = u.at[0].multiply(jnp.where(c < 0, -1.0, 1.0).astype(u.dtype))
        return {"u": u}


register_dataclass(
    Hadamard, data_fields=["transform"], meta_fields=["depth", "dim", "basis"]
)


class HadamardSpec(BaseModel):
    """Hadamard product of depth D, ``w = B psi(u_1 * ... * u_D)``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    family: Literal["hadamard"] = "hadamard"
    depth: int = Field(2, ge=2, le=limits.MAX_DEPTH, description="number of factors D >= 2")
    basis: Literal["identity", "cosine", "cumsum", "haar"] = Field("identity", description="fixed synthesis basis B")
    transform: TransformSpec | None = Field(None, description="optional monotone elementwise transform psi")
    dim: int | None = Field(None, ge=1, le=limits.MAX_VECTOR_DIM, description="d; taken from the points when omitted")

    def build(self, shape: tuple[int, ...] | None = None) -> Hadamard:
        dim = self.dim
        if shape is not None:
            require(len(shape) == 1, "points", f"hadamard predictors are vectors, got shape {list(shape)}")
            require(dim is None or dim == shape[0], "param.dim", f"dim={dim} but the points have length {shape[0]}")
            dim = shape[0]
        require(dim is not None, "param.dim", "give dim or points to take it from")
        require(dim <= limits.MAX_VECTOR_DIM, "param.dim", f"at most {limits.MAX_VECTOR_DIM}, got {dim}")
        bases.check_basis(self.basis, dim)
        transform = self.transform.build() if self.transform is not None else IdentityTransform()
        return Hadamard(depth=self.depth, dim=dim, basis=self.basis, transform=transform)

    # -- the design search (closed forms registered next to the family: _hadamard_closed.py) --
    @classmethod
    def design_candidates(cls, problem, screened=None):
        from . import _hadamard_closed

        return _hadamard_closed.design_candidates(problem, screened)

    @classmethod
    def score_candidates(cls, problem, chunk):
        from . import _hadamard_closed

        return _hadamard_closed.score_candidates(problem, chunk)
