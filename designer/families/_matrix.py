"""Shared pieces of the GL(r) families (matrix products, attention Q/K)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def gl_basis(r: int) -> tuple[np.ndarray, tuple[bool, ...]]:
    """An orthonormal basis of gl(r): symmetric elements first, then antisymmetric ones.

    Returns ``(basis, mask)`` with ``basis`` of shape ``(r*r, r, r)`` and ``mask[a]`` True for
    symmetric ``T_a`` (non-compact rescalings) and False for antisymmetric ones (rotations).
    """
    sym, anti = [], []
    for i in range(r):
        for j in range(i, r):
            e = np.zeros((r, r))
            if i == j:
                e[i, i] = 1.0
            else:
                e[i, j] = e[j, i] = 1.0 / np.sqrt(2.0)
            sym.append(e)
    for i in range(r):
        for j in range(i + 1, r):
            e = np.zeros((r, r))
            e[i, j] = 1.0 / np.sqrt(2.0)
            e[j, i] = -1.0 / np.sqrt(2.0)
            anti.append(e)
    basis = np.stack(sym + anti) if r > 0 else np.zeros((0, 0, 0))
    mask = (True,) * len(sym) + (False,) * len(anti)
    return basis, mask


def svd(m: jnp.ndarray):
    """Thin SVD ``(u, s, vt)``; on CPU by the QR (gesvd) algorithm.

    On CPU, LAPACK's divide-and-conquer (the default) with singular vectors measured ~40 ms for
    a 50 x 50 matrix here against ~0.9 ms for gesvd (benchmarks/bench_geometry.py).
    """
    if jax.default_backend() == "cpu":
        return jax.lax.linalg.svd(m, full_matrices=False, algorithm=jax.lax.linalg.SvdAlgorithm.QR)
    return jnp.linalg.svd(m, full_matrices=False)


def truncated_svd(m: jnp.ndarray, rank: int):
    """Top-``rank`` singular triplets of ``m``, zero-padded when ``rank > min(m.shape)``."""
    u, s, vt = svd(m)
    k = s.shape[0]
    if rank <= k:
        return u[:, :rank], s[:rank], vt[:rank, :]
    pad = rank - k
    u = jnp.concatenate([u, jnp.zeros((u.shape[0], pad), u.dtype)], axis=1)
    s = jnp.concatenate([s, jnp.zeros((pad,), s.dtype)])
    vt = jnp.concatenate([vt, jnp.zeros((pad, vt.shape[1]), vt.dtype)], axis=0)
    return u, s, vt


def expm(x: jnp.ndarray, squarings: int = 4, degree: int = 10) -> jnp.ndarray:
    """Matrix exponential by a fixed Taylor polynomial and fixed scaling-and-squaring.

    Straight-line code (no data-dependent branches), so it compiles fast and its ``jvp`` at 0
    is exactly the tangent ``X`` (what the generators need). Relative error about 1e-18 for
    ``|X| <= 2`` and 1e-11 at ``|X| = 8``, beyond the group elements used here.
    """
    y = x / (2.0**squarings)
    eye = jnp.eye(x.shape[-1], dtype=x.dtype)
    result = eye
    for k in range(degree, 0, -1):  # Horner: I + Y/1 (I + Y/2 (I + ...))
        result = eye + (y @ result) / k
    for _ in range(squarings):
        result = result @ result
    return result
