"""The shared matrix exponential and its derivative at the identity (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from designer.families._matrix import expm, tangents_at_identity


def _pair(seed, scale):
    rng = np.random.default_rng(seed)
    return scale * rng.normal(size=(5, 5)), rng.normal(size=(5, 5))


def test_values_match_scipy_inside_and_outside_the_context():
    for seed, scale in [(0, 0.3), (1, 1.0), (2, 2.0)]:
        x, _ = _pair(seed, scale)
        want = scipy.linalg.expm(x)
        np.testing.assert_allclose(expm(jnp.asarray(x)), want, rtol=1e-13, atol=1e-14)
        with tangents_at_identity():  # a fresh function: no trace made here is cached for others
            np.testing.assert_allclose(jax.jit(lambda x: expm(x))(jnp.asarray(x)), want, rtol=1e-13, atol=1e-14)


def test_derivative_away_from_identity_is_the_frechet_derivative():
    for seed, scale in [(3, 0.5), (4, 1.5)]:
        x, e = _pair(seed, scale)
        _, want = scipy.linalg.expm_frechet(x, e)
        got = jax.jvp(expm, (jnp.asarray(x),), (jnp.asarray(e),))[1]
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)
        # and reverse mode agrees: <grad of <expm(x), c>, e> = <L(x, e), c>
        c = np.random.default_rng(seed + 10).normal(size=(5, 5))
        g = jax.grad(lambda x: jnp.sum(expm(x) * c))(jnp.asarray(x))
        np.testing.assert_allclose(float(jnp.sum(g * e)), float(np.sum(want * c)), rtol=1e-11)


def test_inside_the_context_the_derivative_is_the_one_at_the_identity():
    # at X = 0 both are the tangent (d exp_0 = id); away from 0 only the context's rule still is,
    # which is why the context may enclose only derivatives taken at the identity
    x, e = _pair(5, 1.0)
    zero = jnp.zeros((5, 5))
    outside = jax.jvp(expm, (zero,), (jnp.asarray(e),))[1]
    np.testing.assert_allclose(outside, e, rtol=1e-14, atol=1e-15)
    with tangents_at_identity():
        at_zero = jax.jvp(lambda x: expm(x), (zero,), (jnp.asarray(e),))[1]
        away = jax.jvp(lambda x: expm(x), (jnp.asarray(x),), (jnp.asarray(e),))[1]
    np.testing.assert_array_equal(at_zero, e)
    np.testing.assert_array_equal(away, e)
    assert np.max(np.abs(scipy.linalg.expm_frechet(x, e)[1] - e)) > 0.1
    # and the context is left: the full derivative again
    np.testing.assert_allclose(jax.jvp(expm, (jnp.asarray(x),), (jnp.asarray(e),))[1],
                               scipy.linalg.expm_frechet(x, e)[1], rtol=1e-11, atol=1e-12)


def test_gl_element_is_the_basis_combination():
    from designer.families._matrix import gl_basis, gl_element

    for r in (1, 2, 5):
        basis, _ = gl_basis(r)
        t = np.random.default_rng(r).normal(size=r * r)
        np.testing.assert_allclose(gl_element(jnp.asarray(t), r), np.einsum("a,aij->ij", t, basis), rtol=1e-15, atol=1e-15)


def test_svd_of_nearly_rank_deficient_matrices_matches_numpy():
    from designer.families._matrix import svd, truncated_svd

    rng = np.random.default_rng(11)
    u, v = rng.normal(size=(30, 1)), rng.normal(size=(1, 30))
    for m in (u @ v + 1e-13 * rng.normal(size=(30, 30)), u @ v, np.zeros((30, 30)),
              rng.normal(size=(30, 2)) @ rng.normal(size=(2, 30))):
        uu, s, vt = svd(jnp.asarray(m))
        np.testing.assert_allclose(s, np.linalg.svd(m, compute_uv=False), atol=1e-12 * max(1.0, np.abs(m).max()))
        np.testing.assert_allclose((uu * s) @ vt, m, atol=1e-11 * max(1.0, np.abs(m).max()))
        u1, s1, vt1 = truncated_svd(jnp.asarray(m), 1)
        assert np.all(np.isfinite(u1)) and np.all(np.isfinite(vt1))


def test_gl_symmetric_mask_is_the_basis_mask_without_the_basis():
    from designer.families._matrix import gl_basis, gl_symmetric_mask

    for r in range(0, 7):
        basis, mask = gl_basis(r)
        assert gl_symmetric_mask(r) == mask
        assert all(np.allclose(b, b.T) == m for b, m in zip(basis, mask))
