"""Closed forms of the matrix-product family's biases, and its candidates for the design search.

Depth D, singular values ``s`` of ``M``, ``x = s^{2/D}``: weight decay ``(D/2) sum_i x_i``; gauge
``(1/2) sum_{i<=j} log P_D(x_i, x_j)`` with ``P_D(x, y) = sum_{k<D} x^k y^{D-1-k}`` (the determinant
of the tridiagonal block of each symmetric generator pair; D = 2 gives ``sum_i log 2 s_i +
sum_{i<j} log(s_i + s_j)``, theory.md section 2); label noise (depth 2, identity second moment)
``2 sqrt(m n) |M|_*``. The rank is ``min(m, n)`` (the family's default). Checked against the
engine by tests/geometry/test_registered_closed_forms.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._lazy import jax, jit, jnp

MECHANISMS = ("weight_decay", "gauge", "label_noise")
MATRIX_CHUNK = 8


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
    """Shapes of (weight decay, gauge, label noise at depth 2) from singular values ``s``."""
    from ._hadamard_closed import safe_log_abs

    lx = (2.0 / depth) * safe_log_abs(s)
    wd = 0.5 * depth * jnp.sum(jnp.exp(lx))
    pair = _log_pd(lx[:, None], lx[None, :], depth)
    upper = jnp.triu(jnp.ones_like(pair))
    gauge = 0.5 * jnp.sum(upper * pair)
    ln = 2.0 * jnp.sqrt(rows * cols) * jnp.sum(s)
    return jnp.stack([wd, gauge, ln])


def closed_form(family, mechanism: str):
    """``M -> shape`` (unit = 1) of a built :class:`MatrixProduct` of full rank, or ``None``."""
    if mechanism not in MECHANISMS or family.rank != min(family.rows, family.cols) or family.spectral:
        return None
    if mechanism == "label_noise" and family.depth != 2:
        return None
    index = MECHANISMS.index(mechanism)
    rows, cols = float(family.rows), float(family.cols)
    return lambda m: matrix_shapes(jnp.linalg.svd(m, compute_uv=False), float(family.depth), rows, cols)[index]


@jit
def score_matrix(singular_values, rows, cols, t, depth, mech):
    """Fit errors of matrix-product candidates from the points' singular values ``(N, r)``."""
    from ..design._scoring import TRACES, fit_line

    TRACES["score_matrix"] += 1

    def one(dp, m):
        v = jax.vmap(lambda s: matrix_shapes(s, dp, rows, cols))(singular_values)[:, m]
        return fit_line(v, t)

    return jax.vmap(one)(depth, mech)


def design_candidates(problem, screened=None) -> list[dict]:
    """Matrix targets: every depth x mechanism (label noise at depth 2: its closed form)."""
    from ..design._search import candidate
    from .matrix_product import MatrixProduct

    if screened is not None or problem.domain != "matrix":
        return []
    m, n = problem.shape
    out = _constructed(problem)
    for depth in range(2, problem.request.max_depth + 1):
        fam = MatrixProduct(rows=m, cols=n, rank=min(m, n), depth=depth)
        for mech in problem.applicable(fam):
            closed = mech in MECHANISMS and not (mech == "label_noise" and depth > 2)
            if mech == "label_noise" and depth > 2:
                continue  # the orbit minimum has no closed form and the engine's L-BFGS is slow here
            param = {"family": "matrix_product", "depth": depth, "rank": min(m, n), "rows": m, "cols": n}
            out.append(candidate("matrix_product", param, mech,
                                 group="matrix_product" if closed else f"matrix_product/engine/{mech}",
                                 chunk=MATRIX_CHUNK, complexity=[0, depth], traits={"depth": depth},
                                 description=f"matrix product of depth {depth}, {mech.replace('_', ' ')}"))
    return out


#: Spectral tables built by :func:`_constructed`, shared by later designs in the process (oldest out first).
_EXACT_SPECTRAL: dict[tuple, Any] = {}
_EXACT_SPECTRAL_MAX = 64


def _constructed(problem) -> list[dict]:
    """A depth-2 product with a spectral table transform built from a spectral target's profile
    (designer.constructive: weight decay gives sum_i psi^-1(s_i)); engine-scored."""
    from ..constructive import exact_spectral_design
    from ..design._search import candidate

    g = getattr(problem.target, "spectral_profile", None)
    if not problem.request.transforms or not callable(g) or "weight_decay" not in problem.mechanisms:
        return []
    lo, hi = 10.0 ** problem.request.sampling.log10_min, 10.0 ** problem.request.sampling.log10_max
    made = problem.cache.get("matrix_exact_design")  # the search asks at every step: build it once
    if made is None:
        # the table depends on the target and the range only: later designs of the target reuse it
        key = (problem.request.target.model_dump_json(), tuple(problem.shape), lo, hi)
        made = _EXACT_SPECTRAL.get(key)
        if made is None:
            if len(_EXACT_SPECTRAL) >= _EXACT_SPECTRAL_MAX:
                _EXACT_SPECTRAL.pop(next(iter(_EXACT_SPECTRAL)))
            made = _EXACT_SPECTRAL[key] = exact_spectral_design(g, "weight_decay", lo, hi)
        problem.cache["matrix_exact_design"] = made
    if not made.exists:
        return []
    m, n = problem.shape
    param = {**made.param, "rank": min(m, n), "rows": m, "cols": n}
    return [candidate("matrix_product", param, "weight_decay", group="matrix_product/engine/constructed", chunk=1,
                      complexity=[1, 2], traits={"depth": 2, "transform": "table"},
                      description="matrix product of depth 2, spectral table transform built from the target, weight decay",
                      rule="psi^-1 = g, the target's spectral profile (weight decay: R = sum_i psi^-1(s_i))")]


def score_candidates(problem, chunk: list[dict]) -> list[dict]:
    from ..design._scoring import engine_scores, result_entry

    if "/engine/" in chunk[0]["group"]:
        return engine_scores(problem, chunk)
    sv = problem.cache.get("singular_values")
    if sv is None:
        sv = problem.cache["singular_values"] = np.linalg.svd(problem.points, compute_uv=False)
    cs = chunk + [chunk[0]] * (MATRIX_CHUNK - len(chunk))
    depth = np.asarray([float(c["traits"]["depth"]) for c in cs])
    mech = np.asarray([MECHANISMS.index(c["mechanism"]) for c in cs], dtype=np.int32)
    rows, cols = (float(s) for s in problem.shape)
    err, a, b = (np.asarray(x) for x in score_matrix(sv, rows, cols, problem.t, depth, mech))
    return [result_entry(float(err[i]), float(a[i]), float(b[i])) for i in range(len(chunk))]
