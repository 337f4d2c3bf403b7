"""Minimum of a functional of the parameters over a fibre ``{w : phi(w) = z}``, numerically.

For a sum of parameterizations ``z = sum_k phi_k(theta_k)`` and a mechanism whose bias is the
fibre minimum of a functional additive over the terms (weight decay ``|w|^2 / 2``, label noise
``tr(Sigma J J^T)``), the bias is that minimum: the infimal convolution of the terms' biases
(theory.md section 5.1, sum rule), here computed in the parameters, where it is smooth:

1. augmented Lagrangian: ``min_w F(w) + <y, c(w)> + (rho/2)|c(w)|^2`` by L-BFGS (optax, zoom line
   search), ``c(w) = phi(w) - z``, then ``y += rho c``; ``rho = 10 / mean|z|`` at first (scale-free
   for biases homogeneous of degree 1, such as L1 and nuclear norms), tripled while the residual
   falls by less than 4x, up to ``1e3 / mean|z|``; with at most ``POLISH_MAX`` parameters each
   inner solve is followed by a step along negative curvature of the Lagrangian where one lowers
   it (a zero depth-2 factor is a saddle that L-BFGS can stop at) and a second solve; the loop
   runs until the residual is below 1e-10 mean|z| and no such step was taken;
2. Newton steps on the KKT system ``[H + rho A^T A, A^T; A, 0]`` (dense, ``A = dphi/dw``; only
   when there are at most ``POLISH_MAX`` parameters), each kept only where it lowers the KKT
   residual; this takes the accuracy from about 1e-7 to rounding on the closed-form checks;
3. the value reported is ``F(w) + <y, c(w)>``: the first-order correction of the fibre minimum
   for the residual ``c`` (``-y`` is its gradient in ``z``).

The start is each term's balanced point at an equal share of ``z``. The problem in the parameters
is not convex; for depth-2 factorizations of convex penalties (Huber, TV, robust PCA) the local
minimum reached from there is the global one on every check in the tests, but this is a local
method: a nonconvex infimal convolution (e.g. of two l_p, p < 1) may stop at a local minimum.
Pure, jit- and vmap-compatible (while loops run to the slowest point of a batch).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from ._lazy import register_dataclass
from .geometry import lbfgs

RHO = 10.0
RHO_MAX = 1e3
OUTER_STEPS = 60
INNER_STEPS = 300
POLISH_STEPS = 4
POLISH_MAX = 3_000


@dataclasses.dataclass(frozen=True)
class FibreMinimum:
    params: dict
    value: jax.Array
    residual: jax.Array  # max |phi(w) - z|
    multiplier: jax.Array


register_dataclass(FibreMinimum, data_fields=["params", "value", "residual", "multiplier"], meta_fields=[])


def minimize_on_fibre(predictor: Callable, functional: Callable, start, z: jax.Array) -> FibreMinimum:
    """``min functional(w)`` subject to ``predictor(w) = z``, from ``start`` (a params pytree)."""
    flat0, unravel = ravel_pytree(start)
    dtype = flat0.dtype
    zf = z.reshape(-1).astype(dtype)
    scale = jnp.maximum(jnp.mean(jnp.abs(zf)), jnp.asarray(1e-12, dtype))
    F = lambda p: functional(unravel(p))
    c = lambda p: predictor(unravel(p)).reshape(-1) - zf
    lagrangian = lambda p, y, rho: F(p) + y @ c(p) + 0.5 * rho * jnp.sum(c(p) ** 2)

    small = flat0.size <= POLISH_MAX
    gtol = 1e-11 * jnp.maximum(1.0, jnp.sqrt(scale))

    def escape(p, y, rho):
        """Step along the most negative curvature direction of the Lagrangian, if any lowers it.

        A depth-2 factor ``u_i = v_i = 0`` is a saddle once its multiplier exceeds 1, and L-BFGS
        can stop there (the coefficient would have to change sign through 0); this leaves it.
        """
        f = lambda q: lagrangian(q, y, rho)
        w, vecs = jnp.linalg.eigh(jax.hessian(f)(p))
        sizes = 10.0 ** (-0.5 * jnp.arange(10, dtype=dtype))  # 1 down to 3e-5 (weak negative curvature)
        steps = jnp.sqrt(scale) * jnp.concatenate([sizes, -sizes])
        candidates = p[None, :] + steps[:, None] * vecs[:, 0][None, :]
        values = jax.vmap(f)(candidates)
        k = jnp.argmin(values)
        ok = (w[0] < 0) & (values[k] < f(p))
        return jnp.where(ok, candidates[k], p)

    def outer(carry):
        p, y, rho, i, previous, _ = carry
        p = lbfgs(lambda q: lagrangian(q, y, rho), p, INNER_STEPS, gtol)[0]
        moved = jnp.asarray(False)
        if small:  # a saddle of this Lagrangian (feasible or not): leave it and solve again
            escaped = escape(p, y, rho)
            moved = jnp.any(escaped != p)
            p = lbfgs(lambda q: lagrangian(q, y, rho), escaped, INNER_STEPS, gtol)[0]
        r = c(p)
        res = jnp.max(jnp.abs(r))
        y = y + rho * r
        # a stalled residual (a tiny coefficient whose multiplier grows slowly) raises rho, up to a cap
        rho = jnp.where((res > 0.25 * previous) & (rho < RHO_MAX / scale), 3.0 * rho, rho)
        return p, y, rho, i + 1, res, moved

    def keep_going(carry):
        _, _, _, i, res, moved = carry
        return (i < OUTER_STEPS) & ((res > 1e-10 * scale) | moved)

    y0 = jnp.zeros_like(zf)
    init = (flat0, y0, jnp.asarray(RHO, dtype) / scale, jnp.asarray(0), jnp.asarray(jnp.inf, dtype), jnp.asarray(False))
    p, y, rho, _, _, _ = jax.lax.while_loop(keep_going, outer, init)

    if small:
        n, m = flat0.size, zf.size

        def kkt_residual(p, y):
            grad = jax.grad(lambda q: F(q) + y @ c(q))(p)
            return jnp.concatenate([grad, c(p)])

        def newton(_, carry):
            p, y = carry
            a = jax.jacfwd(c)(p)
            h = jax.hessian(lambda q: F(q) + y @ c(q))(p) + rho * a.T @ a
            kkt = jnp.block([[h, a.T], [a, jnp.zeros((m, m), dtype)]])
            r = kkt_residual(p, y)
            step = jnp.linalg.solve(kkt, -r)
            p2, y2 = p + step[:n], y + step[n:]
            ok = jnp.all(jnp.isfinite(step)) & (jnp.linalg.norm(kkt_residual(p2, y2)) < jnp.linalg.norm(r))
            return jnp.where(ok, p2, p), jnp.where(ok, y2, y)

        p, y = jax.lax.fori_loop(0, POLISH_STEPS, newton, (p, y))

    r = c(p)
    return FibreMinimum(params=unravel(p), value=F(p) + y @ r, residual=jnp.max(jnp.abs(r)), multiplier=y)
