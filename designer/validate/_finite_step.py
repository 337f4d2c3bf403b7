"""Exact finite-step stationary laws of label-noise SGD on the balanced slice (theory.md 5.1).

With label noise the balanced slice is invariant, and the predictor of one coordinate follows a
one-dimensional Markov chain. For a scalar product of depth ``D`` (``z = u_1 ... u_D``; ``D = 2``
is ``z = u v``; each coordinate of a Hadamard product; each singular value of a balanced
depth-``D`` matrix product when the gradient shares the product's singular vectors), a target
``z0 > 0`` and label noise ``y = z0 + s xi``:

* loss ``kappa (z - y)^2`` (``kappa = 1``: ``loss="squared"``, the simulator's ``scalar_target``;
  ``kappa = 1/2``: ``loss="half_squared"``, theory.md section 4 and the label-noise mechanism), so
  the gradient in ``z`` is ``2 kappa (z - z0 - s xi)``;
* each factor's gradient is ``2 kappa (z - y) z / u_i``, and at balance ``u_i^2 = |z|^{2/D}``
  for every ``i``, so every factor is multiplied by the same number and the step stays balanced:

      z' = z r^D,    r = m(z) + c(z) s xi,    c(z) = e z^{1 - 2/D},    m(z) = 1 - c(z) (z - z0),

  with ``e = 2 kappa eta`` (``D = 2``, ``kappa = 1``: ``z' = z (1 - 2 eta (z - z0 - s xi))^2``).

In ``x = log z`` one step is ``x' = x + D log|r|`` (for odd ``D`` a step with ``r < 0`` crosses
to ``z < 0``; it is reported as mass lost, ``loss_rate``). The transition law of ``x'`` given
``x`` has the closed-form distribution function

    P(x' <= t | x) = F((rho - m)/(c s)) - F((-rho - m)/(c s))   (D even),   rho = e^{(t - x)/D}

(``F(-m/(c s))`` instead of the second term for odd ``D``) with ``F`` the noise law's distribution
function, so any noise law with a distribution function works (Gaussian, Student-t, symmetric
alpha-stable from a table of scipy's ``levy_stable``).

**Method (transfer operator, Ulam / finite volume).** Cells in ``x``: fine and uniform over the
bulk of the law (``points_per_width`` cells per width ``D c s / |m|`` of one step's kernel, the
narrowest over the bulk), geometrically growing (ratio ``tail_growth``) out to ``z_low`` and up to
the escape point ``z_esc`` beyond which the noiseless step no longer returns (``|r| >= 1`` with
``r < 0``: ``e (z - z0) z^{1 - 2/D} = 2``, or ``= 1`` for odd ``D``). The matrix entry
``A[i, j]`` is the exact probability that one step from the centre of cell ``j`` lands in cell
``i`` (differences of ``F``, computed on the side of the tail that keeps precision). The
stationary law is the Perron vector of ``A`` (inverse iteration, one LU); ``1 - lambda`` is the
probability per step of leaving the grid, split into escape above ``z_esc`` (divergence) and
loss below ``z_low`` / to ``z < 0``; with leaks the result is the quasi-stationary law (the law
of the chains that have not diverged). The bulk is found adaptively: a first solve on the small-
step law's range, then the range is widened until the mass in the outermost bulk cells is below
``tol``. Accuracy is stated, not assumed: :func:`stationary_law` solves again on a grid about
1.5 times coarser and reports the differences of the mean, variance and distribution function
(``error``); the differences shrink like ``h^2`` (tested against a closed form).

Reference laws on the same chain: the small-step (diffusion) law ``small_step_density`` (for
``D = 2`` theory.md's Gamma law, shape ``z0/(e s^2) - 1/2``, scale ``e s^2``; for other ``D`` the
stationary law of the limiting SDE, which is not a Gamma law), and the paper's isotropic law
``exp(-(l + R)/T)`` with ``R = T (D-1)/D log z`` at the temperature that matches the noise power
normal to the orbit at ``z0`` (``T = 2 kappa^2 eta s^2 D z0^{2 - 2/D}``; ``D = 2``, ``kappa = 1``:
``4 eta s^2 z0``, as in ``_stationary.py``).

Everything here is numpy / scipy (no JAX): it runs in the API's process and in mechanism specs.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import scipy.linalg as sla
import scipy.special as sps
from scipy.optimize import brentq

from ..errors import DesignerInputError

NOISE_LAWS = ("gaussian", "student_t", "alpha_stable")
LOSSES = ("squared", "half_squared")


# --------------------------------------------------------------------------------------------
# noise laws (standardised: unit variance for gaussian and student_t, unit scale for alpha-stable)
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _stable_table(alpha: float):
    """``(u, sf(u))`` for u >= 0 of the standard symmetric alpha-stable law (char. fn exp(-|t|^a))."""
    import scipy.stats as st

    # scipy's levy_stable.sf is accurate to u ~ 200 (it returns 0 at 400); beyond the table the
    # Pareto tail C u^-alpha takes over, matched at the table's end
    u = np.sinh(np.linspace(0.0, math.asinh(150.0), 1001))
    sf = st.levy_stable.sf(u, alpha, 0.0)
    sf[0] = 0.5
    if not np.all(sf > 0):
        raise RuntimeError("scipy levy_stable.sf returned non-positive values")
    return u, np.log(sf)


@dataclasses.dataclass(frozen=True)
class NoiseLaw:
    """Law of the standardised label noise ``xi`` (the simulator's ``label_noise`` piece's draw).

    ``gaussian``: N(0, 1). ``student_t``: t(df) divided by ``sqrt(df / (df - 2))`` (unit variance,
    needs ``df > 2``). ``alpha_stable``: standard symmetric alpha-stable, characteristic function
    ``exp(-|t|^alpha)`` (scale 1, infinite variance for ``alpha < 2``).
    """

    law: str = "gaussian"
    df: float = 3.0
    alpha: float = 1.5

    def __post_init__(self):
        if self.law not in NOISE_LAWS:
            raise DesignerInputError("noise.law", f"one of {', '.join(NOISE_LAWS)}, got {self.law!r}")
        if self.law == "student_t" and not (2.0 < self.df <= 1e6):
            raise DesignerInputError("noise.df", f"a unit-variance Student-t needs 2 < df <= 1e6, got {self.df}")
        if self.law == "alpha_stable" and not (1.0 < self.alpha < 2.0):
            raise DesignerInputError("noise.alpha", f"1 < alpha < 2, got {self.alpha}")

    @property
    def _t_scale(self) -> float:
        return math.sqrt((self.df - 2.0) / self.df)

    def sf(self, u):
        """``P(xi > u)`` (accurate far into the upper tail)."""
        u = np.asarray(u, np.float64)
        if self.law == "gaussian":
            return sps.ndtr(-u)
        if self.law == "student_t":
            return sps.stdtr(self.df, -u / self._t_scale)
        grid, log_sf = _stable_table(self.alpha)
        a = np.abs(u)
        # beyond the table: the Pareto tail sf ~ C a^-alpha, matched at the table's end
        tail = log_sf[-1] - self.alpha * np.log(np.maximum(a, grid[-1]) / grid[-1])
        upper = np.exp(np.where(a <= grid[-1], np.interp(a, grid, log_sf), tail))
        return np.where(u >= 0, upper, 1.0 - upper)

    def cdf(self, u):
        """``P(xi <= u)`` (symmetric law: ``sf(-u)``)."""
        return self.sf(-np.asarray(u, np.float64))

    def prob(self, a, b):
        """``P(a < xi <= b)`` elementwise, without cancellation in either tail."""
        a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
        upper = self.sf(a) - self.sf(b)
        lower = self.cdf(b) - self.cdf(a)
        return np.maximum(np.where(a > 0, upper, lower), 0.0)

    def moment(self, k: int) -> float:
        """``E xi^k`` (inf when it does not exist)."""
        if k % 2:
            return 0.0 if (self.law != "alpha_stable" and (self.law != "student_t" or k < self.df)) else float("nan")
        if k == 0:
            return 1.0
        if self.law == "gaussian":
            return float(np.prod(np.arange(k - 1, 0, -2)))
        if self.law == "alpha_stable" or (self.law == "student_t" and k >= self.df):
            return float("inf")
        # t(df): E t^k = df^(k/2) prod_{i=1}^{k/2} (2i - 1) / (df - 2i); times the unit-variance scale^k
        m = self.df ** (k / 2) * np.prod([(2 * i - 1) / (self.df - 2 * i) for i in range(1, k // 2 + 1)])
        return float(m * self._t_scale**k)

    def describe(self) -> str:
        if self.law == "student_t":
            return f"student_t(df={self.df:g}, unit variance)"
        if self.law == "alpha_stable":
            return f"alpha_stable(alpha={self.alpha:g}, unit scale)"
        return "gaussian"


# --------------------------------------------------------------------------------------------
# the chain
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SliceChain:
    """One coordinate of label-noise SGD on the balanced slice (module docstring)."""

    z0: float
    eta: float
    scale: float
    depth: int = 2
    noise: NoiseLaw = dataclasses.field(default_factory=NoiseLaw)
    loss: str = "squared"

    def __post_init__(self):
        if not (math.isfinite(self.z0) and self.z0 > 0):
            raise DesignerInputError("z0", f"the target must be positive and finite, got {self.z0}")
        if not (math.isfinite(self.eta) and self.eta > 0):
            raise DesignerInputError("eta", f"the step must be positive and finite, got {self.eta}")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise DesignerInputError("scale", f"the noise scale must be positive and finite, got {self.scale}")
        if not (isinstance(self.depth, (int, np.integer)) and 2 <= self.depth <= 8):
            raise DesignerInputError("depth", f"an integer depth in 2..8, got {self.depth}")
        if self.loss not in LOSSES:
            raise DesignerInputError("loss", f"one of {', '.join(LOSSES)}, got {self.loss!r}")

    @property
    def kappa(self) -> float:
        return 1.0 if self.loss == "squared" else 0.5

    @property
    def e(self) -> float:
        """The step in the chain's units, ``2 kappa eta``."""
        return 2.0 * self.kappa * self.eta

    @property
    def beta(self) -> float:
        return 2.0 - 2.0 / self.depth

    def coefficients(self, z):
        """``(m, c)`` of ``r = m + c s xi`` at ``z`` (either sign; ``z != 0``).

        The gradient of factor ``i`` is ``2 kappa (z - y) z / u_i`` and at balance ``u_i^2 = |z|^{2/D}``,
        so ``c = e z |z|^{-2/D}`` (``e z^{1-2/D}`` for ``z > 0``; negative for ``z < 0``, reachable at odd
        ``D`` only) and ``m = 1 - c (z - z0)``."""
        z = np.asarray(z, np.float64)
        c = self.e * np.sign(z) * np.abs(z) ** (1.0 - 2.0 / self.depth)
        return 1.0 - c * (z - self.z0), c

    def step(self, z, xi):
        """One step ``z' = z (m + c s xi)^D`` (numpy; the simulator's step on the slice)."""
        m, c = self.coefficients(z)
        return np.asarray(z, np.float64) * (m + c * self.scale * np.asarray(xi, np.float64)) ** self.depth

    def drift(self, z):
        """Exact mean increment ``E[z' - z | z] = z (E (m + c s xi)^D - 1)`` (inf without the moments)."""
        m, c = self.coefficients(z)
        D, s = self.depth, self.scale
        total = sum(math.comb(D, k) * m ** (D - k) * (c * s) ** k * self.noise.moment(k) for k in range(0, D + 1, 2))
        return np.asarray(z, np.float64) * (total - 1.0)

    @property
    def curvature_step(self) -> float:
        """``eta`` times the curvature at ``z0`` in the chain's units: ``D e z0^{2-2/D} / 2``;
        the noiseless step is stable below 1 (``|dz'/dz| = |1 - D e z0^{2-2/D}| < 1``)."""
        return self.depth * self.e * self.z0**self.beta / 2.0

    @property
    def eta_edge(self) -> float:
        """The step at the edge of stability of the noiseless chain at ``z0`` (``curvature_step = 1``)."""
        return self.eta / self.curvature_step

    @property
    def temperature(self) -> float:
        """Matched temperature of the isotropic models, ``2 kappa^2 eta s^2 D z0^{2-2/D}``."""
        return 2.0 * self.kappa**2 * self.eta * self.scale**2 * self.depth * self.z0**self.beta

    @property
    def z_escape(self) -> float:
        """Above this the noiseless step does not come back: ``r <= -1`` (even D) or ``r <= 0`` (odd D)."""
        level = 2.0 if self.depth % 2 == 0 else 1.0
        f = lambda z: self.e * (z - self.z0) * z ** (1.0 - 2.0 / self.depth) - level
        hi = self.z0 + 1.0
        while f(hi) < 0:
            hi *= 2.0
        return brentq(f, self.z0, hi, xtol=1e-12 * hi)

    def kernel_width(self, z):
        """Width in ``x = log |z|`` of one step's kernel, ``D |c| s / |m|`` (a scale, not an s.d.)."""
        m, c = self.coefficients(z)
        return self.depth * np.abs(c) * self.scale / np.maximum(np.abs(m), 1e-300)

    def motion(self, z):
        """How far one step moves ``x = log z`` at ``z``: the larger of the kernel width and the
        noiseless drift ``D |log|m||``."""
        m, _ = self.coefficients(z)
        with np.errstate(divide="ignore"):
            return np.maximum(self.kernel_width(z), self.depth * np.abs(np.log(np.abs(m))))

    def transition(self, x_src, edges):
        """``A[i, j] = P(x' in [edges[i], edges[i+1]) | x = x_src[j])``; also the probability of
        leaving below ``edges[0]`` (or to ``z < 0``) and above ``edges[-1]``, per source."""
        z = np.exp(np.asarray(x_src, np.float64))
        m, c = self.coefficients(z)
        cs = c * self.scale
        rho = np.exp((np.asarray(edges)[:, None] - x_src[None, :]) / self.depth)  # |r| at each edge
        F, S = self._cdf_sf((rho - m[None]) / cs[None])  # P(r <= rho), P(r > rho)
        cell = _differences(F, S)
        if self.depth % 2 == 0:
            Fn, Sn = self._cdf_sf((-rho - m[None]) / cs[None])  # P(r <= -rho), P(r > -rho)
            cell = cell + _differences(Fn[::-1], Sn[::-1])[::-1]  # P(-rho_{i+1} < r <= -rho_i)
            above = S[-1] + Fn[-1]
            below = np.maximum(Sn[0] - S[0], 0.0)
        else:
            above = S[-1]
            below = F[0]  # r below rho_0, including r < 0 (to z < 0)
        return cell, below, above

    def _cdf_sf(self, u):
        """``(P(xi <= u), P(xi > u))`` from one evaluation of the smaller tail."""
        t = self.noise.sf(np.abs(u))
        neg = u < 0
        return np.where(neg, t, 1.0 - t), np.where(neg, 1.0 - t, t)


