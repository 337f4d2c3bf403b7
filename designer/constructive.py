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
    import jax
    import jax.numpy as jnp

    ys = jnp.asarray(y, jnp.float64)
    values = np.asarray(jax.vmap(r)(ys), np.float64)
    # one-sided slopes at breakpoints do not matter for C^1 profiles; the right derivative is used
    slopes = np.asarray(jax.vmap(jax.grad(r))(ys), np.float64)
    return values, slopes


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


def psi_inverse_table(r: Callable, mechanism: str, lo: float = 1e-2, hi: float = 1e2,
                      breakpoints: Sequence[float] = ()) -> tuple[dict | None, str | None]:
    """The table of ``psi^{-1}`` for ``r`` under ``mechanism``, or ``(None, reason)``."""
    if mechanism == "gauge":
        return None, ("under the gauge mechanism the bias is (T/2) log(2 |psi^-1(z)|), which is -infinite at 0, "
                      "so a penalty finite at 0 has no exact design")
    if mechanism not in ("weight_decay", "label_noise"):
        return None, f"no constructive rule for mechanism {mechanism!r}"
    y = _grid(lo, hi, breakpoints, KNOTS_PER_DECADE_LABEL_NOISE if mechanism == "label_noise" else KNOTS_PER_DECADE)
    values, slopes = _values_and_slopes(r, y)
    if abs(values[0]) > 0:
        return None, f"r(0) = {values[0]:g}: the rule needs r(0) = 0"
    flat = _flat_part(y, values)
    if flat is not None or not np.all(np.isfinite(values)):
        return None, (f"r is not strictly increasing (flat from about |z| = {flat:g}): no monotone transform has "
                      "psi^-1 = r there, so no exact design exists under weight decay or label noise")
    if mechanism == "weight_decay":
        return _table(y, values, slopes), None
    # label noise: F = I^2 / 2 with I = int_0^y dt / sqrt(r)
    tiny = np.array([1e-12, 2e-12])
    r_tiny, _ = _values_and_slopes(r, tiny)
    exponent = np.log(r_tiny[1] / r_tiny[0]) / np.log(2.0) if np.all(r_tiny > 0) else np.inf
    if not exponent < 2.0 - 1e-3:
        return None, (f"r grows like |z|^{exponent:.3g} at 0 (at least quadratically), so int_0 dy / sqrt(r) diverges "
                      "and label noise has no transform with psi(0) = 0 that makes r exact")
    import jax
    from scipy.integrate import quad

    r_np = jax.jit(r)
    # quad calls f tens of thousands of times: a Python float goes straight to the compiled r (a
    # float64 scalar under x64, the same bits), about 5x faster per call than converting it first
    f = lambda t: 1.0 / np.sqrt(float(r_np(float(t))))
    pieces = [quad(f, y[k], y[k + 1], epsabs=0.0, epsrel=1e-13, limit=200)[0] for k in range(len(y) - 1)]
    integral = np.concatenate([[0.0], np.cumsum(pieces)])
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
