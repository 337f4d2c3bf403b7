"""Exact discrete identities of theory.md section 4, through the engine's moment map (float64)."""

import jax
import jax.numpy as jnp
import numpy as np

from designer import geometry
from designer.families import build_family


def _gd_step(fam, params, loss, eta, weight_decay=0.0, decoupled=True):
    """One GD step; weight decay either decoupled (shrink after the step) or in the gradient."""
    grads = jax.grad(lambda p: loss(fam.predictor(p)))(params)
    if decoupled:
        return jax.tree_util.tree_map(lambda w, g: (1.0 - eta * weight_decay) * (w - eta * g), params, grads)
    return jax.tree_util.tree_map(lambda w, g: (1.0 - eta * weight_decay) * w - eta * g, params, grads)


def test_hadamard_imbalance_contracts_by_one_minus_eta_sq_g_sq():
    d = 7
    fam = build_family({"family": "hadamard", "depth": 2}, (d,))
    key1, key2 = jax.random.split(jax.random.PRNGKey(0))
    params = fam.init_params(key1, 1.0, jnp.float64)
    target = jax.random.normal(key2, (d,))
    loss = lambda z: 0.5 * jnp.sum((z - target) ** 2)
    eta, lam = 0.07, 0.3
    before = geometry.moment_map(fam, params)[:, 0]  # u^2 - v^2 per coordinate
    np.testing.assert_allclose(before, params["u"][0] ** 2 - params["u"][1] ** 2, rtol=1e-14)
    g = fam.predictor(params) - target  # dL/dz
    for wd in (0.0, lam):
        # decoupled decay (shrink after the step): a further factor (1 - eta lambda)^2
        after = geometry.moment_map(fam, _gd_step(fam, params, loss, eta, wd))[:, 0]
        expected = before * (1 - eta**2 * g**2) * (1 - eta * wd) ** 2
        np.testing.assert_allclose(after, expected, rtol=1e-12, atol=1e-14)
        # decay inside the gradient: the factor is (1 - eta lambda)^2 - eta^2 g^2
        after = geometry.moment_map(fam, _gd_step(fam, params, loss, eta, wd, decoupled=False))[:, 0]
        expected = before * ((1 - eta * wd) ** 2 - eta**2 * g**2)
        np.testing.assert_allclose(after, expected, rtol=1e-12, atol=1e-14)


def test_scalar_product_identity_under_sgd_noise():
    # an SGD step is a GD step on a sampled loss: the identity holds with the sampled gradient
    fam = build_family({"family": "scalar_product"}, ())
    params = {"u": jnp.asarray(1.3), "v": jnp.asarray(-0.4)}
    eta = 0.05
    for noise in (0.0, 0.8, -2.1):
        loss = lambda z: 0.5 * (z - 1.0) ** 2 + noise * z
        g = fam.predictor(params) - 1.0 + noise
        before = geometry.moment_map(fam, params)[0, 0]
        after = geometry.moment_map(fam, _gd_step(fam, params, loss, eta))[0, 0]
        np.testing.assert_allclose(after, before * (1 - eta**2 * g**2), rtol=1e-12)
        np.testing.assert_allclose(before, params["u"] ** 2 - params["v"] ** 2, rtol=1e-14)


def test_matrix_product_imbalance_update():
    m, r, n = 5, 3, 4
    fam = build_family({"family": "matrix_product", "rank": r}, (m, n))
    k1, k2 = jax.random.split(jax.random.PRNGKey(1))
    params = fam.init_params(k1, 1.0, jnp.float64)
    target = jax.random.normal(k2, (m, n))
    loss = lambda w: 0.5 * jnp.sum((w - target) ** 2)
    eta = 0.03
    a, b = params["W1"], params["W2"]
    gr = a @ b - target
    new = _gd_step(fam, params, loss, eta)
    d_before = a.T @ a - b @ b.T
    d_after = new["W1"].T @ new["W1"] - new["W2"] @ new["W2"].T
    expected = d_before + eta**2 * (b @ gr.T @ gr @ b.T - a.T @ gr @ gr.T @ a)
    np.testing.assert_allclose(d_after, expected, rtol=1e-12, atol=1e-12)
    # the engine's moment map is that matrix expressed in the symmetric basis of gl(r)
    from designer.families._matrix import gl_basis

    basis, mask = gl_basis(r)
    mu = geometry.moment_map(fam, new)[0]
    np.testing.assert_allclose(mu, jnp.einsum("aij,ij->a", basis[np.asarray(mask)], d_after), rtol=1e-12, atol=1e-12)