def _differences(F, S):
    """Cell probabilities ``P(edge_i < r <= edge_{i+1})`` along axis 0 from the distribution and
    survival functions at the edges, each difference taken in the tail that keeps precision."""
    lower = F[1:] - F[:-1]
    upper = S[:-1] - S[1:]
    return np.maximum(np.where(S[:-1] < F[:-1], upper, lower), 0.0)


# --------------------------------------------------------------------------------------------
# reference laws (small-step diffusion limit; the paper's isotropic form)
# --------------------------------------------------------------------------------------------
def small_step_logdensity(chain: SliceChain, z):
    """Log density (unnormalised) of the small-step law: the SDE ``dz = mu dt + sigma dB`` with
    ``mu = -D e z^b (z - z0) + D(D-1)/2 e^2 s^2 z^{2b-1}``, ``sigma^2 = D^2 e^2 s^2 z^{2b}``
    (``b = 1 - 2/D + 1 = beta``... see below), stationary ``p ~ sigma^-2 exp(int 2 mu / sigma^2)``.

    Per step: ``z' - z = z[(1 + a u)^D - 1]`` with ``a u = c (-(z - z0) + s xi)``, whose mean and
    variance to second order are ``z[-D c (z - z0) + D(D-1)/2 c^2 s^2]`` and ``D^2 z^2 c^2 s^2``.
    Only the noise variance enters (it is infinite for alpha-stable noise: no small-step law).
    """
    z = np.asarray(z, np.float64)
    D, e, s2, z0, b = chain.depth, chain.e, chain.scale**2, chain.z0, chain.beta
    # 2 mu / sigma^2 = -2 (z - z0) z^{-b} / (D e s^2) + (D - 1) / (D z)
    # int (z - z0) z^{-b} dz = z^{2-b}/(2-b) - z0 z^{1-b}/(1-b)  (b = 1: z - z0 log z)
    if abs(b - 1.0) < 1e-12:
        V = z - z0 * np.log(z)
    else:
        V = z ** (2.0 - b) / (2.0 - b) - z0 * z ** (1.0 - b) / (1.0 - b)
    return -2.0 * V / (D * e * s2) + (D - 1.0) / D * np.log(z) - 2.0 * b * np.log(z)


