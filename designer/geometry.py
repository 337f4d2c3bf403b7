"""Symmetry geometry of a family, derived by autodiff from its declared group action.

For a family with block action ``x -> exp(sum_a t_a T_a) . x`` (see
:class:`designer.families.Family`):

- generators ``xi_a(x) = d/dt|_0 exp(t T_a) . x`` come from ``jax.jvp`` of the action
  (theory.md section 1), one ``(n_generators, block_size)`` matrix per block;
- the Gram matrix ``G_ab = <xi_a, xi_b>`` is block-diagonal over blocks; ``gram(...,
  symmetric_only=True)`` keeps the symmetric (non-compact) generators, ``G_sym``;
- ``log_det_gram`` sums the per-block ``slogdet`` (float64 when x64 is on) and returns ``-inf`` on
  singular blocks (a degenerate orbit, e.g. a zero coordinate of a Hadamard product);
- the moment map ``mu_a(x) = <x, xi_a(x)>`` over symmetric generators vanishes exactly on the
  balanced slice (the least-norm points of the orbits, Kempf-Ness);
- :func:`balance` is the general numeric route to the balanced point: it minimises ``|g . w|^2``
  over the symmetric directions of the group (a gradient flow along the symmetric generators,
  run with L-BFGS) and reports whether the moment map vanished;
- :func:`minimize_over_orbit` minimises any function over the orbit (label-noise bias).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from designer._lazy import jax
from designer._lazy import register_dataclass
from designer._lazy import jnp
import numpy as np
from designer._lazy import optax

from .families import Family, Params, tangents_at_identity


def _sym_index(family: Family) -> np.ndarray:
    return np.nonzero(np.asarray(family.symmetric_mask, dtype=bool))[0]


def act(family: Family, params: Params, t: jax.Array) -> Params:
    """Group action on all parameters; ``t`` has shape ``(n_blocks, n_generators)``."""
    blocks = family.to_blocks(params)
    return family.from_blocks(jax.vmap(family.block_action)(blocks, t.astype(blocks.dtype)))


def block_generators(family: Family, params: Params, which: np.ndarray | None = None) -> jax.Array:
    """Generators per block, ``(n_blocks, n_generators, block_size)``, by ``jax.jvp``.

    ``which`` selects Lie-algebra coordinates (all by default).
    """
    m = family.n_generators
    which = np.arange(m) if which is None else np.asarray(which)

    def per_block(x):
        zero = jnp.zeros((m,), x.dtype)
        tangent = lambda e: jax.jvp(lambda t: family.block_action(x, t), (zero,), (e,))[1]
        return jax.vmap(tangent)(jnp.eye(m, dtype=x.dtype)[which])

    with tangents_at_identity():
        return jax.vmap(per_block)(family.to_blocks(params))


def symmetric_generators(family: Family, params: Params) -> jax.Array:
    """Generators of the symmetric (non-compact) directions, ``(n_blocks, n_sym, block_size)``."""
    return block_generators(family, params, _sym_index(family))


#: Blocks at least this long get their Gram as a pull-back (see :func:`gram`); shorter ones from
#: the stacked generators. Measured (benchmarks/bench_geometry.py, A/B in one process): the
#: pull-back is 1.3-1.5x faster for matrix_product 50 x 50 rank 10 (one block of 1,000) and 1.7x
#: slower for Hadamard depth 3 (1,000 blocks of 3).
_PULLBACK_MIN_BLOCK = 64


def gram(family: Family, params: Params, symmetric_only: bool = False) -> jax.Array:
    """Per-block Gram matrices ``G_ab = <xi_a, xi_b>``, shape ``(n_blocks, m, m)``.

    Short blocks: the generators stacked by :func:`block_generators`, then their inner products.
    Long blocks: ``J^T (J e_a)``, with ``J`` the action linearised at the identity
    (``jax.linearize``, so column ``a`` is ``xi_a``) and ``J^T`` its transpose
    (``jax.linear_transpose``); the generators are never stacked into one matrix, and XLA drops
    the concatenations between each push-forward and its pull-back. Symmetrised either way.
    """
    m = family.n_generators
    which = _sym_index(family) if symmetric_only else np.arange(m)
    if family.block_size < _PULLBACK_MIN_BLOCK:
        xi = block_generators(family, params, which)
        return jnp.einsum("bap,bcp->bac", xi, xi)

    def per_block(x):
        zero = jnp.zeros((m,), x.dtype)
        _, push = jax.linearize(lambda t: family.block_action(x, t), zero)
        pull = jax.linear_transpose(push, zero)
        return jax.vmap(lambda e: pull(push(e))[0][which])(jnp.eye(m, dtype=x.dtype)[which])

    with tangents_at_identity():
        g = jax.vmap(per_block)(family.to_blocks(params))
    return 0.5 * (g + jnp.swapaxes(g, -1, -2))


#: Blocks up to this size use an unrolled Cholesky vectorised over blocks (thousands of tiny
#: LAPACK calls cost more than the arithmetic); larger ones call LAPACK.
_UNROLLED_MAX = 6


def _unrolled_cholesky_log_det(g: jax.Array) -> jax.Array:
    m = g.shape[-1]
    low = [[None] * m for _ in range(m)]
    logdet = jnp.zeros(g.shape[:-2], g.dtype)
    ok = jnp.ones(g.shape[:-2], bool)
    for j in range(m):
        pivot = g[..., j, j] - sum((low[j][k] ** 2 for k in range(j)), jnp.zeros((), g.dtype))
        ok = ok & (pivot > 0)
        pivot = jnp.where(pivot > 0, pivot, 1.0)
        logdet = logdet + jnp.log(pivot)
        root = jnp.sqrt(pivot)
        for i in range(j + 1, m):
            low[i][j] = (g[..., i, j] - sum((low[i][k] * low[j][k] for k in range(j)), jnp.zeros((), g.dtype))) / root
    return jnp.where(ok, logdet, -jnp.inf)


def block_log_det(g: jax.Array) -> jax.Array:
    """``log det`` of each SPD block by Cholesky; ``-inf`` where a block is singular.

    A Gram matrix is positive semi-definite; Cholesky fails (a non-positive pivot, or NaN from
    LAPACK) exactly when it is singular to working precision, i.e. on a degenerate orbit.
    """
    m = g.shape[-1]
    if m == 0:
        return jnp.zeros(g.shape[:-2], g.dtype)
    if m <= _UNROLLED_MAX:
        return _unrolled_cholesky_log_det(g)
    diag = jnp.diagonal(jnp.linalg.cholesky(g), axis1=-2, axis2=-1)
    logdet = 2.0 * jnp.sum(jnp.log(diag), axis=-1)
    return jnp.where(jnp.isnan(logdet), -jnp.inf, logdet)


def log_det_gram(family: Family, params: Params, symmetric_only: bool = True) -> jax.Array:
    """``log det G`` (block-diagonal, so a sum over blocks); ``-inf`` on degenerate orbits."""
    return jnp.sum(block_log_det(gram(family, params, symmetric_only)))


def moment_map(family: Family, params: Params) -> jax.Array:
    """``mu_a = <x, xi_a(x)>`` over the symmetric generators, ``(n_blocks, n_sym)``.

    Zero exactly on the balanced slice; for ``z = u v`` it is ``u^2 - v^2``, for ``M = P Q`` it is
    the matrix ``P^T P - Q Q^T`` in the symmetric basis of gl(r) (theory.md section 4).
    """
    xi = symmetric_generators(family, params)
    return jnp.einsum("bp,bap->ba", family.to_blocks(params), xi)


def flat_generators(family: Family, params: Params) -> jax.Array:
    """Dense generators on the flattened parameters, ``(n_blocks * n_generators, n_params)``.

    Built from the whole-parameter action (not the block decomposition); used to check that the
    block structure is exact. Costly for large families: for tests and small problems.
    """
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    shape = (family.n_blocks, family.n_generators)

    def f(t):
        return jax.flatten_util.ravel_pytree(act(family, unravel(flat), t.reshape(shape)))[0]

    zero = jnp.zeros(shape[0] * shape[1], flat.dtype)
    return jax.vmap(lambda e: jax.jvp(f, (zero,), (e,))[1])(jnp.eye(zero.size, dtype=flat.dtype))


@dataclasses.dataclass(frozen=True)
class OrbitMinimum:
    """Result of a minimisation over an orbit."""

    params: Params
    value: jax.Array
    grad_norm: jax.Array
    steps: jax.Array
    converged: jax.Array


register_dataclass(
    OrbitMinimum, data_fields=["params", "value", "grad_norm", "steps", "converged"], meta_fields=[]
)


def lbfgs(f: Callable[[jax.Array], jax.Array], x0: jax.Array, max_steps: int, gtol) -> tuple[jax.Array, jax.Array]:
    """Minimise ``f`` from ``x0`` by optax's L-BFGS in a ``lax.while_loop`` (jit/vmap-compatible).

    Stops after ``max_steps`` steps or once the gradient norm is at most ``gtol``; at least one
    step is taken. Returns ``(x, steps)``.
    """
    opt = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(f)

    def step(carry):
        x, state, _, i = carry
        value, grad = value_and_grad(x, state=state)
        updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=f)
        return optax.apply_updates(x, updates), state, jnp.linalg.norm(grad), i + 1

    def keep_going(carry):
        _, _, gnorm, i = carry
        return (i == 0) | ((i < max_steps) & (gnorm > gtol))

    init = (x0, opt.init(x0), jnp.asarray(jnp.inf, x0.dtype), jnp.asarray(0))
    x, _, _, steps = jax.lax.while_loop(keep_going, step, init)
    return x, steps


def minimize_over_orbit(
    family: Family,
    params: Params,
    objective: Callable[[Params], jax.Array],
    symmetric_only: bool = False,
    max_steps: int = 200,
    rtol: float = 1e-10,
) -> OrbitMinimum:
    """Minimise ``objective(g . params)`` over the group (or its symmetric directions) by L-BFGS.

    The orbit is parameterised as ``act(params, t)``; converged when the gradient in ``t`` is
    below ``rtol * max(|objective(params)|, tiny)``. Pure and jit/vmap-compatible.
    """
    n_blocks, m = family.n_blocks, family.n_generators
    sym = _sym_index(family) if symmetric_only else np.arange(m)
    dtype = jax.flatten_util.ravel_pytree(params)[0].dtype

    def embed(s):
        return jnp.zeros((n_blocks, m), dtype).at[:, sym].set(s)

    def f(s):
        return objective(act(family, params, embed(s)))

    s0 = jnp.zeros((n_blocks, len(sym)), dtype)
    scale = jnp.maximum(jnp.abs(f(s0)), jnp.finfo(dtype).tiny)
    s, steps = lbfgs(f, s0, max_steps, rtol * scale)
    value, grad = jax.value_and_grad(f)(s)
    gnorm = jnp.linalg.norm(grad)
    return OrbitMinimum(
        params=act(family, params, embed(s)), value=value, grad_norm=gnorm, steps=steps,
        converged=gnorm <= rtol * scale * 10.0,
    )


def squared_norm(params: Params) -> jax.Array:
    """``|w|^2`` over all parameter arrays."""
    return sum(jnp.sum(p**2) for p in jax.tree_util.tree_leaves(params))


def balance(family: Family, params: Params, max_steps: int = 100, rtol: float = 1e-12) -> OrbitMinimum:
    """Numeric balanced point of the orbit through ``params`` (no closed form needed).

    Gradient flow of ``|g . w|^2`` along the symmetric generators (Kempf-Ness: a convex function
    along them, whose gradient at the identity is ``2 mu``, twice the moment map), preconditioned
    by the Gram matrix: for a linear action with symmetric ``T_a`` the Hessian at the identity
    is ``4 G_sym``, so the step ``s = -G_sym^{-1} mu / 2`` is Newton's, with a backtracking line
    search. The norm is a sum over blocks, so every block iterates on its own (vmapped) until
    ``|mu|`` is below ``rtol |w|^2``. ``converged`` says whether every block got there.
    """
    sym = _sym_index(family)
    m = family.n_generators
    blocks = family.to_blocks(params)
    dtype = blocks.dtype
    total = jnp.maximum(jnp.sum(blocks**2), jnp.finfo(dtype).tiny)
    eye = jnp.eye(m, dtype=dtype)[sym]

    def move(x, s):
        return family.block_action(x, s @ eye)

    def gens(x):
        zero = jnp.zeros((m,), dtype)
        with tangents_at_identity():
            return jax.vmap(lambda e: jax.jvp(lambda t: family.block_action(x, t), (zero,), (e,))[1])(eye)

    def per_block(x0):
        def step(carry):
            x, _, i = carry
            xi = gens(x)
            mu = xi @ x
            g = xi @ xi.T
            direction = 0.5 * jnp.linalg.solve(g, mu)
            ok = jnp.all(jnp.isfinite(direction)) & (jnp.dot(mu, direction) > 0)
            direction = jnp.where(ok, direction, mu / jnp.maximum(jnp.sum(x**2), jnp.finfo(dtype).tiny))
            fx = jnp.sum(x**2)
            slope = 2.0 * jnp.dot(mu, direction)

            def too_big(c):
                a, k = c
                return (jnp.sum(move(x, -a * direction) ** 2) > fx - 1e-4 * a * slope) & (k < 60)

            alpha, _ = jax.lax.while_loop(too_big, lambda c: (0.5 * c[0], c[1] + 1), (jnp.asarray(1.0, dtype), 0))
            x = move(x, -alpha * direction)
            return x, jnp.linalg.norm(gens(x) @ x), i + 1

        def keep_going(carry):
            _, mu_norm, i = carry
            return (i < max_steps) & (mu_norm > rtol * total)

        return jax.lax.while_loop(keep_going, step, (x0, jnp.linalg.norm(gens(x0) @ x0), jnp.asarray(0)))

    xs, mu_norms, steps = jax.vmap(per_block)(blocks)
    balanced = family.from_blocks(xs)
    mu_norm = jnp.max(mu_norms)
    return OrbitMinimum(
        params=balanced, value=squared_norm(balanced), grad_norm=2.0 * mu_norm, steps=jnp.max(steps),
        converged=mu_norm <= rtol * total,
    )
