"""Scoring a candidate: the fit ``R_phi(z) ~ a R*(z) + b`` and the engine's induced-bias shape.

A candidate's shape values (the bias for ``unit = 1``, :class:`designer.mechanisms.Mechanism`)
at the sampled predictors come from the autodiff geometry engine (``mechanism.shape`` under
``vmap``/``jit``, :func:`engine_values`) unless its family registers a closed form next to it
(a family spec's ``score_candidates``); a test generated from the registry checks each closed
form against the engine. The fit is the same for both (:func:`fit_line`).

``TRACES`` counts traces of the compiled functions here and in the families' closed forms (a
trace precedes each compilation; a test checks that a second design does not retrace).
"""

from __future__ import annotations

import collections
import math
from typing import Any

import numpy as np

from .._lazy import jax, jit, jnp

#: Number of traces of each compiled function of the search (a trace happens before each compilation).
TRACES: collections.Counter = collections.Counter()


def fit_line(v, t):
    """Least-squares ``v ~ a t + b`` with ``a >= 0``; returns ``(fit_error, a, b)`` (JAX, traceable).

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


def fit_line_host(v: np.ndarray, t: np.ndarray) -> tuple[float, float, float]:
    """:func:`fit_line` in numpy (float64) for values computed elsewhere."""
    v, t = np.asarray(v, np.float64), np.asarray(t, np.float64)
    vc, tc = v - v.mean(), t - t.mean()
    with np.errstate(all="ignore"):
        a = max(float(tc @ vc) / float(tc @ tc), 0.0)
        resid = vc - a * tc
        err = math.sqrt(float(resid @ resid) / float(vc @ vc)) if float(vc @ vc) > 0 else math.nan
    return err, a, float(v.mean() - a * t.mean())


@jit
def target_values(target, points):
    """``R*(z)`` for each point (vmap over the first axis)."""
    TRACES["target_values"] += 1
    return jax.vmap(target.value)(points)


#: Points per compiled engine call (the last chunk padded), so one compilation serves every
#: design of the same family configuration and shapes.
ENGINE_CHUNK = 64


@jit
def _engine_chunk(family, mechanism, points):
    TRACES["engine_values"] += 1
    return jax.vmap(lambda z: mechanism.shape(family, z))(points)


def engine_values(family, mechanism, points) -> np.ndarray:
    """The engine's induced-bias shape (``unit = 1``) at each point, float64 numpy."""
    pts = np.asarray(points, dtype=np.float64)
    n = pts.shape[0]
    out = []
    for start in range(0, n, ENGINE_CHUNK):
        chunk = pts[start:start + ENGINE_CHUNK]
        k = chunk.shape[0]
        if k < ENGINE_CHUNK and n > ENGINE_CHUNK:
            chunk = np.concatenate([chunk, np.broadcast_to(chunk[:1], (ENGINE_CHUNK - k, *chunk.shape[1:]))])
        out.append(np.asarray(_engine_chunk(family, mechanism, chunk))[:k])
    return np.concatenate(out) if out else np.zeros((0,))


def build_pair(param: dict, mechanism: str, shape: tuple[int, ...]):
    """``(family, mechanism)`` of a candidate, the mechanism at its default (unit-scale) spec."""
    from ..families import build_family
    from ..mechanisms import build_mechanism

    family = build_family(param, shape)
    return family, build_mechanism({"kind": mechanism}, family)


def engine_scores(problem, candidates: list[dict]) -> list[dict[str, Any]]:
    """Score candidates with the engine: ``{"fit_error", "a", "b", "knob"}`` each (no knobs)."""
    out = []
    for c in candidates:
        family, mech = build_pair(c["param"], c["mechanism"], problem.shape)
        v = engine_values(family, mech, problem.points)
        out.append(result_entry(*fit_line_host(v, problem.t)))
    return out


def result_entry(err: float, a: float, b: float, knob_value: float | None = None) -> dict[str, Any]:
    """A scored candidate's numbers; a non-finite fit is reported as singular (``None``)."""
    ok = all(map(math.isfinite, (err, a, b)))
    return {"fit_error": min(err, 1.0) if ok else None, "a": a if ok else 0.0, "b": b if ok else 0.0,
            "knob_value": knob_value}


__all__ = ["TRACES", "build_pair", "engine_scores", "engine_values", "fit_line", "fit_line_host", "result_entry",
           "target_values"]