def gamma_law(chain: SliceChain):
    """theory.md section 4's Gamma law (``D = 2``): ``scipy.stats.gamma`` or None when undefined."""
    import scipy.stats as st

    if chain.depth != 2 or not math.isfinite(chain.noise.moment(2)):
        return None
    theta = chain.e * chain.scale**2
    shape = chain.z0 / theta - 0.5
    return st.gamma(a=shape, scale=theta) if shape > 0 else None


def paper_logdensity(chain: SliceChain, z):
    """The paper's isotropic law ``exp(-(l + R)/T)``, ``R = T (D-1)/D log z``, at the matched T."""
    z = np.asarray(z, np.float64)
    return -chain.kappa * (z - chain.z0) ** 2 / chain.temperature - (chain.depth - 1.0) / chain.depth * np.log(z)


@dataclasses.dataclass
class GridLaw:
    """A law of ``z > 0`` given by its distribution function at points ``z`` (linear in log z between)."""

    z: np.ndarray
    cdf_values: np.ndarray
    mean: float
    variance: float

    def cdf(self, q):
        q = np.asarray(q, np.float64)
        with np.errstate(divide="ignore"):
            lq = np.log(np.maximum(q, 1e-300))
        return np.interp(lq, np.log(self.z), self.cdf_values, left=0.0, right=1.0)


