"""Monotone cubic Hermite interpolation in JAX, and its exact inverse.

A table transform (:mod:`designer.transforms`) stores ``psi^{-1}`` as a monotone piecewise-cubic
``G`` through knots ``(y_k, x_k)``, ``y_0 = x_0 = 0``, both strictly increasing, with slopes
``m_k = G'(y_k) >= 0`` (PCHIP estimates unless given). Beyond the last knot ``G`` continues
linearly with slope ``m_end`` (the last knot's slope, or the last secant where that slope is 0).
Negative arguments use the odd extension ``G(-y) = -G(y)``.

- :func:`hermite` evaluates ``G`` (differentiable in ``y`` and in the table, to any order);
- :func:`hermite_inverse` evaluates ``G^{-1}`` (that is ``psi``) by safeguarded Newton steps on the
  monotone cubic of the segment to full float64 precision, differentiated by the implicit function rule
  ``d psi = (dx - dG/dtable . dtable) / G'(psi)``, itself differentiable again.
- :func:`pchip_slopes` is the host-side (numpy) slope estimate of Fritsch-Carlson / Fritsch-Butland
  as in SciPy's ``PchipInterpolator`` (weighted harmonic means inside, the three-point rule with
  the monotone limiter at the ends).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

#: Safeguarded Newton steps for the inverse (the segment parameter ``t in [0, 1]``).
_NEWTON_STEPS = 10


def pchip_slopes(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """PCHIP slopes ``dx/dy`` at the knots (strictly increasing data: all slopes >= 0)."""
    h = np.diff(y)
    delta = np.diff(x) / h
    n = len(y)
    m = np.zeros(n)
    if n == 2:
        m[:] = delta[0]
        return m
    w1 = 2.0 * h[1:] + h[:-1]
    w2 = h[1:] + 2.0 * h[:-1]
    same = (delta[:-1] > 0) & (delta[1:] > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = (w1 + w2) / (w1 / delta[:-1] + w2 / delta[1:])
    m[1:-1] = np.where(same, inner, 0.0)

    def edge(h0, h1, d0, d1):
        d = ((2.0 * h0 + h1) * d0 - h0 * d1) / (h0 + h1)
        if np.sign(d) != np.sign(d0):
            return 0.0
        if np.sign(d0) != np.sign(d1) and abs(d) > abs(3.0 * d0):
            return 3.0 * d0
        return d

    m[0] = edge(h[0], h[1], delta[0], delta[1])
    m[-1] = edge(h[-1], h[-2], delta[-1], delta[-2])
    return m


def end_slope(y: np.ndarray, x: np.ndarray, m: np.ndarray) -> float:
    """Slope of the linear continuation beyond the last knot (positive)."""
    return float(m[-1]) if m[-1] > 0 else float((x[-1] - x[-2]) / (y[-1] - y[-2]))


def _segment(knots, a):
    k = jnp.clip(jnp.searchsorted(knots, a, side="right") - 1, 0, knots.shape[0] - 2)
    return k


def _cubic(t, x0, x1, m0h, m1h):
    t2 = t * t
    t3 = t2 * t
    return (2 * t3 - 3 * t2 + 1) * x0 + (t3 - 2 * t2 + t) * m0h + (3 * t2 - 2 * t3) * x1 + (t3 - t2) * m1h


def _hermite_nonneg(a, ys, xs, ms, m_end):
    k = _segment(ys, a)
    y0, y1 = ys[k], ys[k + 1]
    h = y1 - y0
    t = (a - y0) / h
    inside = _cubic(t, xs[k], xs[k + 1], ms[k] * h, ms[k + 1] * h)
    beyond = xs[-1] + m_end * (a - ys[-1])
    return jnp.where(a > ys[-1], beyond, inside)


def hermite_nonneg(a, ys, xs, ms, m_end):
    """``G(a)`` for ``a >= 0`` (no odd extension)."""
    return _hermite_nonneg(a, ys, xs, ms, m_end)


def hermite(y, ys, xs, ms, m_end):
    """``G(y)`` with the odd extension (elementwise over ``y``)."""
    pos = _hermite_nonneg(y, ys, xs, ms, m_end)
    neg = -_hermite_nonneg(-y, ys, xs, ms, m_end)
    return jnp.where(y >= 0, pos, neg)


def _inverse_nonneg(b, ys, xs, ms, m_end):
    """``G^{-1}(b)`` for ``b >= 0``: the root ``t`` of the segment's cubic ``c(t) = b`` by Newton's
    method kept inside a shrinking bracket (a bisection step wherever Newton would leave it).

    ``c`` is non-decreasing on ``[0, 1]`` (monotone Hermite data), so the bracket ``[lo, hi]``
    always holds the root. Started from the secant guess, or from ``sqrt(b / c2)`` where the
    segment starts flat (a zero slope at the knot, ``c(t) ~ c2 t^2``) and that guess is closer,
    Newton converges quadratically: 6 steps reached float64 rounding (``|G(G^{-1}(b)) - b| <= 1e-15 b``)
    on the designer's tables for lp, log_sum and elastic_net, from ``b = 1e-300`` up; 10 are taken.
    Against 60 steps of bisection (this module's earlier method): within 2e-13 of the segment's width.
    """
    k = _segment(xs, b)
    x0, x1 = xs[k], xs[k + 1]
    h = ys[k + 1] - ys[k]
    m0h, m1h = ms[k] * h, ms[k + 1] * h
    # c(t) = x0 + m0h t + c2 t^2 + c3 t^3 (the Hermite basis expanded)
    c2 = 3.0 * (x1 - x0) - 2.0 * m0h - m1h
    c3 = 2.0 * (x0 - x1) + m0h + m1h
    # the start: of the secant guess and, where the segment starts flat (c'(0) = 0, c(t) ~ c2 t^2),
    # the quadratic one, whichever misses less (from the secant alone Newton would only halve
    # toward a root at t ~ 1e-150)
    db = b - x0
    cubic = lambda s: x0 + s * (m0h + s * (c2 + s * c3)) - b
    secant = jnp.clip(db / jnp.where(x1 > x0, x1 - x0, 1.0), 0.0, 1.0)
    flat = jnp.clip(jnp.sqrt(jnp.maximum(db, 0.0) / jnp.where(c2 > 0, c2, 1.0)), 0.0, 1.0)
    t = jnp.where((c2 > 0) & (jnp.abs(cubic(flat)) < jnp.abs(cubic(secant))), flat, secant)
    lo, hi = jnp.zeros_like(t), jnp.ones_like(t)
    for _ in range(_NEWTON_STEPS):
        f = cubic(t)
        lo = jnp.where(f < 0, t, lo)
        hi = jnp.where(f > 0, t, hi)
        d = m0h + t * (2.0 * c2 + 3.0 * t * c3)
        step = t - f / jnp.where(d > 0, d, 1.0)
        inside = (d > 0) & (step >= lo) & (step <= hi)  # a converged step (step == t) stays
        t = jnp.where(f == 0, t, jnp.where(inside, step, 0.5 * (lo + hi)))
    inside = ys[k] + t * h
    beyond = ys[-1] + (b - xs[-1]) / m_end
    return jnp.where(b > xs[-1], beyond, inside)


@jax.custom_jvp
def hermite_inverse(x, ys, xs, ms, m_end):
    """``G^{-1}(x)`` (odd extension), exact to float64 rounding; see the module docstring."""
    x = jax.lax.stop_gradient(x)
    return jnp.sign(x) * _inverse_nonneg(jnp.abs(x), ys, xs, ms, m_end)  # the odd extension, G^{-1}(0) = 0


@hermite_inverse.defjvp
def _hermite_inverse_jvp(primals, tangents):
    x, ys, xs, ms, m_end = primals
    dx, dys, dxs, dms, dm_end = tangents
    y = hermite_inverse(x, ys, xs, ms, m_end)
    g_of = lambda yy, a, b, c, d: hermite(yy, a, b, c, d)
    _, slope = jax.jvp(lambda yy: g_of(yy, ys, xs, ms, m_end), (y,), (jnp.ones_like(y),))
    _, dtable = jax.jvp(lambda a, b, c, d: g_of(y, a, b, c, d), (ys, xs, ms, m_end), (dys, dxs, dms, dm_end))
    return y, (dx - dtable) / slope
