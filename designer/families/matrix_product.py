"""Matrix product of depth D: ``M = W_1 W_2 ... W_D`` with inner dimension ``rank``.

``W_1`` is m x r, the middle factors r x r, ``W_D`` r x n. Between each adjacent pair acts GL(r):
``(W_k, W_{k+1}) -> (W_k e^X, e^-X W_{k+1})``; symmetric X are the non-compact generators, the
antisymmetric ones rotations. Balanced (``W_k^T W_k = W_{k+1} W_{k+1}^T``) closed form from the
SVD ``M = U S V^T``: ``W_1 = U S^{1/D}``, ``W_k = S^{1/D}``, ``W_D = S^{1/D} V^T``.
Depth 2: gauge bias ``(T/2)[sum_i log s_i + sum_{i<j} log(s_i + s_j)] + const``, weight decay
``lambda |M|_*``; depth D weight decay gives Schatten-2/D.

An optional monotone transform acts spectrally: ``Z = U psi(S) V^T`` for ``W_1 ... W_D = U S V^T``
(same group, same fibre structure). The balanced point of ``Z = U T V^T`` is that of
``U psi^{-1}(T) V^T``, so depth-2 weight decay gives ``lambda sum_i psi^{-1}(t_i)``: any spectral
penalty ``sum_i g(t_i)`` with ``g`` increasing from ``g(0) = 0`` is exact with ``psi^{-1} = g``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from designer._lazy import jnp, register_dataclass

from .. import limits
from ..transforms import IdentityTransform, TransformSpec
from ._base import Family, require
from ._matrix import expm, gl_element, gl_symmetric_mask, svd, truncated_svd


@dataclasses.dataclass(frozen=True)
class MatrixProduct(Family):
    rows: int
    cols: int
    rank: int
    depth: int = 2
    transform: Any = dataclasses.field(default_factory=IdentityTransform)

    name = "matrix_product"
    linear_predictor = True

    def _shapes(self):
        r = self.rank
        shapes = [(self.rows, r)] + [(r, r)] * (self.depth - 2) + [(r, self.cols)]
        return shapes

    @property
    def predictor_shape(self):
        return (self.rows, self.cols)

    def param_shapes(self):
        return {f"W{k + 1}": s for k, s in enumerate(self._shapes())}

    def factors(self, params):
        return [params[f"W{k + 1}"] for k in range(self.depth)]

    @property
    def spectral(self) -> bool:
        return not isinstance(self.transform, IdentityTransform)

    def predictor(self, params):
        out = params["W1"]
        for k in range(1, self.depth):
            out = out @ params[f"W{k + 1}"]
        if self.spectral:
            u, s, vt = svd(out)
            out = (u * self.transform.forward(s)[None, :]) @ vt
        return out

    def sgd_predictor(self, params):
        """The product with :func:`designer._jax.matmul`: its gradient ``W1^T g`` is a product of
        untransposed operands (XLA's CPU backend folds the transpose into a kernel outside YNNPACK:
        11 us of Fig. 4's 13 us step)."""
        if self.spectral:
            return self.predictor(params)
        from .._jax import matmul  # JAX-only module: imported when the model trains

        out = params["W1"]
        for k in range(1, self.depth):
            out = matmul(out, params[f"W{k + 1}"])
        return out

    n_blocks = 1

    @property
    def block_size(self):
        return sum(int(np.prod(s)) for s in self._shapes())

    @property
    def symmetric_mask(self):
        return gl_symmetric_mask(self.rank) * (self.depth - 1)

    def to_blocks(self, params):
        return jnp.concatenate([w.reshape(-1) for w in self.factors(params)])[None, :]

    def _split(self, x):
        out, start = [], 0
        for s in self._shapes():
            size = int(np.prod(s))
            out.append(x[start:start + size].reshape(s))
            start += size
        return out

    def from_blocks(self, blocks):
        return {f"W{k + 1}": w for k, w in enumerate(self._split(blocks[0]))}

    def block_action(self, x, t):
        ws = self._split(x)
        t = t.reshape(self.depth - 1, self.rank * self.rank)
        for k in range(self.depth - 1):
            g = gl_element(t[k], self.rank)
            ws[k] = ws[k] @ expm(g)
            ws[k + 1] = expm(-g) @ ws[k + 1]
        return jnp.concatenate([w.reshape(-1) for w in ws])

    def closed_form(self, mechanism: str):
        """The registered closed form of ``mechanism``'s shape, ``z -> shape``, or ``None``."""
        from ._matrix_closed import closed_form

        return closed_form(self, mechanism)

    def convex_atom(self, mechanism: str):
        """Depth 2, full rank, no transform: weight decay ``|M|_*``, label noise ``2 sqrt(mn) |M|_*``."""
        from ._sum_closed import Atom

        if self.depth != 2 or self.spectral or self.rank != min(self.rows, self.cols):
            return None
        if mechanism == "weight_decay":
            return Atom("nuclear", 1.0)
        if mechanism == "label_noise":
            return Atom("nuclear", 2.0 * float(np.sqrt(self.rows * self.cols)))
        return None

    @property
    def finite_slope(self) -> bool:
        return self.transform.finite_slope

    def balanced_point(self, z):
        u, s, vt = truncated_svd(z, self.rank)
        if self.spectral:
            s = self.transform.inverse(s)
        root = s ** (1.0 / self.depth)
        ws = [u * root[None, :]] + [jnp.diag(root)] * (self.depth - 2) + [root[:, None] * vt]
        return {f"W{k + 1}": w for k, w in enumerate(ws)}


register_dataclass(MatrixProduct, data_fields=["transform"], meta_fields=["rows", "cols", "rank", "depth"])


class MatrixProductSpec(BaseModel):
    """Matrix product ``M = W_1 ... W_D`` with inner dimension ``rank`` (GL(rank) between factors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    family: Literal["matrix_product"] = "matrix_product"
    depth: int = Field(2, ge=2, le=limits.MAX_DEPTH, description="number of factors D >= 2")
    rank: int | None = Field(None, ge=1, le=limits.MAX_RANK, description="inner dimension r; min(m, n) when omitted")
    rows: int | None = Field(None, ge=1, le=limits.MAX_MATRIX_SIDE, description="m; taken from the points when omitted")
    cols: int | None = Field(None, ge=1, le=limits.MAX_MATRIX_SIDE, description="n; taken from the points when omitted")
    transform: TransformSpec | None = Field(None, description="optional monotone transform psi of the singular values of the product")

    def build(self, shape: tuple[int, ...] | None = None) -> MatrixProduct:
        rows, cols = self.rows, self.cols
        if shape is not None:
            require(len(shape) == 2, "points", f"matrix_product predictors are matrices, got shape {list(shape)}")
            require(rows is None or rows == shape[0], "param.rows", f"rows={rows} but the points have {shape[0]} rows")
            require(cols is None or cols == shape[1], "param.cols", f"cols={cols} but the points have {shape[1]} columns")
            rows, cols = shape
        require(rows is not None and cols is not None, "param.rows", "give rows and cols, or points to take them from")
        require(max(rows, cols) <= limits.MAX_MATRIX_SIDE, "points", f"matrix sides at most {limits.MAX_MATRIX_SIDE}")
        rank = self.rank if self.rank is not None else min(rows, cols)
        transform = self.transform.build("param.transform") if self.transform is not None else IdentityTransform()
        return MatrixProduct(rows=rows, cols=cols, rank=rank, depth=self.depth, transform=transform)

    # -- the design search (closed forms registered next to the family: _matrix_closed.py) --
    @classmethod
    def design_candidates(cls, problem, screened=None):
        from . import _matrix_closed

        return _matrix_closed.design_candidates(problem, screened)

    @classmethod
    def score_candidates(cls, problem, chunk):
        from . import _matrix_closed

        return _matrix_closed.score_candidates(problem, chunk)