def law_from_logdensity(logpdf, lo: float, hi: float, n: int = 20_001) -> GridLaw | None:
    """Normalise ``exp(logpdf)`` on a log-spaced grid of ``[lo, hi]`` (trapezoid in ``x = log z``)."""
    x = np.linspace(math.log(lo), math.log(hi), n)
    z = np.exp(x)
    with np.errstate(all="ignore"):
        lp = logpdf(z) + x  # density in x
    if not np.any(np.isfinite(lp)):
        return None
    lp = np.where(np.isfinite(lp), lp, -np.inf)
    w = np.exp(lp - lp.max())
    dx = np.diff(x)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (w[1:] + w[:-1]) * dx)])
    total = cdf[-1]
    mean = float(np.sum(0.5 * (w[1:] * z[1:] + w[:-1] * z[:-1]) * dx) / total)
    m2 = float(np.sum(0.5 * (w[1:] * z[1:] ** 2 + w[:-1] * z[:-1] ** 2) * dx) / total)
    return GridLaw(z, cdf / total, mean, m2 - mean * mean)


def small_step_law(chain: SliceChain, lo: float | None = None, hi: float | None = None) -> GridLaw | None:
    """The small-step law on a grid (None for noise without a variance, or when not normalisable)."""
    if not math.isfinite(chain.noise.moment(2)):
        return None
    if chain.depth == 2:
        g = gamma_law(chain)
        if g is None:
            return None
        lo = lo if lo is not None else max(float(g.ppf(1e-12)), 1e-300)
        hi = hi if hi is not None else float(g.isf(1e-12))
        z = np.exp(np.linspace(math.log(lo), math.log(hi), 20_001))
        return GridLaw(z, g.cdf(z), float(g.mean()), float(g.var()))
    sd = math.sqrt(chain.depth * chain.e * chain.scale**2 * chain.z0**chain.beta / 2.0)
    lo = lo if lo is not None else max(chain.z0 * 1e-4, chain.z0 - 40 * sd, 1e-300)
    hi = hi if hi is not None else chain.z0 + 60 * sd
    return law_from_logdensity(lambda z: small_step_logdensity(chain, z), lo, hi)


