"""The fused lasso's exact design: a depth-2 Hadamard product behind the interval dictionary under
weight decay (declared by the target, scored by the family's closed form)."""

import pytest

from designer.design import design
from designer.design._scoring import TRACES
from designer.families.interval_hadamard import MAX_DIM


def test_fused_lasso_is_exact_at_64():
    req = {"target": {"kind": "fused_lasso", "lambda": 0.5}, "shape": [64], "mechanisms": ["weight_decay"]}
    out = design(req)
    best = out["best"]
    assert best["family"] == "interval_hadamard" and best["mechanism"] == "weight_decay"
    assert best["param"] == {"family": "interval_hadamard", "lambda": 0.5, "dim": 64}
    assert out["exact"] and best["fit_error"] <= 1e-6
    assert best["a"] == pytest.approx(1.0, rel=1e-9) and abs(best["b"]) < 1e-9  # the bias is R* itself
    traces = TRACES["score_interval_hadamard"]
    design({**req, "seed": 1})  # same shapes: no new compilation
    assert TRACES["score_interval_hadamard"] == traces


def test_above_the_dictionarys_limit_the_result_says_why():
    out = design({"target": {"kind": "fused_lasso"}, "shape": [2 * MAX_DIM + 2], "mechanisms": ["weight_decay"],
                  "max_depth": 2, "transforms": False})
    assert not out["exact"]
    assert out["best"]["family"] != "interval_hadamard"
    assert "interval dictionary" in out["note"] and str(MAX_DIM) in out["note"]
    assert any(d["id"].startswith("interval_hadamard") for d in out["dropped_at_full_size"])


def test_lambda_zero_is_total_variation_with_its_exact_sum():
    out = design({"target": {"kind": "fused_lasso", "lambda": 0.0}, "shape": [16], "mechanisms": ["weight_decay"]})
    assert out["best"]["family"] == "sum" and out["exact"]
