"""Runs from arrays made elsewhere (Simulator.setup_given): the same steps as a direct computation,
and the same trajectory as setup() for the data and initialization it made."""

import jax
import numpy as np
import pytest

from designer.errors import DesignerInputError
from designer.simulate import Simulator

COSINE = {"kind": "cosine_sparse", "modes": 16, "nonzero": 2, "n_train": 12, "n_test": 30}


def test_full_batch_steps_match_a_direct_computation():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 16)), rng.normal(size=12)
    data = {"truth": np.zeros(16), "train": {"x": x, "y": y}, "test": {"x": rng.normal(size=(30, 16)), "y": np.zeros(30)}}
    w0 = rng.normal(size=16)
    lr, lam = 0.05, 0.1
    sim = Simulator({"family": "plain"}, COSINE, noise=({"kind": "l1_penalty", "strength": lam},), dtype="float64")
    state, hyper, shared = sim.setup_given({"w": w0}, data, [0, 1], sim.hyper(lr))
    res = sim.run(state, hyper, shared, 3, 1)
    w = w0.copy()
    for i in range(3):  # loss mean((y - Xw)^2) + lam |w|_1, plain gradient descent
        loss = np.mean((y - x @ w) ** 2) + lam * np.abs(w).sum()
        w = w - lr * (2 / 12 * x.T @ (x @ w - y) + lam * np.sign(w))
        np.testing.assert_allclose(res.records["batch_loss"][:, i], loss, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(res.state.params["w"]), np.stack([w, w]), rtol=1e-12)


def test_given_arrays_continue_the_runs_setup_made():
    spec = ({"family": "matrix_product", "rank": 6},
            {"kind": "matrix_completion", "rows": 6, "cols": 6, "singular_values": [3.0, 1.0], "observed": 0.5},
            ({"kind": "bernoulli", "fraction": 0.5},))
    sim = Simulator(*spec)
    state, hyper, data = sim.setup(np.array([7]), sim.hyper(0.05), init_scale=0.3)
    direct = sim.run(state, hyper, data, 20, 5)
    first = jax.tree_util.tree_map(lambda a: np.asarray(a[0]), (state.params, data))
    given = Simulator(*spec)
    state2, hyper2, data2 = given.setup_given(*first, [7], given.hyper(0.05))
    again = given.run(state2, hyper2, data2, 20, 5)
    for k in ("batch_loss", "balance", "predictor_singular_values"):
        np.testing.assert_allclose(again.records[k], direct.records[k], rtol=1e-5)
    assert not np.allclose(given.run(*given.setup_given(*first, [8], given.hyper(0.05)), 20, 5).records["batch_loss"],
                           direct.records["batch_loss"])  # another seed: other minibatches


def test_given_arrays_are_checked():
    sim = Simulator({"family": "plain"}, COSINE)
    shapes = jax.eval_shape(lambda k: sim.task.generate(k), jax.random.PRNGKey(0))
    data = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), shapes)
    with pytest.raises(DesignerInputError) as err:
        sim.setup_given({"w": np.zeros(15)}, data, [0], sim.hyper(0.1))
    assert err.value.field == "params.w"
    with pytest.raises(DesignerInputError) as err:
        sim.setup_given({"w": np.zeros(16)}, {**data, "truth": np.zeros(17)}, [0], sim.hyper(0.1))
    assert err.value.field == "data"
