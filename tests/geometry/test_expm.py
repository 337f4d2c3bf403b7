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
        with tangents_at_identity():
            np.testing.assert_allclose(jax.jit(expm)(jnp.asarray(x)), want, rtol=1e-13, atol=1e-14)


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


def test_derivative_at_identity_is_the_tangent_in_both_modes():
    _, e = _pair(5, 1.0)
    zero = jnp.zeros((5, 5))
    outside = jax.jvp(expm, (zero,), (jnp.asarray(e),))[1]
    with tangents_at_identity():
        inside = jax.jvp(expm, (zero,), (jnp.asarray(e),))[1]
    np.testing.assert_array_equal(inside, e)  # exactly: d exp at 0 is the identity map
    np.testing.assert_allclose(outside, e, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(scipy.linalg.expm_frechet(np.zeros((5, 5)), e)[1], e, rtol=1e-14, atol=1e-15)


def test_gl_element_is_the_basis_combination():
    from designer.families._matrix import gl_basis, gl_element

    for r in (1, 2, 5):
        basis, _ = gl_basis(r)
        t = np.random.default_rng(r).normal(size=r * r)
        np.testing.assert_allclose(gl_element(jnp.asarray(t), r), np.einsum("a,aij->ij", t, basis), rtol=1e-15, atol=1e-15)
