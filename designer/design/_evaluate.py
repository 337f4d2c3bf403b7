"""Closed-form induced-bias shapes and the compiled, batched scoring of design candidates.

The search scores hundreds of candidates, so it evaluates each mechanism's ``shape`` (the bias for
``unit = 1``, see :class:`designer.mechanisms.Mechanism`) from closed forms of the balanced slice
instead of the general autodiff route; ``tests/design/test_closed_forms.py`` checks each closed form
against ``mechanism.shape(family, z)`` of the geometry engine, constants included. With
``c = B^{-1} z`` the coefficients in the basis and ``x = psi^{-1}(c)`` the product on the fibre:

- Hadamard depth D, weight decay: ``sum_i (D/2) |x_i|^{2/D}``;
- Hadamard depth D, gauge: ``sum_i [(D-1)/D log|x_i| + (1/2) log D]`` (per coordinate
  ``G_sym = |x|^{2/D} tridiag(-1, 2, -1)``, whose determinant is ``D |x|^{2(D-1)/D}``);
- Hadamard depth D, label noise (inputs with identity second moment): ``sum_i w_i psi'(x_i)^2 D
  |x_i|^{2(D-1)/D}`` with ``w_i = |B e_i|^2`` (1 for orthonormal bases, ``d - i`` for cumsum);
- group-shared scales (groups of size k_g, norms ``n_g = |z_g|``): weight decay ``sum_g n_g``,
  gauge ``sum_g (1/2) log(2 n_g)``, label noise ``sum_g 2 sqrt(k_g) n_g``;
- matrix product depth D (singular values s, ``x = s^{2/D}``): weight decay ``(D/2) sum_i x_i``;
  gauge ``(1/2) sum_{i<=j} log P_D(x_i, x_j)`` with ``P_D(x, y) = sum_{k<D} x^k y^{D-1-k}`` (the
  determinant of the tridiagonal block of each symmetric generator pair; D = 2 gives
  ``sum_i log 2 s_i + sum_{i<j} log(s_i + s_j)``, theory.md section 2); label noise (depth 2 only)
  ``2 sqrt(m n) |M|_*``.

Every compiled function takes arrays only (depth and mechanism index are traced), so one
compilation serves all designs of the same shapes; ``TRACES`` counts traces (a test checks that a
second design does not retrace). Knobs of a transform are fitted by optax (adam) on the log of the
fit error, from several starts at once, inside one ``lax.scan``.
"""

from __future__ import annotations

import collections
import math
from functools import partial

import jax
import jax.numpy as jnp
import optax

#: Number of traces of each compiled function (a trace happens before each compilation).
TRACES: collections.Counter = collections.Counter()

#: Order of the mechanism index used inside compiled code.
MECH_INDEX = {"weight_decay": 0, "gauge": 1, "label_noise": 2}

_TINY = 1e-300
_LOG_FLOOR = -700.0
_LOG2 = math.log(2.0)
_LOG_CAP = 300.0

#: Knob fitting: starts spread over the knob's range (run together), optimiser steps.
KNOB_STARTS = 4
KNOB_STEPS = 30
#: The knob is fitted on the first points only (the returned fit uses all of them).
KNOB_FIT_POINTS = 64


# --------------------------------------------------------------------------------------------
# fit of R_phi ~ a R* + b
# --------------------------------------------------------------------------------------------
def fit_line(v: jax.Array, t: jax.Array):
    """Least-squares ``v ~ a t + b`` with ``a >= 0``; returns ``(fit_error, a, b)``.

    ``fit_error = |v - a t - b| / |v - mean v|``, the relative RMS residual (``sqrt(1 - R^2)``); it
    is 1 when the best slope is not positive (no shape match) and 0 for an exact match. ``t`` must
    not be constant (checked on the host); a constant or non-finite ``v`` gives a non-finite error,
    which the caller reports as a singular candidate.
    """
    vm, tm = jnp.mean(v), jnp.mean(t)
    vc, tc = v - vm, t - tm
    a = jnp.maximum(jnp.dot(tc, vc) / jnp.dot(tc, tc), 0.0)
    resid = vc - a * tc
    return jnp.sqrt(jnp.dot(resid, resid) / jnp.dot(vc, vc)), a, vm - a * tm


