"""A sum of parameterizations: ``z = sum_k w_k phi_k(theta_k)`` (theory.md section 5.1, sum rule).

The terms are any families of the registry with the same predictor shape (a ``free`` term for
parameters no mechanism touches). The symmetry is the product of the terms' groups, acting on
one block that holds every parameter, but the fibre over ``z`` is larger than an orbit: every
split ``z = x_1 + ... + x_K`` is in it. Hence

- weight decay and label noise give the minimum over the fibre of their functional, which is
  additive over the terms: the infimal convolution ``min_{sum x_k = z} sum_k R_k(x_k)`` of the
  terms' biases (a weight ``w_k`` turns ``R_k(x)`` into ``R_k(x / w_k)`` under weight decay and
  into ``w_k^2 R_k(x / w_k)`` under label noise, both read off the scaled term by the engine),
  computed numerically by :mod:`designer.fibre`; free terms contribute 0;
- the gauge bias is refused: it is a log det over one orbit, and there is no single orbit.

Where every term registers its bias as a convex atom (an L1, nuclear or squared norm of its fixed
map, or a free span; ``Family.convex_atom``), the sum registers the infimal convolution of the atoms
as its closed form (:mod:`._sum_closed`: exact formulas, or a certified convex solver for nuclear +
L1), which the registry test checks against the engine's fibre minimum.

In the design search a sum is proposed where the target declares it (``Target.sum_designs``: the
sums whose bias the target is, e.g. total variation, the robust-PCA penalty, Huber). A sum with a
closed form is scored by it on every sampled predictor, at any size (layer-sized problems are scored
on a slice of 1,024 coordinates or 64 x 64 and the winner checked at full size by the closed form).
A sum without one is scored by the engine's fibre minimum on the first ``DESIGN_POINTS`` sampled
predictors (one compilation per family configuration and shape, reused by every later design), and
only up to ``DESIGN_MAX_ENTRIES`` predictor entries; above, it is not proposed and the result says why.

``balanced_point(z)`` is the least-norm point of the fibre, free parameters included (the
weight-decay minimiser when there are none), which is balanced in the product group's sense
(moment map 0).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .. import limits
from .._lazy import register_dataclass
from ..errors import DesignerInputError
from ._base import Family, require

#: Sampled predictors on which a sum candidate is scored (each needs a fibre minimum).
DESIGN_POINTS = 12
#: Largest predictor (entries) for which the search proposes a sum scored by the engine (one without a
#: closed form, :mod:`._sum_closed`): the fibre minimum's polish
#: forms a dense Hessian of the parameters (about 2 per entry) for each point. Measured (2 shared
#: cores): a total-variation sum at d = 8 compiles and scores 12 points in about 40 s, then 1.4 s
#: per later design; at d = 64 about 260 s cold and over 40 s warm, which is not affordable.
DESIGN_MAX_ENTRIES = 32


@dataclasses.dataclass(frozen=True)
class Scaled(Family):
    """``z = w phi(theta)``: a term of a sum with its weight (same group, same parameters)."""

    term: Any
    weight: Any

    @property
    def name(self):
        return self.term.name

    @property
    def linear_predictor(self):
        return self.term.linear_predictor

    @property
    def predictor_shape(self):
        return self.term.predictor_shape

    def param_shapes(self):
        return self.term.param_shapes()

    @property
    def free_params(self):
        return self.term.free_params

    def predictor(self, params):
        return self.weight * self.term.predictor(params)

    @property
    def n_blocks(self):
        return self.term.n_blocks

    @property
    def block_size(self):
        return self.term.block_size

    @property
    def symmetric_mask(self):
        return self.term.symmetric_mask

    def to_blocks(self, params):
        return self.term.to_blocks(params)

    def from_blocks(self, blocks):
        return self.term.from_blocks(blocks)

    def block_action(self, x, t):
        return self.term.block_action(x, t)

    def balanced_point(self, z):
        return self.term.balanced_point(z / self.weight)

    def induced_shape(self, mechanism, z):
        if type(self.term).induced_shape is not Family.induced_shape:  # a free term: 0 at any weight
            return self.term.induced_shape(mechanism, z / self.weight)
        return mechanism.orbit_shape(self, z)


register_dataclass(Scaled, data_fields=["term", "weight"], meta_fields=[])


@dataclasses.dataclass(frozen=True)
class Sum(Family):
    terms: tuple
    weights: tuple

    name = "sum"
    fibre_is_orbit = False
    n_blocks = 1
    #: the engine solves a fibre minimum per point: designs score and plot this many points
    engine_points = DESIGN_POINTS

    @property
    def linear_predictor(self):
        return all(t.linear_predictor for t in self.terms)

    @property
    def scaled(self) -> tuple:
        return tuple(Scaled(t, w) for t, w in zip(self.terms, self.weights))

    @property
    def predictor_shape(self):
        return self.terms[0].predictor_shape

    def param_shapes(self):
        return {f"{k}.{name}": s for k, t in enumerate(self.terms) for name, s in t.param_shapes().items()}

    @property
    def free_params(self) -> tuple[str, ...]:
        return tuple(f"{k}.{name}" for k, t in enumerate(self.terms) for name in t.free_params)

    def split(self, params) -> list[dict]:
        return [{name: params[f"{k}.{name}"] for name in t.param_shapes()} for k, t in enumerate(self.terms)]

    def join(self, parts) -> dict:
        return {f"{k}.{name}": v for k, part in enumerate(parts) for name, v in part.items()}

    def predictor(self, params):
        return sum(s.predictor(p) for s, p in zip(self.scaled, self.split(params)))

    # one block holding every parameter; the algebra is the direct sum of the terms' algebras
    @property
    def block_size(self):
        return sum(t.n_blocks * t.block_size for t in self.terms)

    @property
    def symmetric_mask(self):
        return tuple(b for t in self.terms for _ in range(t.n_blocks) for b in t.symmetric_mask)

    def to_blocks(self, params):
        import jax.numpy as jnp

        return jnp.concatenate([t.to_blocks(p).reshape(-1) for t, p in zip(self.terms, self.split(params))])[None, :]

    def _pieces(self, x, sizes):
        out, start = [], 0
        for size in sizes:
            out.append(x[start:start + size])
            start += size
        return out

    def from_blocks(self, blocks):
        parts = self._pieces(blocks[0], [t.n_blocks * t.block_size for t in self.terms])
        return self.join([t.from_blocks(x.reshape(t.n_blocks, t.block_size)) for t, x in zip(self.terms, parts)])

    def block_action(self, x, t):
        import jax
        import jax.numpy as jnp

        xs = self._pieces(x, [f.n_blocks * f.block_size for f in self.terms])
        ts = self._pieces(t, [f.n_blocks * f.n_generators for f in self.terms])
        out = []
        for f, xk, tk in zip(self.terms, xs, ts):
            blocks = xk.reshape(f.n_blocks, f.block_size)
            if f.n_generators:
                blocks = jax.vmap(f.block_action)(blocks, tk.reshape(f.n_blocks, f.n_generators))
            out.append(blocks.reshape(-1))
        return jnp.concatenate(out)

    # -- the fibre --------------------------------------------------------------------------
    def _start(self, z):
        active = sum(1 for t in self.terms if t.name != "free") or 1
        return self.join([s.balanced_point(z / active) for s in self.scaled])

    def fibre_minimum(self, functional, z):
        """Minimum over the fibre of ``sum_k functional(scaled term k, theta_k)``; free terms add 0."""
        from ..fibre import minimize_on_fibre

        def total(params):
            parts = self.split(params)
            return sum(functional(s, p) for s, p in zip(self.scaled, parts) if s.term.name != "free")

        return minimize_on_fibre(self.predictor, total, self._start(z), z)

    def balanced_point(self, z):
        """The least-norm point of the fibre, free parameters included (numerical)."""
        from ..fibre import minimize_on_fibre
        from ..geometry import squared_norm

        return minimize_on_fibre(self.predictor, lambda p: 0.5 * squared_norm(p), self._start(z), z).params

    def induced_shape(self, mechanism, z):
        return self.fibre_minimum(mechanism.fibre_functional, z).value

    def closed_form(self, mechanism: str):
        """The infimal convolution of the terms' convex atoms (:mod:`._sum_closed`), or ``None``."""
        from ._sum_closed import closed_form

        return closed_form(self, mechanism)

    @property
    def finite_slope(self) -> bool:
        return all(t.finite_slope for t in self.terms)


