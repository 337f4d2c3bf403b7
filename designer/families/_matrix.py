"""Shared pieces of the GL(r) families (matrix products, attention Q/K)."""

from __future__ import annotations

import contextlib
import contextvars
import functools

from designer._lazy import jax
from designer._lazy import jnp
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


def gl_symmetric_mask(r: int) -> tuple[bool, ...]:
    """The ``mask`` of :func:`gl_basis` (``r (r + 1) / 2`` symmetric elements, then the antisymmetric
    ones) without building the ``(r*r, r, r)`` basis, which is too large for layer-sized ``r``."""
    return (True,) * (r * (r + 1) // 2) + (False,) * (r * (r - 1) // 2)


def svd(m: jnp.ndarray):
    """Thin SVD ``(u, s, vt)`` (LAPACK's divide-and-conquer ``gesdd`` on CPU).

    Measured here (jaxlib 0.10, 2 cores, idle): 0.4-0.8 ms for 50 x 50 against 1.0-1.4 ms for
    the QR algorithm (``gesvd``), and 3 ms against 7.5 ms at 100 x 100; an earlier measurement
    of gesdd at ~40 ms did not reproduce. Should LAPACK not converge, the result is NaN, and
    the biases built on it are NaN, not a wrong number.
    """
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


def _taylor_expm(x: jnp.ndarray, squarings: int = 4, degree: int = 10) -> jnp.ndarray:
    y = x / (2.0**squarings)
    eye = jnp.eye(x.shape[-1], dtype=x.dtype)
    result = eye
    for k in range(degree, 0, -1):  # Horner: I + Y/1 (I + Y/2 (I + ...))
        result = eye + (y @ result) / k
    for _ in range(squarings):
        result = result @ result
    return result


@functools.cache
def _expm_tangent_at_identity():
    """``expm`` with a custom JVP whose tangent is ``dX`` (made on first use: JAX loads lazily)."""

    @jax.custom_jvp
    def expm_at_identity(x):
        return _taylor_expm(x)

    @expm_at_identity.defjvp
    def _jvp(primals, tangents):
        (x,), (dx,) = primals, tangents
        return _taylor_expm(x), dx  # d exp at X = 0 is the identity map (only there)

    return expm_at_identity


_AT_IDENTITY = contextvars.ContextVar("designer_tangents_at_identity", default=False)


@contextlib.contextmanager
def tangents_at_identity():
    """While tracing inside this context, :func:`expm` is differentiated as at ``X = 0``.

    For callers that take first derivatives of a group action at the identity only (the
    symmetry generators and their Gram, :mod:`designer.geometry`): there ``d exp`` is the
    identity map, exactly, and differentiating the 14 matrix products of the Taylor polynomial
    instead cost more than the rest of the gauge bias (1.8 ms of 3.2 ms for matrix_product
    50 x 50 rank 10, benchmarks/bench_geometry.py). Values are unchanged; first derivatives
    away from the identity, and second derivatives anywhere, are wrong inside the context, so it
    must enclose only first derivatives at the identity, and no function jitted elsewhere (a
    trace made inside would be cached and reused outside).
    """
    token = _AT_IDENTITY.set(True)
    try:
        yield
    finally:
        _AT_IDENTITY.reset(token)


def expm(x: jnp.ndarray) -> jnp.ndarray:
    """Matrix exponential by a fixed Taylor polynomial (degree 10) and 4 squarings.

    Straight-line code (no data-dependent branches), so it compiles fast; its derivatives are
    those of the polynomial, except inside :func:`tangents_at_identity`. Relative error about
    1e-18 for ``|X| <= 2`` and 1e-11 at ``|X| = 8``, beyond the group elements used here.
    """
    if _AT_IDENTITY.get():
        return _expm_tangent_at_identity()(x)
    return _taylor_expm(x)


def gl_element(t: jnp.ndarray, r: int) -> jnp.ndarray:
    """``sum_a t_a T_a`` over :func:`gl_basis` (same order), without contracting the basis.

    Every entry of the result mixes at most two coordinates (a symmetric and an antisymmetric
    one), so it is two gathers and an add; the dense ``(r*r, r, r)`` contraction cost 50-70 us
    each way for r = 10 in the gauge bias (benchmarks/bench_geometry.py). The gather indices
    are read off the basis once per ``r`` (cached).
    """
    idx1, c1, idx2, c2 = _gl_gather(r)
    flat = c1.astype(t.dtype) * t[idx1] + c2.astype(t.dtype) * t[idx2]
    return flat.reshape(r, r)


@functools.lru_cache(maxsize=None)
def _gl_gather(r: int):
    basis, _ = gl_basis(r)
    flat = basis.reshape(len(basis), r * r).T  # entry -> coefficients over the basis
    idx1, c1, idx2, c2 = (np.zeros(r * r, int), np.zeros(r * r), np.zeros(r * r, int), np.zeros(r * r))
    for e, row in enumerate(flat):
        nz = np.nonzero(row)[0]
        assert 1 <= len(nz) <= 2
        idx1[e], c1[e] = nz[0], row[nz[0]]
        if len(nz) == 2:
            idx2[e], c2[e] = nz[1], row[nz[1]]
    return idx1, c1, idx2, c2
