"""Exact discrete imbalance identities of theory.md section 4, through the simulator's own step.

For ``z = u * v`` (elementwise) and one step with ``g = dL/dz`` (returned by the step):
plain GD / SGD multiplies each coordinate's imbalance ``u^2 - v^2`` by ``1 - eta^2 g^2``;
shrinking weight decay by a further ``(1 - eta lambda)^2``; coupled weight decay
(``g + lambda w``) by ``(1 - eta lambda)^2 - eta^2 g^2``. For ``W = A B``:
``D' = D + eta^2 (B G^T G B^T - A^T G G^T A)``, ``D = A^T A - B B^T``. Float64, 1e-12.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from designer.simulate import Simulator

TOL = 1e-12

HADAMARD = {"family": "hadamard", "depth": 2}
TASK = {"kind": "sparse_regression", "n": 12, "d": 6, "k": 2, "noise": 0.1}

CASES = {
    "gd": [],
    "sgd_without_replacement": [{"kind": "minibatch", "batch_size": 3}],
    "sgd_with_replacement_label_noise": [{"kind": "minibatch", "batch_size": 4, "replacement": True},
                                         {"kind": "label_noise", "scale": 0.5, "distribution": "student_t"}],
    "sgd_shrink_decay": [{"kind": "minibatch", "batch_size": 3}, {"kind": "weight_decay", "strength": 0.3, "mode": "shrink"}],
    "gd_coupled_decay": [{"kind": "weight_decay", "strength": 0.3, "mode": "coupled"}],
}


def _one_run(sim, lr, seed=0, scale=0.7):
    state, hyper, data = sim.setup([seed], sim.hyper(lr), init_scale=scale)
    take = lambda t: jax.tree_util.tree_map(lambda a: a[0], t)
    return take(state), take(hyper), take(data)


@pytest.mark.parametrize("case", sorted(CASES))
def test_hadamard_imbalance_identity(case):
    noise = CASES[case]
    sim = Simulator(HADAMARD, TASK, noise=noise, dtype=jnp.float64)
    lr = 0.05
    state, hyper, data = _one_run(sim, lr)
    step = jax.jit(sim.step)
    lam = next((p["strength"] for p in noise if p["kind"] == "weight_decay"), 0.0)
    mode = next((p["mode"] for p in noise if p["kind"] == "weight_decay"), None)
    for _ in range(5):
        u = state.params["u"]
        d0 = u[0] ** 2 - u[1] ** 2
        state, info = step(state, hyper, data)
        g = info.grad_predictor
        u1 = state.params["u"]
        d1 = u1[0] ** 2 - u1[1] ** 2
        if mode == "coupled":
            factor = (1 - lr * lam) ** 2 - lr**2 * g**2
        else:
            factor = (1 - lr * lam) ** 2 * (1 - lr**2 * g**2)
        np.testing.assert_allclose(d1, factor * d0, rtol=0, atol=TOL * max(1.0, float(jnp.max(jnp.abs(d0)))))
        assert float(jnp.max(jnp.abs(g))) > 1e-3  # the identity is not trivially 1 * D


@pytest.mark.parametrize("noise", [[], [{"kind": "bernoulli", "fraction": 0.5}]], ids=["gd", "sgd_bernoulli"])
def test_matrix_product_imbalance_identity(noise):
    sim = Simulator({"family": "matrix_product", "rank": 4}, {"kind": "matrix_completion", "rows": 6, "cols": 5,
                    "singular_values": [3.0, 1.0], "observed": 0.5}, noise=noise, dtype=jnp.float64)
    lr = 0.2
    state, hyper, data = _one_run(sim, lr, scale=0.5)
    step = jax.jit(sim.step)
    for _ in range(5):
        a, b = state.params["W1"], state.params["W2"]
        d0 = a.T @ a - b @ b.T
        state, info = step(state, hyper, data)
        gr = info.grad_predictor
        a1, b1 = state.params["W1"], state.params["W2"]
        d1 = a1.T @ a1 - b1 @ b1.T
        predicted = d0 + lr**2 * (b @ gr.T @ gr @ b.T - a.T @ gr @ gr.T @ a)
        np.testing.assert_allclose(d1, predicted, rtol=0, atol=TOL * max(1.0, float(jnp.max(jnp.abs(d0)))))
        # the correction term is not negligible: the test can fail
        assert float(jnp.max(jnp.abs(d1 - d0))) > 1e-8


def test_moment_map_metric_matches_imbalance():
    sim = Simulator(HADAMARD, TASK, dtype=jnp.float64)
    state, hyper, data = _one_run(sim, 0.05)
    rec = sim.record(state, data)
    u = state.params["u"]
    np.testing.assert_allclose(rec["imbalance"][:, 0], u[0] ** 2 - u[1] ** 2, atol=1e-14)
