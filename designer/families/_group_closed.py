"""Closed forms of the group-shared-scale family's biases, and its candidates for the design search.

Groups of size ``k_g`` with norms ``n_g = |z_g|``: weight decay ``sum_g n_g``, gauge
``sum_g (1/2) log(2 n_g)``, label noise ``sum_g 2 sqrt(k_g) n_g`` (identity second moment).
Checked against the engine by tests/geometry/test_registered_closed_forms.py.
"""

from __future__ import annotations

import numpy as np

from .._lazy import jax, jit, jnp

MECHANISMS = ("weight_decay", "gauge", "label_noise")
GROUP_CHUNK = 3


def group_shapes(c, membership, sizes):
    """Shapes of (weight decay, gauge, label noise) for one point."""
    from ._hadamard_closed import safe_log_abs

    norms = jnp.sqrt((c * c) @ membership)
    log_n = safe_log_abs(norms)
    return jnp.stack([jnp.sum(norms), 0.5 * jnp.sum(jnp.log(2.0) + log_n), jnp.sum(2.0 * jnp.sqrt(sizes) * norms)])


def _membership(dim: int, group_size: int) -> tuple[np.ndarray, np.ndarray]:
    groups = dim // group_size
    membership = np.zeros((dim, groups))
    membership[np.arange(dim), np.arange(dim) // group_size] = 1.0
    return membership, np.full(groups, float(group_size))


def closed_form(family, mechanism: str):
    """``z -> shape`` (unit = 1) of a built :class:`GroupHadamard`, or ``None``."""
    if mechanism not in MECHANISMS:
        return None
    membership, sizes = _membership(family.dim, family.group_size)
    index = MECHANISMS.index(mechanism)
    return lambda z: group_shapes(z, jnp.asarray(membership), jnp.asarray(sizes))[index]


@jit
def score_group(points, membership, sizes, t, mech):
    """Fit errors of group-shared-scale candidates (one per mechanism index in ``mech``)."""
    from ..design._scoring import TRACES, fit_line

    TRACES["score_group"] += 1
    shapes = jax.vmap(lambda c: group_shapes(c, membership, sizes))(points)
    return jax.vmap(lambda m: fit_line(shapes[:, m], t))(mech)


def design_candidates(problem, screened=None) -> list[dict]:
    """Group targets of equal group sizes: one candidate per mechanism."""
    from ..design._search import candidate
    from .group_hadamard import GroupHadamard

    groups = getattr(problem.target, "groups", None)
    if screened is not None or problem.domain != "vector" or not groups or len(set(groups)) != 1:
        return []
    d = problem.shape[0]
    size = int(groups[0])
    param = {"family": "group_hadamard", "group_size": size, "dim": d}
    out = []
    for m in problem.applicable(GroupHadamard(dim=d, group_size=size)):
        closed = m in MECHANISMS
        out.append(candidate("group_hadamard", param, m, group="group_hadamard" if closed else f"group_hadamard/engine/{m}",
                             chunk=GROUP_CHUNK, description=f"group-shared scales, {m.replace('_', ' ')}",
                             traits={"group_size": size}))
    return out


def score_candidates(problem, chunk: list[dict]) -> list[dict]:
    from ..design._scoring import engine_scores, result_entry

    if "/engine/" in chunk[0]["group"]:
        return engine_scores(problem, chunk)
    membership, sizes = _membership(problem.shape[0], chunk[0]["traits"]["group_size"])
    mech = [MECHANISMS.index(c["mechanism"]) for c in chunk]
    mech = mech + [mech[0]] * (GROUP_CHUNK - len(mech))
    err, a, b = score_group(jnp.asarray(problem.points), jnp.asarray(membership), jnp.asarray(sizes),
                            jnp.asarray(problem.t), jnp.asarray(mech, dtype=jnp.int32))
    return [result_entry(float(err[i]), float(a[i]), float(b[i])) for i in range(len(chunk))]
