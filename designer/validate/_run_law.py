"""The law of the run: label-noise SGD chains on the balanced slice exactly as they are run.

:func:`designer.validate.stationary_law` gives the (quasi-)stationary law on ``(0, z_esc)``: the law
of the chains that have neither diverged nor, at odd depth, crossed to ``z < 0``. At odd depth a
large step with ``r < 0`` flips the sign of every factor and the chain continues on ``z < 0``, where
``0`` attracts and the chain creeps towards it (there is no stationary law on the whole line: the
negative side near 0 is absorbing in the limit). What a finite run samples is then a transient
law. This module computes it with the same transfer operator on a two-sided state:

* **State.** Cells in ``x = log |z|`` on the positive side and, at odd depth, on the negative side;
  at odd depth both sides reach down to ``|z| = 1e-30 z0`` (a step with a tiny ``|r|`` lands at
  ``|z r^D|``, anywhere down to 0, and the chain then barely moves for the rest of the run), with two
  sinks at ``z = 0+`` and ``0-`` for the mass below that (1e-10 to 5e-10 in the depth-3 rows where
  most chains cross);
  at even depth that mass goes back to the bottom cell (near 0 the chain grows back at once); the mass
  that leaves above the grids' top ``top * z_top`` is divergence (escape). ``z_top`` is where the
  noiseless step has ``r = -1`` on the positive side, ``e (z - z0) z^{1-2/D} = 2``: beyond it, on
  either side, the noiseless step grows ``|z|`` and flips its sign, so the chain diverges unless a
  kick brings it back, which just past ``z_top`` happens about half the time. The grids therefore
  reach ``top = 4`` times further (``top = 1``, escape at ``z_top`` itself, overestimated the
  diverged chains by 17% at depth 2, Gaussian noise, z0 = 0.3, half the edge: 774 expected of 8,192
  against 641 observed; with ``top = 1.5, 3, 10``: 653 each; the moments move by 0.05%).
* **The map on z < 0.** The gradient of factor ``i`` is ``2 kappa (z - y) z / u_i`` and at balance
  ``u_i^2 = |z|^{2/D}``, so ``z' = z r^D`` with ``r = m + c s xi``, ``c = e z |z|^{-2/D}`` (signed,
  negative on ``z < 0``), ``m = 1 - c (z - z0)`` (:meth:`SliceChain.coefficients`; checked against one
  simulator step to 1e-12 in the tests). A step with ``r < 0`` moves the mass to the other side:
  cell-to-cell entries ``P(-rho_{i+1} < r <= -rho_i)`` of the other side's cells.
* **Creeping.** Near 0 on the negative side ``tau = |z|^{-(1-2/D)}`` moves by
  ``(1-2/D) D e (z0 + s xi)`` per step (``e (z0 + s xi)`` at ``D = 3``): a random walk with a drift, so
  ``|z|`` shrinks like ``t^{-3}``. The negative grid is uniform in ``tau`` there, at most
  ``neg_cells`` cells down to the depth the run can reach (``tau`` of the drift over all steps plus
  12 standard deviations). The creep's front moves one drift step per step, and a cell wider than
  that smears it (numerical diffusion of order cell width times drift per step): where more than
  ``creep_mass`` (1%) of the records are on ``z < 0`` the cells are made two drift steps wide
  (:func:`creep_cells`, at most ``max_creep_cells``; ``neg_cells`` is about 1.1 per step of the
  run). Where a cell is wider than one step's kernel the transition is averaged
  over the source cell (Ulam: up to ``max_sub`` equally spaced sub-points, enough to resolve the
  kernel), so the mass moves at the exact speed instead of sticking in its cell (a centre-point
  transition would hold it: the kernel from the centre does not reach the next cell).
* **The run.** ``p_t = A^t p_0`` from the cell of the chains' start ``z0``; the survival to the end
  of the run ``S_n = (A^T)^n 1`` (a chain that diverges before the end is dropped with all its
  records, as the comparison does); the law of the records is
  ``sum_k p_{t_k} S_{T - t_k} / (K P(survive))`` over exactly the recorded steps
  ``t_k = burn + every k``, ``k = 1..K``. ``A`` is a sparse matrix (entries below ``1e-14`` dropped;
  the largest dropped mass per step is reported).

Accuracy: as for the stationary law, the run law is computed on two grids (``points_per_width``
and 1.5 times more cells); the mean, variance, survival and mass at ``z < 0`` are
Richardson-extrapolated and ``error`` holds the size of the correction. The distribution function
is the finer grid's (not extrapolated: the grids are not nested, see :func:`run_law`), with
``error["cdf_sup"]`` the size of the correction an extrapolation would make.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import scipy.sparse as sp
from scipy.optimize import brentq

from ..errors import DesignerInputError
from ._finite_step import SliceChain, _bulk, _differences, _edges


def divergence_point(chain: SliceChain) -> float:
    """``z_top``: the positive ``z`` where the noiseless step has ``r = -1`` (module docstring)."""
    f = lambda z: chain.e * (z - chain.z0) * z ** (1.0 - 2.0 / chain.depth) - 2.0
    hi = chain.z0 + 1.0
    while f(hi) < 0:
        hi *= 2.0
    return brentq(f, chain.z0, hi, xtol=1e-12 * hi)


def creep_tau(chain: SliceChain, z):
    """``tau = |z|^{-(1-2/D)}``, in which the negative side near 0 is a random walk with drift
    ``(1-2/D) D e z0`` and step standard deviation ``(1-2/D) D e s`` per step."""
    return np.abs(np.asarray(z, np.float64)) ** -(1.0 - 2.0 / chain.depth)


def _side_edges(chain: SliceChain, sign: int, ppw: float, x_top: float, tau_max: float, cap: int, h_max: float):
    """Edges in ``x = log|z|`` of one side from ``tau = tau_max`` up to ``x_top``: ``ppw`` cells per
    kernel width, at most ``cap`` cells (then uniform in ``tau`` where the kernel is finest), no cell
    wider than ``h_max``."""
    bp = 1.0 - 2.0 / chain.depth
    x_bot = -math.log(tau_max) / bp
    xs = np.linspace(x_bot, x_top, 20001)
    with np.errstate(all="ignore"):
        dens = ppw / chain.kernel_width(sign * np.exp(xs))
    dens = np.nan_to_num(dens, nan=0.0, posinf=0.0)
    dtau = bp * np.exp(-bp * xs)  # |d tau / d x|
    floor = 1.0 / h_max

    def count(dcap):
        d = np.maximum(np.minimum(dens, dcap * dtau), floor)
        return d, np.concatenate([[0.0], np.cumsum(0.5 * (d[1:] + d[:-1]) * np.diff(xs))])

    d, c = count(np.inf)
    if c[-1] > cap:
        lo, hi = 1e-12, float(np.max(dens / dtau))
        for _ in range(60):
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if count(mid)[1][-1] < cap else (lo, mid)
        d, c = count(lo)
    n = max(int(math.ceil(c[-1])), 10)
    edges = np.interp(np.linspace(0.0, c[-1], n + 1), c, xs)
    edges[0], edges[-1] = x_bot, x_top
    return edges


def _transition(chain: SliceChain, sign: int, x, same, other):
    """From ``z = sign e^x``: probabilities of the cells of the same side (``r > 0``; both signs of
    ``r`` at even depth), of the other side (``r < 0``, odd depth), of the sinks at 0 of the same and
    of the other side (below the grids) and of escape (above the top)."""
    z = sign * np.exp(x)
    m, c = chain.coefficients(z)
    cs = np.abs(c) * chain.scale
    cdf_sf = chain._cdf_sf
    F0, S0 = cdf_sf(-m / cs)  # P(r <= 0), P(r > 0)
    rho = np.exp((same[:, None] - x[None, :]) / chain.depth)
    F, S = cdf_sf((rho - m[None]) / cs[None])
    keep = _differences(F, S)
    zero = np.maximum(np.where(S0 < F0, S0 - S[0], F[0] - F0), 0.0)  # P(0 < r <= rho_0): same side
    zero_other = np.zeros_like(zero)
    escape = S[-1]
    flip_edges = same if chain.depth % 2 == 0 else other
    flip = None
    if flip_edges is not None and len(flip_edges):
        rho = np.exp((flip_edges[:, None] - x[None, :]) / chain.depth)
        Fn, Sn = cdf_sf((-rho - m[None]) / cs[None])  # P(r <= -rho), P(r > -rho)
        flip = _differences(Fn[::-1], Sn[::-1])[::-1]
        zero_other = np.maximum(np.where(F0 < S0, F0 - Fn[0], Sn[0] - S0), 0.0)  # P(-rho_0 < r <= 0)
        escape = escape + Fn[-1]
    else:
        zero_other = F0
    if chain.depth % 2 == 0:
        zero, zero_other = zero + zero_other, np.zeros_like(zero)
        if flip is not None:
            keep, flip = keep + flip, None
    return keep, flip, zero, zero_other, escape


def _sub_points(chain, sign, edges, max_sub):
    """Equally spaced sub-points of each cell, enough to resolve one step's kernel (at least two
    per kernel width), and the owner cell of each."""
    h = np.diff(edges)
    mid = edges[:-1] + h / 2
    with np.errstate(all="ignore"):
        kw = chain.kernel_width(sign * np.exp(mid))
    k = np.clip(np.ceil(np.nan_to_num(h / (0.5 * kw), nan=1.0, posinf=max_sub) - 1e-9), 1, max_sub).astype(int)
    return k


@dataclasses.dataclass
class Operator:
    """The sparse transfer matrix on ``[positive cells, negative cells, sink at 0]`` (columns:
    sources) and the escape probability per source."""

    A: sp.csr_matrix
    escape: np.ndarray
    pos: np.ndarray
    neg: np.ndarray
    dropped: float

    @property
    def n_pos(self):
        return len(self.pos) - 1

    @property
    def n_neg(self):
        return max(len(self.neg) - 1, 0)


def operator(chain: SliceChain, pos, neg, max_sub: int = 64, threshold: float = 1e-14, chunk: int = 2048) -> Operator:
    n_pos, n_neg = len(pos) - 1, max(len(neg) - 1, 0)
    N = n_pos + n_neg + 2  # ..., sink at 0+ (N - 2), sink at 0- (N - 1)
    rows, cols, vals = [], [], []
    escape = np.zeros(N)
    dropped = 0.0
    for sign, edges, offset in ((1, pos, 0), (-1, neg, n_pos)):
        if len(edges) < 2:
            continue
        same, other = (pos, neg) if sign > 0 else (neg, pos)
        s_off, o_off = (0, n_pos) if sign > 0 else (n_pos, 0)
        k = _sub_points(chain, sign, edges, max_sub)
        h = np.diff(edges)
        cum = np.concatenate([[0], np.cumsum(k)])
        j = 0
        while j < len(h):
            j2 = int(np.searchsorted(cum, cum[j] + chunk, side="right")) - 1
            j2 = max(j2, j + 1)
            kk = k[j:j2]
            x = np.repeat(edges[j:j2], kk) + np.concatenate([(np.arange(q) + 0.5) / q for q in kk]) * np.repeat(h[j:j2], kk)
            w = 1.0 / np.repeat(kk, kk)
            owner = np.concatenate([[0], np.cumsum(kk)[:-1]])
            keep, flip, zero, zero_o, esc = _transition(chain, sign, x, same, other)
            red = lambda M: np.add.reduceat(M * w, owner, axis=-1)
            blocks = [(red(keep), s_off)]
            if flip is not None:
                blocks.append((red(flip), o_off))
            src = offset + np.arange(j, j2)
            for M, off in blocks:
                big = M >= threshold
                dropped = max(dropped, float(np.max(np.sum(np.where(big, 0.0, M), axis=0))))
                r, c = np.nonzero(big)
                rows.append(r + off)
                cols.append(src[c])
                vals.append(M[r, c])
            sink_same, sink_other = (N - 2, N - 1) if sign > 0 else (N - 1, N - 2)
            if chain.depth % 2 == 0:
                # even depth: near 0, m = 1 + e z0 z^{1-2/D} (z - z0 < 0) > 1 and the chain grows back at
                # once (geometrically at D = 2), so mass below the grid returns to its bottom cell
                sink_same = 0
            rows += [np.full(j2 - j, sink_same), np.full(j2 - j, sink_other)]
            cols += [src, src]
            vals += [red(zero), red(zero_o)]
            escape[src] = red(esc)
            j = j2
    rows.append([N - 2, N - 1])
    cols.append([N - 2, N - 1])
    vals.append([1.0, 1.0])
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(N, N))
    return Operator(A, escape, np.asarray(pos), np.asarray(neg), dropped)


def _cell_moments(edges):
    a, b = edges[:-1], edges[1:]
    with np.errstate(over="ignore", invalid="ignore"):
        m1 = np.where(b - a > 1e-12, (np.exp(b) - np.exp(a)) / (b - a), np.exp(0.5 * (a + b)))
        m2 = np.where(b - a > 1e-12, (np.exp(2 * b) - np.exp(2 * a)) / (2 * (b - a)), np.exp(a + b))
    return m1, m2


@dataclasses.dataclass
class SignedGridLaw:
    """A law on the real line: distribution function at negative points ``z_neg`` (increasing) and
    positive points ``z_pos`` (increasing), linear in ``log |z|`` between; a jump at 0 (the sink)."""

    z_neg: np.ndarray
    F_neg: np.ndarray
    z_pos: np.ndarray
    F_pos: np.ndarray
    mean: float
    variance: float

    def cdf(self, q):
        q = np.asarray(q, np.float64)
        out = np.empty(q.shape)
        neg = q < 0
        with np.errstate(divide="ignore"):
            lq = np.log(np.abs(q))
        if len(self.z_neg):
            ln = np.log(-self.z_neg)[::-1]  # increasing
            out[neg] = np.interp(lq[neg], ln, self.F_neg[::-1], left=self.F_neg[-1], right=0.0)
        else:
            out[neg] = 0.0
        out[~neg] = np.interp(lq[~neg], np.log(self.z_pos), self.F_pos, left=self.F_pos[0], right=1.0)
        return out


@dataclasses.dataclass
class RunLaw(SignedGridLaw):
    """The law of the recorded states of the chains that did not diverge (module docstring).

    ``survival``: probability that a chain does not diverge before the run's end; ``negative``:
    mass on ``z < 0`` (with the sink at 0-); ``zero``: mass in the sinks at 0+ and 0- (``|z|`` below
    the grids' bottom, ``1e-30 z0``); ``error``: Richardson correction sizes;
    ``cells``: cells of the two grids; ``dropped``: largest sparsified mass per step."""

    survival: float = 1.0
    negative: float = 0.0
    zero: float = 0.0
    error: dict | None = None
    cells: list | None = None
    dropped: float = 0.0
    seconds: float = 0.0

    def summary(self) -> dict:
        return {"mean": self.mean, "variance": self.variance, "survival": self.survival,
                "negative_mass": self.negative, "zero_mass": self.zero, "error": self.error, "cells": self.cells,
                "dropped_per_step": self.dropped, "seconds": self.seconds}


def propagate(op: Operator, start: float, steps: int, burn: int, every: int):
    """Cell probabilities of the run law (unnormalised: they sum to ``P(survive)``) on ``op``'s grid."""
    N = op.A.shape[0]
    p = np.zeros(N)
    x0 = math.log(start)
    i = int(np.clip(np.searchsorted(op.pos, x0) - 1, 0, op.n_pos - 1))
    p[i] = 1.0
    K = steps // every
    A = op.A
    if A.nnz > 0.05 * N * N:  # heavy-tailed noise: the matrix is nearly full, dense BLAS is faster
        A = A.toarray()
        B = np.linalg.matrix_power(A, every)
        BT = np.ascontiguousarray(B.T)
    else:
        B = A  # one record interval, A^every (sparse; products pruned below 1e-17)
        for _ in range(every - 1):
            B = (A @ B).tocsr()
            B.data[B.data < 1e-17] = 0.0
            B.eliminate_zeros()
        BT = B.T.tocsr()
    for _ in range(burn % every):
        p = A @ p
    for _ in range(burn // every):
        p = B @ p
    fwd = np.empty((K, N))
    for k in range(K):
        p = B @ p
        fwd[k] = p
    # survival to the end from each state, after n = steps - every k steps: S_n = (A^T)^n 1
    s = np.ones(N)
    W = np.zeros(N)
    for k in range(K - 1, -1, -1):  # record k has n = every (K - 1 - k) steps left
        W += fwd[k] * s
        if k:
            s = BT @ s
    return W / K


def _law_from_cells(op: Operator, w: np.ndarray, survival: float) -> RunLaw:
    n_pos, n_neg = op.n_pos, op.n_neg
    q = w / w.sum()
    pp, pn = q[:n_pos], q[n_pos:n_pos + n_neg]
    p0p, p0n = float(q[-2]), float(q[-1])  # the sinks at 0+ and 0- (|z| below the grids)
    m1p, m2p = _cell_moments(op.pos)
    mean = float(pp @ m1p)
    m2 = float(pp @ m2p)
    if n_neg:
        m1n, m2n = _cell_moments(op.neg)
        mean -= float(pn @ m1n)
        m2 += float(pn @ m2n)
    z_neg = -np.exp(op.neg[::-1]) if n_neg else np.zeros(0)
    F_neg = np.concatenate([[0.0], np.cumsum(pn[::-1])]) if n_neg else np.zeros(0)
    # the sink at 0- is the mass at -e^{neg[0]} < z < 0 (closer to 0 than the grid's bottom edge): the
    # distribution function reaches tot_neg only at 0 (it was counted at the bottom edge, which put
    # that mass on the wrong side of the edge's records)
    tot_neg = float(pn.sum()) + p0n
    F_pos = tot_neg + p0p + np.concatenate([[0.0], np.cumsum(pp)])
    return RunLaw(z_neg, F_neg, np.exp(op.pos), np.minimum(F_pos, 1.0), mean, m2 - mean * mean,
                  survival=survival, negative=tot_neg, zero=p0p + p0n, cells=[len(q)], dropped=op.dropped)


def _tau_max(chain: SliceChain, steps: int, burn: int) -> float:
    """The depth in ``tau`` the creep can reach in the run: its drift over all steps, plus 12 standard
    deviations, from a crossing at ``|z| = z0 / 100``."""
    bp = 1.0 - 2.0 / chain.depth
    T = burn + steps
    return bp * chain.depth * chain.e * (1.1 * chain.z0 * T + 12.0 * chain.scale * math.sqrt(T)) + (chain.z0 * 1e-2) ** -bp


def grids(chain: SliceChain, steps: int, burn: int, points_per_width: float = 1.0, tail_growth: float = 1.06,
          tol: float = 1e-6, max_cells: int = 2500, min_cells: int = 400, neg_cells: int = 1500, top: float = 4.0,
          deep: float = 1e-30):
    """Edges of the two sides for ``points_per_width`` cells per kernel width (module docstring)."""
    lo, hi, z_low, _ = _bulk(chain, tol, max_cells, tail_growth)
    z_top = top * divergence_point(chain)
    # every count scales with the resolution, the cap included: a cap shared by the two grids of the
    # Richardson pair gave both the same cells where it bound, so the extrapolation and its error
    # estimate vanished while the law kept the coarse grid's numerical diffusion (t(3) noise, depth 3,
    # z0 = 10, 0.05 of the edge: the bulk held about 2 cells per kernel width whatever was asked, and
    # the law's core was 2% wider than the chains', about h^2 / (12 w^2) for cells h and kernel width w)
    min_cells = int(min_cells * points_per_width)
    max_cells = int(max_cells * points_per_width)
    if chain.depth % 2 == 0:
        return _edges(chain, lo, hi, points_per_width, tail_growth, z_low, z_top, max_cells, min_cells), np.zeros(0)
    # odd depth: both sides reach down to the depth in tau that the creep can reach in the run (a
    # flip with a small |r| lands near 0 on either side; on z > 0 the chain creeps back up from there)
    tau_max = _tau_max(chain, steps, burn)
    cap = int(neg_cells * points_per_width / 2.0)
    bulk = _edges(chain, lo, hi, points_per_width, tail_growth, lo, z_top, max_cells, min_cells)
    low = _side_edges(chain, +1, points_per_width, bulk[0], tau_max, cap // 2, h_max=0.2 / points_per_width)
    neg = _side_edges(chain, -1, points_per_width, math.log(z_top), tau_max, cap, h_max=0.2 / points_per_width)
    # below the creep's depth: a flip with a tiny |r| lands at |z| = |z r^D| anywhere down to 0 (the
    # chains of the Gaussian depth-3 row z0 = 0.1 at 0.2 of the edge reach |z| = 1e-17); there the
    # chain barely moves (tau changes by e z0 per step against tau > 1e4), so geometric cells down to
    # ``deep * z0`` hold that mass where the chains have it instead of a sink at the grid's bottom
    # (the flip's probability below |z'| falls like |z'|^{1/D}: the sinks keep 1e-10 to 5e-10 of the mass in the
    # depth-3 rows where most chains cross)
    h_deep = 0.5 / points_per_width
    x_deep = math.log(chain.z0 * deep)
    if x_deep < low[0] - h_deep:
        below = np.arange(low[0], x_deep, -h_deep)[:0:-1]
        low, neg = np.concatenate([below, low]), np.concatenate([below, neg])
    return np.concatenate([low[:-1], bulk]), neg


def creep_cells(chain: SliceChain, steps: int, burn: int) -> int:
    """``neg_cells`` for which the creep's cells (uniform in ``tau``) are two steps of its drift wide at
    one cell per kernel width (:func:`grids`; ``4 / 3`` of a step on the finer grid)."""
    bp = 1.0 - 2.0 / chain.depth
    return math.ceil(_tau_max(chain, steps, burn) / (bp * chain.depth * chain.e * chain.z0))


def run_law(chain: SliceChain, steps: int, burn: int, every: int, start: float | None = None,
            points_per_width: float = 1.0, extrapolate: bool = True, neg_cells: int = 1500, creep_mass: float = 0.01,
            max_creep_cells: int = 8000, **grid_kw) -> RunLaw:
    """The law of the records of chains started at ``start`` (default ``z0``): ``burn`` steps, then
    ``steps`` steps recorded every ``every``; the chains that diverge before the end are dropped.
    Two grids and Richardson extrapolation as :func:`stationary_law` (``error``)."""
    import time

    if steps < every or every < 1 or steps % every or burn < 0:
        raise DesignerInputError("steps", f"steps={steps} must be a positive multiple of every={every}, burn={burn} >= 0")
    if chain.noise.law == "alpha_stable":
        raise DesignerInputError("noise.law", "the run law needs noise with a finite variance (gaussian or student_t)")
    start = chain.z0 if start is None else float(start)
    if not (start > 0 and math.isfinite(start)):
        raise DesignerInputError("start", f"a positive starting point, got {start}")
    t0 = time.perf_counter()

    def solve(ppw, cells):
        pos, neg = grids(chain, steps, burn, ppw, neg_cells=cells, **grid_kw)
        op = operator(chain, pos, neg)
        w = propagate(op, start, steps, burn, every)
        return _law_from_cells(op, w, float(w.sum()))

    ppws = (points_per_width, 1.5 * points_per_width) if extrapolate else (1.5 * points_per_width,)
    first = solve(ppws[0], neg_cells)
    # capped: ``neg_cells`` grows with the run (about 1.1 per step; the grids get ``neg_cells * ppw / 2``
    # cells on z < 0), and with heavy-tailed noise the operator is dense; past the cap the creep's cells
    # widen again (runs longer than about 7,000 steps)
    creep = min(creep_cells(chain, steps, burn), max_creep_cells) if chain.depth % 2 else 0
    if first.negative > creep_mass and neg_cells < creep:
        # much of the run creeps on z < 0: its front moves by one drift step per step, and cells wider
        # than that smear it by numerical diffusion of order (cell width x drift) per step (t(3),
        # depth 3, z0 = 0.3, half the edge, 99.5% of the records on z < 0: KS 0.0068 to 8,192 chains
        # at the front with 1,500 cells, 0.0018 with cells two drift steps wide; the floor is 0.0021)
        neg_cells = creep
        first = solve(ppws[0], neg_cells)
    laws = [first] + [solve(ppw, neg_cells) for ppw in ppws[1:]]
    fine = laws[-1]
    fine.seconds = time.perf_counter() - t0
    if not extrapolate:
        return fine
    coarse = laws[0]
    k = 1.0 / (1.5**2 - 1.0)
    ext = lambda a, b: a + k * (a - b)
    zs = np.concatenate([fine.z_neg, fine.z_pos])
    cf = np.concatenate([fine.F_neg, fine.F_pos])
    cc = coarse.cdf(zs)
    # the distribution function is the fine grid's, not extrapolated: the grids are not nested, so the
    # coarse one is interpolated at the fine edges, and that interpolation error changes from edge to
    # edge (where the edge sits in its coarse cell) instead of scaling like h^2; extrapolating it
    # doubled the KS distance to 8,192 chains (0.0018 against 0.0009, t(3), depth 2, z0 = 10, half
    # the edge), while the moments extrapolate cleanly (variance 0.96494, 0.96490, 0.96489 at 1, 2
    # and 3 cells per kernel width)
    law = dataclasses.replace(
        fine, mean=ext(fine.mean, coarse.mean), variance=ext(fine.variance, coarse.variance),
        survival=min(ext(fine.survival, coarse.survival), 1.0), negative=max(ext(fine.negative, coarse.negative), 0.0),
        zero=max(ext(fine.zero, coarse.zero), 0.0), cells=fine.cells + coarse.cells, dropped=max(fine.dropped, coarse.dropped))
    law.error = {"mean": k * abs(fine.mean - coarse.mean), "variance": k * abs(fine.variance - coarse.variance),
                 "cdf_sup": float(k * np.max(np.abs(cf - cc))), "survival": k * abs(fine.survival - coarse.survival),
                 "negative_mass": k * abs(fine.negative - coarse.negative)}
    return law


__all__ = ["Operator", "RunLaw", "SignedGridLaw", "creep_tau", "divergence_point", "operator", "propagate", "run_law"]
