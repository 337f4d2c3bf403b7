"""Fixed invertible linear maps placed in front of a factorization, as pytrees (theory.md section 5).

A map acts on predictor-shaped arrays: ``synth(c)`` is ``z = B c``, ``analysis(z)`` is
``c = B^{-1} z``, exactly inverse to each other.

- named maps for vectors (``identity``, ``cosine``, ``cumsum``, ``haar``; see
  :mod:`designer.bases`) and for matrices (images) of shape ``[h, w]``: ``identity`` and
  ``cumsum2d``, the 2-D cumulative sum ``Z_ij = sum_{a <= i, b <= j} C_ab`` whose inverse is the
  mixed finite difference ``C_ij = Z_ij - Z_i-1,j - Z_i,j-1 + Z_i-1,j-1`` (zero outside);
- a given matrix, ``{"kind": "matrix", "values": [[...]]}``, square with side the number of
  entries of a predictor (row-major flattening for matrices). Refused when its 2-norm condition
  number exceeds ``limits.MAX_CONDITION`` (1e8: its float64 inverse is then accurate to about
  1e-8 relative) or when it is not finite, not square or of the wrong size.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from . import bases, limits
from ._lazy import LazyPytree, jnp, register_dataclass
from .errors import DesignerInputError

VECTOR_MAPS: tuple[str, ...] = ("identity", "cosine", "cumsum", "haar")
MATRIX_MAPS: tuple[str, ...] = ("identity", "cumsum2d")
MapName = Literal["identity", "cosine", "cumsum", "haar", "cumsum2d"]


@dataclasses.dataclass(frozen=True)
class NamedMap(LazyPytree):
    """A named map on predictors of ``shape`` (no array leaves: compiled in as constants)."""

    name: str
    shape: tuple[int, ...]

    def synth(self, c):
        if self.name == "identity":
            return c
        if self.name == "cumsum2d":
            return jnp.cumsum(jnp.cumsum(c, axis=-2), axis=-1)
        return bases.synthesize_jnp(self.name, c)

    def analysis(self, z):
        if self.name == "identity":
            return z
        if self.name == "cumsum2d":
            rows = jnp.diff(z, axis=-2, prepend=jnp.zeros_like(z[..., :1, :]))
            return jnp.diff(rows, axis=-1, prepend=jnp.zeros_like(rows[..., :, :1]))
        return bases.analyze_jnp(self.name, z)


register_dataclass(NamedMap, data_fields=[], meta_fields=["name", "shape"])


@dataclasses.dataclass(frozen=True)
class MatrixMap(LazyPytree):
    """A given invertible matrix on the (row-major) flattened predictor; its inverse is a leaf too."""

    values: np.ndarray
    inverse: np.ndarray
    shape: tuple[int, ...]
    name = "matrix"

    def _apply(self, a, x):
        flat = x.reshape(*x.shape[: x.ndim - len(self.shape)], -1)
        return (flat @ jnp.asarray(a, x.dtype).T).reshape(x.shape)

    def synth(self, c):
        return self._apply(self.values, c)

    def analysis(self, z):
        return self._apply(self.inverse, z)


register_dataclass(MatrixMap, data_fields=["values", "inverse"], meta_fields=["shape"])


class MatrixMapSpec(BaseModel):
    """A given invertible matrix ``B`` (``z = B c`` on the flattened predictor)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["matrix"] = "matrix"
    values: list[list[float]] = Field(
        ..., min_length=1, max_length=limits.MAX_GIVEN_MATRIX_DIM,
        description=f"the rows of B (square, side = entries of a predictor, condition number <= {limits.MAX_CONDITION:g})",
    )


BasisSpec = MapName | MatrixMapSpec


def check_matrix(values, n: int, field: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate a given square matrix of side ``n``; returns ``(B, B^{-1})`` in float64."""
    rows = [len(r) for r in values]
    if len(values) != n or any(r != n for r in rows):
        bad = next((k for k, r in enumerate(rows) if r != n), None)
        where = f"{field}.values" if bad is None or len(values) != n else f"{field}.values[{bad}]"
        raise DesignerInputError(
            where, f"expected a {n} x {n} matrix (side = entries of one predictor), got {len(values)} rows"
            + ("" if bad is None else f" (row {bad} has {rows[bad]} entries)"),
        )
    b = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(b)):
        raise DesignerInputError(f"{field}.values", "contains a non-finite value")
    s = np.linalg.svd(b, compute_uv=False)
    cond = np.inf if s[-1] == 0 else s[0] / s[-1]
    if not cond <= limits.MAX_CONDITION:
        what = "singular" if s[-1] <= n * np.finfo(np.float64).eps * s[0] else "ill-conditioned"
        raise DesignerInputError(
            f"{field}.values",
            f"the matrix is {what}: condition number {cond:.3g} exceeds {limits.MAX_CONDITION:g} "
            "(singular values from {:.3g} down to {:.3g})".format(s[0], s[-1]),
        )
    return b, np.linalg.inv(b)


def build_map(spec, shape: tuple[int, ...], field: str = "basis"):
    """Make a :class:`NamedMap` or :class:`MatrixMap` for predictors of ``shape``."""
    shape = tuple(int(s) for s in shape)
    if isinstance(spec, MatrixMapSpec):
        n = math.prod(shape)
        if n > limits.MAX_GIVEN_MATRIX_DIM:
            raise DesignerInputError(field, f"a given matrix acts on at most {limits.MAX_GIVEN_MATRIX_DIM} entries, the predictors have {n}")
        b, inv = check_matrix(spec.values, n, field)
        return MatrixMap(b, inv, shape)
    name = str(spec)
    allowed = VECTOR_MAPS if len(shape) == 1 else MATRIX_MAPS if len(shape) == 2 else ("identity",)
    if name not in allowed:
        kind = {1: "vector", 2: "matrix"}.get(len(shape), f"{len(shape)}-D")
        raise DesignerInputError(field, f"basis {name!r} does not apply to {kind} predictors of shape {list(shape)}; choose one of {', '.join(allowed)} or a given matrix")
    if len(shape) == 1 and name != "identity":
        try:
            bases.check_basis(name, shape[0])
        except DesignerInputError as exc:
            raise DesignerInputError(field, exc.message) from None
    return NamedMap(name, shape)
