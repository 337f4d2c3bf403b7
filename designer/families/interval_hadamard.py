"""A depth-2 Hadamard product behind the overcomplete dictionary of interval indicators.

``z = sum_I (u_I v_I / c_I) 1_I`` over all ``d (d + 1) / 2`` intervals ``I = [a, b]`` of
``0..d-1``, with ``c_I = TV(1_I) + lambda |I|`` (``TV(1_I)`` = 2 for an interior interval, 1 when it
touches one end, 0 for the whole range; ``lambda > 0``). The symmetry is the Hadamard product's, one
rescaling ``(u_I, v_I) -> (e^t u_I, e^-t v_I)`` per atom, but the dictionary is overcomplete, so the
fibre over ``z`` is larger than an orbit (every way of writing ``z`` as a combination of intervals
is in it). Hence

- weight decay gives the fibre minimum of ``|w|^2 / 2``: with ``x_I = u_I v_I``,
  ``min { sum_I |x_I| : sum_I x_I 1_I / c_I = z }`` = ``min { sum_I c_I |y_I| : sum_I y_I 1_I = z }``,
  a weighted L1 synthesis problem. By the coarea formula it is the **fused lasso**
  ``sum_i |z_{i+1} - z_i| + lambda sum_i |z_i|`` exactly: the layer-cake decomposition
  ``z = int_0^inf 1_{z > t} dt - int_0^inf 1_{z < -t} dt`` writes ``z`` with the connected
  components of its level sets and costs exactly that value (coarea for TV and for the L1 norm),
  and no combination costs less (the fused lasso is a norm and ``c_I`` is its value at ``1_I``:
  triangle inequality). This is the registered closed form (O(d)); the tests check it against a
  linear program of the synthesis problem and against the engine's numerical fibre minimum;
  The engine's value is ``|w*|^2 / 2`` at the balanced point below (the layer-cake minimiser, an
  independent computation); the numerical fibre minimum (:mod:`designer.fibre`, from the least-norm
  split, up to ``_ENGINE_MAX_DIM`` entries) agrees with both in the tests;
- label noise: the fibre minimum of the Hessian trace (identity second moment: the weighted L1
  synthesis problem ``min sum_I 2 (|I| / c_I) |y_I|``, not the fused lasso), computed by the engine's numerical fibre minimum, without
  a closed form, up to ``_ENGINE_MAX_DIM`` entries; the design search does not propose it;
- the gauge bias is refused: there is no single orbit.

``balanced_point(z)`` is the least-norm point of the fibre: the layer-cake minimiser ``y`` (in pure
JAX, O(d^2): the weight of ``[a, b]`` is the length of the range of levels ``t`` over which it is a
component, ``max(0, min_[a,b] z - max(0, z_{a-1}, z_{b+1}))``, and the same for ``-z``), factored as
``u_I = sign(x_I) sqrt|x_I|``, ``v_I = sqrt|x_I|`` with ``x_I = c_I y_I``.

Size: ``d (d + 1) / 2`` atoms and twice as many parameters, so ``d`` is at most :data:`MAX_DIM`
(1,024: 524,800 atoms, 1,049,600 parameters; the balanced point holds a ``d x d`` table). The
design search proposes it where the target declares it (``Target.sum_designs``: the fused lasso)
and the predictor has at most :data:`MAX_DIM` entries; above, the result says why.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .._lazy import jit, jnp, lax, register_dataclass
from ..errors import DesignerInputError
from ._base import Family, require

#: Largest predictor length: d (d + 1) / 2 atoms, 2 parameters each (module docstring).
MAX_DIM = 1_024
#: Largest dictionary for which the engine's start (the least-norm split) forms the dense d x n map.
_ENGINE_MAX_DIM = 32


def intervals(d: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end ``(a, b)`` of every interval ``[a, b]``, ``0 <= a <= b < d``, ordered by ``a`` then ``b``."""
    a, b = np.triu_indices(d)
    return a.astype(np.int32), b.astype(np.int32)


def atom_costs(d: int, lam: float) -> np.ndarray:
    """``c_I = TV(1_I) + lambda |I|`` for every interval (order of :func:`intervals`)."""
    a, b = intervals(d)
    tv = (a > 0).astype(np.float64) + (b < d - 1).astype(np.float64)
    return tv + lam * (b - a + 1)


