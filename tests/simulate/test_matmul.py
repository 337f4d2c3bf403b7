"""``designer._jax.matmul``: the product and its gradients are those of ``a @ b`` (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from designer._jax import matmul

SHAPES = [((5, 3), (3, 4)), ((2, 5, 3), (3, 4)), ((2, 5, 3), (2, 3, 4)), ((6, 2, 5, 3), (3, 4))]


@pytest.mark.parametrize("sa,sb", SHAPES)
def test_value_and_gradients_match_plain_product(sa, sb):
    rng = np.random.default_rng(len(sa) + len(sb))
    a, b = jnp.asarray(rng.normal(size=sa)), jnp.asarray(rng.normal(size=sb))
    c = jnp.asarray(rng.normal(size=np.broadcast_shapes(sa[:-2], sb[:-2]) + (sa[-2], sb[-1])))
    loss = lambda f: (lambda a, b: jnp.sum(jnp.sin(f(a, b)) * c))
    np.testing.assert_allclose(matmul(a, b), a @ b, rtol=1e-14)
    got = jax.jit(jax.grad(loss(matmul), argnums=(0, 1)))(a, b)
    want = jax.grad(loss(jnp.matmul), argnums=(0, 1))(a, b)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-13)


def test_gradients_under_vmap_over_runs_with_a_transposed_weight():
    # the simulator's layout: runs vmapped, x @ W.T inside (relu_two_layer)
    rng = np.random.default_rng(7)
    x, w = jnp.asarray(rng.normal(size=(4, 8, 3))), jnp.asarray(rng.normal(size=(4, 16, 3)))
    loss = lambda f: (lambda w, x: jnp.sum(jax.nn.relu(f(x, w.T)) ** 2))
    got = jax.jit(jax.vmap(jax.grad(loss(matmul))))(w, x)
    want = jax.vmap(jax.grad(loss(jnp.matmul)))(w, x)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def test_other_broadcasting_is_refused():
    with pytest.raises(ValueError, match="matmul takes"):
        matmul(jnp.ones((2, 5, 3)), jnp.ones((1, 3, 4)))
    with pytest.raises(ValueError, match="matmul takes"):
        matmul(jnp.ones((5, 3)), jnp.ones((2, 3, 4)))
