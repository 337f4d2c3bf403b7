"""The inverse-design search (theory.md section 5).

Candidates are basis x factorization family x depth x optional monotone transform x mechanism.
Each is scored by the least-squares fit ``R_phi(z) ~ a R*(z) + b`` (``a > 0``) over the request's
sampling distribution; ``fit_error`` is the relative RMS residual (0 = exact shape match).

The search runs in steps (one compiled call on a fixed-size chunk of candidates each):

1. *screen*: every knob-free candidate (Hadamard on each basis and depth, group-shared scales for
   group targets, matrix products of each depth) under every requested mechanism;
2. *transforms* (vectors): the ``TOP_K`` best Hadamard structures again with an ``asinh`` (scale)
   and a ``signed_power`` (exponent) transform, whose knob is fitted by optax.

Between steps it reports progress, honours cancellation (raising :class:`Cancelled` with the state
to resume from) and hands the JSON-able state to ``on_state``. Everything is deterministic for a
seed: sampling uses ``numpy.random.default_rng(seed)``, the optimiser starts from a fixed grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import jax.numpy as jnp
import numpy as np

from .. import bases
from ..errors import Cancelled, DesignerInputError, NumericalFailure
from ..families import parse_param_spec
from ..mechanisms import parse_mechanism_spec
from . import _evaluate as ev
from ._request import DesignRequest, parse_design_request

STATE_VERSION = 1
#: Fit errors below this count as exact (ties broken by simplicity).
EXACT_TOL = 1e-9
#: Structures whose transforms are fitted in the second stage.
TOP_K = 4
#: Candidates per compiled call.
SCREEN_CHUNK = 16
KNOB_CHUNK = 4
MATRIX_CHUNK = 8
GROUP_CHUNK = 3
SEARCH_BASES = ("identity", "cosine", "cumsum", "haar")
TRANSFORMS = ("asinh", "signed_power")
MECH_ORDER = {"weight_decay": 0, "label_noise": 1, "gauge": 2}
FAMILY_ORDER = {"hadamard": 0, "group_hadamard": 1, "matrix_product": 2}

Progress = Callable[[dict], None]


class DesignCancelled(Cancelled):
    """Cancelled between steps; ``state`` resumes the search (``design(..., state=exc.state)``)."""

    def __init__(self, state: dict):
        super().__init__("design cancelled between steps; resume from the saved state")
        self.state = state


# --------------------------------------------------------------------------------------------
# problem data (deterministic for a seed)
# --------------------------------------------------------------------------------------------
@dataclass
class Problem:
    request: DesignRequest
    target: Any
    shape: tuple[int, ...]
    points: np.ndarray  # (N, *shape)
    t: np.ndarray  # target values (N,)
    domain: str
    bases: tuple[str, ...] = ()
    coeffs: np.ndarray | None = None  # (len(SEARCH_BASES), N, d), missing bases filled with identity
    log_abs: np.ndarray | None = None  # log|coeffs|, floored
    weights: np.ndarray | None = None  # (len(SEARCH_BASES), d): |B e_i|^2 (label noise)
    singular_values: np.ndarray | None = None  # (N, r)
    membership: np.ndarray | None = None  # (d, G)
    group_sizes: np.ndarray | None = None  # (G,)


def log_abs(c: np.ndarray) -> np.ndarray:
    """``log|c|`` floored at ``-700`` (a zero coefficient gives a finite, very negative log)."""
    return np.maximum(np.log(np.maximum(np.abs(c), 1e-300)), -700.0)


def _orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))[None, :]


def sample_points(request: DesignRequest, target, shape: tuple[int, ...]) -> np.ndarray:
    """Predictors of the request's sampling distribution (see :class:`SamplingSpec`)."""
    if target.kind == "tabulated":
        return np.asarray(target.points)
    rng = np.random.default_rng(request.seed)
    lo, hi = request.sampling.log10_min, request.sampling.log10_max
    if len(shape) == 1:
        n = request.sampling.n_points or 128
        d = shape[0]
        c = rng.choice([-1.0, 1.0], size=(n, d)) * 10.0 ** rng.uniform(lo, hi, size=(n, d))
        basis = target.sampling_basis
        return c if basis == "identity" else c @ bases.synthesis(basis, d).T
    n = request.sampling.n_points or 64
    m, k = shape
    r = min(m, k)
    out = np.empty((n, m, k))
    for i in range(n):
        s = 10.0 ** rng.uniform(lo, hi, size=r)
        u, v = _orthogonal(rng, m)[:, :r], _orthogonal(rng, k)[:, :r]
        out[i] = (u * s[None, :]) @ v.T
    return out


