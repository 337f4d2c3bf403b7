"""Fixed invertible linear maps placed in front of a factorization (theory.md section 5).

A basis is a synthesis matrix ``B`` (d x d): the signal is ``x = B c`` for coefficients ``c``.
All bases here are exactly invertible; ``analysis`` returns ``B^{-1}``.

- ``identity``: ``B = I``.
- ``cosine``: orthonormal DCT-II synthesis (``B = C^T`` with ``C`` the orthonormal DCT-II).
- ``cumsum``: cumulative sum, ``x_i = sum_{j<=i} c_j``; its inverse takes first differences, so
  sparsity of ``c`` is piecewise-constancy of ``x`` (the paper's Fig. 6 design).
- ``haar``: orthonormal Haar wavelets (d a power of two).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np

from .errors import DesignerInputError

BasisName = Literal["identity", "cosine", "cumsum", "haar"]
BASES: tuple[str, ...] = ("identity", "cosine", "cumsum", "haar")


def _dct_matrix(d: int) -> np.ndarray:
    n = np.arange(d)
    k = n[:, None]
    c = np.sqrt(2.0 / d) * np.cos(np.pi * (n[None, :] + 0.5) * k / d)
    c[0, :] = np.sqrt(1.0 / d)
    return c


def _haar_matrix(d: int) -> np.ndarray:
    h = np.ones((1, 1))
    while h.shape[0] < d:
        n = h.shape[0]
        top = np.kron(h, [1.0, 1.0])
        bottom = np.kron(np.eye(n), [1.0, -1.0])
        h = np.vstack([top, bottom]) / np.sqrt(2.0)
    return h


@lru_cache(maxsize=64)
def _matrices(name: str, d: int) -> tuple[np.ndarray, np.ndarray]:
    if name == "identity":
        eye = np.eye(d)
        return eye, eye
    if name == "cosine":
        c = _dct_matrix(d)
        return c.T.copy(), c
    if name == "cumsum":
        synth = np.tril(np.ones((d, d)))
        analysis = np.eye(d) - np.eye(d, k=-1)
        return synth, analysis
    if name == "haar":
        if d < 1 or d & (d - 1):
            raise DesignerInputError("basis", f"the haar basis needs a power-of-two dimension, got {d}")
        h = _haar_matrix(d)
        return h.T.copy(), h
    raise DesignerInputError("basis", f"unknown basis {name!r}; choose one of {', '.join(BASES)}")


def synthesis(name: str, d: int) -> np.ndarray:
    """The matrix ``B`` with ``x = B c`` (float64, read-only copy)."""
    return _matrices(name, d)[0].copy()


def analysis(name: str, d: int) -> np.ndarray:
    """The matrix ``B^{-1}`` with ``c = B^{-1} x`` (float64)."""
    return _matrices(name, d)[1].copy()


#: Largest dimension of a basis applied as a dense matrix (those not in :data:`FAST`).
MAX_DENSE_DIM = 4_096


def check_basis(name: str, d: int) -> None:
    """Raise :class:`DesignerInputError` if ``name`` cannot be built in dimension ``d``."""
    if name in FAST:
        return
    if name not in BASES:
        raise DesignerInputError("basis", f"unknown basis {name!r}; choose one of {', '.join(BASES)}")
    if d > MAX_DENSE_DIM:
        raise DesignerInputError("basis", f"the {name} basis is applied as a dense matrix: at most d = {MAX_DENSE_DIM}, got {d}")
    _matrices(name, d)


# -- applying a basis without its matrix (layer-sized predictors) -----------------------------------
#: Bases applied by a fast transform (O(d) or O(d log d)) instead of a d x d matrix.
FAST = ("identity", "cosine", "cumsum")


def synthesize(name: str, c: np.ndarray) -> np.ndarray:
    """``B c`` along the last axis (numpy, float64), without forming ``B`` for the fast bases."""
    if name == "identity":
        return np.asarray(c)
    if name == "cumsum":
        return np.cumsum(c, axis=-1)
    if name == "cosine":
        import scipy.fft

        return scipy.fft.idct(c, type=2, norm="ortho", axis=-1)
    return np.asarray(c) @ synthesis(name, np.shape(c)[-1]).T


def analyze(name: str, x: np.ndarray) -> np.ndarray:
    """``B^{-1} x`` along the last axis (numpy, float64), without forming a matrix for the fast bases."""
    if name == "identity":
        return np.asarray(x)
    if name == "cumsum":
        return np.diff(x, axis=-1, prepend=0.0)
    if name == "cosine":
        import scipy.fft

        return scipy.fft.dct(x, type=2, norm="ortho", axis=-1)
    return np.asarray(x) @ analysis(name, np.shape(x)[-1]).T


def column_norms_sq(name: str, d: int) -> np.ndarray:
    """``|B e_i|^2`` for each coefficient ``i`` (how far coefficient ``i`` moves the signal)."""
    if name in ("identity", "cosine", "haar"):
        return np.ones(d)  # orthonormal
    if name == "cumsum":
        return np.arange(d, 0, -1, dtype=np.float64)
    return np.sum(synthesis(name, d) ** 2, axis=0)


def synthesize_jnp(name: str, c):
    """``B c`` for one coefficient vector in JAX (fast transforms for :data:`FAST`)."""
    from ._lazy import jax, jnp

    if name == "identity":
        return c
    if name == "cumsum":
        return jnp.cumsum(c)
    if name == "cosine":
        return jax.scipy.fft.idct(c, type=2, norm="ortho")
    return jnp.asarray(synthesis(name, c.shape[0]), c.dtype) @ c


def analyze_jnp(name: str, x):
    """``B^{-1} x`` for one vector in JAX (fast transforms for :data:`FAST`)."""
    from ._lazy import jax, jnp

    if name == "identity":
        return x
    if name == "cumsum":
        return jnp.diff(x, prepend=jnp.zeros((1,), x.dtype))
    if name == "cosine":
        return jax.scipy.fft.dct(x, type=2, norm="ortho")
    return jnp.asarray(analysis(name, x.shape[0]), x.dtype) @ x
