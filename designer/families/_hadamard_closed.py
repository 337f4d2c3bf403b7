"""Closed forms of the Hadamard family's induced biases, and its candidates for the design search.

With ``c = B^{-1} z`` the coefficients in the basis and ``x = psi^{-1}(c)`` the product on the
fibre (theory.md sections 2-3):

- weight decay: ``sum_i (D/2) |x_i|^{2/D}``;
- gauge: ``sum_i [(D-1)/D log|x_i| + (1/2) log D]`` (per coordinate ``G_sym = |x|^{2/D}
  tridiag(-1, 2, -1)``, whose determinant is ``D |x|^{2(D-1)/D}``);
- label noise (inputs with identity second moment): ``sum_i w_i psi'(x_i)^2 D |x_i|^{2(D-1)/D}``
  with ``w_i = |B e_i|^2`` (1 for orthonormal bases, ``d - i`` for cumsum).

One generic form, ``sum_i [A w_i exp(p1 log|x_i| + p2 log psi'(x_i)) + G log|x_i|] + offset``
(:func:`mechanism_coefficients`), serves every depth and mechanism, so the search scores a whole
chunk of candidates (basis index, depth and mechanism traced) with one compiled function. The
registry test (tests/geometry/test_registered_closed_forms.py) checks these against the engine.
Transform knobs (``asinh`` scale, ``signed_power`` exponent) are fitted by optax (adam) on the log
of the fit error, from several starts at once, inside one ``lax.scan``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import bases
from .._lazy import jax, jit, jnp, lax, optax

_TINY = 1e-300
_LOG_FLOOR = -700.0
_LOG2 = math.log(2.0)
_LOG_CAP = 300.0

#: Mechanisms with a closed form here (others are scored by the engine).
MECHANISMS = ("weight_decay", "gauge", "label_noise")
#: Transforms with a closed form here, by index inside compiled code.
TRANSFORM_INDEX = {"identity": 0, "asinh": 1, "signed_power": 2}
#: Bases the search tries (the target's own sampling basis first).
SEARCH_BASES = ("identity", "cosine", "cumsum", "haar")

#: Knob fitting: starts spread over the knob's range (run together), optimiser steps.
KNOB_STARTS = 4
KNOB_STEPS = 30
#: The knob is fitted on the first points only (the returned fit uses all of them).
KNOB_FIT_POINTS = 64
#: Structures whose transforms are fitted in the refine stage.
TOP_K = 4
SCREEN_CHUNK = 16
KNOB_CHUNK = 4
#: Table-transform candidates built from the target (one per mechanism with a rule) scored together.
CONSTRUCTED_CHUNK = 2


def _traces():
    from ..design._scoring import TRACES

    return TRACES


def mechanism_coefficients(mechanism: str, depth: int, dim: int) -> tuple[float, float, float, float, float]:
    """``(A, p1, p2, G, offset)`` of the generic form (module docstring) for one mechanism and depth."""
    D = float(depth)
    if mechanism == "weight_decay":
        return 0.5 * D, 2.0 / D, 0.0, 0.0, 0.0
    if mechanism == "gauge":
        return 0.0, 0.0, 0.0, (D - 1.0) / D, 0.5 * dim * math.log(D)
    if mechanism == "label_noise":
        return D, 2.0 * (D - 1.0) / D, 2.0, 0.0, 0.0
    raise ValueError(f"no Hadamard closed form for mechanism {mechanism!r}")


def safe_log_abs(c):
    a = jnp.abs(c)
    return jnp.maximum(jnp.log(jnp.where(a > _TINY, a, _TINY)), _LOG_FLOOR)


def log_abs_host(c: np.ndarray) -> np.ndarray:
    """``log|c|`` floored at ``-700`` (a zero coefficient gives a finite, very negative log)."""
    return np.maximum(np.log(np.maximum(np.abs(c), 1e-300)), -700.0)


def transform_logs(c, log_abs_c, kind, knob):
    """``(log|x|, log psi'(x))`` for ``x = psi^{-1}(c)``.

    ``kind`` is a name (static) or a traced index of :data:`TRANSFORM_INDEX` (1 asinh, 2
    signed_power; a ``lax.cond``, so one compiled function serves both). Logs are clamped so
    values and gradients stay finite.
    """
    if isinstance(kind, str):
        if kind == "identity":
            return log_abs_c, jnp.zeros_like(log_abs_c)
        return _asinh_logs(c, knob) if kind == "asinh" else _power_logs(log_abs_c, knob)
    return lax.cond(kind == 1, lambda: _asinh_logs(c, knob), lambda: _power_logs(log_abs_c, knob))


def _asinh_logs(c, knob):
    # x = s sinh(c/s), psi'(x) = 1/cosh(c/s); both logs from one exp
    ay = jnp.minimum(jnp.abs(c) / knob, _LOG_CAP)
    e = jnp.exp(-2.0 * ay)
    log_sinh = ay + jnp.log(jnp.maximum(1.0 - e, _TINY)) - _LOG2
    log_cosh = ay + jnp.log1p(e) - _LOG2
    return jnp.clip(jnp.log(knob) + log_sinh, _LOG_FLOOR, _LOG_CAP), -log_cosh


def _power_logs(log_abs_c, knob):
    # x = sign(c)|c|^{1/p}, psi'(x) = p |x|^{p-1}
    lx = jnp.clip(log_abs_c / knob, _LOG_FLOOR, _LOG_CAP)
    return lx, jnp.clip(jnp.log(knob) + (knob - 1.0) * lx, _LOG_FLOOR, _LOG_CAP)


def table_logs(c, table):
    """``(log|x|, log psi'(x))`` for ``x = psi^{-1}(c) = G(c)`` of a table transform: ``psi' = 1 / G'``.

    ``table`` is ``(knots_y, knots_x, slopes, end_slope)`` (:class:`designer.transforms.TableTransform`).
    """
    from .._monotone import hermite_nonneg

    # G is odd: |G(c)| = G(|c|) and G'(c) = G'(|c|), so one branch of the odd extension suffices
    x, slope = jax.jvp(lambda y: hermite_nonneg(y, *table), (jnp.abs(c),), (jnp.ones_like(c),))
    return safe_log_abs(x), jnp.clip(-jnp.log(jnp.maximum(slope, _TINY)), _LOG_FLOOR, _LOG_CAP)


def shape_from_logs(lx, ldpsi, weights, coef):
    """The generic form (module docstring) from ``log|x|`` and ``log psi'(x)``."""
    power = coef[0] * weights * jnp.exp(jnp.minimum(coef[1] * lx + coef[2] * ldpsi, 700.0))
    return jnp.sum(power + coef[3] * lx) + coef[4]


def hadamard_shape(c, log_abs_c, weights, coef, kind, knob):
    """Induced-bias shape of one point's coefficients ``c`` (d,) for coefficients ``coef`` (5,)."""
    lx, ldpsi = transform_logs(c, log_abs_c, kind, knob)
    return shape_from_logs(lx, ldpsi, weights, coef)


def label_noise_weights(basis: str, dim: int) -> np.ndarray:
    """``w_i = |B e_i|^2``: how much coefficient ``i`` moves the predictor (label-noise trace)."""
    return bases.column_norms_sq(basis, dim)


def _map_column_norms_sq(basis) -> np.ndarray:
    """``|B e_i|^2`` of a family's linear map (named vector bases, cumsum2d, a given matrix)."""
    if basis.name == "matrix":
        return np.sum(np.asarray(basis.values) ** 2, axis=0)
    if basis.name == "cumsum2d":
        h, w = basis.shape
        return np.outer(np.arange(h, 0, -1), np.arange(w, 0, -1)).astype(np.float64).reshape(-1)
    if len(basis.shape) == 2:
        return np.ones(basis.shape[0] * basis.shape[1])
    return label_noise_weights(basis.name, basis.shape[0])


def closed_form(family, mechanism: str):
    """``z -> shape`` (unit = 1, constants included) of a built :class:`Hadamard`, or ``None``."""
    kind = family.transform.name
    if mechanism not in MECHANISMS or (kind not in TRANSFORM_INDEX and kind != "table"):
        return None
    d = family.dim
    coef = jnp.asarray(mechanism_coefficients(mechanism, family.depth, d))
    w = _map_column_norms_sq(family.basis) if mechanism == "label_noise" else np.ones(d)
    if kind == "table":
        def table_shape(z):
            c = family._analysis(z).reshape(-1)
            return shape_from_logs(*table_logs(c, family.transform._table(c.dtype)), jnp.asarray(w), coef)

        return table_shape
    knob = {"identity": 1.0, "asinh": getattr(family.transform, "scale", 1.0),
            "signed_power": getattr(family.transform, "exponent", 1.0)}[kind]

    def shape(z):
        c = family._analysis(z).reshape(-1)
        return hadamard_shape(c, safe_log_abs(c), jnp.asarray(w), coef, kind, knob)

    return shape


# --------------------------------------------------------------------------------------------
# compiled, batched scoring (keyed only by shapes)
# --------------------------------------------------------------------------------------------
def _values(coeffs, log_abs, weights, coef, kind, knob):
    return jax.vmap(lambda c, lc: hadamard_shape(c, lc, weights, coef, kind, knob))(coeffs, log_abs)


@jit
def score_hadamard(log_abs_by_basis, weights, t, basis_idx, coef):
    """Fit errors of knob-free candidates: ``(err, a, b)`` each of shape ``(K,)``."""
    from ..design._scoring import fit_line

    _traces()["score_hadamard"] += 1

    def one(bi, w, cf):
        lac = log_abs_by_basis[bi]
        return fit_line(_values(lac, lac, w, cf, "identity", 1.0), t)

    return jax.vmap(one)(basis_idx, weights, coef)


@jit
def score_tables(points, t, ys, xs, ms, m_end, coef):
    """Fit errors of depth-2 table-transform candidates on the identity basis (unit weights), all in
    one call: tables ``(K, n)`` (padded to a common length by :func:`pad_table`), ``coef`` ``(K, 5)``."""
    from ..design._scoring import fit_line

    _traces()["score_tables"] += 1

    def one(ys_, xs_, ms_, me, cf):
        def shape(z):
            return shape_from_logs(*table_logs(z.reshape(-1), (ys_, xs_, ms_, me)), 1.0, cf)

        return fit_line(jax.vmap(shape)(points), t)

    return jax.vmap(one)(ys, xs, ms, m_end, coef)


def pad_table(ys: np.ndarray, xs: np.ndarray, ms: np.ndarray, m_end: float, n: int):
    """The same ``psi^{-1}`` on ``n`` knots: knots added beyond the last one on its linear continuation
    (slope ``m_end``, spacing doubling), where the cubic Hermite segments are exactly that line."""
    extra = n - len(ys)
    if extra <= 0:
        return ys, xs, ms
    step = ys[-1] * (2.0 ** np.arange(1, extra + 1) - 1.0)
    return (np.concatenate([ys, ys[-1] + step]), np.concatenate([xs, xs[-1] + m_end * step]),
            np.concatenate([ms, np.full(extra, m_end)]))


#: The knob fit is the largest program of the search; LLVM's expensive passes cost compile time
#: for no measurable run-time gain here (benchmarks/bench_design.py).
_FAST_COMPILE = {"xla_llvm_disable_expensive_passes": True}


@jit(compiler_options=_FAST_COMPILE)
def fit_hadamard_knob(coeffs_by_basis, log_abs_by_basis, weights, t, basis_idx, coef, kind, lo, hi):
    """Fit the transform knob of each candidate; returns ``(err, a, b, knob)`` each ``(K,)``.

    ``kind`` is the chunk's transform index (traced, shared by the chunk), so one compilation
    serves both transforms. The knob is ``exp(theta)``, ``theta`` in ``[lo, hi]``:
    ``KNOB_STARTS`` starts spread over the range, ``KNOB_STEPS`` adam steps each on
    ``log(fit_error)`` (vectorised), keeping the best point seen.
    """
    from ..design._scoring import fit_line

    _traces()["fit_hadamard_knob"] += 1

    def one(bi, w, cf, lo_, hi_):
        c, lac = coeffs_by_basis[bi], log_abs_by_basis[bi]

        def err_at(theta, n=None):
            theta = jnp.clip(theta, lo_, hi_)
            return fit_line(_values(c[:n], lac[:n], w, cf, kind, jnp.exp(theta)), t[:n])

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
        (_, _, best_theta, best_loss), _ = lax.scan(step, init, None, length=KNOB_STEPS)
        final = best_theta[jnp.argmin(jnp.where(jnp.isnan(best_loss), jnp.inf, best_loss))]
        err, a, b = err_at(final)
        return err, a, b, jnp.exp(jnp.clip(final, lo_, hi_))

    return jax.vmap(one)(basis_idx, weights, coef, lo, hi)


# --------------------------------------------------------------------------------------------
# the family's part of the search
# --------------------------------------------------------------------------------------------
def _prepared(problem) -> dict:
    """Per-problem data, cached: coefficients of the points in every usable basis."""
    cache = problem.cache.get("hadamard")
    if cache is None:
        d = problem.shape[0]
        usable = tuple(b for b in SEARCH_BASES if b != "haar" or (d & (d - 1)) == 0)
        coeffs, weights = [], []
        for b in SEARCH_BASES:
            name = b if b in usable else "identity"
            coeffs.append(bases.analyze(name, problem.points))
            weights.append(label_noise_weights(name, d))
        coeffs = np.stack(coeffs)
        cache = {"bases": usable, "coeffs": coeffs, "log_abs": log_abs_host(coeffs), "weights": np.stack(weights)}
        problem.cache["hadamard"] = cache
    return cache


def _param(d: int, basis: str, depth: int, transform: dict | None = None) -> dict:
    spec = {"family": "hadamard", "depth": depth, "basis": basis, "dim": d}
    if transform is not None:
        spec["transform"] = transform
    return spec


def _describe(basis: str, depth: int, transform: str, mechanism: str, knob_name: str | None = None) -> str:
    tr = "" if transform == "identity" else f", {transform.replace('_', '-')} transform"
    where = "" if basis == "identity" else f" on the {basis} basis"
    return f"Hadamard product of depth {depth}{where}{tr}, {mechanism.replace('_', ' ')}"


def design_candidates(problem, screened=None) -> list[dict]:
    """Screen: every basis x depth x mechanism, no transform. Refine: the ``TOP_K`` best
    structures again with an ``asinh`` (scale) and a ``signed_power`` (exponent) transform."""
    from ..design._search import candidate
    from .hadamard import Hadamard

    if problem.domain != "vector":
        return []
    d = problem.shape[0]
    prep = _prepared(problem)
    mechanisms = problem.applicable(Hadamard(depth=2, dim=d))
    if screened is None:
        natural = problem.target.sampling_basis
        order = [natural] + [b for b in prep["bases"] if b != natural]
        out = constructed_candidates(problem, mechanisms)
        for b in order:
            for depth in range(2, problem.request.max_depth + 1):
                for m in mechanisms:
                    closed = m in MECHANISMS
                    out.append(candidate(
                        "hadamard", _param(d, b, depth), m, group="hadamard/screen" if closed else f"hadamard/engine/{m}",
                        chunk=SCREEN_CHUNK if closed else 4, complexity=[0, depth, b != "identity"],
                        description=_describe(b, depth, "identity", m),
                        traits={"basis": b, "depth": depth, "transform": "identity"}))
        return out
    if not problem.request.transforms:
        return []
    ranked = sorted((r for r in screened if r["family"] == "hadamard" and r["traits"].get("transform") == "identity"
                     and r["mechanism"] in MECHANISMS and r["fit_error"] is not None), key=_rank)
    # distinct structures: under the gauge mechanism every depth has the same shape (a multiple of
    # sum log|x|), with or without a transform, so keep one depth per basis there
    top, seen = [], set()
    for r in ranked:
        key = (r["traits"]["basis"], r["mechanism"], 0 if r["mechanism"] == "gauge" else r["traits"]["depth"])
        if key not in seen:
            seen.add(key)
            top.append(r)
        if len(top) == TOP_K:
            break
    out = []
    for kind, knob_name in (("asinh", "scale"), ("signed_power", "exponent")):
        for r in top:
            if kind == "signed_power" and r["mechanism"] == "gauge":
                continue  # a power of a log is a log
            b, depth = r["traits"]["basis"], r["traits"]["depth"]
            lo, hi = _knob_bounds(prep, b, kind)
            out.append(candidate(
                "hadamard", _param(d, b, depth, {"kind": kind, knob_name: 1.0}), r["mechanism"],
                group=f"hadamard/knob/{kind}", chunk=KNOB_CHUNK, complexity=[1, depth, b != "identity"],
                description=_describe(b, depth, kind, r["mechanism"]),
                knob={"path": ["transform", knob_name], "lo": lo, "hi": hi},
                traits={"basis": b, "depth": depth, "transform": kind}))
    return out


#: Tables built by :func:`constructed_candidates`, shared by later designs in the process (oldest out first).
_EXACT_DESIGNS: dict[tuple, Any] = {}
_EXACT_DESIGNS_MAX = 64


def constructed_candidates(problem, mechanisms) -> list[dict]:
    """Depth-2 Hadamard designs made exact by a table transform built from the target's profile
    (designer.constructive, theory.md 5.1); where the rule has no solution, the reason is kept for
    the result's note (:func:`inexact_reasons`)."""
    from ..constructive import exact_design
    from ..design._search import candidate

    reasons = problem.cache.setdefault("hadamard_reasons", [])
    reasons.clear()
    profile = getattr(problem.target, "profile", None)
    if not problem.request.transforms or not callable(profile) or problem.target.sampling_basis != "identity":
        return []
    lo, hi = 10.0 ** problem.request.sampling.log10_min, 10.0 ** problem.request.sampling.log10_max
    breaks = tuple(float(b) for b in getattr(problem.target, "profile_breakpoints", ()) or ())
    out = []
    # the search asks for its screen candidates at every step: build each table once per problem
    built = problem.cache.setdefault("hadamard_exact_designs", {})
    target_key = problem.request.target.model_dump_json()
    for m in problem.mechanisms:
        if m in mechanisms and m not in built:
            # the table depends on the target, the mechanism and the range only: a later design of
            # the same target (another seed or shape) reuses it
            key = (target_key, m, lo, hi, breaks)
            if key not in _EXACT_DESIGNS:
                if len(_EXACT_DESIGNS) >= _EXACT_DESIGNS_MAX:
                    _EXACT_DESIGNS.pop(next(iter(_EXACT_DESIGNS)))
                _EXACT_DESIGNS[key] = exact_design(profile, m, lo, hi, breaks)
            built[m] = _EXACT_DESIGNS[key]
        made = built[m] if m in mechanisms else None
        if made is None:
            continue
        if not made.exists:
            reasons.append(f"{m.replace('_', ' ')}: {made.reason}.")
            continue
        param = {**made.param, "basis": "identity", "dim": problem.shape[0]}
        rule = ("psi^-1 = r, the target's profile (weight decay: R = sum |psi^-1(z)|)" if m == "weight_decay" else
                "psi^-1 = (1/2) (int_0 dy / sqrt(r))^2 (label noise: R = sum 2 |x| psi'(x)^2)")
        out.append(candidate("hadamard", param, m, group="hadamard/constructed", chunk=CONSTRUCTED_CHUNK,
                             complexity=[1, 2, 0], traits={"basis": "identity", "depth": 2, "transform": "table"},
                             description=f"Hadamard product of depth 2, table transform built from the target, {m.replace('_', ' ')}",
                             rule=rule))
    return out


def _score_constructed(problem, chunk: list[dict]) -> list[dict]:
    from ..design._scoring import build_pair, result_entry

    tables = []
    for c in chunk:
        tr = build_pair(c["param"], c["mechanism"], problem.shape)[0].transform
        tables.append(tuple(np.asarray(a, np.float64) for a in (tr.knots_y, tr.knots_x, tr.slopes, tr.end_slope)))
    # a power-of-two table length and a fixed chunk: one compilation serves every target's tables
    n = 1 << int(max(len(tb[0]) for tb in tables) - 1).bit_length()
    padded = [pad_table(ys, xs, ms, float(me), n) + (float(me),) for ys, xs, ms, me in tables]
    padded += [padded[0]] * (CONSTRUCTED_CHUNK - len(padded))
    cs = _pad(chunk, CONSTRUCTED_CHUNK)
    ys, xs, ms, me = (np.stack([p[i] for p in padded]) for i in range(4))
    coef = np.asarray([mechanism_coefficients(c["mechanism"], 2, problem.shape[0]) for c in cs])
    err, a, b = (np.asarray(x) for x in score_tables(problem.points, problem.t, ys, xs, ms, me, coef))
    return [result_entry(float(err[i]), float(a[i]), float(b[i])) for i in range(len(chunk))]


def inexact_reasons(problem) -> list[str]:
    """Why the constructive rule has no exact design for this target under the requested mechanisms."""
    return list(problem.cache.get("hadamard_reasons", []))


def _rank(r):
    from ..design._search import rank_key

    return rank_key(r)


def _knob_bounds(prep: dict, basis: str, kind: str) -> tuple[float, float]:
    if kind == "asinh":
        m = float(np.max(np.abs(prep["coeffs"][SEARCH_BASES.index(basis)])))
        m = max(m, 1e-12)
        lo = math.log(max(m / 200.0, 1e-12))
        hi = math.log(min(1e3 * m, 1e6))
        return lo, max(hi, lo + 1.0)
    return math.log(0.05), math.log(20.0)


def _pad(items: list, size: int) -> list:
    return items + [items[0]] * (size - len(items))


def score_candidates(problem, chunk: list[dict]) -> list[dict]:
    """Scores of one chunk (one group) with one compiled call; engine groups go to the engine."""
    from ..design._scoring import engine_scores, result_entry

    group = chunk[0]["group"]
    if "/engine/" in group:
        return engine_scores(problem, chunk)
    if group == "hadamard/constructed":  # table transforms (one per mechanism): one compiled call
        return _score_constructed(problem, chunk)
    prep = _prepared(problem)
    d = problem.shape[0]
    knobbed = group.startswith("hadamard/knob/")
    size = KNOB_CHUNK if knobbed else SCREEN_CHUNK
    cs = _pad(chunk, size)
    # numpy arguments go to the compiled functions as they are (no eager conversions per call)
    bidx = np.asarray([SEARCH_BASES.index(c["traits"]["basis"]) for c in cs], dtype=np.int32)
    coef = np.asarray([mechanism_coefficients(c["mechanism"], c["traits"]["depth"], d) for c in cs])
    ones = np.ones(d)
    weights = np.stack([prep["weights"][SEARCH_BASES.index(c["traits"]["basis"])]
                        if c["mechanism"] == "label_noise" else ones for c in cs])
    t = problem.t
    log_abs = prep["log_abs"]
    knobs = [None] * len(chunk)
    if not knobbed:
        err, a, b = score_hadamard(log_abs, weights, t, bidx, coef)
    else:
        kind = chunk[0]["traits"]["transform"]
        bounds = np.asarray([(c["knob"]["lo"], c["knob"]["hi"]) for c in cs])
        err, a, b, knob = fit_hadamard_knob(
            prep["coeffs"], log_abs, weights, t, bidx, coef,
            np.int32(TRANSFORM_INDEX[kind]), bounds[:, 0].copy(), bounds[:, 1].copy())
        knobs = [float(k) for k in np.asarray(knob)[: len(chunk)]]
    err, a, b = (np.asarray(x)[: len(chunk)] for x in (err, a, b))
    out = []
    for i in range(len(chunk)):
        out.append(result_entry(float(err[i]), float(a[i]), float(b[i]), knobs[i]))
    return out
