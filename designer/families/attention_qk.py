"""Single-head attention scores ``x W_Q W_K^T x^T`` and their Q/K symmetries.

Two variants:

- ``symmetry="columns"``: per-column rescaling ``(W_Q[:, j], W_K[:, j]) -> (e^t W_Q[:, j],
  e^-t W_K[:, j])``. The predictor is the stack of per-column outer products
  ``z_j = W_Q[:, j] W_K[:, j]^T`` (d_head x d_emb x d_emb); balance ``|W_Q[:, j]| = |W_K[:, j]|``
  (the paper's Fig. 3 diagnostic); gauge bias ``(T/2) sum_j log(2 |z_j|_F)``.
- ``symmetry="gl"``: the full GL(d_head), ``(W_Q, W_K) -> (W_Q A, W_K A^{-T})``. The predictor is
  ``M = W_Q W_K^T`` (d_emb x d_emb); this is the matrix product ``P Q`` with ``Q = W_K^T``, so the
  gauge bias is the spectral log bias of theory.md section 2.

The softmax scale ``1/sqrt(d_head)`` is a constant outside the predictor.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from designer._lazy import jax
from designer._lazy import register_dataclass
from designer._lazy import jnp
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .. import limits
from ._base import Family, rank_one_check, require
from ._matrix import expm, gl_element, gl_symmetric_mask, svd, truncated_svd


@dataclasses.dataclass(frozen=True)
class AttentionQK(Family):
    d_emb: int
    d_head: int
    symmetry: str = "columns"

    name = "attention_qk"
    linear_predictor = False

    @property
    def predictor_shape(self):
        if self.symmetry == "columns":
            return (self.d_head, self.d_emb, self.d_emb)
        return (self.d_emb, self.d_emb)

    def param_shapes(self):
        return {"WQ": (self.d_emb, self.d_head), "WK": (self.d_emb, self.d_head)}

    def predictor(self, params):
        q, k = params["WQ"], params["WK"]
        if self.symmetry == "columns":
            return jnp.einsum("aj,bj->jab", q, k)
        return q @ k.T

    def scores(self, params, x):
        """Attention logits ``x W_Q W_K^T x^T / sqrt(d_head)`` for x (seq x d_emb).

        Differentiable in reverse mode only (:func:`designer._jax.matmul`, for the simulator).
        """
        from .._jax import matmul  # JAX-only module: imported when the model runs

        return matmul(x @ params["WQ"], (x @ params["WK"]).T) / jnp.sqrt(self.d_head)

    @property
    def n_blocks(self):
        return self.d_head if self.symmetry == "columns" else 1

    @property
    def block_size(self):
        return 2 * self.d_emb if self.symmetry == "columns" else 2 * self.d_emb * self.d_head

    @property
    def symmetric_mask(self):
        if self.symmetry == "columns":
            return (True,)
        return gl_symmetric_mask(self.d_head)

    def to_blocks(self, params):
        q, k = params["WQ"], params["WK"]
        if self.symmetry == "columns":
            return jnp.concatenate([q.T, k.T], axis=1)
        return jnp.concatenate([q.reshape(-1), k.reshape(-1)])[None, :]

    def from_blocks(self, blocks):
        if self.symmetry == "columns":
            return {"WQ": blocks[:, : self.d_emb].T, "WK": blocks[:, self.d_emb:].T}
        n = self.d_emb * self.d_head
        return {"WQ": blocks[0, :n].reshape(self.d_emb, self.d_head), "WK": blocks[0, n:].reshape(self.d_emb, self.d_head)}

    def block_action(self, x, t):
        if self.symmetry == "columns":
            return x * jnp.concatenate([jnp.broadcast_to(jnp.exp(t), (self.d_emb,)), jnp.broadcast_to(jnp.exp(-t), (self.d_emb,))])
        n = self.d_emb * self.d_head
        q, k = x[:n].reshape(self.d_emb, self.d_head), x[n:].reshape(self.d_emb, self.d_head)
        g = gl_element(t, self.d_head)
        return jnp.concatenate([(q @ expm(g)).reshape(-1), (k @ expm(-g.T)).reshape(-1)])

    def balanced_point(self, z):
        if self.symmetry == "columns":
            u, s, vt = jax.vmap(svd)(z)
            root = jnp.sqrt(s[:, 0])
            return {"WQ": (root[:, None] * u[:, :, 0]).T, "WK": (root[:, None] * vt[:, 0, :]).T}
        u, s, vt = truncated_svd(z, self.d_head)
        root = jnp.sqrt(s)
        return {"WQ": u * root[None, :], "WK": vt.T * root[None, :]}

    def check_point(self, z, field="points"):
        super().check_point(z, field)
        if self.symmetry == "columns":
            rank_one_check(np.asarray(z), field, "head column")


register_dataclass(AttentionQK, data_fields=[], meta_fields=["d_emb", "d_head", "symmetry"])


class AttentionQKSpec(BaseModel):
    """Single-head attention Q/K with per-column rescaling or the full GL(d_head) symmetry."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    family: Literal["attention_qk"] = "attention_qk"
    symmetry: Literal["columns", "gl"] = Field("columns", description="per-column rescaling or full GL(d_head)")
    d_emb: int | None = Field(None, ge=1, le=limits.MAX_MATRIX_SIDE, description="embedding dimension; from the points when omitted")
    d_head: int | None = Field(None, ge=1, le=limits.MAX_RANK, description="head dimension; from the points (columns) or d_emb (gl) when omitted")

    def build(self, shape: tuple[int, ...] | None = None) -> AttentionQK:
        d_emb, d_head = self.d_emb, self.d_head
        if shape is not None:
            if self.symmetry == "columns":
                require(len(shape) == 3 and shape[1] == shape[2], "points",
                        f"attention_qk (columns) predictors are d_head x d_emb x d_emb stacks, got shape {list(shape)}")
                require(d_head is None or d_head == shape[0], "param.d_head", f"d_head={d_head} but the points have {shape[0]} columns")
                d_head = shape[0]
            else:
                require(len(shape) == 2 and shape[0] == shape[1], "points",
                        f"attention_qk (gl) predictors are square d_emb x d_emb matrices, got shape {list(shape)}")
            require(d_emb is None or d_emb == shape[-1], "param.d_emb", f"d_emb={d_emb} but the points have side {shape[-1]}")
            d_emb = shape[-1]
        require(d_emb is not None, "param.d_emb", "give d_emb, or points to take it from")
        if d_head is None:
            require(self.symmetry == "gl", "param.d_head", "give d_head, or points to take it from")
            d_head = d_emb
        return AttentionQK(d_emb=d_emb, d_head=d_head, symmetry=self.symmetry)

    # -- the design search: spectral targets of W_Q W_K^T, scored by the engine --
    #: Largest d_emb the search tries: the engine's Gram of the d_head (d_head + 1) / 2 symmetric
    #: generators of GL(d_head) per point made a 20 x 20 design 60x slower (benchmarks/bench_design.py),
    #: and for this square case the bias equals the depth-2 matrix product's, which is scored anyway.
    DESIGN_MAX_SIDE: ClassVar[int] = 8

    @classmethod
    def design_candidates(cls, problem, screened=None):
        """Square matrix targets: ``M = W_Q W_K^T`` with the full GL(d_head) symmetry, d_head = d_emb."""
        from ..design._search import candidate

        if screened is not None or problem.domain != "matrix" or problem.shape[0] != problem.shape[1]:
            return []
        d = problem.shape[0]
        if d > cls.DESIGN_MAX_SIDE:
            return []
        param = {"family": "attention_qk", "symmetry": "gl", "d_emb": d, "d_head": d}
        fam = cls.model_validate(param).build(problem.shape)
        return [candidate("attention_qk", param, m, group=f"attention_qk/{m}", chunk=1, complexity=[0, 2],
                          traits={"symmetry": "gl"},
                          description=f"attention scores W_Q W_K^T (GL(d_head) symmetry), {m.replace('_', ' ')}")
                for m in problem.applicable(fam)]
