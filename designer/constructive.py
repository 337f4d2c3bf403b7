"""Constructive rules: table transforms that make a design exact (theory.md section 5.1).

Given a separable penalty ``r(|z|)`` (``r`` increasing from ``r(0) = 0``) and a mechanism,
:func:`exact_design` returns the depth-2 Hadamard design ``z = psi(u * v)`` whose bias, for unit 1
(``strength = 1``; ``learning_rate * variance / 4 = 1``), is ``sum_i r(|z_i|)``, with ``psi`` given
as a table (:class:`designer.transforms.TableTransformSpec`) of ``psi^{-1}``:

- weight decay: the bias is ``sum |psi^{-1}(z_i)|``, so ``psi^{-1} = r``;
- label noise: the bias is ``sum 2 |x| psi'(x)^2`` at ``x = psi^{-1}(z)``; with ``x = F(y)`` this is
  ``2 F(y) / F'(y)^2 = r(y)``, solved by ``F(y) = (1/2) I(y)^2``, ``I(y) = int_0^y dt / sqrt(r(t))``
  (then ``F' = I / sqrt(r)``). It exists only when ``I`` is finite, i.e. ``r`` grows more slowly
  than ``y^2`` at 0 (L1, every l_p with p < 2 and the elastic net qualify; Huber's quadratic
  start does not);
- gauge: the bias ``(T/2) log(2 |psi^{-1}(z)|)`` is ``-inf`` at 0, so a penalty finite at 0 is
  never exact.

A spectral penalty ``sum_i g(s_i)`` gets the same table on the singular values of a depth-2
matrix product under weight decay (:func:`exact_spectral_design`).

Knots: ``y = 0`` and a geometric grid from ``lo / 10`` to ``10 hi`` with ``KNOTS_PER_DECADE`` knots
per decade (twice as many under label noise, whose bias reads the slope of ``psi^{-1}``), plus any ``breakpoints`` of ``r`` (where it is only C^1, e.g. Huber's threshold);
``psi^{-1}`` is the cubic Hermite interpolant with the exact slopes (``r'``, or ``F'``), whose
relative error on smooth pieces is about ``(ln q)^4 |r''''| y^4 / (384 r)`` for the knot ratio
``q``, below 1e-8 for the profiles in the tests. Beyond the last knot the table continues
linearly (not exact there). Where ``r`` has a flat part (SCAD, MCP beyond their thresholds) no
monotone ``psi`` exists under weight decay or label noise, and the result says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

KNOTS_PER_DECADE = 64
#: Label noise reads the slope of psi^-1 (one order less accurate than its values): twice the knots.
KNOTS_PER_DECADE_LABEL_NOISE = 128


@dataclasses.dataclass(frozen=True)
class ExactDesign:
    """A design (``param`` spec and ``mechanism`` spec) or ``None`` with the ``reason``."""

    param: dict | None
    mechanism: dict | None
    reason: str | None = None

    @property
    def exists(self) -> bool:
        return self.param is not None


def _grid(lo: float, hi: float, breakpoints: Sequence[float], per_decade: int = KNOTS_PER_DECADE) -> np.ndarray:
    a, b = np.log10(lo / 10.0), np.log10(hi * 10.0)
    n = int(np.ceil((b - a) * per_decade)) + 1
    y = np.unique(np.concatenate([[0.0], np.logspace(a, b, n), [t for t in breakpoints if t > 0]]))
    return y


def _values_and_slopes(r: Callable, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``r`` and ``r'`` at every point of ``y``, in one compiled call."""
    import jax
    import jax.numpy as jnp

    # one-sided slopes at breakpoints do not matter for C^1 profiles; the right derivative is used
    both = jax.jit(lambda ys: (jax.vmap(r)(ys), jax.vmap(jax.grad(r))(ys)))
    values, slopes = both(jnp.asarray(y, jnp.float64))
    return np.asarray(values, np.float64), np.asarray(slopes, np.float64)