def build_problem(request: DesignRequest, target) -> Problem:
    shape = tuple(int(s) for s in request.shape)
    points = sample_points(request, target, shape)
    if target.kind == "tabulated":
        t = np.asarray(target.values, dtype=np.float64)
    else:
        t = np.asarray(ev.target_values(target, jnp.asarray(points)))
    if not np.all(np.isfinite(t)):
        raise NumericalFailure(f"the target {target.kind!r} is not finite at {int(np.sum(~np.isfinite(t)))} sampled point(s)")
    if np.ptp(t) <= 1e-14 * max(1.0, float(np.max(np.abs(t)))):
        raise DesignerInputError("target", "the target is constant over the sampled predictors: it has no shape to fit")
    prob = Problem(request, target, shape, points, t, "vector" if len(shape) == 1 else "matrix")
    if prob.domain == "vector":
        d = shape[0]
        usable = tuple(b for b in SEARCH_BASES if b != "haar" or (d & (d - 1)) == 0)
        coeffs, weights = [], []
        for b in SEARCH_BASES:
            name = b if b in usable else "identity"
            coeffs.append(points @ bases.analysis(name, d).T)
            weights.append(np.sum(bases.synthesis(name, d) ** 2, axis=0))
        prob.bases, prob.coeffs, prob.weights = usable, np.stack(coeffs), np.stack(weights)
        prob.log_abs = log_abs(prob.coeffs)
        groups = target.groups
        if groups is not None:
            membership = np.zeros((d, len(groups)))
            start = 0
            for g, size in enumerate(groups):
                membership[start:start + size, g] = 1.0
                start += size
            prob.membership, prob.group_sizes = membership, np.asarray(groups, dtype=np.float64)
    else:
        prob.singular_values = np.linalg.svd(points, compute_uv=False)
    return prob


# --------------------------------------------------------------------------------------------
# candidates
# --------------------------------------------------------------------------------------------
def candidate_id(c: dict) -> str:
    if c["family"] == "hadamard":
        return f"hadamard/{c['basis']}/depth{c['depth']}/{c['transform']}/{c['mechanism']}"
    if c["family"] == "group_hadamard":
        return f"group_hadamard/{c['mechanism']}"
    return f"matrix_product/depth{c['depth']}/{c['mechanism']}"


def _screen_chunks(prob: Problem) -> list[list[dict]]:
    req = prob.request
    mechs = [m for m in ("weight_decay", "label_noise", "gauge") if m in req.mechanisms]
    depths = range(2, req.max_depth + 1)
    chunks: list[list[dict]] = []
    if prob.domain == "vector":
        natural = prob.target.sampling_basis
        order = [natural] + [b for b in prob.bases if b != natural]
        cands = [
            {"family": "hadamard", "basis": b, "depth": D, "transform": "identity", "mechanism": m}
            for b in order for D in depths for m in mechs
        ]
        chunks += [cands[i:i + SCREEN_CHUNK] for i in range(0, len(cands), SCREEN_CHUNK)]
        if prob.membership is not None and len(set(prob.target.groups)) == 1:
            chunks.append([{"family": "group_hadamard", "mechanism": m} for m in mechs])
    else:
        cands = [
            {"family": "matrix_product", "depth": D, "mechanism": m}
            for D in depths for m in mechs if not (m == "label_noise" and D > 2)
        ]
        chunks += [cands[i:i + MATRIX_CHUNK] for i in range(0, len(cands), MATRIX_CHUNK)]
    return chunks