# --------------------------------------------------------------------------------------------
# closed forms
# --------------------------------------------------------------------------------------------
def _safe_log_abs(c):
    a = jnp.abs(c)
    return jnp.maximum(jnp.log(jnp.where(a > _TINY, a, _TINY)), _LOG_FLOOR)


#: Transform index used inside compiled code.
TRANSFORM_INDEX = {"identity": 0, "asinh": 1, "signed_power": 2}


def transform_logs(c: jax.Array, log_abs_c: jax.Array, kind, knob: jax.Array):
    """``(log|x|, log psi'(x))`` for ``x = psi^{-1}(c)``.

    ``kind`` is a name (static) or a traced index of :data:`TRANSFORM_INDEX` (1 asinh, 2
    signed_power; a ``lax.cond``, so one compiled function serves both). Logs are clamped so
    values and gradients stay finite. ``log_abs_c`` is ``log|c|`` (precomputed on the host).
    """
    if isinstance(kind, str):
        if kind == "identity":
            return log_abs_c, jnp.zeros_like(log_abs_c)
        return _asinh_logs(c, knob) if kind == "asinh" else _power_logs(log_abs_c, knob)
    # one branch runs (``kind`` is not batched in the search)
    return jax.lax.cond(kind == 1, lambda: _asinh_logs(c, knob), lambda: _power_logs(log_abs_c, knob))


def _asinh_logs(c, knob):
    # x = s sinh(c/s), psi'(x) = 1/sqrt(1 + (x/s)^2) = 1/cosh(c/s); both logs from one exp
    # (log(1 - e) loses relative accuracy ~1e-16/y for y = |c|/s << 1: harmless for a fit)
    ay = jnp.minimum(jnp.abs(c) / knob, _LOG_CAP)
    e = jnp.exp(-2.0 * ay)
    log_sinh = ay + jnp.log(jnp.maximum(1.0 - e, _TINY)) - _LOG2
    log_cosh = ay + jnp.log1p(e) - _LOG2
    return jnp.clip(jnp.log(knob) + log_sinh, _LOG_FLOOR, _LOG_CAP), -log_cosh


def _power_logs(log_abs_c, knob):
    # x = sign(c)|c|^{1/p}, psi'(x) = p |x|^{p-1}
    lx = jnp.clip(log_abs_c / knob, _LOG_FLOOR, _LOG_CAP)
    return lx, jnp.clip(jnp.log(knob) + (knob - 1.0) * lx, _LOG_FLOOR, _LOG_CAP)


def mechanism_coefficients(mechanism: str, depth: int, dim: int) -> tuple[float, float, float, float, float]:
    """``(A, p1, p2, G, offset)`` with ``shape = sum_i [A w_i exp(p1 log|x_i| + p2 log psi'(x_i)) + G log|x_i|] + offset``.

    One generic form for the three Hadamard closed forms (module docstring), so one compiled
    function serves every depth and mechanism.
    """
    D = float(depth)
    if mechanism == "weight_decay":
        return 0.5 * D, 2.0 / D, 0.0, 0.0, 0.0
    if mechanism == "gauge":
        return 0.0, 0.0, 0.0, (D - 1.0) / D, 0.5 * dim * math.log(D)
    if mechanism == "label_noise":
        return D, 2.0 * (D - 1.0) / D, 2.0, 0.0, 0.0
    raise ValueError(f"unknown mechanism {mechanism!r}")


def hadamard_shape(c, log_abs_c, weights, coef, kind, knob):
    """Induced-bias shape of one point's coefficients ``c`` (d,) for coefficients ``coef`` (5,)."""
    lx, ldpsi = transform_logs(c, log_abs_c, kind, knob)
    power = coef[0] * weights * jnp.exp(jnp.minimum(coef[1] * lx + coef[2] * ldpsi, 700.0))
    return jnp.sum(power + coef[3] * lx) + coef[4]


