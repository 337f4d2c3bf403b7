"""Simulator(metrics=names): the records hold those metrics only, with the values of a full run."""

import numpy as np
import pytest

from designer.errors import DesignerInputError
from designer.simulate import Simulator

TASK = {"kind": "cosine_sparse", "modes": 16, "nonzero": 2, "n_train": 12, "n_test": 50}
MODEL = {"family": "hadamard", "depth": 2}


def _run(metrics):
    sim = Simulator(MODEL, TASK, metrics=metrics)
    state, hyper, data = sim.setup(np.arange(2), sim.hyper(0.05), init_scale=0.3)
    return sim, sim.run(state, hyper, data, 40, 10), data


def test_chosen_metrics_are_recorded_with_the_full_values():
    _, full, _ = _run(True)
    sim, part, data = _run(("test_mse", "balance"))
    assert set(part.records) == {"test_mse", "balance", "batch_loss", "finite", "step"}
    assert {"train_mse", "n_above", "recovery_error"} <= set(full.records)
    for k in part.records:
        np.testing.assert_allclose(part.records[k], full.records[k], rtol=1e-6)  # two programs: float32 rounding
    # every metric at a state, whatever the run records
    snap = sim.snapshot_records(part.state, data)
    assert set(snap) == set(full.records)
    for k in snap:
        np.testing.assert_allclose(snap[k], full.records[k][:, -1], rtol=1e-5)


def test_unknown_metric_names_the_field():
    bad = Simulator(MODEL, TASK, metrics=("test_mse", "accuracy"))
    state, hyper, data = bad.setup(np.arange(1), bad.hyper(0.05))
    with pytest.raises(DesignerInputError) as err:
        bad.run(state, hyper, data, 10, 10)
    assert err.value.field == "metrics" and "accuracy" in err.value.message and "test_mse" in err.value.message


def test_prepared_test_error_equals_the_direct_one():
    """cosine_sparse's test error from its once-per-run quadratic form (Task.prepare_metrics)
    equals mean((X z - y)^2), also when the test labels are not X truth."""
    import jax

    from designer.simulate.tasks import build_task

    task = build_task({**TASK, "n_test": 3000})
    model = Simulator({"family": "plain"}, TASK).model
    data = jax.tree_util.tree_map(np.asarray, task.generate(jax.random.PRNGKey(3), np.float64))
    noisy = {**data, "test": {**data["test"], "y": data["test"]["y"] + np.random.default_rng(0).normal(size=3000)}}
    rng = np.random.default_rng(1)
    for d in (data, noisy):
        for z in (data["truth"], data["truth"] + 0.01 * rng.normal(size=16), rng.normal(size=16)):
            direct = float(np.mean((d["test"]["x"] @ z - d["test"]["y"]) ** 2))
            prepared = task.metrics(model, {"w": z}, task.prepare_metrics(d))["test_mse"]
            np.testing.assert_allclose(float(prepared), direct, rtol=1e-10, atol=1e-14)
            assert float(task.metrics(model, {"w": z}, d)["test_mse"]) == pytest.approx(direct, rel=1e-10)