def _transform_chunks(prob: Problem, results: list[dict]) -> list[list[dict]]:
    if prob.domain != "vector" or not prob.request.transforms or exact_found(results):
        return []
    screened = sorted((r for r in results if r["family"] == "hadamard" and r["transform"] == "identity"), key=rank_key)
    # distinct structures: under the gauge mechanism every depth has the same shape (a multiple of
    # sum log|x|), with or without a transform, so keep one depth per basis there
    top, seen = [], set()
    for r in screened:
        key = (r["basis"], r["mechanism"], 0 if r["mechanism"] == "gauge" else r["depth"])
        if key not in seen and r["fit_error"] is not None:
            seen.add(key)
            top.append(r)
        if len(top) == TOP_K:
            break
    chunks = []
    for kind in TRANSFORMS:  # one chunk per transform (the knob fit runs one branch per call)
        chunk = [
            {"family": "hadamard", "basis": r["basis"], "depth": r["depth"], "transform": kind, "mechanism": r["mechanism"]}
            for r in top if not (kind == "signed_power" and r["mechanism"] == "gauge")  # a power of a log is a log
        ]
        chunks += [chunk[i:i + KNOB_CHUNK] for i in range(0, len(chunk), KNOB_CHUNK)]
    return chunks


def exact_found(results: list[dict]) -> bool:
    """A knob-free candidate already matches exactly: a transform cannot rank above it (ties go
    to the simpler candidate), so the transform stage is skipped."""
    return any(r["fit_error"] is not None and r["fit_error"] < EXACT_TOL for r in results)


def _pad(items: list, size: int) -> list:
    return items + [items[0]] * (size - len(items))


def _knob_bounds(prob: Problem, c: dict) -> tuple[float, float]:
    if c["transform"] == "asinh":
        m = float(np.max(np.abs(prob.coeffs[SEARCH_BASES.index(c["basis"])])))
        m = max(m, 1e-12)
        lo = math.log(max(m / 200.0, 1e-12))
        hi = math.log(min(1e3 * m, 1e6))
        return lo, max(hi, lo + 1.0)
    return math.log(0.05), math.log(20.0)


