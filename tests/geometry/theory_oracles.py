"""Closed forms of induced biases as written in docs/theory.md sections 2-3: test oracles.

Hand-derived formulas, written here independently of the library (whose own closed forms are
registered next to each family and checked by test_registered_closed_forms.py), so the engine is
compared with the theory as stated. Constants independent of ``z`` are dropped where the theory
drops them (gauge biases), kept where the formula is exact (weight decay).
"""

from __future__ import annotations

import jax.numpy as jnp


def hadamard_gauge(z, depth: int, temperature: float = 1.0):
    """``T (D-1)/D sum_i log|z_i|`` plus the exact constant ``(T d / 2) log D``."""
    z = jnp.asarray(z)
    return temperature * ((depth - 1) / depth * jnp.sum(jnp.log(jnp.abs(z))) + 0.5 * z.size * jnp.log(depth))


def hadamard_weight_decay(z, depth: int, strength: float = 1.0):
    """``(lambda D / 2) sum_i |z_i|^{2/D}`` (L1 for D = 2)."""
    return 0.5 * strength * depth * jnp.sum(jnp.abs(jnp.asarray(z)) ** (2.0 / depth))


def hadamard_label_noise(z, depth: int, diag_second_moment=None, variance: float = 1.0, learning_rate: float = 1.0):
    """``(eta sigma^2/4) D sum_j c_j |z_j|^{2 - 2/D}``, ``c = diag(Sigma)`` (weighted L1 for D = 2)."""
    z = jnp.asarray(z)
    c = jnp.ones_like(z) if diag_second_moment is None else jnp.asarray(diag_second_moment)
    return learning_rate * variance / 4.0 * depth * jnp.sum(c * jnp.abs(z) ** (2.0 - 2.0 / depth))


def matrix_product_gauge(m, temperature: float = 1.0, full_gl: bool = False):
    """``(T/2)[sum_i log(2 s_i) + sum_{i<j} log(s_i + s_j)]`` (symmetric generators, our basis).

    With ``full_gl`` the whole GL(r) Gram: ``(T/2) sum_{i,j} log(s_i + s_j)``.
    """
    s = jnp.linalg.svd(jnp.asarray(m), compute_uv=False)
    pair = jnp.log(s[:, None] + s[None, :])
    if full_gl:
        return 0.5 * temperature * jnp.sum(pair)
    iu = jnp.triu_indices(s.size, k=1)
    return 0.5 * temperature * (jnp.sum(jnp.log(2.0 * s)) + jnp.sum(pair[iu]))


def nuclear_norm(m):
    """``|M|_*``: the weight-decay bias of ``M = P Q`` for unit strength."""
    return jnp.sum(jnp.linalg.svd(jnp.asarray(m), compute_uv=False))


def relu_gauge(z_rows, temperature: float = 1.0):
    """``(T/2) sum_j log(2 |v_j| |w_j|) = (T/2) sum_j log(2 |z_j|)`` (per-unit outer products)."""
    return 0.5 * temperature * jnp.sum(jnp.log(2.0 * jnp.linalg.norm(jnp.asarray(z_rows), axis=-1)))


def robust_pca_penalty(z, lam: float, tol: float = 1e-12) -> float:
    """``min_{L + S = z} |L|_* + lam |S|_1`` by cvxpy (Clarabel at tolerance ``tol``)."""
    import cvxpy as cp

    low, sparse = cp.Variable(z.shape), cp.Variable(z.shape)
    prob = cp.Problem(cp.Minimize(cp.normNuc(low) + lam * cp.sum(cp.abs(sparse))), [low + sparse == z])
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol)
    return float(prob.value)