def paper_law(chain: SliceChain, lo: float | None = None, hi: float | None = None) -> GridLaw | None:
    sd = math.sqrt(chain.temperature / (2 * chain.kappa))
    lo = lo if lo is not None else max(chain.z0 * 1e-6, chain.z0 - 40 * sd, 1e-300)
    hi = hi if hi is not None else chain.z0 + 40 * sd
    return law_from_logdensity(lambda z: paper_logdensity(chain, z), lo, hi)


# --------------------------------------------------------------------------------------------
# the transfer operator
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class StationaryLaw(GridLaw):
    """The exact (quasi-)stationary law of a :class:`SliceChain` on a grid of cells in ``log z``.

    ``edges``: cell edges in ``x = log z``; ``prob``: each cell's probability (within a cell the
    density is taken uniform in ``x``). ``escape_rate``: probability per step, under this law, of
    leaving above ``z_esc`` (divergence); ``loss_rate``: of leaving below the grid's bottom or,
    for odd depth, to ``z < 0``. ``error``: differences to a solve on a 1.5x coarser grid (None
    when not computed). ``cells``: number of cells.
    """

    edges: np.ndarray = None
    prob: np.ndarray = None
    escape_rate: float = 0.0
    loss_rate: float = 0.0
    cells: int = 0
    error: dict | None = None
    chain: SliceChain | None = None

    def density(self, q):
        """Density in ``z`` at ``q`` (piecewise: uniform in ``x`` within a cell)."""
        x = np.log(np.asarray(q, np.float64))
        i = np.clip(np.searchsorted(self.edges, x) - 1, 0, self.cells - 1)
        inside = (x >= self.edges[0]) & (x <= self.edges[-1])
        return np.where(inside, self.prob[i] / np.diff(self.edges)[i] / np.exp(x), 0.0)

    def summary(self) -> dict:
        return {"mean": self.mean, "variance": self.variance, "escape_rate_per_step": self.escape_rate,
                "loss_rate_per_step": self.loss_rate, "cells": self.cells, "error": self.error}


