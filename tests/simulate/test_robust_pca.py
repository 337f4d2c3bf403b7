"""The robust-PCA task: its data against its definition (exact identities), its loss convention,
its split metrics at a known split, and bad input naming the field."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from designer.errors import DesignerInputError
from designer.families import build_family
from designer.simulate import Simulator, build_task

SPEC = {"kind": "robust_pca", "rows": 7, "cols": 9, "rank": 2, "corruption": 0.15, "magnitude": 4.0}


#: one compile per task (a frozen dataclass, hashable), reused by every seed
_GENERATE = jax.jit(lambda task, key: task.generate(key, jnp.float64), static_argnums=0)


def _data(spec, seed=0):
    task = build_task(spec)
    return task, jax.tree_util.tree_map(np.asarray, _GENERATE(task, jax.random.PRNGKey(seed)))


def test_data_is_low_rank_plus_exactly_k_corruptions():
    task, data = _data(SPEC)
    low, sparse, y = data["low_rank"], data["sparse"], data["observed"]
    s = np.linalg.svd(low, compute_uv=False)
    assert s[1] > 1e-3 * s[0] and np.all(s[2:] < 1e-12 * s[0])  # rank exactly 2
    assert np.count_nonzero(sparse) == round(0.15 * 63) == task.n_corrupted == 9
    assert set(np.abs(sparse[sparse != 0]).tolist()) == {4.0}
    assert np.array_equal(y, low + sparse) and np.array_equal(data["truth"], low + sparse)  # noise 0
    assert np.array_equal(data["train"]["y"], y.reshape(-1))
    # another seed: other positions, same count
    _, other = _data(SPEC, seed=1)
    assert np.count_nonzero(other["sparse"]) == 9 and not np.array_equal(other["sparse"] != 0, sparse != 0)
    # no corruption, fraction 1
    _, clean = _data({**SPEC, "corruption": 0.0})
    assert np.count_nonzero(clean["sparse"]) == 0
    _, full = _data({**SPEC, "corruption": 1.0})
    assert np.count_nonzero(full["sparse"]) == 63


def test_noise_is_gaussian_of_the_given_std():
    _, data = _data({"kind": "robust_pca", "rows": 300, "cols": 200, "rank": 3, "corruption": 0.05, "noise": 0.3})
    e = data["observed"] - data["truth"]
    assert abs(e.std() / 0.3 - 1) < 0.01 and abs(e.mean()) < 0.3 * 4 / np.sqrt(e.size)
    assert np.linalg.matrix_rank(data["low_rank"]) == 3


def test_loss_is_mean_squared_error_over_all_entries():
    """The simulator's full-batch loss is |Y - Z|_F^2 / (rows cols) (matrix tasks' convention, no 1/2)."""
    sim = Simulator({"family": "plain"}, {**SPEC, "noise": 0.2}, dtype=jnp.float64)
    state, hyper, data = sim.setup([0], sim.hyper(0.0), init_scale=0.5, share_data=True)
    res = sim.run(state, hyper, data, 1, 1)
    z = np.asarray(state.params["w"][0])
    y = np.asarray(data["observed"])
    np.testing.assert_allclose(res.records["batch_loss"][0, 0], np.sum((y - z) ** 2) / 63, rtol=1e-13)
    np.testing.assert_allclose(res.records["train_mse"][0, 0], np.mean((y - z) ** 2), rtol=1e-13)


def test_split_metrics_at_the_true_split():
    """A sum model set to L* (matrix product) and S* (weighted Hadamard) has zero split errors."""
    task, data = _data(SPEC)
    w = 2.5
    fam = build_family({"family": "sum", "terms": [{"family": "matrix_product", "rank": 2}, {"family": "hadamard"}],
                        "weights": [1.0, w]}, (7, 9))
    u, s, vt = np.linalg.svd(data["low_rank"], full_matrices=False)
    root = np.sqrt(np.abs(data["sparse"]) / w)
    params = {"0.W1": u[:, :2] * np.sqrt(s[:2]), "0.W2": np.sqrt(s[:2])[:, None] * vt[:2],
              "1.u": np.stack([np.sign(data["sparse"]) * root, root])}
    params = {k: jnp.asarray(v) for k, v in params.items()}
    m = task.metrics(fam, params, jax.tree_util.tree_map(jnp.asarray, data))
    assert float(m["low_rank_error"]) < 1e-14 and float(m["sparse_error"]) < 1e-14 and float(m["recovery_error"]) < 1e-14
    assert int(m["sparse_entries"]) == 9 and float(m["train_mse"]) < 1e-28
    # a model without a split reports the error of Z only
    plain = task.metrics(build_family({"family": "matrix_product"}, (7, 9)), {"W1": jnp.eye(7), "W2": jnp.zeros((7, 9))},
                         jax.tree_util.tree_map(jnp.asarray, data))
    assert "low_rank_error" not in plain and float(plain["recovery_error"]) == pytest.approx(1.0)


@pytest.mark.parametrize("bad, field", [({"rank": 6, "rows": 5, "cols": 6}, "task.rank"),
                                        ({"corruption": 1.5}, "task.corruption"),
                                        ({"corruption": -0.1}, "task.corruption"),
                                        ({"rows": 0}, "task.rows"), ({"noise": -1.0}, "task.noise")])
def test_bad_input_names_the_field(bad, field):
    with pytest.raises(DesignerInputError) as err:
        build_task({"kind": "robust_pca", **bad})
    assert err.value.field == field