@dataclasses.dataclass(frozen=True)
class IntervalHadamard(Family):
    dim: int
    lam: float = 1.0

    name = "interval_hadamard"
    linear_predictor = True
    fibre_is_orbit = False
    depth = 2
    #: why the gauge mechanism refuses this family (its fibre is not one orbit)
    fibre_reason = "an overcomplete dictionary writes z in many ways"

    @property
    def predictor_shape(self):
        return (self.dim,)

    @property
    def n_atoms(self) -> int:
        return self.dim * (self.dim + 1) // 2

    def param_shapes(self):
        return {"u": (2, self.n_atoms)}

    def costs(self, dtype=None):
        """``c_I`` for every interval (``lambda`` may be traced)."""
        a, b = intervals(self.dim)
        tv = (a > 0).astype(np.float64) + (b < self.dim - 1).astype(np.float64)
        return jnp.asarray(tv, dtype) + jnp.asarray(self.lam, dtype) * jnp.asarray(b - a + 1, dtype)

    def synthesize(self, x):
        """``sum_I (x_I / c_I) 1_I`` (a difference array and a cumulative sum: O(d^2), no dense map)."""
        a, b = intervals(self.dim)
        y = x / self.costs(x.dtype)
        diff = jnp.zeros(self.dim + 1, x.dtype).at[a].add(y).at[b + 1].add(-y)
        return jnp.cumsum(diff)[: self.dim]

    def predictor(self, params):
        return self.synthesize(params["u"][0] * params["u"][1])

    @property
    def n_blocks(self):
        return self.n_atoms

    @property
    def block_size(self):
        return 2

    @property
    def symmetric_mask(self):
        return (True,)

    def to_blocks(self, params):
        return params["u"].T

    def from_blocks(self, blocks):
        return {"u": blocks.T}

    def block_action(self, x, t):
        return x * jnp.exp(jnp.concatenate([t, -t]))

    # -- the fibre -------------------------------------------------------------------------
    def layer_cake(self, z):
        """The coefficients ``y`` (one per interval) of the layer-cake decomposition ``z = sum_I y_I 1_I``,
        a minimiser of ``sum_I c_I |y_I|`` (module docstring)."""
        return self._component_weights(z) - self._component_weights(-z)

    def _component_weights(self, z):
        d = self.dim
        a, b = intervals(d)
        idx = jnp.arange(d)
        table = jnp.where(idx[None, :] >= idx[:, None], z[None, :], jnp.inf)
        mins = lax.cummin(table, axis=1)  # mins[a, b] = min z[a..b]
        inner = mins[a, b]
        left = jnp.where(a > 0, z[jnp.maximum(a - 1, 0)], 0.0)
        right = jnp.where(b < d - 1, z[jnp.minimum(b + 1, d - 1)], 0.0)
        return jnp.maximum(0.0, inner - jnp.maximum(0.0, jnp.maximum(left, right)))

    def balanced_point(self, z):
        x = self.costs(z.dtype) * self.layer_cake(z)
        r = jnp.sqrt(jnp.abs(x))
        return {"u": jnp.stack([jnp.where(x < 0, -r, r), r])}

    def _engine_start(self, z):
        """Balanced factors of the least-norm split ``x = B^T (B B^T)^-1 z`` (every atom used): the
        engine's fibre minimum starts away from the answer and away from the zero-factor saddles."""
        dense = _dense_map(self, z.dtype)
        x = dense.T @ jnp.linalg.solve(dense @ dense.T, z)
        r = jnp.sqrt(jnp.abs(x))
        return {"u": jnp.stack([jnp.where(x < 0, -r, r), r])}

    def fibre_minimum(self, functional, z):
        from ..fibre import minimize_on_fibre

        if self.dim > _ENGINE_MAX_DIM:
            raise DesignerInputError("points", f"the engine's fibre minimum of {self.name} is computed up to "
                                     f"{_ENGINE_MAX_DIM} entries (a dense {self.dim} x {self.n_atoms} map); use weight "
                                     "decay, whose closed form holds at any size")
        return minimize_on_fibre(self.predictor, functional, self._engine_start(z), z)

    def induced_shape(self, mechanism, z):
        """Weight decay: ``|w*|^2 / 2`` at the balanced point, the fibre's least-norm point (exact, any
        size); label noise: the engine's numerical fibre minimum (up to ``_ENGINE_MAX_DIM`` entries)."""
        if mechanism.kind == "weight_decay":
            return mechanism.orbit_shape(self, z)
        return self.fibre_minimum(lambda p: mechanism.fibre_functional(self, p), z).value

    def closed_form(self, mechanism: str):
        """Weight decay: the fused lasso ``sum_i |z_{i+1} - z_i| + lambda sum_i |z_i|`` (module docstring)."""
        if mechanism != "weight_decay":
            return None
        lam = self.lam
        return lambda z: jnp.sum(jnp.abs(jnp.diff(z))) + lam * jnp.sum(jnp.abs(z))


