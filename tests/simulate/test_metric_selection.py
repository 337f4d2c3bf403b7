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
        np.testing.assert_array_equal(part.records[k], full.records[k])
    # every metric at a state, whatever the run records
    snap = sim.snapshot_records(part.state, data)
    assert set(snap) == set(full.records)
    for k in snap:
        np.testing.assert_allclose(snap[k], full.records[k][:, -1], rtol=1e-6)


def test_unknown_metric_names_the_field():
    bad = Simulator(MODEL, TASK, metrics=("test_mse", "accuracy"))
    state, hyper, data = bad.setup(np.arange(1), bad.hyper(0.05))
    with pytest.raises(DesignerInputError) as err:
        bad.run(state, hyper, data, 10, 10)
    assert err.value.field == "metrics" and "accuracy" in err.value.message and "test_mse" in err.value.message
