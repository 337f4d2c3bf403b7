"""'designer design' end to end, the jobs seam and the catalogue."""

import json
import os
import subprocess
import sys

import pytest

from designer.catalog import describe
from designer.errors import DesignerInputError
from designer.families import FAMILIES
from designer.jobs import JobCancelled, parse_job_spec, run_job
from designer.mechanisms import MECHANISMS
from designer.targets import TARGETS


def _cli(*args, tmp_path):
    env = {**os.environ, "DESIGNER_JAX_CACHE": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "designer.cli", "design", *args], capture_output=True, text=True, env=env, timeout=300)


def test_cli_end_to_end(tmp_path):
    out, png = tmp_path / "result.json", tmp_path / "design.png"
    proc = _cli("--target", '{"kind":"l1"}', "--shape", "32", "--out", str(out), "--plot", str(png), tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["best"]["param"]["family"] == "hadamard" and result["fit_error"] < 1e-6
    assert png.stat().st_size > 10_000
    assert "\r" not in proc.stderr  # no progress bar when stderr is not a terminal


def test_cli_stdout_and_mechanisms(tmp_path):
    proc = _cli("--target", '{"kind":"nuclear"}', "--shape", "6,6", "--mechanisms", "gauge", "--budget", "2", "--seed", "3", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["mechanisms"] == ["gauge"] and result["candidates_scored"] == 2 and result["seed"] == 3
    assert "note:" in proc.stderr  # not an exact match: said so


def test_cli_bad_input_and_help(tmp_path):
    proc = _cli("--target", '{"kind":"lp","p":7}', "--shape", "8", tmp_path=tmp_path)
    assert proc.returncode == 2 and "target.p" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "designer.cli", "design", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "example" in proc.stdout and "--mechanisms" in proc.stdout


def test_job_design(tmp_path):
    events = []
    out = run_job({"kind": "design", "target": {"kind": "l1"}, "shape": [16]},
                  workdir=tmp_path, progress=events.append, should_cancel=lambda: False)
    assert out["artifacts"] == ["result.json", "design.png", "parameterization_torch.py", "parameterization_jax.py"]
    assert all((tmp_path / a).stat().st_size > 0 for a in out["artifacts"])
    from designer.export import export_design

    assert (tmp_path / "parameterization_jax.py").read_text() == export_design(out["result"], "jax")
    assert out["result"]["export"] == {"candidate": out["result"]["best"]["id"],
                                       "files": ["parameterization_torch.py", "parameterization_jax.py"]}
    assert out["result"]["fit_error"] < 1e-6 and "validate" not in out["result"]  # validation: tests/validate
    json.dumps(out["result"])
    assert events[-1]["fraction"] == 1.0 and all(set(e) == {"fraction", "stage", "best_fit"} for e in events)


def test_job_cancel_then_resume(tmp_path):
    spec = {"kind": "design", "target": {"kind": "log_sum", "epsilon": 0.01}, "shape": [16]}
    polls = iter(range(100))
    with pytest.raises(JobCancelled):
        run_job(spec, workdir=tmp_path, progress=lambda e: None, should_cancel=lambda: next(polls) >= 1)
    assert (tmp_path / "design_state.json").exists()
    out = run_job(spec, workdir=tmp_path, progress=lambda e: None, should_cancel=lambda: False)
    fresh = run_job(spec, workdir=tmp_path / "fresh", progress=lambda e: None, should_cancel=lambda: False)
    assert out["result"]["candidates"] == fresh["result"]["candidates"]


@pytest.mark.parametrize("spec, field", [
    ({"kind": "design", "target": {"kind": "l1"}, "shape": [8], "validate": {"task": {"kind": "sparse_regression", "d": 8}, "bogus": 1}}, "validate.bogus"),
    ({"kind": "design", "target": {"kind": "l1"}, "shape": [8], "validate": {}}, "validate.task"),
    ({"kind": "design", "target": {"kind": "lp", "p": 9}, "shape": [8]}, "target.p"),
    ({"kind": "reproduce", "figure": "fig9"}, "figure"),
    ({"kind": "sleep"}, "kind"),
])
def test_job_spec_errors_name_the_field(spec, field):
    with pytest.raises(DesignerInputError) as err:
        parse_job_spec(spec)
    assert err.value.field == field


def test_catalog_generated_from_specs():
    cat = describe()
    assert [e["name"] for e in cat["families"]] == list(FAMILIES)
    assert [e["name"] for e in cat["targets"]] == list(TARGETS)
    assert [e["name"] for e in cat["mechanisms"]] == list(MECHANISMS)
    for section in cat.values():
        for entry in section:
            assert entry["description"]
            for knob in entry["knobs"]:
                assert {"name", "type", "minimum", "maximum", "default"} <= set(knob)
    lp = next(e for e in cat["targets"] if e["name"] == "lp")
    assert lp["knobs"][0] | {} == lp["knobs"][0] and lp["knobs"][0]["name"] == "p" and lp["knobs"][0]["maximum"] == 2.0
    basis = next(e for e in cat["targets"] if e["name"] == "basis_l1")["knobs"][0]
    assert basis["choices"] == ["cosine", "haar"]
    json.dumps(cat)
