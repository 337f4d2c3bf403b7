"""The inverse-design search (theory.md section 5), driven by the registries.

Every family in :data:`designer.families.FAMILIES` takes part: its spec class offers candidates
for the problem (``design_candidates(problem, screened=None)``; the default offers the family's
default spec when it builds for the requested shape) and may score them with a closed form
registered next to it (``score_candidates(problem, candidates)``); everything else is scored
by the autodiff geometry engine (:func:`designer.design._scoring.engine_scores`). Every
mechanism in :data:`designer.mechanisms.MECHANISMS` that the request names and that applies to
the family is tried; the mechanism turns the fitted scale into the hyperparameters a user sets
(``MechanismSpec.hyperparameters``).

A candidate is scored by the least-squares fit ``R_phi(z) ~ a R*(z) + b`` (``a > 0``) over the
request's sampling distribution; ``fit_error`` is the relative RMS residual (0 = exact).

The search runs in steps (one compiled call on a chunk of candidates that share a scoring
group): *screen* (every family's first-stage candidates, including designs constructed from the
target to be exact), then *refine* (second-stage candidates a family derives from the screened
results, e.g. transforms with fitted knobs on its best structures). Between steps it reports
progress, honours cancellation (raising :class:`DesignCancelled` with the state to resume from)
and hands the JSON-able state to ``on_state``. Deterministic for a seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .. import bases
from ..errors import Cancelled, DesignerInputError, NumericalFailure
from ..families import FAMILIES, parse_param_spec
from ..families.sum import DESIGN_MAX_ENTRIES
from ..mechanisms import MECHANISMS, build_mechanism
from . import _scoring
from ._request import DesignRequest, parse_design_request

STATE_VERSION = 2
#: Fit errors below this count as exact (ties broken by simplicity).
EXACT_TOL = 1e-8
#: A design with a fit error at most this is reported exact; among those the trainable ones rank first.
EXACT_FIT = 1e-6
#: Candidates per compiled call when the family does not say.
DEFAULT_CHUNK = 8
#: Largest vector length and matrix side scored directly. A larger (layer-sized) problem is scored
#: on a slice of this size (separable and spectral targets look the same on a slice: the sampled
#: coordinates or singular values are independent), and the winner is then checked at full size.
SLICE_DIM = 1_024
SLICE_SIDE = 64
#: Full-size predictors on which the winner of a sliced problem is checked.
FULL_CHECK_POINTS = 3
FULL_CHECK_POINTS_MATRIX = 2

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
    """What the families see: the request, the target, the sampled predictors and target values.

    ``cache`` holds per-family precomputations (e.g. the points' coefficients in each basis),
    keyed by the family, so the screen and refine stages share them.
    """

    request: DesignRequest
    target: Any
    shape: tuple[int, ...]
    points: np.ndarray  # (N, *shape)
    t: np.ndarray  # target values (N,)
    cache: dict = field(default_factory=dict)

    @property
    def domain(self) -> str:
        return "vector" if len(self.shape) == 1 else "matrix"

    @property
    def mechanisms(self) -> list[str]:
        """The requested mechanisms, in the registry's order."""
        return [m for m in MECHANISMS if m in self.request.mechanisms]

    def applicable(self, family) -> list[str]:
        """Requested mechanisms that can act on ``family`` (a built :class:`Family`)."""
        out = []
        for kind in self.mechanisms:
            try:
                build_mechanism({"kind": kind}, family)
            except DesignerInputError:
                continue
            out.append(kind)
        return out


def _orthogonal_batch(g: np.ndarray) -> np.ndarray:
    """Haar-distributed orthogonal matrices from Gaussian ones ``g`` (..., n, n): QR with the signs of
    ``diag(R)`` moved into ``Q``."""
    q, r = np.linalg.qr(g)
    return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


def sample_points(request: DesignRequest, target, shape: tuple[int, ...], limit: int | None = None) -> np.ndarray:
    """Predictors of the request's sampling distribution (see :class:`SamplingSpec`); the first
    ``limit`` of them when given (the same ones, fewer drawn)."""
    if target.kind == "tabulated":
        return np.asarray(target.points)
    rng = np.random.default_rng(request.seed)
    lo, hi = request.sampling.log10_min, request.sampling.log10_max
    if len(shape) == 1:
        n = request.sampling.n_points or 128
        d = shape[0]
        c = rng.choice([-1.0, 1.0], size=(n, d)) * 10.0 ** rng.uniform(lo, hi, size=(n, d))
        c = c if limit is None else c[:limit]
        return bases.synthesize(target.sampling_basis, c)
    n = request.sampling.n_points or 64
    n = n if limit is None else min(n, limit)
    m, k = shape
    r = min(m, k)
    s, gu, gv = np.empty((n, r)), np.empty((n, m, m)), np.empty((n, k, k))
    for i in range(n):  # the draws in their historical order; the factorisations batched below
        s[i] = 10.0 ** rng.uniform(lo, hi, size=r)
        gu[i], gv[i] = rng.standard_normal((m, m)), rng.standard_normal((k, k))
    u, v = _orthogonal_batch(gu)[:, :, :r], _orthogonal_batch(gv)[:, :, :r]
    return (u * s[:, None, :]) @ np.swapaxes(v, 1, 2)


def build_problem(request: DesignRequest, target) -> Problem:
    """Sample the predictors and evaluate the target on them (host checks of the target's values)."""
    shape = tuple(int(s) for s in request.shape)
    points = sample_points(request, target, shape)
    if target.kind == "tabulated":
        t = np.asarray(target.values, dtype=np.float64)
    else:
        t = np.asarray(_scoring.target_values(target, points))
    if not np.all(np.isfinite(t)):
        raise NumericalFailure(f"the target {target.kind!r} is not finite at {int(np.sum(~np.isfinite(t)))} sampled point(s)")
    if np.ptp(t) <= 1e-14 * max(1.0, float(np.max(np.abs(t)))):
        raise DesignerInputError("target", "the target is constant over the sampled predictors: it has no shape to fit")
    return Problem(request, target, shape, points, t)


# --------------------------------------------------------------------------------------------
# candidates from the registry
# --------------------------------------------------------------------------------------------
def candidate(family: str, param: dict, mechanism: str, *, group: Any = None, complexity=(), description: str | None = None,
              knob: dict | None = None, chunk: int = DEFAULT_CHUNK, traits: dict | None = None, rule: str | None = None) -> dict:
    """A candidate (JSON-able): a family spec, a mechanism, and how the search scores and ranks it.

    ``group``: candidates of one group are scored together by their family's scorer (default:
    one group per family and mechanism). ``complexity``: numbers ranked after the fit error
    (smaller is simpler). ``knob``: ``{"path": [...], "lo", "hi"}`` of a continuous knob in
    ``param`` that the family's scorer fits (log-scale bounds). ``traits``: what the result
    shows about the structure (depth, basis, transform). ``rule``: how a constructed candidate
    was derived from the target.
    """
    cid = "/".join([family, *[f"{k}={_short(v)}" for k, v in sorted((traits or {}).items())], mechanism])
    return {
        "id": cid, "family": family, "param": param, "mechanism": mechanism,
        "group": str(group if group is not None else f"{family}/{mechanism}"), "chunk": int(chunk),
        "complexity": list(complexity), "description": description, "knob": knob, "traits": dict(traits or {}),
        "rule": rule,
    }


def _short(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def default_candidates(name: str, spec_cls, problem: Problem, screened: list[dict] | None) -> list[dict]:
    """A family without its own candidates: its default spec, when that builds for the shape."""
    if screened is not None:
        return []
    try:
        spec = spec_cls()
        family = spec.build(problem.shape)
    except (DesignerInputError, TypeError, ValueError):
        return []
    if tuple(family.predictor_shape) != problem.shape:
        return []
    param = spec.model_dump(mode="json", exclude_none=True)
    return [candidate(name, param, m) for m in problem.applicable(family)]


def _family_candidates(problem: Problem, screened: list[dict] | None) -> list[dict]:
    out = []
    for name, spec_cls in FAMILIES.items():
        offer = getattr(spec_cls, "design_candidates", None)
        cands = offer(problem, screened) if offer is not None else default_candidates(name, spec_cls, problem, screened)
        out.extend(cands)
    return out


def _chunks(cands: list[dict]) -> list[list[dict]]:
    """Consecutive chunks of one group each, at most the group's chunk size (order preserved)."""
    groups: dict[str, list[dict]] = {}
    for c in cands:
        groups.setdefault(c["group"], []).append(c)
    chunks = []
    for members in groups.values():
        size = max(1, members[0]["chunk"])
        chunks += [members[i:i + size] for i in range(0, len(members), size)]
    return chunks


def _score_chunk(problem: Problem, chunk: list[dict]) -> list[dict]:
    spec_cls = FAMILIES.get(chunk[0]["family"])
    scorer = getattr(spec_cls, "score_candidates", None)
    scores = scorer(problem, chunk) if scorer is not None else _scoring.engine_scores(problem, chunk)
    out = [{**c, **s} for c, s in zip(chunk, scores)]
    for r in out:  # the ranking's trainability rule applies among exact designs
        if r["fit_error"] is not None and r["fit_error"] <= EXACT_FIT:
            r["finite_slope"] = _finite_slope(r, problem.shape)
    return out


def _finite_slope(r: dict, shape: tuple[int, ...]) -> bool:
    """The family's registered ``finite_slope`` (its map has a finite slope at every balanced point)."""
    from ..families import build_family

    try:
        return bool(build_family(_with_knob(r), shape).finite_slope)
    except (DesignerInputError, TypeError, ValueError):
        return True


# --------------------------------------------------------------------------------------------
# ranking, hyperparameters
# --------------------------------------------------------------------------------------------
def _family_rank(name: str) -> int:
    names = list(FAMILIES)
    return names.index(name) if name in names else len(names)


def rank_key(r: dict):
    """Exact designs first (fit error at most ``EXACT_FIT``) and among them the trainable ones (the
    family's ``finite_slope``: a finite slope of the parameterization at every balanced point, so
    gradient steps from a small start move it; a transform with ``psi ~ sqrt|x|`` at 0 has an
    infinite one), then the fit error (ties within 0.01% or below ``EXACT_TOL``), then simplicity,
    then the id."""
    e = r["fit_error"]
    exact = e is not None and e <= EXACT_FIT
    band = round(math.log10(max(e, EXACT_TOL)), 4) if e is not None else math.inf
    mech_rank = MECHANISMS[r["mechanism"]].rank if r["mechanism"] in MECHANISMS else 99
    untrainable = exact and r.get("finite_slope") is False
    return (not exact, untrainable, band, *_pad(r.get("complexity", [])), _family_rank(r["family"]), mech_rank, r["id"])


def _pad(values: list, size: int = 4) -> list:
    values = list(values)[:size]
    return values + [0] * (size - len(values))


def hyperparameters(request: DesignRequest, mechanism: str, a: float) -> tuple[dict, dict | None]:
    """Translate the fitted scale ``a`` into the knob a user sets (the mechanism's own physics)."""
    return MECHANISMS[mechanism].hyperparameters(request, a)


def _with_knob(c: dict) -> dict:
    """The candidate's spec with its fitted knob written in."""
    param = c["param"]
    if c.get("knob") and c.get("knob_value") is not None:
        param = _set_path(param, c["knob"]["path"], c["knob_value"])
    parse_param_spec(param)
    return param


def _set_path(d: dict, path: list, value: Any) -> dict:
    out = dict(d)
    if len(path) == 1:
        out[path[0]] = value
    else:
        out[path[0]] = _set_path(d.get(path[0]) or {}, path[1:], value)
    return out


def _describe(c: dict) -> str:
    if c.get("description"):
        return c["description"]
    extra = ", ".join(f"{k} {_short(v)}" for k, v in sorted(c.get("traits", {}).items()))
    return f"{c['family'].replace('_', ' ')}{' (' + extra + ')' if extra else ''}, {c['mechanism'].replace('_', ' ')}"


# --------------------------------------------------------------------------------------------
# the search
# --------------------------------------------------------------------------------------------
def _plan(problem: Problem, state: dict) -> tuple[list[list[dict]], int]:
    """The steps (chunks) of the search so far and how many of them are the screen."""
    screen = _truncate(_chunks(_family_candidates(problem, None)), problem.request.budget)
    if state["steps_done"] < len(screen):
        return screen, len(screen)
    screened = [r for r in state["results"]]
    left = None if problem.request.budget is None else problem.request.budget - sum(map(len, screen))
    refine = [] if exact_found(screened) else _truncate(_chunks(_family_candidates(problem, screened)), left)
    return screen + refine, len(screen)


def exact_found(results: list[dict]) -> bool:
    """A first-stage candidate already matches exactly: refinements cannot rank above it (ties go
    to the simpler candidate), so the refine stage is skipped."""
    return any(r["fit_error"] is not None and r["fit_error"] < EXACT_TOL for r in results)


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
    sliced = slice_request(req)
    prob = build_problem(*parse_design_request(sliced)) if sliced is not None else build_problem(req, target)

    shown = 0.0  # progress fractions never go back, whatever the refine stage's size turns out to be
    while True:
        chunks, screen_steps = _plan(prob, state)
        if state["steps_done"] >= len(chunks):
            break
        if should_cancel is not None and should_cancel():
            raise DesignCancelled(state)
        state["results"].extend(_score_chunk(prob, chunks[state["steps_done"]]))
        state["steps_done"] += 1
        if on_state is not None:
            on_state(state)
        if progress is not None:
            done = state["steps_done"]
            # the refine stage's size is known once the screen is done; until then count one step for it
            chunks, screen_steps = _plan(prob, state)
            total = len(chunks) if done >= screen_steps else screen_steps + 1
            shown = max(shown, done / total if done < total else 1.0)
            best = min(state["results"], key=rank_key)
            progress({
                "fraction": shown,
                "stage": "screen" if done <= screen_steps else "refine",
                "best_fit": best["fit_error"],
                "best": best["id"],
            })
    result = _result(prob, state, plot)
    if sliced is not None:
        result = _at_full_size(result, req, target, prob)
    return result


def _sliced_shape(req: DesignRequest) -> tuple[int, ...] | None:
    shape = tuple(int(s) for s in req.shape)
    if len(shape) == 1:
        if shape[0] <= SLICE_DIM:
            return None
        group = getattr(req.target, "group_size", None)
        if group:
            return (max(group, (SLICE_DIM // group) * group),)
        return (SLICE_DIM,)
    if max(shape) <= SLICE_SIDE:
        return None
    scale = SLICE_SIDE / max(shape)
    return tuple(max(1, round(s * scale)) for s in shape)


def slice_request(req: DesignRequest) -> DesignRequest | None:
    """The request scored in place of a layer-sized one (``None`` when it is scored directly)."""
    small = _sliced_shape(req)
    if small is None:
        return None
    sliced = req.model_copy(update={"shape": list(small)})
    try:
        sliced.target.build(small)
    except DesignerInputError as exc:
        raise DesignerInputError("shape", f"designs larger than {SLICE_DIM} (vectors) or {SLICE_SIDE} (matrix sides) are "
                                 f"scored on a slice of shape {list(small)}, where this target does not build: "
                                 f"{exc.message}") from None
    return sliced


#: Spec fields that hold sizes (taken from the predictor shape when omitted).
SIZE_FIELDS = ("dim", "rows", "cols", "rank", "hidden", "inputs", "d_emb", "d_head")


def resize_param(param: dict, shape: tuple[int, ...]) -> dict:
    """A design's spec at another predictor shape: sizes dropped, rebuilt there, written back."""
    spec = parse_param_spec({k: v for k, v in param.items() if k not in SIZE_FIELDS})
    family = spec.build(tuple(shape))
    out = dict(param)
    for key in SIZE_FIELDS:
        if key in param:
            out[key] = getattr(family, key)
    parse_param_spec(out)
    return out


def _engine_affordable(family, mechanism: str) -> str | None:
    """Why the engine cannot recompute this bias at this size in reasonable time (``None``: it can)."""
    n_sym = int(np.sum(family.symmetric_mask))
    size = int(np.prod(family.predictor_shape)) if family.predictor_shape else 1
    if mechanism == "gauge" and n_sym > 600:
        return f"the gauge bias needs a Gram matrix of {n_sym} x {n_sym} symmetric generators per point"
    if mechanism == "label_noise" and family.n_params * size > 5e7:
        return f"the label-noise bias needs a Jacobian of {size} x {family.n_params} numbers per point"
    if family.n_params > 5e7:
        return f"the family has {family.n_params} parameters"
    if not family.fibre_is_orbit and size > DESIGN_MAX_ENTRIES:
        return (f"a sum's bias is a fibre minimum over all {family.n_params} parameters (the engine solves it up to "
                f"{DESIGN_MAX_ENTRIES} predictor entries)")
    return None


def _at_full_size(result: dict, req: DesignRequest, target, small: Problem) -> dict:
    """Rewrite a sliced design at the requested size and check its winner there."""
    shape = tuple(int(s) for s in req.shape)
    kept, dropped = [], []
    for entry in result["candidates"]:
        try:
            entry["param"] = resize_param(entry["param"], shape)
        except DesignerInputError as exc:
            dropped.append({"id": entry["id"], "reason": exc.message})
            continue
        entry["rank"] = len(kept) + 1
        kept.append(entry)
    if not kept:
        raise NumericalFailure(f"no candidate builds at the shape {list(shape)}: {dropped[0]['reason']}")
    result["candidates"], result["candidates_scored"] = kept, len(kept)
    result["dropped_at_full_size"] = dropped
    if kept[0] is not result["best"]:
        old, new = result["best"], kept[0]
        result["fit_error"] = new["fit_error"]
        result["exact"] = new["fit_error"] <= EXACT_FIT
        why = next((d["reason"] for d in dropped if d["id"] == old["id"]), "")
        result["note"] = (
            f"{old['description']} fits the target on the slice (fit error {old['fit_error']:.3g}) but does not build "
            f"at the shape {list(shape)} ({why}). At that shape the best is {new['description']} "
            f"(fit error {new['fit_error']:.3g}{'' if result['exact'] else ', not exact'}).")
    result["best"] = kept[0]
    result["shape"] = list(shape)
    result["target"] = req.target.model_dump(mode="json")
    result["scored_at"] = {"shape": list(small.shape), "reason": (
        f"the shape {list(shape)} is layer-sized: the candidates were scored on a slice of shape {list(small.shape)} "
        "(independent coordinates or singular values: the fit is the same in distribution) and the winner "
        "recomputed at full size")}
    result["engine_check"] = full_size_check(result["best"], req, target)
    return result


def full_size_check(best: dict, req: DesignRequest, target) -> dict:
    """The winner's bias at ``FULL_CHECK_POINTS`` full-size sampled predictors: the engine where it
    is affordable, else the family's registered closed form (said so), fitted against ``R*``."""
    from ..families import build_family
    from ..mechanisms import build_mechanism

    shape = tuple(int(s) for s in req.shape)
    k = FULL_CHECK_POINTS if len(shape) == 1 else FULL_CHECK_POINTS_MATRIX
    pts = sample_points(req.model_copy(update={"sampling": req.sampling.model_copy(update={"n_points": 8})}),
                        target, shape, limit=k)
    family = build_family(best["param"], shape)
    mech = build_mechanism({"kind": best["mechanism"]}, family)
    why = _engine_affordable(family, best["mechanism"])
    t = np.asarray(_scoring.target_values(target, pts))
    if why is None:
        v, how = _scoring.engine_values(family, mech, pts), "engine"
    else:
        closed = family.closed_form(best["mechanism"])
        if closed is None:
            return {"points": 0, "shape": list(shape), "method": None, "skipped": why}
        v, how = np.asarray([float(closed(p)) for p in pts]), "closed form"
    # the slope must be the sliced fit's a; the offset grows with the size (per-coordinate constants)
    offset = float(np.mean(v - best["a"] * t))
    scale = float(np.max(np.abs(v - np.mean(v)))) or 1.0
    dev = float(np.max(np.abs(v - best["a"] * t - offset))) / scale
    out = {"points": len(pts), "shape": list(shape), "method": how, "max_deviation": dev,
           "relative_to": "the spread of the values at those points, with the sliced fit's slope a"}
    if why is not None:
        out["engine_skipped"] = why
    return out


def _entry(req: DesignRequest, rank: int, r: dict) -> dict:
    mapping, mspec = hyperparameters(req, r["mechanism"], r["a"])
    return {
        "rank": rank,
        "id": r["id"],
        "description": _describe(r),
        "family": r["family"],
        "mechanism": r["mechanism"],
        **r.get("traits", {}),
        "knob": r.get("knob_value"),
        "rule": r.get("rule"),
        "finite_slope": r.get("finite_slope"),
        "fit_error": r["fit_error"],
        "a": r["a"],
        "b": r["b"],
        "param": _with_knob(r),
        "mechanism_spec": mspec,
        "hyperparameters": mapping,
    }


def _result(prob: Problem, state: dict, plot: str | None) -> dict:
    req = prob.request
    ranked = sorted(state["results"], key=rank_key)
    if not ranked:
        raise NumericalFailure("no candidate was scored: no family in the registry applies to this target and shape")
    entries = [_entry(req, i + 1, r) for i, r in enumerate(ranked)]
    best = entries[0]
    if best["fit_error"] is None:
        raise NumericalFailure("every candidate's induced bias is singular (non-finite) on the sampled predictors")
    exact = best["fit_error"] <= EXACT_FIT
    skipped = exact_found(state["results"])
    note = (
        f"{best['description']} matches the target's shape (fit error {best['fit_error']:.3g})."
        if exact else
        f"No candidate matches exactly with mechanisms {', '.join(req.mechanisms)}: the best achievable fit error "
        f"over the sampling distribution is {best['fit_error']:.3g} ({best['description']})."
    )
    reasons = _inexact_reasons(prob) if not exact else []
    if reasons:
        note += " " + " ".join(reasons)
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
        "refine_skipped": "an exact first-stage match was found; a refinement cannot rank above it" if skipped else None,
        "engine_check": None,
        "plot": None,
    }
    if plot is not None:
        from ._plot import plot_design

        plot_design(prob, best, plot)
        result["plot"] = str(plot)
    return result


def _inexact_reasons(prob: Problem) -> list[str]:
    """Why no exact design exists, where a family can say (e.g. a flat part of the target)."""
    out = []
    for spec_cls in FAMILIES.values():
        explain = getattr(spec_cls, "inexact_reasons", None)
        if explain is not None:
            out.extend(explain(prob))
    note = getattr(prob.target, "inexact_note", None)
    return out + ([note] if note else [])


__all__ = ["DesignCancelled", "Problem", "build_problem", "candidate", "design", "exact_found", "full_size_check",
           "hyperparameters", "new_state", "rank_key", "sample_points"]