def hadamard_shapes(c, weights, depth, kind, knob):
    """Shapes of (weight decay, gauge, label noise) for one point (tests and reference)."""
    lac = _safe_log_abs(c)
    d = c.shape[0]
    ones = jnp.ones_like(weights)  # the weights |B e_i|^2 enter the label-noise trace only
    return jnp.stack([
        hadamard_shape(c, lac, weights if m == "label_noise" else ones, jnp.asarray(mechanism_coefficients(m, depth, d)), kind, knob)
        for m in ("weight_decay", "gauge", "label_noise")
    ])


def group_shapes(c, membership, sizes):
    """Shapes of (weight decay, gauge, label noise) of group-shared scales for one point."""
    norms = jnp.sqrt((c * c) @ membership)
    log_n = _safe_log_abs(norms)
    return jnp.stack([jnp.sum(norms), 0.5 * jnp.sum(jnp.log(2.0) + log_n), jnp.sum(2.0 * jnp.sqrt(sizes) * norms)])


def _log_pd(lx_i, lx_j, depth):
    """``log sum_{k<D} x_i^k x_j^{D-1-k}`` from logs, stable when ``x_i ~ x_j``."""
    hi, lo = jnp.maximum(lx_i, lx_j), jnp.minimum(lx_i, lx_j)
    delta = lo - hi  # <= 0
    small = delta > -1e-8
    safe = jnp.where(small, -1.0, delta)
    ratio = jnp.log(-jnp.expm1(depth * safe)) - jnp.log(-jnp.expm1(safe))
    series = jnp.log(depth) + 0.5 * (depth - 1.0) * delta
    return (depth - 1.0) * hi + jnp.where(small, series, ratio)


def matrix_shapes(s, depth, rows, cols):
    """Shapes of (weight decay, gauge, label noise at depth 2) of a depth-D product from singular values ``s``."""
    lx = (2.0 / depth) * _safe_log_abs(s)
    wd = 0.5 * depth * jnp.sum(jnp.exp(lx))
    pair = _log_pd(lx[:, None], lx[None, :], depth)
    upper = jnp.triu(jnp.ones_like(pair))
    gauge = 0.5 * jnp.sum(upper * pair)
    ln = 2.0 * jnp.sqrt(rows * cols) * jnp.sum(s)
    return jnp.stack([wd, gauge, ln])


# --------------------------------------------------------------------------------------------
# compiled, batched scoring (keyed only by shapes and the static transform kind)
# --------------------------------------------------------------------------------------------
@jax.jit
def target_values(target, points):
    """``R*(z)`` for each point (vmap over the first axis)."""
    TRACES["target_values"] += 1
    return jax.vmap(target.value)(points)


def _hadamard_values(coeffs, log_abs, weights, coef, kind, knob):
    return jax.vmap(lambda c, lc: hadamard_shape(c, lc, weights, coef, kind, knob))(coeffs, log_abs)


@jax.jit
def score_hadamard(log_abs_by_basis, weights, t, basis_idx, coef):
    """Fit errors of knob-free Hadamard candidates: ``(err, a, b)`` each of shape ``(K,)``.

    ``log_abs_by_basis`` is ``log|c|`` per basis ``(n_bases, N, d)``; ``weights`` ``(K, d)`` and
    ``coef`` ``(K, 5)`` (see :func:`mechanism_coefficients`) are per candidate.
    """
    TRACES["score_hadamard"] += 1

    def one(bi, w, cf):
        lac = log_abs_by_basis[bi]
        return fit_line(_hadamard_values(lac, lac, w, cf, "identity", 1.0), t)

    return jax.vmap(one)(basis_idx, weights, coef)


#: The knob fit is the largest program of the search; LLVM's expensive passes cost compile time
#: (cold start) for no measurable run-time gain here (benchmarks/bench_design.py).
_FAST_COMPILE = {"xla_llvm_disable_expensive_passes": True}


