"""``sparse_plus_low_rank``: the robust-PCA penalty (Candes, Li, Ma & Wright 2011), an infimal convolution

    R*(M) = min_{L + S = M} |L|_* + lambda |S|_1        (|.|_1 entrywise),

default ``lambda = 1 / sqrt(max(m, n))`` (Candes et al.). It is the bias of a sum of a matrix product
``P Q`` and a Hadamard product under weight decay (theory.md 5.1, the sum rule). Its conjugate is the
indicator of ``{Y : |Y|_op <= 1, max|Y_ij| <= lambda}``, so ``R*(M) = max <Y, M>`` over that set.

The value is computed by a convex solver in JAX: fast ADMM with restart (Goldstein, O'Donoghue,
Setzer & Baraniuk 2014) on ``min |L|_* + lambda |S|_1 s.t. L + S = M``, on ``M`` scaled to unit
spectral norm (the penalty is positively homogeneous). Every ``CHECK_EVERY`` iterations it forms
the certified duality gap: the primal value at ``(L, M - L)`` (an upper bound) against ``<Y, M>``
for the solver's dual ``Y`` scaled into the dual set (a lower bound); it stops once the gap is at
most ``tolerance`` times the primal value, or after ``iterations``. ``value`` returns the primal
value, an upper bound within the gap. Its derivative is the dual ``Y`` (a subgradient), given by a
custom JVP, so gradients do not unroll the solver.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from designer._lazy import jax, jnp, register_dataclass

from .. import limits
from ..errors import DesignerInputError
from ._base import Target, check_domain

#: ADMM penalty on the matrix scaled to unit spectral norm. Measured on the designer's matrix
#: sampling (singular values over four decades), sides 8 to 40, lambda 0.05 to 0.9: 64 reached a
#: 1e-10 gap within 1,525 iterations everywhere; 8 to 32 stalled at lambda = 0.5, 128 to 256 at the
#: default lambda; residual balancing (Boyd et al. 2011, 3.4.1) stalled one lambda = 0.08 case.
TAU = 64.0
#: fast-ADMM restart factor (Goldstein et al.'s eta)
ETA = 0.999
#: iterations between two duality-gap checks (a check costs two more SVDs)
CHECK_EVERY = 25


def _svt(x, tau):
    u, s, vt = jnp.linalg.svd(x, full_matrices=False)
    return (u * jnp.maximum(s - tau, 0.0)) @ vt


def _soft(x, tau):
    return jnp.sign(x) * jnp.maximum(jnp.abs(x) - tau, 0.0)


def _bounds(a, low, y, lam):
    """``(primal, dual, feasible Y)`` for the scaled problem: ``|L|_* + lam |A - L|_1`` and ``<Y', A>``."""
    primal = jnp.sum(jnp.linalg.svd(low, compute_uv=False)) + lam * jnp.sum(jnp.abs(a - low))
    op = jnp.linalg.svd(y, compute_uv=False)[0]
    feasible = y / jnp.maximum(1.0, jnp.maximum(op, jnp.max(jnp.abs(y)) / lam))
    return primal, jnp.sum(feasible * a), feasible


def solve(m, lam, iterations, tolerance):
    """Solve the robust-PCA problem for one matrix ``m``.

    Returns ``(value, lower_bound, low_rank, dual, iterations_run)``: the primal value
    ``|L|_* + lam |M - L|_1`` at the returned ``L`` (an upper bound on ``R*(M)``), the certified lower
    bound ``<Y, M>``, ``L``, the dual ``Y`` (``|Y|_op <= 1``, ``|Y|_max <= lam``) and the iterations run.
    """
    scale = jnp.linalg.svd(m, compute_uv=False)[0]
    safe = jnp.where(scale > 0, scale, 1.0)
    a = m / safe
    zero = jnp.zeros_like(a)

    def step(_, c):
        s_hat, lam_hat, s_prev, lam_prev, alpha, c_prev, _low = c
        low = _svt(a - s_hat + lam_hat, 1.0 / TAU)
        s = _soft(a - low + lam_hat, lam / TAU)
        mult = lam_hat + a - low - s
        ck = jnp.sum((mult - lam_hat) ** 2) + jnp.sum((s - s_hat) ** 2)
        ok = ck < ETA * c_prev
        alpha_next = jnp.where(ok, 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * alpha * alpha)), 1.0)
        momentum = (alpha - 1.0) / alpha_next
        s_hat = jnp.where(ok, s + momentum * (s - s_prev), s_prev)
        lam_hat = jnp.where(ok, mult + momentum * (mult - lam_prev), lam_prev)
        return s_hat, lam_hat, s, mult, alpha_next, jnp.where(ok, ck, c_prev / ETA), low

    def cond(state):
        k, gap, _ = state
        return (k < iterations) & (gap > tolerance)

    def body(state):
        k, _, c = state
        c = jax.lax.fori_loop(0, CHECK_EVERY, step, c)
        primal, dual, _ = _bounds(a, c[6], TAU * c[3], lam)
        return k + CHECK_EVERY, (primal - dual) / jnp.maximum(primal, 1e-300), c

    one = jnp.ones((), a.dtype)
    c0 = (zero, zero, zero, zero, one, jnp.full((), jnp.inf, a.dtype), zero)
    k, _, c = jax.lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), jnp.full((), jnp.inf, a.dtype), c0))
    primal, dual, y = _bounds(a, c[6], TAU * c[3], lam)
    return safe * primal, safe * dual, safe * c[6], y, k