def _run_chunk(prob: Problem, chunk: list[dict]) -> list[dict]:
    """Score one chunk with one compiled call; returns a raw result per candidate."""
    fam = chunk[0]["family"]
    mech_idx = lambda cs: jnp.asarray([ev.MECH_INDEX[c["mechanism"]] for c in cs], dtype=jnp.int32)
    t = jnp.asarray(prob.t)
    knobs = [None] * len(chunk)
    if fam == "hadamard":
        kind = chunk[0]["transform"]
        size = SCREEN_CHUNK if kind == "identity" else KNOB_CHUNK
        cs = _pad(chunk, size)
        bidx = jnp.asarray([SEARCH_BASES.index(c["basis"]) for c in cs], dtype=jnp.int32)
        coef = jnp.asarray([ev.mechanism_coefficients(c["mechanism"], c["depth"], prob.shape[0]) for c in cs])
        ones = np.ones(prob.shape[0])
        weights = jnp.asarray(np.stack([
            prob.weights[SEARCH_BASES.index(c["basis"])] if c["mechanism"] == "label_noise" else ones for c in cs
        ]))
        L = jnp.asarray(prob.log_abs)
        if kind == "identity":
            err, a, b = ev.score_hadamard(L, weights, t, bidx, coef)
        else:
            bounds = np.asarray([_knob_bounds(prob, c) for c in cs])
            err, a, b, knob = ev.fit_hadamard_knob(
                jnp.asarray(prob.coeffs), L, weights, t, bidx, coef, jnp.asarray(ev.TRANSFORM_INDEX[kind], dtype=jnp.int32),
                jnp.asarray(bounds[:, 0]), jnp.asarray(bounds[:, 1]),
            )
            knobs = [float(k) for k in np.asarray(knob)[: len(chunk)]]
    elif fam == "group_hadamard":
        cs = _pad(chunk, GROUP_CHUNK)
        err, a, b = ev.score_group(jnp.asarray(prob.coeffs[0]), jnp.asarray(prob.membership), jnp.asarray(prob.group_sizes), t, mech_idx(cs))
    else:
        cs = _pad(chunk, MATRIX_CHUNK)
        depth = jnp.asarray([float(c["depth"]) for c in cs])
        rows, cols = (float(s) for s in prob.shape)
        err, a, b = ev.score_matrix(jnp.asarray(prob.singular_values), rows, cols, t, depth, mech_idx(cs))
    err, a, b = (np.asarray(x)[: len(chunk)] for x in (err, a, b))
    out = []
    for i, c in enumerate(chunk):
        e, ai, bi = float(err[i]), float(a[i]), float(b[i])
        ok = math.isfinite(e) and math.isfinite(ai) and math.isfinite(bi)
        out.append({**c, "fit_error": min(e, 1.0) if ok else None, "a": ai if ok else 0.0, "b": bi if ok else 0.0, "knob": knobs[i]})
    return out


# --------------------------------------------------------------------------------------------
# ranking, specs, hyperparameters
# --------------------------------------------------------------------------------------------
def rank_key(r: dict):
    """Fit error (ties within 0.01% or below ``EXACT_TOL``), then simplicity."""
    e = r["fit_error"]
    band = round(math.log10(max(e, EXACT_TOL)), 4) if e is not None else math.inf
    return (
        band,
        r.get("transform", "identity") != "identity",
        FAMILY_ORDER[r["family"]],
        r.get("depth", 0),
        r.get("basis", "identity") != "identity",
        MECH_ORDER[r["mechanism"]],
        candidate_id(r),
    )


def param_spec(prob: Problem, r: dict) -> dict:
    """The parameterization as a spec that ``designer bias`` (``parse_param_spec``) accepts."""
    if r["family"] == "hadamard":
        spec: dict = {"family": "hadamard", "depth": r["depth"], "basis": r["basis"], "dim": prob.shape[0]}
        if r["transform"] == "asinh":
            spec["transform"] = {"kind": "asinh", "scale": r["knob"]}
        elif r["transform"] == "signed_power":
            spec["transform"] = {"kind": "signed_power", "exponent": r["knob"]}
    elif r["family"] == "group_hadamard":
        spec = {"family": "group_hadamard", "group_size": int(prob.group_sizes[0]), "dim": prob.shape[0]}
    else:
        m, n = prob.shape
        spec = {"family": "matrix_product", "depth": r["depth"], "rank": min(m, n), "rows": m, "cols": n}
    parse_param_spec(spec)
    return spec