def _edges(chain: SliceChain, lo: float, hi: float, points_per_width: float, tail_growth: float,
           z_low: float, z_top: float, max_cells: int, min_bulk_cells: int = 400) -> np.ndarray:
    """Cell edges in ``x = log z``: over the bulk ``[lo, hi]`` a local spacing of ``1 /
    points_per_width`` kernel widths (:meth:`SliceChain.kernel_width`; at least
    ``min_bulk_cells`` cells, at most ``max_cells``), geometric cells out to ``z_low`` and ``z_top``."""
    a, b = math.log(lo), math.log(hi)
    xs = np.linspace(a, b, 4001)
    with np.errstate(all="ignore"):
        density = points_per_width / chain.kernel_width(np.exp(xs))
    density = np.maximum(np.nan_to_num(density, nan=0.0, posinf=0.0), min_bulk_cells / (b - a))
    count = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(xs))])
    n = int(np.clip(math.ceil(count[-1]), min_bulk_cells, max_cells))
    bulk = np.interp(np.linspace(0.0, count[-1], n + 1), count, xs)
    bulk[0], bulk[-1] = a, b

    def tail(start, stop, step, direction):
        # geometric growth, but never wider than 4 times the distance one step moves there
        # (otherwise a cell would hold its mass), and at most 400 cells: below that the mass
        # leaves the grid and is counted in ``loss_rate``
        pts, x = [], start
        while (x - stop) * direction < 0 and len(pts) < 400:
            step = min(step * tail_growth, 4.0 * float(chain.motion(math.exp(x))))
            x = x + direction * step
            pts.append(min(x, stop) if direction > 0 else max(x, stop))
        return pts

    left = tail(a, math.log(z_low), bulk[1] - bulk[0], -1)[::-1] if math.log(z_low) < a else []
    right = tail(b, math.log(z_top), bulk[-1] - bulk[-2], +1) if math.log(z_top) > b else []
    return np.concatenate([left, bulk, right])


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _solve(chain: SliceChain, edges: np.ndarray, max_sub: int = 8):
    """Perron vector of the cell transfer matrix: ``(cell probabilities, eigenvalue, loss, escape)``.

    A cell's mass is spread uniformly over it (Ulam): the transition from a cell is the average of
    the transitions from ``k`` midpoints of equal sub-cells, ``k = 1`` for the fine cells and up to
    ``max_sub`` for the wide tail cells. (With the centre only, a wide cell in which one step
    moves less than half the cell would hold its mass for ever.)
    """
    h = np.diff(edges)
    n = len(h)
    k = np.clip(np.ceil(h / (0.5 * chain.motion(np.exp(edges[:-1] + h / 2))) - 1e-9), 1, max_sub).astype(int)
    start = np.repeat(edges[:-1], k)
    sub = np.concatenate([(np.arange(kj) + 0.5) / kj for kj in k])
    x = start + sub * np.repeat(h, k)
    A, below, above = chain.transition(x, edges)
    owner = np.concatenate([[0], np.cumsum(k)[:-1]])
    weights = 1.0 / np.repeat(k, k)
    A = np.add.reduceat(A * weights[None], owner, axis=1)
    below, above = np.add.reduceat(below * weights, owner), np.add.reduceat(above * weights, owner)
    # inverse iteration with a shift just above the spectral radius (<= 1): one LU, a few solves
    # (one BLAS thread: a few-hundred-cell LU is slower threaded, by 5x on a busy 2-core machine)
    with _one_blas_thread():
        lu = sla.lu_factor((1.0 + 1e-9) * np.eye(n) - A, check_finite=False)
    # start from the bulk (the finest cells): cells the bulk cannot reach get no mass
    p = np.where(h <= 1.0001 * np.max(h[h <= np.median(h) * 1.0001]) , 1.0, 0.0)
    p /= p.sum()
    for _ in range(6):
        q = sla.lu_solve(lu, p, check_finite=False)
        q = np.abs(q)
        q /= q.sum()
        if np.max(np.abs(q - p)) < 1e-15:
            p = q
            break
        p = q
    lam = float(np.sum(A @ p))
    return p, lam, float(below @ p), float(above @ p)


def _moments(edges, p):
    a, b = edges[:-1], edges[1:]
    with np.errstate(over="ignore", invalid="ignore"):
        m1 = np.where(b - a > 1e-12, (np.exp(b) - np.exp(a)) / (b - a), np.exp(0.5 * (a + b)))
        m2 = np.where(b - a > 1e-12, (np.exp(2 * b) - np.exp(2 * a)) / (2 * (b - a)), np.exp(a + b))
    mean = float(p @ m1)
    return mean, float(p @ m2) - mean * mean


def _law(chain, edges, p, lam, below, above) -> StationaryLaw:
    mean, var = _moments(edges, p)
    cdf = np.concatenate([[0.0], np.cumsum(p)])
    return StationaryLaw(z=np.exp(edges), cdf_values=cdf / cdf[-1], mean=mean, variance=var, edges=edges, prob=p,
                         escape_rate=above, loss_rate=below, cells=len(p), chain=chain)