@partial(jax.jit, compiler_options=_FAST_COMPILE)
def fit_hadamard_knob(coeffs_by_basis, log_abs_by_basis, weights, t, basis_idx, coef, kind, lo, hi):
    """Fit the transform knob of each candidate; returns ``(err, a, b, knob)`` each ``(K,)``.

    ``kind`` is the chunk's transform index (a traced scalar shared by the chunk: 1 asinh,
    2 signed_power), so one compilation serves both transforms and only one runs.
    The knob is ``exp(theta)`` with ``theta`` in ``[lo, hi]``: ``KNOB_STARTS`` starts spread over
    the range, each run for ``KNOB_STEPS`` adam steps on ``log(fit_error)`` (vectorised), keeping
    the best point seen.
    """
    TRACES["fit_hadamard_knob"] += 1

    def one(bi, w, cf, lo_, hi_):
        c, lac = coeffs_by_basis[bi], log_abs_by_basis[bi]

        def err_at(theta, n=None):
            theta = jnp.clip(theta, lo_, hi_)
            return fit_line(_hadamard_values(c[:n], lac[:n], w, cf, kind, jnp.exp(theta)), t[:n])

        def loss(theta):
            return jnp.log(err_at(theta, KNOB_FIT_POINTS)[0] ** 2 + 1e-300)

        opt = optax.chain(optax.zero_nans(), optax.adam((hi_ - lo_) / (2.0 * KNOB_STARTS)))

        def step(carry, _):
            theta, state, best_theta, best_loss = carry
            value, g = jax.vmap(jax.value_and_grad(loss))(theta)
            better = value < best_loss
            best_theta = jnp.where(better, theta, best_theta)
            best_loss = jnp.where(better, value, best_loss)
            upd, state = opt.update(g, state, theta)
            theta = jnp.clip(optax.apply_updates(theta, upd), lo_, hi_)
            return (theta, state, best_theta, best_loss), None

        starts = lo_ + (hi_ - lo_) * (jnp.arange(KNOB_STARTS) + 0.5) / KNOB_STARTS
        init = (starts, opt.init(starts), starts, jnp.full((KNOB_STARTS,), jnp.inf, starts.dtype))
        (_, _, best_theta, best_loss), _ = jax.lax.scan(step, init, None, length=KNOB_STEPS)
        final = best_theta[jnp.argmin(jnp.where(jnp.isnan(best_loss), jnp.inf, best_loss))]
        err, a, b = err_at(final)
        return err, a, b, jnp.exp(jnp.clip(final, lo_, hi_))

    return jax.vmap(one)(basis_idx, weights, coef, lo, hi)


@jax.jit
def score_group(coeffs, membership, sizes, t, mech):
    """Fit errors of group-shared-scale candidates (one per mechanism index in ``mech``)."""
    TRACES["score_group"] += 1
    shapes = jax.vmap(lambda c: group_shapes(c, membership, sizes))(coeffs)
    return jax.vmap(lambda m: fit_line(shapes[:, m], t))(mech)


@jax.jit
def score_matrix(singular_values, rows, cols, t, depth, mech):
    """Fit errors of matrix-product candidates from the points' singular values ``(N, r)``."""
    TRACES["score_matrix"] += 1

    def one(dp, m):
        v = jax.vmap(lambda s: matrix_shapes(s, dp, rows, cols))(singular_values)[:, m]
        return fit_line(v, t)

    return jax.vmap(one)(depth, mech)


@partial(jax.jit, static_argnames=("kind",))
def hadamard_values(coeffs, weights, coef, knob, *, kind):
    """Induced-bias shapes of one Hadamard candidate at many points (plots)."""
    TRACES[f"hadamard_values[{kind}]"] += 1
    return _hadamard_values(coeffs, _safe_log_abs(coeffs), weights, coef, kind, knob)


@jax.jit
def group_values(coeffs, membership, sizes, mech):
    TRACES["group_values"] += 1
    return jax.vmap(lambda c: group_shapes(c, membership, sizes))(coeffs)[:, mech]


@jax.jit
def matrix_values(singular_values, rows, cols, depth, mech):
    TRACES["matrix_values"] += 1
    return jax.vmap(lambda s: matrix_shapes(s, depth, rows, cols))(singular_values)[:, mech]