def _limit_slopes(y: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Clip slopes into the Fritsch-Carlson monotone region (only near 0 for the profiles here)."""
    m = np.where(np.isfinite(m), m, np.inf)
    delta = np.diff(x) / np.diff(y)
    m = m.copy()
    m[0] = min(m[0], 2.9 * delta[0])
    m[-1] = min(m[-1], 2.9 * delta[-1])
    for k in range(len(delta)):
        a, b = m[k] / delta[k], m[k + 1] / delta[k]
        if a * a + b * b > 9.0:
            f = 2.9 / np.hypot(a, b)
            m[k], m[k + 1] = m[k] * f, m[k + 1] * f
    return np.maximum(m, 0.0)


def _table(y: np.ndarray, x: np.ndarray, m: np.ndarray) -> dict:
    return {"kind": "table", "x": x.tolist(), "y": y.tolist(), "slopes": _limit_slopes(y, x, m).tolist()}


def _flat_part(y: np.ndarray, values: np.ndarray) -> float | None:
    bad = np.nonzero(np.diff(values) <= 0)[0]
    return None if bad.size == 0 else float(y[bad[0]])


#: Gauss-Legendre nodes per panel half of :func:`_quadrature` (panels of one knot interval, ratio
#: at most 10^(1/128), or geometric halvings toward 0, ratio 2: both far below float64 error).
_GL_NODES = 12
#: Halvings of the first knot interval toward 0 before the power-law remainder.
_TAIL_HALVINGS = 64
#: Largest relative difference of the two Gauss-Legendre rules on a panel before it is cut into
#: ``_REFINE_PIECES`` pieces (recursively).
_QUAD_RTOL = 1e-13
_REFINE_PIECES = 32


def _quadrature(r: Callable, y: np.ndarray) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Nodes, and the rule that turns ``r`` at them into ``I(y_k) = int_0^{y_k} dt / sqrt(r(t))``
    at the knots (``y_0 = 0``).

    Panels: every knot interval (``r`` is smooth between knots: breakpoints are knots) and the
    halvings ``[y_1 2^-(j+1), y_1 2^-j]`` of the first one; below ``eps = y_1 2^-64`` the integrand
    is the power law ``t^(-p/2)`` of ``r``'s local exponent ``p`` (measured from
    ``r(eps) / r(eps / 2)``), integrated exactly. Each panel gets Gauss-Legendre on its two
    halves, checked against Gauss-Legendre on the whole; where they differ by more than
    ``_QUAD_RTOL`` (``r`` varies on a finer scale than the knots) the panel is cut finer.
    """
    halvings = y[1] * 2.0 ** -np.arange(_TAIL_HALVINGS + 1.0)
    lo = np.concatenate([halvings[1:], y[1:-1]])
    hi = np.concatenate([halvings[:-1], y[2:]])
    t, rule = _gauss_pair(lo, hi)
    eps = halvings[-1]

    def integral(values: np.ndarray) -> np.ndarray:
        r_eps, r_half = values[-2:]
        pieces, rough = rule(values[:-2])
        if rough.any():
            pieces[rough] = _refined(r, lo[rough], hi[rough])
        p = np.log2(r_eps / r_half)
        first = eps / np.sqrt(r_eps) / (1.0 - 0.5 * p) + pieces[:_TAIL_HALVINGS][::-1].sum()
        return np.concatenate([[0.0], first + np.concatenate([[0.0], np.cumsum(pieces[_TAIL_HALVINGS:])])])

    return np.concatenate([t.reshape(-1), [eps, 0.5 * eps]]), integral


def _gauss_pair(lo: np.ndarray, hi: np.ndarray):
    """Nodes of Gauss-Legendre on each panel ``[lo, hi]`` and on its two halves, and the rule that
    turns ``r`` at them into ``(int dt / sqrt(r) over each panel, whether the two rules disagree)``."""
    nodes, weights = np.polynomial.legendre.leggauss(_GL_NODES)
    mid = 0.5 * (hi + lo)
    a, b = np.stack([lo, lo, mid], axis=1), np.stack([hi, mid, hi], axis=1)  # (panels, 3)
    half, centre = 0.5 * (b - a), 0.5 * (b + a)
    t = centre[..., None] + half[..., None] * nodes

    def rule(values: np.ndarray):
        sums = half * (weights / np.sqrt(values.reshape(t.shape))).sum(axis=-1)
        pieces = sums[:, 1] + sums[:, 2]
        return pieces, ~(np.abs(pieces - sums[:, 0]) <= _QUAD_RTOL * np.abs(pieces))

    return t, rule


def _refined(r: Callable, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``int_a^b dt / sqrt(r)`` on panels where ``r`` varies on a finer scale than the panel: each cut
    into ``_REFINE_PIECES`` pieces checked as in :func:`_gauss_pair`, the rough ones again (4 levels)."""
    import jax
    import jax.numpy as jnp

    evaluate = jax.jit(jax.vmap(r))

    def level(a, b, depth):
        frac = np.linspace(0.0, 1.0, _REFINE_PIECES + 1)
        edges = a[:, None] + (b - a)[:, None] * frac
        lo, hi = edges[:, :-1].reshape(-1), edges[:, 1:].reshape(-1)
        t, rule = _gauss_pair(lo, hi)
        flat = t.reshape(-1)
        size = 1 << int(flat.size - 1).bit_length()  # padded to a power of two: few compilations
        values = np.asarray(evaluate(jnp.asarray(np.pad(flat, (0, size - flat.size), mode="edge"), jnp.float64)))
        pieces, rough = rule(values[:flat.size])
        if depth < 4 and rough.any():
            pieces[rough] = level(lo[rough], hi[rough], depth + 1)
        return pieces.reshape(a.size, _REFINE_PIECES).sum(axis=1)

    return level(np.asarray(a, np.float64), np.asarray(b, np.float64), 0)


def psi_inverse_table(r: Callable, mechanism: str, lo: float = 1e-2, hi: float = 1e2,
                      breakpoints: Sequence[float] = ()) -> tuple[dict | None, str | None]:
    """The table of ``psi^{-1}`` for ``r`` under ``mechanism``, or ``(None, reason)``."""
    if mechanism == "gauge":
        return None, ("under the gauge mechanism the bias is (T/2) log(2 |psi^-1(z)|), which is -infinite at 0, "
                      "so a penalty finite at 0 has no exact design")
    if mechanism not in ("weight_decay", "label_noise"):
        return None, f"no constructive rule for mechanism {mechanism!r}"
    y = _grid(lo, hi, breakpoints, KNOTS_PER_DECADE_LABEL_NOISE if mechanism == "label_noise" else KNOTS_PER_DECADE)
    tiny = np.array([1e-12, 2e-12])
    nodes, integral = _quadrature(r, y) if mechanism == "label_noise" else (np.zeros(0), None)
    # r at the knots, near 0 and at the quadrature's nodes: one compiled evaluation
    values, slopes = _values_and_slopes(r, np.concatenate([y, tiny, nodes]))
    r_tiny, r_nodes = values[len(y):len(y) + 2], values[len(y) + 2:]
    values, slopes = values[:len(y)], slopes[:len(y)]
    if abs(values[0]) > 0:
        return None, f"r(0) = {values[0]:g}: the rule needs r(0) = 0"
    flat = _flat_part(y, values)
    if flat is not None or not np.all(np.isfinite(values)):
        return None, (f"r is not strictly increasing (flat from about |z| = {flat:g}): no monotone transform has "
                      "psi^-1 = r there, so no exact design exists under weight decay or label noise")
    if mechanism == "weight_decay":
        return _table(y, values, slopes), None
    # label noise: F = I^2 / 2 with I = int_0^y dt / sqrt(r)
    exponent = np.log(r_tiny[1] / r_tiny[0]) / np.log(2.0) if np.all(r_tiny > 0) else np.inf
    if not exponent < 2.0 - 1e-3:
        return None, (f"r grows like |z|^{exponent:.3g} at 0 (at least quadratically), so int_0 dy / sqrt(r) diverges "
                      "and label noise has no transform with psi(0) = 0 that makes r exact")
    integral = integral(r_nodes)
    x = 0.5 * integral**2
    with np.errstate(divide="ignore", invalid="ignore"):
        dx = np.where(values > 0, integral / np.sqrt(values), 0.0)
    return _table(y, x, dx), None


def exact_design(r: Callable, mechanism: str, lo: float = 1e-2, hi: float = 1e2,
                 breakpoints: Sequence[float] = ()) -> ExactDesign:
    """Depth-2 Hadamard with a table transform whose bias is ``sum_i r(|z_i|)`` (unit 1)."""
    table, reason = psi_inverse_table(r, mechanism, lo, hi, breakpoints)
    if table is None:
        return ExactDesign(None, None, reason)
    mech = {"kind": "weight_decay", "strength": 1.0} if mechanism == "weight_decay" else {
        "kind": "label_noise", "learning_rate": 4.0, "variance": 1.0}
    return ExactDesign({"family": "hadamard", "depth": 2, "transform": table}, mech)


def exact_spectral_design(g: Callable, mechanism: str, lo: float = 1e-2, hi: float = 1e2,
                          breakpoints: Sequence[float] = ()) -> ExactDesign:
    """Depth-2 matrix product with a spectral table transform whose bias is ``sum_i g(s_i)``."""
    if mechanism != "weight_decay":
        return ExactDesign(None, None, (
            "the spectral rule is derived for weight decay (balanced point from the SVD); under label noise the "
            "fibre minimum of a matrix product is not spectral-separable in general, and under the gauge "
            "mechanism the bias is -infinite at a zero singular value"))
    table, reason = psi_inverse_table(g, mechanism, lo, hi, breakpoints)
    if table is None:
        return ExactDesign(None, None, reason)
    return ExactDesign({"family": "matrix_product", "depth": 2, "transform": table}, {"kind": "weight_decay", "strength": 1.0})