def _bulk(chain: SliceChain, tol: float, max_cells: int, tail_growth: float):
    """The bulk ``[lo, hi]`` (z) of the law: from the small-step scales, widened on coarse solves
    (one cell per kernel width) until the outer 2% of the bulk holds less than ``tol`` each side
    and the tail cells beyond it less than ``100 tol`` (the bulk reaches down to ``z0 / 100`` at most)."""
    if math.isfinite(chain.noise.moment(2)):
        sd = math.sqrt(chain.depth * chain.e * chain.scale**2 * chain.z0**chain.beta / 2.0)
    else:
        sd = chain.depth * chain.e * chain.scale * chain.z0**chain.beta
    z_top = chain.z_escape
    lo = max(chain.z0 - 10 * sd, chain.z0 * math.exp(-12 * sd / chain.z0), chain.z0 * 1e-3)
    hi = min(chain.z0 + 14 * sd, 0.9 * z_top)
    z_low = min(lo, chain.z0) * 1e-6
    floor = chain.z0 * 1e-2  # the bulk stops here; below, tail cells (heavy-tailed noise's kicks to ~0)
    for _ in range(12):
        edges = _edges(chain, lo, hi, 1.0, tail_growth, z_low, z_top, max_cells, 100)
        p = _solve(chain, edges)[0]
        a, b = math.log(lo), math.log(hi)
        mid = 0.5 * (edges[1:] + edges[:-1])
        grow_l = lo > floor * 1.001 and (p[mid < a + 0.02 * (b - a)].sum() > tol or p[mid < a].sum() > 100 * tol)
        grow_r = hi < 0.9 * z_top * 0.999 and (p[mid > b - 0.02 * (b - a)].sum() > tol or p[mid > b].sum() > 100 * tol)
        if not (grow_l or grow_r):
            break
        if grow_l:
            lo = max(floor, lo * lo / chain.z0 if lo < chain.z0 else lo / 2)
        if grow_r:
            hi = min(0.9 * z_top, chain.z0 + 2 * (hi - chain.z0))
    return lo, hi, z_low, z_top


