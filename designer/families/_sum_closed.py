"""Closed form of a sum's bias from its terms' registered closed forms (theory.md 5.1, the sum rule).

Under weight decay and label noise the bias of ``z = sum_k w_k phi_k(theta_k)`` is the infimal
convolution ``min_{sum x_k = z} sum_k R_k(x_k)`` of the scaled terms' biases. Where every term
registers its bias as a *convex atom* (``Family.convex_atom(mechanism)``) the infimal convolution
is computed here from the atoms instead of by the engine's fibre minimum over all parameters
(:mod:`designer.fibre`). The atoms (coefficients ``c = A x`` of the term's fixed map ``A = B^{-1}``):

- ``l1``: ``sum_i alpha_i |c_i|`` (Hadamard depth 2, identity transform: weight decay ``alpha = 1``,
  label noise ``alpha_i = 2 |B e_i|^2``);
- ``nuclear``: ``alpha |x|_*`` (matrix product depth 2, full rank: ``alpha = 1``, label noise ``2 sqrt(mn)``);
- ``sq``: ``(alpha / 2) |c|^2`` (linear map, weight decay);
- ``free``: 0 on a span (a free offset ``c 1``, or everything), plus a constant (a linear map under
  label noise charges the constant ``|B|_F^2`` whatever the split).

A weight ``w`` scales an atom of homogeneity degree ``k`` (1 for l1 and nuclear, 2 for sq) by
``w^-k`` under weight decay (``R(x / w)``) and ``w^(2-k)`` under label noise (``w^2 R(x / w)``).

The minimum over the split is then computed exactly where the structure allows, and by a certified
convex solver in one case:

- a free term spanning everything: the sum of the constants (every other term takes 0);
- one non-free term and a free offset: ``min_t f(z - t 1)``, one-dimensional and convex; for l1 it
  is a weighted median (exact: ``t`` = the median of ``(Az)_i / (A1)_i`` with weights
  ``alpha_i |(A1)_i|``; free offset + cumsum Hadamard gives total variation exactly), for sq a
  least-squares offset;
- two non-free terms: l1 + sq (same map, or both maps orthonormal) is the separable Huber function of
  the l1 coefficients, ``sum_i beta H_{alpha_i / beta}(c_i)``; l1 + l1 (same map) is
  ``sum_i min(alpha_i, alpha'_i) |c_i|``; sq + sq is ``(alpha alpha' / (alpha + alpha')) / 2 |c|^2``;
  nuclear + sq is ``sum_i beta H_{alpha / beta}(s_i)`` over the singular values; nuclear + nuclear is
  ``min(alpha, alpha') |x|_*``; nuclear + uniform l1 on the identity map is the robust-PCA penalty,
  solved by the fast ADMM of :mod:`designer.targets.sparse_plus_low_rank` to a certified relative
  duality gap of ``RPCA_TOLERANCE`` (the value is the primal value, an upper bound within the gap)
  within ``RPCA_ITERATIONS`` iterations. The target uses the same solver and gap (capped at its own
  ``iterations``, 3,000 by default): with weights ``[1, 1/lambda]`` the sum's bias and the target are the
  same problem, solved by the same iterations where neither cap is reached (measured on the designer's
  12 x 12 sampling: at most 2,375 iterations over 64 points; a 5 x 4 Gaussian matrix at lambda = 0.45
  needed 4,425).

Every other combination (three or more non-free terms, a free offset with two, l1 terms in two
different maps, a nuclear term with a free offset) has no closed form here and stays with the
engine. Terms whose registered bias is not convex (Hadamard depth > 2 under weight decay: ``l_p``,
p < 1; transforms) have no atom: their sums are the engine's (a local method there, see
:mod:`designer.fibre`). Everything here is pure JAX, jit- and vmap-compatible; weights are traced.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from .._lazy import jax, jit, jnp

#: Mechanisms whose bias on a sum is the infimal convolution of the terms' biases.
MECHANISMS = ("weight_decay", "label_noise")
#: Orthonormal named maps (``A^T = A^-1``: Euclidean norms are the same in coefficients).
ORTHONORMAL = ("identity", "cosine", "haar")
#: Robust-PCA solver settings for nuclear + l1: relative duality gap and iteration cap (a vmapped batch
#: runs to its slowest point; the cap is only reached where the solver stalls).
RPCA_TOLERANCE = 1e-9
RPCA_ITERATIONS = 20_000

_DEGREE = {"l1": 1, "nuclear": 1, "sq": 2, "free": 0}


@dataclasses.dataclass(frozen=True)
class Atom:
    """A term's bias as a convex function of its part ``x`` of the predictor (module docstring)."""

    kind: str  # "l1", "nuclear", "sq", "free"
    alpha: Any = 1.0  # scalar, or per coefficient (l1)
    analysis: Callable | None = None  # x -> coefficients A x (l1, sq)
    map_key: Any = None  # a hashable name of the map A (None: not comparable)
    orthonormal: bool = False
    span: str = "constant"  # free: "constant" (t 1) or "all"
    const: Any = 0.0

    def scaled(self, w, mechanism: str) -> "Atom":
        """The atom of ``w phi`` (weight rule in the module docstring)."""
        k = _DEGREE[self.kind]
        if mechanism == "weight_decay":
            return dataclasses.replace(self, alpha=self.alpha * w ** (-k))
        return dataclasses.replace(self, alpha=self.alpha * w ** (2 - k), const=self.const * w**2)


