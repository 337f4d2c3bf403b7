"""The robust-PCA target ``min_{L+S=M} |L|_* + lambda |S|_1``: closed forms, cvxpy, the certified gap,
its gradient (the dual matrix), no recompilation for a new lambda."""

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from designer import limits
from designer.errors import DesignerInputError
from designer.targets import build_target


def _target(shape, **knobs):
    return build_target({"kind": "sparse_plus_low_rank", **knobs}, shape)


def _spectral_sample(rng, m, n):
    """The designer's default matrix sampling: singular values 10^U(-2, 2) between random rotations."""
    r = min(m, n)
    q1, _ = np.linalg.qr(rng.standard_normal((m, m)))
    q2, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (q1[:, :r] * 10.0 ** rng.uniform(-2, 2, r)) @ q2[:, :r].T


#: one compile per shape: the target (lambda, iterations, tolerance are leaves) is an argument
_VALUES = jax.jit(lambda target, ms: jax.vmap(target.value)(ms))
_SOLVE = jax.jit(lambda target, ms: jax.vmap(target.solve)(ms))


def _values(target, ms):
    return np.asarray(_VALUES(target, jnp.asarray(ms)))


def test_closed_forms():
    """R*(c e_i e_j^T) = c min(1, lam); R*(c 1 1^T) = c min(lam m n, sqrt(m n)); R*(c I) = c n min(1, lam)
    (I the m x n identity, n <= m); R*(0) = 0. From the dual, max <Y, M> over |Y|_op <= 1, |Y|_max <= lam:
    averaging Y over the symmetries of M (permutations, sign flips) keeps it feasible and optimal."""
    m, n = 6, 5
    single = np.zeros((m, n))
    single[2, 3] = -3.0
    ones = 2.0 * np.ones((m, n))
    eye = 1.5 * np.eye(m, n)
    for lam in (0.1, 0.35, 0.7, 1.5):
        got = _values(_target((m, n), **{"lambda": lam}), np.stack([single, ones, eye, np.zeros((m, n))]))
        expected = [3.0 * min(1.0, lam), 2.0 * min(lam * m * n, np.sqrt(m * n)), 1.5 * n * min(1.0, lam)]
        np.testing.assert_allclose(got[:3], expected, rtol=1e-9)
        assert got[3] == 0.0


def test_extreme_lambdas_reduce_to_one_norm():
    """lam >= 1: R* = |M|_* (|S|_1 >= |S|_*); lam sqrt(m n) <= 1: R* = lam |M|_1 (|L|_* >= |L|_1 / sqrt(m n))."""
    rng = np.random.default_rng(2)
    ms = np.stack([_spectral_sample(rng, 6, 5) for _ in range(4)])
    nuclear = np.linalg.svd(ms, compute_uv=False).sum(axis=1)
    np.testing.assert_allclose(_values(_target((6, 5), **{"lambda": 1.0}), ms), nuclear, rtol=1e-9)
    lam = 1.0 / np.sqrt(30.0)
    np.testing.assert_allclose(_values(_target((6, 5), **{"lambda": lam}), ms), lam * np.abs(ms).sum(axis=(1, 2)), rtol=1e-9)


def _cvxpy(m, lam):
    low = cp.Variable(m.shape)
    problem = cp.Problem(cp.Minimize(cp.normNuc(low) + lam * cp.sum(cp.abs(m - low))))
    problem.solve(solver="CLARABEL")
    assert problem.status == "optimal"
    return problem.value


@pytest.mark.parametrize("shape, lam", [((6, 5), None), ((8, 8), 0.5), ((6, 5), 0.2)])
def test_matches_cvxpy(shape, lam):
    rng = np.random.default_rng(sum(shape))
    low_rank = rng.standard_normal((shape[0], 2)) @ rng.standard_normal((2, shape[1]))
    sparse = np.where(rng.random(shape) < 0.15, 5.0 * rng.standard_normal(shape), 0.0)
    ms = np.stack([_spectral_sample(rng, *shape), low_rank + sparse, rng.standard_normal(shape)])
    target = _target(shape, **{"lambda": lam})
    ref = [_cvxpy(m, target.lam) for m in ms]
    np.testing.assert_allclose(_values(target, ms), ref, rtol=1e-6)  # Clarabel's own accuracy


def test_certified_gap_on_the_design_sampling():
    """The returned value is within the default relative duality gap (1e-9) of a certified lower bound."""
    rng = np.random.default_rng(4)
    # lambda sqrt(m n) slightly above 1 (near the L1 end), the default, 0.5
    for shape, lam in [((12, 10), None), ((12, 10), 0.5), ((12, 10), 0.1), ((8, 8), None)]:
        target = _target(shape, **{"lambda": lam})
        ms = np.stack([_spectral_sample(rng, *shape) for _ in range(6)])
        value, lower, low, y, its = map(np.asarray, _SOLVE(target, jnp.asarray(ms)))
        assert np.all(lower <= value) and np.all((value - lower) / value <= 1e-9), (shape, lam, (value - lower) / value)
        assert np.all(its < target.iterations)
        # the low-rank part and the dual are what they claim
        np.testing.assert_allclose(value, np.linalg.svd(low, compute_uv=False).sum(axis=1) + target.lam * np.abs(ms - low).sum(axis=(1, 2)), rtol=1e-12)
        assert np.all(np.linalg.svd(y, compute_uv=False)[:, 0] <= 1 + 1e-12) and np.all(np.abs(y) <= target.lam * (1 + 1e-12))


def test_gradient_is_the_dual_matrix():
    rng = np.random.default_rng(5)
    m = _spectral_sample(rng, 6, 5)
    target = _target((6, 5), **{"lambda": 0.4})
    grad_fn = jax.jit(jax.grad(lambda t, z: t.value(z), argnums=1))
    grad = np.asarray(grad_fn(target, jnp.asarray(m)))
    np.testing.assert_allclose(grad, np.asarray(_SOLVE(target, jnp.asarray(m)[None])[3][0]), rtol=1e-12)
    # central finite differences of the value along random directions (R* is convex, smooth at a generic M)
    d = rng.standard_normal((3, *m.shape))
    h = 1e-5 * np.linalg.norm(m)
    plus, minus = _values(target, m + h * d), _values(target, m - h * d)
    np.testing.assert_allclose((plus - minus) / (2 * h), np.sum(grad * d, axis=(1, 2)), rtol=1e-4, atol=1e-8)
    # lam >= 1: R* = |M|_*, whose gradient at a full-rank M is U V^T
    u, _, vt = np.linalg.svd(m, full_matrices=False)
    nuclear_grad = np.asarray(jax.jit(jax.grad(lambda t, z: t.value(z), argnums=1))(_target((6, 5), **{"lambda": 2.0}), jnp.asarray(m)))
    np.testing.assert_allclose(nuclear_grad, u @ vt, atol=1e-6)


def test_a_new_lambda_does_not_recompile():
    ms = np.random.default_rng(6).standard_normal((2, 6, 5))
    a = _values(_target((6, 5), **{"lambda": 0.3}), ms)
    size = _VALUES._cache_size()
    b = _values(_target((6, 5), **{"lambda": 0.6, "iterations": 500, "tolerance": 1e-8}), ms)
    assert _VALUES._cache_size() == size and np.all(a < b)


def test_size_limit_names_the_shape():
    side = limits.MAX_SPARSE_LOW_RANK_SIDE
    _target((side, side))
    with pytest.raises(DesignerInputError) as err:
        _target((side + 1, 3))
    assert err.value.field == "shape" and str(side) in str(err.value)