def stationary_law(chain: SliceChain, points_per_width: float = 2.0, tail_growth: float = 1.06,
                   tol: float = 1e-6, max_cells: int = 2500, extrapolate: bool = True,
                   min_cells: int = 400) -> StationaryLaw:
    """The exact stationary law of ``chain`` by the transfer operator (module docstring).

    The bulk (:func:`_bulk`) is covered with ``1.5 points_per_width`` cells per kernel width, and
    at least ``1.5 min_cells`` (at most ``max_cells``). The discretisation error of the cell method is a numerical diffusion of order
    ``h^2`` (measured: the variance's error falls 4x when ``h`` halves), so with ``extrapolate``
    the law is solved on two grids, ``h`` and ``h / 1.5``, and the mean, variance and distribution
    function are Richardson-extrapolated, ``X = X_f + (X_f - X_c) / (1.5^2 - 1)``. ``error`` holds
    the size of that correction (mean, variance, sup of the distribution function): a conservative
    estimate of the error left, which is of order ``h^4``.
    """
    lo, hi, z_low, z_top = _bulk(chain, tol, max_cells, tail_growth)
    fine_edges = _edges(chain, lo, hi, 1.5 * points_per_width, tail_growth, z_low, z_top, max_cells, int(1.5 * min_cells))
    fine = _law(chain, fine_edges, *_solve(chain, fine_edges))
    if not extrapolate:
        return fine
    coarse_edges = _edges(chain, lo, hi, points_per_width, tail_growth, z_low, z_top, max_cells * 2 // 3, min_cells)
    coarse = _law(chain, coarse_edges, *_solve(chain, coarse_edges))
    k = 1.0 / (1.5**2 - 1.0)
    cdf = fine.cdf_values + k * (fine.cdf_values - coarse.cdf(fine.z))
    cdf = np.clip(np.maximum.accumulate(cdf), 0.0, 1.0)
    cdf = (cdf - cdf[0]) / (cdf[-1] - cdf[0])
    law = dataclasses.replace(
        fine, cdf_values=cdf, mean=fine.mean + k * (fine.mean - coarse.mean),
        variance=fine.variance + k * (fine.variance - coarse.variance),
        escape_rate=fine.escape_rate + k * (fine.escape_rate - coarse.escape_rate),
        loss_rate=fine.loss_rate + k * (fine.loss_rate - coarse.loss_rate))
    law.escape_rate, law.loss_rate = max(law.escape_rate, 0.0), max(law.loss_rate, 0.0)
    law.error = {"mean": k * abs(fine.mean - coarse.mean), "variance": k * abs(fine.variance - coarse.variance),
                 "cdf_sup": float(k * np.max(np.abs(fine.cdf_values - coarse.cdf(fine.z)))),
                 "cells": [coarse.cells, fine.cells]}
    return law


# --------------------------------------------------------------------------------------------
# the finite-step label-noise bias (the mechanism's finite_step option)
# --------------------------------------------------------------------------------------------
def stationary_mean(z0: float, eta: float, variance: float, depth: int = 2, noise: NoiseLaw | None = None,
                    loss: str = "half_squared", **kw) -> float:
    """Mean of the exact stationary law of the slice chain with target ``z0``."""
    chain = SliceChain(z0, eta, math.sqrt(variance), depth, noise or NoiseLaw(), loss)
    return stationary_law(chain, **kw).mean


def finite_step_bias_table(eta: float, variance: float, depth: int = 2, z_max: float = 10.0,
                           noise: NoiseLaw | None = None, points: int = 24, **kw):
    """``(m, R(m))`` on a grid of ``m`` in ``(0, z_max]``: the finite-step label-noise bias per coordinate.

    Convention (the mechanism's: loss ``(z - y)^2 / 2``, label noise of variance ``sigma^2``):
    ``R`` is the penalty whose minimiser of ``(z - z0)^2/2 + R(z)`` is the exact stationary mean
    ``m(z0)`` of the slice chain, for every target: ``R'(m(z0)) = z0 - m(z0)``, ``R(0) = 0``. In
    the small-step limit ``m = z0 - eta sigma^2/2`` at depth 2, so ``R = (eta sigma^2/2) |z|``,
    the mechanism's ``unit * shape`` (``(eta sigma^2/4) * 2|z|``). Targets are taken on a
    geometric grid where the law is resolved (relative variance of the small-step law at most
    0.5); below the first one ``R'`` follows the small-step derivative ``(D-1)/2 e s^2 m^{1-2/D}``
    scaled to join continuously.
    """
    noise = noise or NoiseLaw()
    if not math.isfinite(noise.moment(2)):
        raise DesignerInputError("mechanism.noise", "the label-noise bias needs noise with a finite variance")
    s2 = variance
    D = depth
    beta = 2.0 - 2.0 / D
    # smallest target with relative small-step variance D e s^2 z0^(beta-2) / 2 <= 0.5 (e = eta here)
    z_min = (D * eta * s2) ** (1.0 / (2.0 - beta)) if beta < 2 else 1e-3
    z_min = max(z_min, 1e-6)
    targets = np.geomspace(z_min, 1.25 * z_max + eta * s2 * D, points)
    means = np.array([stationary_mean(float(t), eta, s2, D, noise, **kw) for t in targets])
    if np.any(np.diff(means) <= 0):
        raise DesignerInputError("mechanism.learning_rate", "the stationary mean is not increasing in the target at this "
                                 "step (edge of stability): no finite-step bias")
    slope = targets - means  # R'(m)
    ss = lambda m: (D - 1.0) / 2.0 * eta * s2 * np.asarray(m) ** (1.0 - 2.0 / D)
    k = slope[0] / ss(means[0])
    m_low = np.linspace(0.0, means[0], 17)[1:-1]
    m_all = np.concatenate([[0.0], m_low, means])
    d_all = np.concatenate([[k * ss(1e-300) if D == 2 else 0.0], k * ss(m_low), slope])
    R = np.concatenate([[0.0], np.cumsum(0.5 * (d_all[1:] + d_all[:-1]) * np.diff(m_all))])
    return m_all, R


def finite_step_bias(z, eta: float, variance: float, depth: int = 2, noise: NoiseLaw | None = None, **kw):
    """``R(|z|)`` of :func:`finite_step_bias_table` at ``z`` (numpy, elementwise)."""
    z = np.abs(np.asarray(z, np.float64))
    m, R = finite_step_bias_table(eta, variance, depth, z_max=max(float(np.max(z)), 1e-3), noise=noise, **kw)
    return np.interp(z, m, R)


__all__ = [
    "GridLaw", "LOSSES", "NOISE_LAWS", "NoiseLaw", "SliceChain", "StationaryLaw", "finite_step_bias",
    "finite_step_bias_table", "gamma_law", "law_from_logdensity", "paper_law", "paper_logdensity",
    "small_step_law", "small_step_logdensity", "stationary_law", "stationary_mean", "cached_bias_table",
    "finite_step_shape",
]


# --------------------------------------------------------------------------------------------
# the label-noise mechanism's finite_step option
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def cached_bias_table(eta: float, variance: float, depth: int, df: float | None, z_max: float):
    """:func:`finite_step_bias_table` on cheap grids (the stationary means only), cached."""
    noise = NoiseLaw("gaussian") if df is None else NoiseLaw("student_t", df=df)
    chain = SliceChain(z_max, eta, math.sqrt(variance), depth, noise, "half_squared")
    if chain.curvature_step >= 1.0:
        raise DesignerInputError("mechanism.learning_rate", f"eta = {eta:g} is beyond the edge of stability at "
                                 f"|z| = z_max = {z_max:g} (edge {chain.eta_edge:.3g}); lower it or z_max")
    m, R = finite_step_bias_table(eta, variance, depth, z_max, noise, points=10, points_per_width=1.0,
                                  max_cells=600, min_cells=120, tail_growth=1.12)
    return np.asarray(m), np.asarray(R)


def finite_step_shape(x, table):
    """``sum_i R(|x_i|)`` in JAX (jit and vmap safe) from a ``(m, R)`` table; linear beyond its end."""
    import jax.numpy as jnp

    m, R = (jnp.asarray(t, jnp.result_type(float)) for t in table)
    a = jnp.abs(jnp.asarray(x))
    slope = (R[-1] - R[-2]) / (m[-1] - m[-2])
    inside = jnp.interp(a, m, R)
    return jnp.sum(jnp.where(a > m[-1], R[-1] + slope * (a - m[-1]), inside))
