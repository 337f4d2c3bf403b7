"""Bad input gets a clear error naming the field; never a crash or a silent NaN."""

import json
import subprocess
import sys

import numpy as np
import pytest

from designer import DesignerInputError, evaluate_points
from designer.bias import _bias_chunk

GAUGE = {"kind": "gauge", "temperature": 1.0}


@pytest.mark.parametrize(
    "param,mechanism,points,field,words",
    [
        ({"family": "hadamard", "depth": 1}, GAUGE, [[1.0, 2.0]], "param.depth", "greater than or equal to 2"),
        ({"family": "nope"}, GAUGE, [[1.0]], "param", "unknown family 'nope'"),
        ({"family": "hadamard", "knob": 1}, GAUGE, [[1.0]], "param.knob", "Extra inputs"),
        ({"family": "hadamard"}, {"kind": "magic"}, [[1.0]], "mechanism", "unknown kind 'magic'"),
        ({"family": "hadamard"}, {"kind": "gauge", "temperature": -1}, [[1.0]], "mechanism.temperature", "greater than 0"),
        ({"family": "hadamard"}, GAUGE, [[1.0, 2.0], [1.0]], "points", "same shape"),
        ({"family": "hadamard"}, GAUGE, [[1.0, float("nan")]], "points[0]", "non-finite"),
        ({"family": "hadamard"}, GAUGE, [], "points", "empty"),
        ({"family": "hadamard"}, GAUGE, [[[[1.0]]]], "points", "vectors or matrices"),
        ({"family": "hadamard", "dim": 3}, GAUGE, [[1.0, 2.0]], "param.dim", "length 2"),
        ({"family": "hadamard", "basis": "haar"}, GAUGE, [[1.0, 2.0, 3.0]], "param.basis", "power-of-two"),
        ({"family": "group_hadamard", "group_size": 2}, GAUGE, [[1.0, 2.0, 3.0]], "param.group_size", "does not divide"),
        ({"family": "matrix_product"}, GAUGE, [[1.0, 2.0]], "points", "matrices"),
        ({"family": "relu_two_layer", "outputs": 2}, GAUGE, [[[1.0, 2.0, 3.0, 4.0]]], "points[0]", "rank-one"),
        ({"family": "relu_two_layer"}, {"kind": "label_noise"}, [[[1.0, 2.0]]], "mechanism.kind", "linear"),
        ({"family": "hadamard"}, {"kind": "label_noise", "second_moment": [1.0, 2.0, 3.0]}, [[1.0, 2.0]], "mechanism.second_moment", "length 2"),
        ({"family": "hadamard"}, {"kind": "label_noise", "second_moment": [[1.0, 2.0], [0.0, 1.0]]}, [[1.0, 2.0]], "mechanism.second_moment", "symmetric"),
        ({"family": "scalar_product"}, GAUGE, "not a list", "points", "JSON list"),
    ],
)
def test_bad_input_names_the_field(param, mechanism, points, field, words):
    with pytest.raises(DesignerInputError) as info:
        evaluate_points(param, mechanism, points)
    assert info.value.field == field
    assert words in info.value.message


def test_too_many_points_names_the_limit():
    from designer import limits

    with pytest.raises(DesignerInputError, match=str(limits.MAX_POINTS)):
        evaluate_points({"family": "scalar_product"}, GAUGE, np.ones(limits.MAX_POINTS + 1))


def test_singular_points_are_reported_not_nan():
    out = evaluate_points({"family": "hadamard", "depth": 3}, GAUGE, [[1.0, 2.0], [0.0, 1.0], [1.0, 1.0]])
    assert out["singular"] == [1]
    assert out["values"][1] is None
    assert all(np.isfinite(v) for i, v in enumerate(out["values"]) if i != 1)
    # weight decay is finite at the same point: |z|^{2/3} at zero is zero
    wd = evaluate_points({"family": "hadamard", "depth": 3}, {"kind": "weight_decay", "strength": 1.0}, [[0.0, 1.0]])
    assert wd["singular"] == [] and wd["values"][0] == pytest.approx(1.5)


def test_second_call_does_not_recompile():
    param, points = {"family": "hadamard", "depth": 3}, [[1.0, 2.0, 3.0], [0.1, -0.2, 0.3]]
    evaluate_points(param, GAUGE, points)
    before = _bias_chunk._cache_size()
    # same shapes, other values and another temperature: no new compilation
    evaluate_points(param, {"kind": "gauge", "temperature": 3.0}, [[4.0, 5.0, 6.0], [1.0, 1.0, 1.0]])
    assert _bias_chunk._cache_size() == before
    # a different depth is a different program
    evaluate_points({"family": "hadamard", "depth": 2}, GAUGE, points)
    assert _bias_chunk._cache_size() == before + 1


def _cli(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "designer.cli", *args], input=stdin, capture_output=True, text=True, timeout=300)


def test_cli_bias_end_to_end(tmp_path):
    pts = tmp_path / "points.json"
    pts.write_text(json.dumps([[1, 2, 3], [0.5, -1, 0]]))
    run = _cli("bias", "--param", '{"family":"hadamard","depth":3}', "--mechanism", '{"kind":"gauge","temperature":1.0}', "--points", str(pts))
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["singular"] == [1] and out["values"][1] is None
    # 2/3 * log 6 + (3/2) log 3 at T = 1
    assert out["values"][0] == pytest.approx(2.0 / 3.0 * np.log(6.0) + 1.5 * np.log(3.0), rel=1e-12)
    assert "singular" in run.stderr


def test_cli_bad_input_exits_2_with_message(tmp_path):
    run = _cli("bias", "--param", '{"family":"hadamard","depth":1}', "--mechanism", '{"kind":"gauge"}', "--points", "-", stdin="[[1, 2]]")
    assert run.returncode == 2
    assert "param.depth" in run.stderr and "Traceback" not in run.stderr
    run = _cli("bias", "--param", "{not json", "--mechanism", '{"kind":"gauge"}', "--points", "-", stdin="[[1]]")
    assert run.returncode == 2 and "param: not valid JSON" in run.stderr
    run = _cli("bias", "--param", '{"family":"hadamard"}', "--mechanism", '{"kind":"gauge"}', "--points", str(tmp_path / "missing.json"))
    assert run.returncode == 2 and "no such file" in run.stderr