def hyperparameters(request: DesignRequest, mechanism: str, a: float) -> tuple[dict, dict | None]:
    """Translate the fitted scale into the knob a user sets, for the requested strength.

    The induced bias is ``unit * shape`` with ``shape ~ a R* + b``, so ``unit = lambda / a`` gives
    ``lambda R*(z) + const``. Gauge: ``T = unit`` and ``T ~ eta s^2 / (2 B)`` (theory.md
    section 2), so ``eta / B = 2 T / s^2``. Weight decay: ``lambda_wd = unit``. Label noise:
    ``unit = eta sigma^2 / 4``, so ``sigma^2 = 4 unit / eta`` at the request's learning rate.
    Returns ``(mapping, mechanism_spec)``; the spec is ``None`` when a value leaves its valid range.
    """
    lam = request.strength
    if not a > 0:
        return {"note": "no positive scale: the induced bias does not increase with the target"}, None
    unit = lam / a
    if mechanism == "gauge":
        s2 = request.gradient_noise_variance
        mapping = {
            "temperature": unit,
            "learning_rate_over_batch_size": 2.0 * unit / s2,
            "gradient_noise_variance": s2,
            "relation": "T = eta s^2 / (2 B): choose eta / B = 2 T / s^2",
        }
        spec = {"kind": "gauge", "temperature": unit}
    elif mechanism == "weight_decay":
        mapping = {"weight_decay": unit}
        spec = {"kind": "weight_decay", "strength": unit}
    else:
        eta = request.learning_rate
        mapping = {
            "label_noise_variance": 4.0 * unit / eta,
            "learning_rate": eta,
            "learning_rate_times_variance": 4.0 * unit,
            "relation": "eta sigma^2 / 4 = lambda / a",
        }
        spec = {"kind": "label_noise", "variance": 4.0 * unit / eta, "learning_rate": eta}
    mapping["strength"] = lam
    try:
        parse_mechanism_spec(spec)
    except DesignerInputError as exc:
        mapping["note"] = f"the required value is outside the mechanism's valid range ({exc})"
        spec = None
    return mapping, spec


def _describe(c: dict) -> str:
    if c["family"] == "hadamard":
        tr = ""
        if c["transform"] == "asinh":
            tr = f", asinh transform (scale {c['knob']:.4g})"
        elif c["transform"] == "signed_power":
            tr = f", signed-power transform (exponent {c['knob']:.4g})"
        basis = "" if c["basis"] == "identity" else f" on the {c['basis']} basis"
        return f"Hadamard product of depth {c['depth']}{basis}{tr}, {c['mechanism'].replace('_', ' ')}"
    if c["family"] == "group_hadamard":
        return f"group-shared scales, {c['mechanism'].replace('_', ' ')}"
    return f"matrix product of depth {c['depth']}, {c['mechanism'].replace('_', ' ')}"


# --------------------------------------------------------------------------------------------
# the search
# --------------------------------------------------------------------------------------------
def _plan(prob: Problem, results: list[dict], steps_done: int) -> list[list[dict]]:
    screen = _screen_chunks(prob)
    if steps_done < len(screen):
        return screen
    return screen + _transform_chunks(prob, results)


def _truncate(chunks: list[list[dict]], budget: int | None) -> list[list[dict]]:
    if budget is None:
        return chunks
    out, left = [], budget
    for ch in chunks:
        if left <= 0:
            break
        out.append(ch[:left])
        left -= len(out[-1])
    return out


def new_state(request: DesignRequest) -> dict:
    return {"version": STATE_VERSION, "request": request.model_dump(mode="json"), "steps_done": 0, "results": []}