register_dataclass(Sum, data_fields=["terms", "weights"], meta_fields=[])


class SumSpec(BaseModel):
    """``z = sum_k w_k phi_k(theta_k)``: a sum of parameterizations of the same predictor shape."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    family: Literal["sum"] = "sum"
    terms: list[dict[str, Any]] = Field(
        ..., min_length=2, max_length=limits.MAX_SUM_TERMS, description="the terms: family specs (JSON objects)"
    )
    weights: list[float] | None = Field(None, description="w_k > 0, one per term; all 1 when omitted")

    def check_nested(self, field: str) -> None:
        """Validate every term as a family spec; errors name ``<field>.terms[k]...``."""
        from . import parse_param_spec

        for k, term in enumerate(self.terms):
            parse_param_spec(term, f"{field}.terms[{k}]")
        if self.weights is not None:
            if len(self.weights) != len(self.terms):
                raise DesignerInputError(f"{field}.weights", f"{len(self.weights)} weights for {len(self.terms)} terms; give one per term")
            for k, w in enumerate(self.weights):
                if not (np.isfinite(w) and 0 < w <= 1e6):
                    raise DesignerInputError(f"{field}.weights[{k}]", f"a weight is a number in (0, 1e6], got {w}")

    def build(self, shape: tuple[int, ...] | None = None) -> Sum:
        from . import parse_param_spec

        self.check_nested("param")
        specs = [parse_param_spec(t, f"param.terms[{k}]") for k, t in enumerate(self.terms)]
        if shape is None:  # a term that knows its size sets it for the free ones
            for spec in specs:
                if spec.family != "free":
                    try:
                        shape = spec.build(None).predictor_shape
                        break
                    except DesignerInputError:
                        continue
        terms = []
        for k, spec in enumerate(specs):
            require(spec.family != "sum", f"param.terms[{k}].family", "a term of a sum is not itself a sum (write all terms in one sum)")
            try:
                fam = spec.build(shape)
            except DesignerInputError as exc:
                field = exc.field
                field = f"param.terms[{k}]" + field[len("param"):] if field.startswith("param") else f"param.terms[{k}]"
                raise DesignerInputError(field, exc.message) from None
            if k and tuple(fam.predictor_shape) != tuple(terms[0].predictor_shape):
                raise DesignerInputError(
                    f"param.terms[{k}]",
                    f"predictor shape {list(fam.predictor_shape)} differs from that of terms[0], {list(terms[0].predictor_shape)}: "
                    "the terms of a sum add up to one predictor",
                )
            terms.append(fam)
        require(math.prod(terms[0].predictor_shape) <= limits.MAX_VECTOR_DIM, "points", "predictor too large for a sum")
        weights = tuple(float(w) for w in (self.weights or [1.0] * len(terms)))
        return Sum(tuple(terms), weights)

    # -- the design search ----------------------------------------------------------------------
    @classmethod
    def design_candidates(cls, problem, screened=None):
        """The sums the target declares it is the bias of (``Target.sum_designs``), screen stage only.

        A sum with a closed form (:mod:`._sum_closed`) is proposed at any size (a layer-sized problem
        is scored on its slice); one scored by the engine's fibre minimum up to ``DESIGN_MAX_ENTRIES``.
        """
        from ..design._search import candidate

        if screened is not None:
            return []
        reasons = problem.cache.setdefault("sum_reasons", [])
        reasons.clear()
        declared = getattr(problem.target, "sum_designs", None)
        if declared is None:
            return []
        out = []
        size = math.prod(problem.shape)
        for made in declared(problem.shape):
            if made["param"].get("family") != "sum":  # another family's declared design
                continue
            names = " + ".join(t["family"] + (f" ({t['basis']} basis)" if t.get("basis") else "") for t in made["param"]["terms"])
            short = "+".join(t["family"] for t in made["param"]["terms"])
            try:
                family = cls(**made["param"]).build(problem.shape)
            except DesignerInputError:
                continue
            applicable = problem.applicable(family)
            for m in made["mechanisms"]:
                if m not in applicable:
                    continue
                closed = family.closed_form(m) is not None
                if not closed and size > DESIGN_MAX_ENTRIES:
                    reasons.append(f"The sum {names} is exact for this target (the sum rule) but is not scored at "
                                   f"{size} predictor entries under {m.replace('_', ' ')}: its bias has no closed form "
                                   f"here and the engine's fibre minimum is proposed up to {DESIGN_MAX_ENTRIES} entries.")
                    continue
                how = "closed form" if closed else "engine"
                out.append(candidate(
                    "sum", made["param"], m, group=f"sum/{how}/{short}/{m}", chunk=1, complexity=[1, 2, 1],
                    traits={"terms": short}, rule=made["rule"],
                    description=f"sum of {names} (infimal convolution of their biases), {m.replace('_', ' ')}"))
        return out

    @classmethod
    def score_candidates(cls, problem, chunk):
        """The sum's closed form on every sampled predictor, else the engine's fibre minimum on the
        first ``DESIGN_POINTS``."""
        from .._lazy import jnp
        from ..design import _scoring
        from ._sum_closed import score_sum

        out = []
        for c in chunk:
            family, mech = _scoring.build_pair(c["param"], c["mechanism"], problem.shape)
            if family.closed_form(c["mechanism"]) is not None:
                err, a, b = score_sum(family, c["mechanism"], jnp.asarray(problem.points), jnp.asarray(problem.t))
                out.append(_scoring.result_entry(float(err), float(a), float(b)))
                continue
            k = min(DESIGN_POINTS, problem.points.shape[0])
            v = _scoring.engine_values(family, mech, problem.points[:k])
            out.append(_scoring.result_entry(*_scoring.fit_line_host(v, problem.t[:k])))
        return out

    @classmethod
    def inexact_reasons(cls, problem):
        return list(problem.cache.get("sum_reasons", []))