def _dense_map(family: IntervalHadamard, dtype):
    a, b = intervals(family.dim)
    idx = np.arange(family.dim)[:, None]
    mask = (idx >= a[None, :]) & (idx <= b[None, :])
    return jnp.asarray(mask, dtype) / family.costs(dtype)[None, :]


register_dataclass(IntervalHadamard, data_fields=["lam"], meta_fields=["dim"])


class IntervalHadamardSpec(BaseModel):
    """Depth-2 Hadamard product behind the interval dictionary ``1_I / (TV(1_I) + lambda |I|)``
    (weight decay: the fused lasso, exactly)."""

    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True, populate_by_name=True)
    family: Literal["interval_hadamard"] = "interval_hadamard"
    lam: float = Field(1.0, alias="lambda", gt=0.0, le=1e6,
                       description="weight of an interval's length in its cost c_I = TV(1_I) + lambda |I|, > 0")
    dim: int | None = Field(None, ge=2, le=MAX_DIM,
                            description=f"d, at most {MAX_DIM} (d (d + 1) / 2 atoms); taken from the points when omitted")

    def build(self, shape: tuple[int, ...] | None = None) -> IntervalHadamard:
        dim = self.dim
        if shape is not None:
            require(len(shape) == 1, "points", f"interval_hadamard predictors are vectors, got shape {list(shape)}")
            require(dim is None or dim == shape[0], "param.dim", f"dim={dim} but the points have length {shape[0]}")
            dim = int(shape[0])
        require(dim is not None, "param.dim", "give dim or points to take it from")
        require(2 <= dim <= MAX_DIM, "param.dim", f"between 2 and {MAX_DIM} (the dictionary has d (d + 1) / 2 atoms), got {dim}")
        return IntervalHadamard(dim=dim, lam=float(self.lam))

    # -- the design search ----------------------------------------------------------------------
    @classmethod
    def design_candidates(cls, problem, screened=None):
        """The interval designs the target declares (``Target.sum_designs``), screen stage only, up to
        ``MAX_DIM`` entries (above, the reason goes to the result's note)."""
        from ..design._search import candidate

        if screened is not None:
            return []
        reasons = problem.cache.setdefault("interval_hadamard_reasons", [])
        reasons.clear()
        declared = getattr(problem.target, "sum_designs", None)
        made_list = [m for m in (declared(problem.shape) if declared is not None else ())
                     if m["param"].get("family") == "interval_hadamard"]
        out = []
        for made in made_list:
            size = math.prod(problem.shape)
            if len(problem.shape) != 1 or size > MAX_DIM:
                reasons.append(f"A depth-2 Hadamard product behind the interval dictionary is exact for this target "
                               f"(the coarea formula) but is not proposed at {size} entries: its d (d + 1) / 2 atoms "
                               f"are kept up to d = {MAX_DIM}.")
                continue
            family = cls(**made["param"]).build(problem.shape)
            applicable = problem.applicable(family)
            for m in made["mechanisms"]:
                if m in applicable and family.closed_form(m) is not None:
                    out.append(candidate(
                        "interval_hadamard", {**made["param"], "dim": size}, m, group=f"interval_hadamard/{m}", chunk=1,
                        complexity=[1, 2, 1], rule=made["rule"],
                        description=f"Hadamard product of depth 2 behind the interval dictionary, {m.replace('_', ' ')}"))
        return out

    @classmethod
    def score_candidates(cls, problem, chunk):
        """The registered closed form on every sampled predictor."""
        from .._lazy import jnp as _jnp
        from ..design import _scoring

        out = []
        for c in chunk:
            family, _ = _scoring.build_pair(c["param"], c["mechanism"], problem.shape)
            err, a, b = _score(family, c["mechanism"], _jnp.asarray(problem.points), _jnp.asarray(problem.t))
            out.append(_scoring.result_entry(float(err), float(a), float(b)))
        return out

    @classmethod
    def inexact_reasons(cls, problem):
        return list(problem.cache.get("interval_hadamard_reasons", []))


@jit(static_argnames="mechanism")
def _score(family, mechanism, points, t):
    """Fit ``(err, a, b)`` of the closed form on all points (compiled once per shape)."""
    from .._lazy import jax
    from ..design._scoring import TRACES, fit_line

    TRACES["score_interval_hadamard"] += 1
    return fit_line(jax.vmap(family.closed_form(mechanism))(points), t)