def design(
    request: Any,
    *,
    progress: Progress | None = None,
    should_cancel: Callable[[], bool] | None = None,
    state: dict | None = None,
    on_state: Callable[[dict], None] | None = None,
    plot: str | None = None,
) -> dict:
    """Search parameterizations whose induced bias matches the request's target.

    Args:
      request: a :class:`DesignRequest` or its dict/JSON (validated; errors name the field).
      progress: called after each step with ``{"fraction", "stage", "best_fit", "best"}``.
      should_cancel: polled between steps; when true, raises :class:`DesignCancelled` carrying
        the state to resume from.
      state: a state from ``on_state`` / a cancelled run (JSON-able) to resume; its request wins.
      on_state: called with the (JSON-able) state after each step.
      plot: path of a PNG of target vs induced bias along 1-D slices (and singular values).

    Returns a JSON-able dict: ranked ``candidates``, ``best`` (with ``param`` for ``designer bias``,
    ``mechanism_spec``, ``fit_error``, ``hyperparameters``), and the settings used.
    """
    if state is not None:
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION or "request" not in state:
            raise DesignerInputError("state", f"not a design state of version {STATE_VERSION}")
        request = state["request"]
    req, target = parse_design_request(request)
    state = dict(state) if state is not None else new_state(req)
    state["results"] = list(state["results"])
    prob = build_problem(req, target)

    while True:
        chunks = _truncate(_plan(prob, state["results"], state["steps_done"]), req.budget)
        screen_steps = len(_truncate(_screen_chunks(prob), req.budget))
        total = len(chunks) + (0 if state["steps_done"] >= screen_steps or prob.domain != "vector" or not req.transforms else len(TRANSFORMS))
        if state["steps_done"] >= len(chunks):
            break
        if should_cancel is not None and should_cancel():
            raise DesignCancelled(state)
        chunk = chunks[state["steps_done"]]
        state["results"].extend(_run_chunk(prob, chunk))
        state["steps_done"] += 1
        if on_state is not None:
            on_state(state)
        if progress is not None:
            best = min(state["results"], key=rank_key)
            total = max(total, state["steps_done"])
            progress({
                "fraction": state["steps_done"] / total if state["steps_done"] < total else 1.0,
                "stage": "screen" if state["steps_done"] <= screen_steps else "transforms",
                "best_fit": best["fit_error"],
                "best": candidate_id(best),
            })
    return _result(prob, state, plot)


def _result(prob: Problem, state: dict, plot: str | None) -> dict:
    req = prob.request
    ranked = sorted(state["results"], key=rank_key)
    if not ranked:
        raise NumericalFailure("no candidate was scored")
    entries = []
    for i, r in enumerate(ranked):
        mapping, mspec = hyperparameters(req, r["mechanism"], r["a"])
        entries.append({
            "rank": i + 1,
            "id": candidate_id(r),
            "description": _describe(r),
            "family": r["family"],
            "mechanism": r["mechanism"],
            **({"basis": r["basis"], "transform": r["transform"]} if r["family"] == "hadamard" else {}),
            **({"depth": r["depth"]} if "depth" in r else {}),
            "knob": r["knob"],
            "fit_error": r["fit_error"],
            "a": r["a"],
            "b": r["b"],
            "param": param_spec(prob, r),
            "mechanism_spec": mspec,
            "hyperparameters": mapping,
        })
    best = entries[0]
    if best["fit_error"] is None:
        raise NumericalFailure("every candidate's induced bias is singular (non-finite) on the sampled predictors")
    exact = best["fit_error"] < 1e-6
    skipped = prob.domain == "vector" and req.transforms and exact_found(state["results"])
    note = (
        f"{best['description']} matches the target's shape (fit error {best['fit_error']:.3g})."
        if exact else
        f"No candidate matches exactly with mechanisms {', '.join(req.mechanisms)}: the best achievable fit error "
        f"over the sampling distribution is {best['fit_error']:.3g} ({best['description']})."
    )
    result = {
        "target": req.target.model_dump(mode="json") if req.target.kind != "tabulated" else {"kind": "tabulated", "pairs": len(prob.t)},
        "shape": list(prob.shape),
        "mechanisms": list(req.mechanisms),
        "seed": req.seed,
        "strength": req.strength,
        "sampling": {**req.sampling.model_dump(mode="json"), "n_points": int(prob.points.shape[0]),
                     "basis": prob.target.sampling_basis if prob.domain == "vector" else None,
                     "tabulated": prob.target.kind == "tabulated"},
        "fit_error": best["fit_error"],
        "exact": exact,
        "note": note,
        "best": best,
        "candidates": entries,
        "candidates_scored": len(entries),
        "transforms_skipped": "an exact knob-free match was found; a transform cannot rank above it" if skipped else None,
        "plot": None,
    }
    if plot is not None:
        from ._plot import plot_design

        plot_design(prob, ranked[0], best, plot)
        result["plot"] = str(plot)
    return result