def map_atom(kind: str, basis, alpha=1.0) -> Atom:
    """An l1 or sq atom on a family's fixed map (a named map or a given matrix)."""
    name = getattr(basis, "name", None)
    named = name != "matrix" and hasattr(basis, "shape") and name is not None
    key = (name, tuple(basis.shape)) if named else None
    return Atom(kind, alpha, basis.analysis, key, bool(named and name in ORTHONORMAL))


def column_norms_sq(basis):
    """``|B e_i|^2`` of a map, flattened (numpy for named maps, JAX for a given matrix)."""
    if getattr(basis, "name", None) == "matrix":
        return jnp.sum(jnp.asarray(basis.values) ** 2, axis=0)
    from ._hadamard_closed import _map_column_norms_sq

    return _map_column_norms_sq(basis)


def _huber(c, delta, beta):
    """``sum beta H_delta(c)``: ``min_t alpha |t| + (beta/2)(c - t)^2`` with ``delta = alpha / beta``."""
    a = jnp.abs(c)
    return jnp.sum(beta * jnp.where(a <= delta, 0.5 * a * a, delta * (a - 0.5 * delta)))


def _flat(x):
    return x.reshape(-1)


def _l1_value(atom, z):
    return jnp.sum(atom.alpha * jnp.abs(_flat(atom.analysis(z))))


def _sq_value(atom, z):
    return 0.5 * atom.alpha * jnp.sum(_flat(atom.analysis(z)) ** 2)


def _nuclear_value(atom, z):
    return atom.alpha * jnp.sum(jnp.linalg.svd(z, compute_uv=False))


def _value(atom, z):
    return {"l1": _l1_value, "sq": _sq_value, "nuclear": _nuclear_value}[atom.kind](atom, z)


def _l1_with_offset(atom, z):
    """``min_t sum_i alpha_i |b_i - t a_i|`` (``b = Az``, ``a = A1``): a weighted median, exact."""
    b = _flat(atom.analysis(z))
    a = _flat(atom.analysis(jnp.ones_like(z)))
    alpha = jnp.broadcast_to(atom.alpha, b.shape)
    nonzero = a != 0
    ratio = jnp.where(nonzero, b / jnp.where(nonzero, a, 1.0), 0.0)
    weight = jnp.where(nonzero, alpha * jnp.abs(a), 0.0)
    order = jnp.argsort(ratio)
    cum = jnp.cumsum(weight[order])
    k = jnp.argmax(cum >= 0.5 * cum[-1])
    t = ratio[order][k]
    return jnp.sum(alpha * jnp.abs(b - t * a))


def _sq_with_offset(atom, z):
    """``min_t (alpha/2) |b - t a|^2``: the least-squares offset, exact."""
    b = _flat(atom.analysis(z))
    a = _flat(atom.analysis(jnp.ones_like(z)))
    t = jnp.dot(a, b) / jnp.dot(a, a)
    return 0.5 * atom.alpha * jnp.sum((b - t * a) ** 2)


