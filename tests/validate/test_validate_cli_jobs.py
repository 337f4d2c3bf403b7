"""'designer validate' / 'designer sweep' end to end, the design job's validation, bad input, missing extras."""

import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from designer.design import design
from designer.errors import DesignerInputError
from designer.jobs import JobCancelled, parse_job_spec, run_job
from designer.validate import MissingSolver, lasso, sweep, validate

SPARSE = {"kind": "sparse_regression", "n": 100, "d": 30, "k": 3, "noise": 0.05}


@pytest.fixture(scope="module")
def l1_design():
    return design({"target": {"kind": "l1"}, "shape": [30], "transforms": False})


def _cli(*args, tmp_path):
    env = {**os.environ, "DESIGNER_JAX_CACHE": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "designer.cli", *args], capture_output=True, text=True, env=env, timeout=600)


def test_cli_validate_weight_decay_matches_lasso(tmp_path, l1_design):
    path = tmp_path / "design.json"
    path.write_text(json.dumps(l1_design))
    png = tmp_path / "validate.png"
    proc = _cli("validate", "--design", str(path), "--task", json.dumps({**SPARSE, "seed": 3}), "--strength", "0.05",
                "--steps", "2000", "--plot", str(png), tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["design"]["mechanism"] == "weight_decay" and out["data_seed"] == 3
    sol = out["solver"]
    assert sol["solver"] == "sklearn.linear_model.Lasso" and sol["alpha"] == pytest.approx(0.025)
    assert abs(sol["objective_relative_gap"]["max"]) < 1e-6 and sol["relative_distance"]["max"] < 1e-4
    assert sol["same_support"] == [True] and sol["support_solver"] == 3
    assert out["metrics"]["support_precision"]["mean"] == 1.0 and out["metrics"]["support_recall"]["mean"] == 1.0
    assert png.stat().st_size > 5_000


def test_validate_label_noise_against_basis_pursuit(l1_design):
    cand = "hadamard/basis=identity/depth=2/transform=identity/label_noise"
    out = validate(l1_design, {"task": {"kind": "sparse_regression", "n": 20, "d": 30, "k": 2}, "candidate": cand,
                               "steps": 60_000, "seeds": 2, "learning_rate": 0.005, "strength": 0.02, "float64": False,
                               "schedule": "step_decay"})  # V1's fixed protocol: /10 after each third
    assert out["design"]["id"] == cand and out["training"]["schedule"] == "step_decay"
    assert out["training"]["stopped_by"] == "step cap (60000 steps)"
    assert out["solver"]["solver"].startswith("scipy.optimize.linprog") and out["solver"]["constraint_residual"] < 1e-8
    assert out["solver"]["relative_distance"]["max"] < 0.05
    assert out["metrics"]["support_recall"]["min"] == 1.0


def test_validate_matrix_product_against_cvxpy():
    d = design({"target": {"kind": "nuclear"}, "shape": [8, 8], "mechanisms": ["weight_decay"]})
    out = validate(d, {"task": {"kind": "matrix_completion", "rows": 8, "cols": 8, "singular_values": [4.0, 1.0], "observed": 0.6},
                       "strength": 0.01, "steps": 2000, "learning_rate": 1.0, "init_scale": 0.3})
    sol = out["solver"]
    assert sol["solver"].startswith("cvxpy") and sol["status"] == "optimal"
    assert abs(sol["objective_relative_gap"]["max"]) < 1e-5 and sol["relative_distance"]["max"] < 1e-3
    assert "effective_rank" in out["metrics"] and sol["effective_rank_solver"] < 8


def test_sweep_is_one_batched_computation(tmp_path):
    png = tmp_path / "sweep.png"
    out = sweep([0.005, 0.02], families=("gaussian", "alpha_stable1.5"), batch_sizes=(1, 2), seeds=2, steps=500,
                label_noise=1.0, d=20, n=10, k=2, plot=str(png))
    assert len(out["cells"]) == 8 and png.stat().st_size > 5_000
    assert out["prediction"]["distance_to_truth"] < 1e-6
    json.dumps(out)


def test_cli_sweep_bad_input(tmp_path):
    proc = _cli("sweep", "--families", "gaussian,cauchy", tmp_path=tmp_path)
    assert proc.returncode == 2 and "families" in proc.stderr


def test_job_design_then_validate_with_cancel_and_resume(tmp_path):
    spec = {"kind": "design", "target": {"kind": "l1"}, "shape": [30], "mechanisms": ["weight_decay"],
            "validate": {"task": SPARSE, "strength": 0.05, "steps": 2000}}
    events = []
    seen_validation = []

    def cancel():
        seen_validation.append(any(e["stage"].startswith("validate:") for e in events))
        return seen_validation[-1]

    with pytest.raises(JobCancelled):
        run_job(spec, workdir=tmp_path, progress=events.append, should_cancel=cancel)
    assert (tmp_path / "design_result.json").exists()  # the design is kept; only the validation reruns
    events2 = []
    out = run_job(spec, workdir=tmp_path, progress=events2.append, should_cancel=lambda: False)
    assert not any(e["stage"] in ("screen", "refine") for e in events2)
    assert out["artifacts"] == ["result.json", "design.png", "parameterization_torch.py", "parameterization_jax.py", "validate.png"]
    v = out["result"]["validate"]
    assert v["plot"] == "validate.png" and abs(v["solver"]["objective_relative_gap"]["max"]) < 1e-6
    assert events2[-1]["fraction"] == 1.0 and all(set(e) == {"fraction", "stage", "best_fit"} for e in events2)
    fr = [e["fraction"] for e in events2]
    assert fr == sorted(fr)
    assert json.loads((tmp_path / "result.json").read_text())["validate"]["solver"]["solver"] == "sklearn.linear_model.Lasso"


@pytest.mark.parametrize("spec, field", [
    ({"kind": "design", "target": {"kind": "l1"}, "shape": [8], "validate": {"task": {"kind": "sparse_regression"}, "bogus": 1}}, "validate.bogus"),
    ({"kind": "design", "target": {"kind": "l1"}, "shape": [8], "validate": {"task": {"kind": "sparse_regression", "n": 0}}}, "validate.task.n"),
    ({"kind": "design", "target": {"kind": "l1"}, "shape": [8], "validate": {"task": {"kind": "sparse_regression"}, "noise": [{"kind": "label_noise"}]}}, "validate.noise.0.scale"),
])
def test_job_validate_spec_errors_name_the_field(spec, field):
    with pytest.raises(DesignerInputError) as err:
        parse_job_spec(spec)
    assert err.value.field.startswith(field)


def test_shape_mismatch_fails_before_the_design(tmp_path):
    spec = {"kind": "design", "target": {"kind": "l1"}, "shape": [8], "validate": {"task": {"kind": "sparse_regression", "d": 9}}}
    with pytest.raises(DesignerInputError) as err:
        run_job(spec, workdir=tmp_path, progress=lambda e: None, should_cancel=lambda: False)
    assert err.value.field == "validate.task" and not (tmp_path / "design.png").exists()


def test_missing_solver_is_a_clear_error(monkeypatch, l1_design):
    real = importlib.import_module

    def fake(name, *a, **k):
        if name.startswith("sklearn"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(MissingSolver, match=r"scikit-learn.*pip install 'implicit-bias-designer\[solvers\]'"):
        lasso(np.eye(3), np.ones(3), 0.1)
    out = validate(l1_design, {"task": SPARSE, "strength": 0.05, "steps": 500, "polish": False})
    assert out["solver"]["available"] is False and "solvers" in out["solver"]["reason"]
    assert out["metrics"]["recovery_error"]["mean"] >= 0  # training still reported
