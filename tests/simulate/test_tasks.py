"""Each paper task trains a few hundred steps; metrics are finite and of the right shapes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from designer.errors import DesignerInputError
from designer.simulate import Simulator, build_noise, symmetric_alpha_stable

STEPS, EVERY = 200, 100

CASES = {
    "sparse_regression": ({"family": "hadamard", "depth": 2}, {"kind": "sparse_regression", "n": 20, "d": 30, "k": 3},
                          [{"kind": "minibatch", "batch_size": 5}, {"kind": "label_noise", "scale": 0.1}], 0.01,
                          {"test_mse": (), "support_recall": (), "balance": (30,), "imbalance": (30, 1)}),
    "cosine_sparse": ({"family": "hadamard", "depth": 2}, {"kind": "cosine_sparse", "modes": 16, "n_train": 12, "n_test": 50},
                      [], 0.01, {"test_mse": (), "n_above": (), "support_precision": ()}),
    "piecewise_constant": ({"family": "hadamard", "depth": 2, "basis": "cumsum"},
                           {"kind": "piecewise_constant", "segments": [[1.0, 10], [-1.0, 10]], "m": 8}, [], 1e-3,
                           {"recon_mse": (), "tv": (), "fit_mse": (), "jump_support_recall": ()}),
    "matrix_completion": ({"family": "matrix_product", "rank": 6}, {"kind": "matrix_completion", "rows": 6, "cols": 6,
                          "singular_values": [3.0, 1.0]}, [{"kind": "bernoulli", "fraction": 0.5}], 0.01,
                          {"singular_values": (6,), "effective_rank": (), "balance": (6,), "predictor_singular_values": (6,)}),
    "matrix_sensing": ({"family": "matrix_product", "rank": 3}, {"kind": "matrix_sensing", "rows": 4, "cols": 5, "n": 30},
                       [{"kind": "minibatch", "batch_size": 10, "replacement": True}], 1e-3,
                       {"recovery_error": (), "singular_values": (4,)}),
    "robust_pca": ({"family": "sum", "terms": [{"family": "matrix_product"}, {"family": "hadamard"}], "weights": [1.0, 2.0]},
                   {"kind": "robust_pca", "rows": 4, "cols": 5, "rank": 1, "corruption": 0.2, "noise": 0.1}, [], 1e-2,
                   {"recovery_error": (), "low_rank_error": (), "sparse_error": (), "singular_values": (4,)}),
    "relu_teacher": ({"family": "relu_two_layer", "hidden": 8, "inputs": 3}, {"kind": "relu_teacher", "eval_size": 32},
                     [{"kind": "minibatch", "batch_size": 8}, {"kind": "label_noise", "scale": 0.1}], 1e-3,
                     {"train_mse": (), "balance": (8,)}),
    "attention_teacher": ({"family": "attention_qk", "d_emb": 6, "d_head": 3},
                          {"kind": "attention_teacher", "d_emb": 6, "d_head": 3, "seq": 4, "eval_size": 16},
                          [{"kind": "minibatch", "batch_size": 4}, {"kind": "label_noise", "scale": 0.02}], 1e-3,
                          {"train_mse": (), "balance": (3,), "frobenius_ratio": (), "nuclear_ratio": ()}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_task_trains_with_finite_metrics(name):
    model, task, noise, lr, shapes = CASES[name]
    sim = Simulator(model, task, noise=noise)
    seeds = 2
    state, hyper, data = sim.setup(np.arange(seeds), sim.hyper(lr), init_scale=0.3)
    res = sim.run(state, hyper, data, STEPS, EVERY)
    assert (res.status == 0).all()
    assert res.records["step"].tolist() == [[100, 200]] * seeds
    for key, shape in shapes.items():
        arr = res.records[key]
        assert arr.shape == (seeds, STEPS // EVERY, *shape), key
        assert np.all(np.isfinite(arr)), key
    assert np.all(np.isfinite(res.records["batch_loss"]))
    leaves = jax.tree_util.tree_leaves(res.state.params)
    assert all(leaf.dtype == jnp.float32 for leaf in leaves)


def test_plain_model_and_mismatched_shapes():
    sim = Simulator({"family": "plain"}, {"kind": "cosine_sparse", "modes": 8, "n_train": 4, "n_test": 4},
                    noise=[{"kind": "l1_penalty", "strength": 0.1}])
    state, hyper, data = sim.setup([0], sim.hyper(1e-2))
    assert sim.run(state, hyper, data, 10, 10).records["test_mse"].shape == (1, 1)
    with pytest.raises(DesignerInputError):
        Simulator({"family": "hadamard", "depth": 2, "dim": 5}, {"kind": "cosine_sparse", "modes": 8})
    with pytest.raises(DesignerInputError):
        Simulator({"family": "hadamard", "depth": 2}, {"kind": "relu_teacher"}, noise=[{"kind": "minibatch", "batch_size": 2}])
    with pytest.raises(DesignerInputError):  # streaming task without a sampler
        Simulator({"family": "relu_two_layer", "hidden": 4, "inputs": 3}, {"kind": "relu_teacher"})
    with pytest.raises(DesignerInputError):
        build_noise({"kind": "label_noise", "scale": -1.0})


def test_batch_size_and_learning_rate_sweep_is_one_program():
    """Batch size is a weight mask: a sweep of batch sizes and learning rates is one compile."""
    sim = Simulator({"family": "hadamard", "depth": 2}, {"kind": "sparse_regression", "n": 20, "d": 10, "k": 2},
                    noise=[{"kind": "minibatch", "batch_size": 8, "max_batch_size": 8}, {"kind": "label_noise", "scale": 0.5}])
    b = jnp.asarray([1, 4, 8, 8])
    lr = jnp.asarray([0.01, 0.01, 0.01, 0.02])
    state, hyper, data = sim.setup(np.zeros(4, int), sim.hyper(lr, batch_size=b), init_scale=0.5)
    res = sim.run(state, hyper, data, 50, 50)
    assert sim.n_traces == 1
    assert res.records["batch_loss"].shape == (4, 1)
    # same seed, same data: different batch sizes / learning rates give different trajectories
    assert len({float(x) for x in res.records["train_mse"][:, 0]}) == 4


def test_second_call_does_not_recompile():
    sim = Simulator({"family": "hadamard", "depth": 2}, {"kind": "sparse_regression", "n": 10, "d": 8, "k": 2},
                    noise=[{"kind": "minibatch", "batch_size": 3}])
    state, hyper, data = sim.setup(np.arange(3), sim.hyper(0.01), init_scale=0.5)
    res = sim.run(state, hyper, data, 40, 10, records_per_chunk=2)  # two chunks
    assert sim.n_traces == 1
    size = sim._chunk_jit._cache_size()
    res = sim.run(res.state, hyper, data, 40, 10, records_per_chunk=2)
    assert sim.n_traces == 1
    assert sim._chunk_jit._cache_size() == size
    assert res.records["step"][0].tolist() == [50, 60, 70, 80]


def test_cancellation_between_chunks():
    from designer.errors import Cancelled

    sim = Simulator({"family": "scalar_product"}, {"kind": "scalar_target"})
    state, hyper, data = sim.setup([0], sim.hyper(0.01))
    calls = []
    with pytest.raises(Cancelled):
        sim.run(state, hyper, data, 100, 10, records_per_chunk=2, on_chunk=calls.append,
                should_cancel=lambda: len(calls) >= 2)
    assert calls == [20, 40]


@pytest.mark.parametrize("distribution,check", [
    ("gaussian", lambda x: abs(np.var(x) - 1) < 0.03),
    ("student_t", lambda x: abs(np.median(np.abs(x)) - 0.765 * np.sqrt(1 / 3)) < 0.03),
    ("alpha_stable", lambda x: np.mean(np.abs(x) > 10) > 0.005),
])
def test_label_noise_laws(distribution, check):
    piece = build_noise({"kind": "label_noise", "scale": 1.0, "distribution": distribution, "df": 3.0, "alpha": 1.5})
    x = np.asarray(piece.draw(jax.random.PRNGKey(0), (40_000,), jnp.float64))
    assert np.all(np.isfinite(x)) and check(x)


def test_alpha_stable_two_is_gaussian_with_variance_two():
    x = np.asarray(symmetric_alpha_stable(jax.random.PRNGKey(1), 2.0, (40_000,), jnp.float64))
    assert abs(np.var(x) - 2.0) < 0.06


def test_alpha_stable_characteristic_function():
    """E cos(t X) = exp(-|t|^alpha) for the standard symmetric alpha-stable law."""
    x = np.asarray(symmetric_alpha_stable(jax.random.PRNGKey(2), 1.5, (100_000,), jnp.float64))
    for t in (0.5, 1.0, 2.0):
        assert abs(np.mean(np.cos(t * x)) - np.exp(-t**1.5)) < 0.01


def test_langevin_diffusion_variance():
    """Without loss gradient (z fixed at the target is not needed: plain model, zero data weight)
    Euler-Maruyama noise adds variance 2 eta T per step."""
    sim = Simulator({"family": "plain"}, {"kind": "scalar_target", "target": 0.0},
                    noise=[{"kind": "langevin", "temperature": 0.5}], dtype=jnp.float64)
    init = lambda k: {"w": jnp.asarray(0.0, jnp.float64)}
    state, hyper, data = sim.setup(np.arange(2000), sim.hyper(1e-3), init=init)
    res = sim.run(state, hyper, data, 100, 100)
    w = np.asarray(res.state.params["w"])
    # OU process w' = (1 - 2 eta) w + sqrt(2 eta T) xi: stationary-free variance after 100 steps
    a, q = 1 - 2e-3, 2 * 1e-3 * 0.5
    expected = q * (1 - a ** (2 * 100)) / (1 - a**2)
    assert abs(np.var(w) / expected - 1) < 0.1


def test_without_metrics_the_trajectory_is_the_same_and_only_the_basics_are_recorded():
    model, task, noise, lr, _ = CASES["sparse_regression"]
    ends = []
    for metrics in (True, False):
        sim = Simulator(model, task, noise=noise, metrics=metrics)
        state, hyper, data = sim.setup(np.arange(2), sim.hyper(lr), init_scale=0.3)
        res = sim.run(state, hyper, data, STEPS, EVERY)
        ends.append(np.asarray(res.state.params["u"]))
    assert sorted(res.records) == ["batch_loss", "finite", "step"]
    np.testing.assert_array_equal(ends[0], ends[1])


def test_default_predraw_hands_each_step_its_key_and_the_noise_is_applied():
    """Piece.predraws with the default hooks: pre-drawn per-step keys feed perturb_targets."""
    from designer.simulate._noise import LabelNoise

    class PreDrawn(LabelNoise):
        predraws = True

    piece = PreDrawn(scale=0.5)
    key = jax.random.PRNGKey(2)
    keys = piece.predraw(key, 5, (3,), jnp.float32)
    np.testing.assert_array_equal(keys, jax.random.split(key, 5))
    y, hyper = jnp.arange(3.0, dtype=jnp.float32), type("H", (), {"label_noise": jnp.float32(0.5)})()
    np.testing.assert_array_equal(piece.perturb_drawn(y, keys[1], hyper), piece.perturb_targets(keys[1], y, hyper))
    # same seeds with and without noise: same minibatches, first-step losses differ only by the noise
    model, task, _, lr, _ = CASES["sparse_regression"]
    losses = []
    for scale in (0.0, 0.5):
        sim = Simulator(model, task, noise=[{"kind": "minibatch", "batch_size": 5}, PreDrawn(scale=scale)])
        state, hyper, data = sim.setup(np.arange(3), sim.hyper(lr), init_scale=0.3)
        losses.append(sim.run(state, hyper, data, 10, 1).records["batch_loss"][:, 0])
    assert np.all(np.abs(losses[1] - losses[0]) > 1e-6)


@pytest.mark.parametrize("block", [256, 8])
@pytest.mark.parametrize("predraws", [False, True])
def test_examples_drawn_ahead_give_the_step_by_step_trajectory(block, predraws, monkeypatch):
    """A task that draws_ahead: the examples come from the steps' own keys (nested blocks too,
    and with a noise piece that pre-draws per record interval, reshaped into the blocks)."""
    from designer.simulate import _simulator
    from designer.simulate._noise import LabelNoise
    from designer.simulate.tasks.attention_teacher import AttentionTeacher

    monkeypatch.setattr(_simulator, "EXAMPLE_BLOCK", block)  # 8: two blocks per interval of 16
    monkeypatch.setattr(LabelNoise, "predraws", predraws)
    drawn_in_step = []
    examples = _simulator.Simulator._examples

    def counting(self, key, hyper, data, ahead=None):
        if ahead is None:  # drawn here, not ahead
            drawn_in_step.append(1)
        return examples(self, key, hyper, data, ahead)

    monkeypatch.setattr(_simulator.Simulator, "_examples", counting)
    model, task, noise, lr, _ = CASES["attention_teacher"]
    ends, losses, calls = [], [], []
    for ahead in (True, False):
        monkeypatch.setattr(AttentionTeacher, "draws_ahead", ahead)
        drawn_in_step.clear()
        sim = Simulator(model, task, noise=noise, dtype=jnp.float64)
        state, hyper, data = sim.setup(np.arange(2), sim.hyper(lr), init_scale=0.3)
        res = sim.run(state, hyper, data, 32, 16)
        ends.append(jax.tree_util.tree_map(np.asarray, res.state.params))
        losses.append(res.records["batch_loss"])
        calls.append(len(drawn_in_step))
    # ahead, no step draws its own examples (a pre-drawing piece still asks _examples for shapes)
    assert calls[1] > calls[0] and (predraws or calls[0] == 0)
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-12)
    for name in ends[0]:
        np.testing.assert_allclose(ends[0][name], ends[1][name], rtol=1e-12, atol=1e-14)