def _same_map(x: Atom, y: Atom) -> bool:
    return x.map_key is not None and x.map_key == y.map_key


def _euclidean(x: Atom, y: Atom) -> bool:
    """The two maps give the same Euclidean geometry (same map, or both orthonormal)."""
    return _same_map(x, y) or (x.orthonormal and y.orthonormal)


def _pair(x: Atom, y: Atom) -> Callable | None:
    """``z -> min_{u + v = z} x(u) + y(v)`` for two non-free atoms, or ``None``."""
    kinds = {x.kind, y.kind}
    if kinds == {"l1", "sq"}:
        l1, sq = (x, y) if x.kind == "l1" else (y, x)
        if not _euclidean(l1, sq):
            return None
        return lambda z: _huber(_flat(l1.analysis(z)), l1.alpha / sq.alpha, sq.alpha)
    if kinds == {"l1"}:
        if not _same_map(x, y):
            return None
        return lambda z: jnp.sum(jnp.minimum(x.alpha, y.alpha) * jnp.abs(_flat(x.analysis(z))))
    if kinds == {"sq"}:
        if not _euclidean(x, y):
            return None
        return lambda z: 0.5 * (x.alpha * y.alpha / (x.alpha + y.alpha)) * jnp.sum(_flat(x.analysis(z)) ** 2)
    if kinds == {"nuclear"}:
        return lambda z: jnp.minimum(x.alpha, y.alpha) * jnp.sum(jnp.linalg.svd(z, compute_uv=False))
    if kinds == {"nuclear", "sq"}:
        nuc, sq = (x, y) if x.kind == "nuclear" else (y, x)
        if not (sq.orthonormal and sq.map_key is not None and sq.map_key[0] == "identity"):
            return None
        return lambda z: _huber(jnp.linalg.svd(z, compute_uv=False), nuc.alpha / sq.alpha, sq.alpha)
    if kinds == {"nuclear", "l1"}:
        nuc, l1 = (x, y) if x.kind == "nuclear" else (y, x)
        if not (l1.map_key is not None and l1.map_key[0] == "identity" and jnp.ndim(l1.alpha) == 0):
            return None

        def rpca(z):
            from ..targets.sparse_plus_low_rank import solve

            lam = l1.alpha / nuc.alpha
            return nuc.alpha * solve(z, lam, RPCA_ITERATIONS, RPCA_TOLERANCE)[0]

        return rpca
    return None


def atoms(family, mechanism: str) -> list[Atom] | None:
    """The scaled terms' atoms of a built :class:`~designer.families.sum.Sum`, or ``None``."""
    if mechanism not in MECHANISMS:
        return None
    out = []
    for term, w in zip(family.terms, family.weights):
        atom = term.convex_atom(mechanism)
        if atom is None:
            return None
        out.append(atom.scaled(w, mechanism))
    return out


def closed_form(family, mechanism: str) -> Callable | None:
    """``z -> shape`` (unit = 1) of a built sum whose infimal convolution has a form here, else ``None``."""
    parts = atoms(family, mechanism)
    if parts is None:
        return None
    consts = [a.const for a in parts]
    total = lambda z: sum(jnp.asarray(c, z.dtype) for c in consts)
    free = [a for a in parts if a.kind == "free"]
    active = [a for a in parts if a.kind != "free"]
    if any(a.span == "all" for a in free) or not active:
        return total
    if len(active) == 1:
        (f,) = active
        if not free:
            return lambda z: _value(f, z) + total(z)
        if f.kind == "l1":
            return lambda z: _l1_with_offset(f, z) + total(z)
        if f.kind == "sq":
            return lambda z: _sq_with_offset(f, z) + total(z)
        return None
    if len(active) == 2 and not free:
        pair = _pair(*active)
        if pair is None:
            return None
        return lambda z: pair(z) + total(z)
    return None


@jit(static_argnames="mechanism")
def score_sum(family, mechanism, points, t):
    """Fit ``(err, a, b)`` of a sum's closed form on all points (compiled once per configuration and shapes)."""
    from ..design._scoring import TRACES, fit_line

    TRACES["score_sum"] += 1
    return fit_line(jax.vmap(closed_form(family, mechanism))(points), t)