@functools.cache
def _value_fn():
    """``R*(M)`` with the dual as its derivative (built on first use: JAX loads lazily)."""

    @jax.custom_jvp
    def value(m, lam, iterations, tolerance):
        return solve(m, lam, iterations, tolerance)[0]

    @value.defjvp
    def _jvp(primals, tangents):
        m, lam, iterations, tolerance = primals
        val, _, low, y, _ = solve(m, lam, iterations, tolerance)
        dm, dlam = tangents[0], tangents[1]
        # dR/dM = Y (envelope theorem); dR/dlam = |S|_1 at the optimum
        return val, jnp.sum(y * dm) + jnp.sum(jnp.abs(m - low)) * dlam

    return value


@dataclasses.dataclass(frozen=True)
class SparsePlusLowRank(Target):
    lam: jax.Array | float
    iterations: jax.Array | int = 3_000
    tolerance: jax.Array | float = 1e-9
    kind = "sparse_plus_low_rank"
    domain = "matrix"

    def value(self, z):
        return _value_fn()(z, jnp.asarray(self.lam, z.dtype), jnp.asarray(self.iterations, jnp.int32),
                      jnp.asarray(self.tolerance, z.dtype))

    def sum_designs(self, shape):
        lam = float(self.lam)
        return ({
            "param": {"family": "sum", "terms": [{"family": "matrix_product"}, {"family": "hadamard"}], "weights": [1.0, 1.0 / lam]},
            "mechanisms": ("weight_decay",),
            "rule": f"min_(L+S=M) |L|_* + lambda |S|_1 with lambda = {lam:.6g}: a depth-2 matrix product (weight decay: "
                    "|L|_*) plus a depth-2 Hadamard product with weight 1/lambda (weight decay: lambda |S|_1); "
                    "the sum rule's bias is their infimal convolution",
        },)

    def solve(self, z):
        """``(value, lower_bound, low_rank, dual, iterations_run)`` (see :func:`solve`)."""
        return solve(z, jnp.asarray(self.lam, z.dtype), jnp.asarray(self.iterations, jnp.int32), jnp.asarray(self.tolerance, z.dtype))


register_dataclass(SparsePlusLowRank, data_fields=["lam", "iterations", "tolerance"], meta_fields=[])


class SparsePlusLowRankSpec(BaseModel):
    """Robust-PCA penalty ``min_{L+S=M} |L|_* + lambda |S|_1`` of a matrix (sparse plus low rank), solved to a certified gap."""

    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)
    kind: Literal["sparse_plus_low_rank"] = "sparse_plus_low_rank"
    lam: float | None = Field(None, alias="lambda", gt=0.0, le=1e6,
                              description="weight of |S|_1, > 0 (default 1/sqrt(max(m, n)))")
    iterations: int = Field(3_000, ge=CHECK_EVERY, le=limits.MAX_SPARSE_LOW_RANK_ITERATIONS,
                            description="most solver iterations per evaluation")
    tolerance: float = Field(1e-9, ge=1e-14, le=1e-2, description="relative duality gap at which the solver stops")

    def build(self, shape: tuple[int, ...]) -> SparsePlusLowRank:
        check_domain(self.kind, "matrix", shape)
        if max(shape) > limits.MAX_SPARSE_LOW_RANK_SIDE:
            raise DesignerInputError(
                "shape", f"sparse_plus_low_rank runs a solver per evaluation: sides up to {limits.MAX_SPARSE_LOW_RANK_SIDE}, got {list(shape)}")
        lam = self.lam if self.lam is not None else 1.0 / math.sqrt(max(shape))
        return SparsePlusLowRank(float(lam), int(self.iterations), float(self.tolerance))
