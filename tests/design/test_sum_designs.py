"""Sums of parameterizations in the design search: the sums a target declares (``Target.sum_designs``)
are proposed and scored by their closed form (the infimal convolution of the terms' atoms) or, without
one, by the engine's fibre minimum up to a size limit; total variation (free offset + Hadamard on the
cumsum basis, up to d = 10^6), the robust-PCA penalty (matrix product + Hadamard, weights
[1, 1/lambda]) and Huber (Hadamard + linear, weights [1/delta, 1]) are exact.

Oracles: numpy for total variation, cvxpy (Clarabel) for the robust-PCA penalty. The requests match
``test_search.py``'s end-to-end rows (same shapes, 16 points) so one compilation serves both.
"""

import numpy as np
import pytest

from designer import evaluate_points
from designer.design import _scoring, design
from designer.design._request import parse_design_request
from designer.design._search import build_problem
from designer.families.sum import DESIGN_MAX_ENTRIES, SumSpec
from tests.geometry.theory_oracles import robust_pca_penalty

SMALL = {"mechanisms": ["weight_decay"], "max_depth": 2, "transforms": False, "sampling": {"n_points": 16}}


def _problem(target, shape):
    return build_problem(*parse_design_request({"target": target, "shape": shape, "sampling": {"n_points": 8}}))


def test_declared_sums_are_proposed_at_any_size_when_they_have_a_closed_form():
    cands = SumSpec.design_candidates(_problem({"kind": "tv"}, [8]))
    assert [(c["family"], c["mechanism"]) for c in cands] == [("sum", "weight_decay")]
    assert [t["family"] for t in cands[0]["param"]["terms"]] == ["free", "hadamard"] and cands[0]["rule"]
    assert cands[0]["group"].startswith("sum/closed form/")
    spl = SumSpec.design_candidates(_problem({"kind": "sparse_plus_low_rank", "lambda": 0.25}, [4, 4]))
    assert spl[0]["param"]["weights"] == [1.0, 4.0]
    hub = SumSpec.design_candidates(_problem({"kind": "huber", "delta": 0.5}, [8]))
    assert hub[0]["param"]["weights"] == [2.0, 1.0] and [t["family"] for t in hub[0]["param"]["terms"]] == ["hadamard", "linear"]
    assert SumSpec.design_candidates(_problem({"kind": "l1"}, [8])) == []  # declares none
    big = _problem({"kind": "tv"}, [DESIGN_MAX_ENTRIES + 1])
    assert len(SumSpec.design_candidates(big)) == 1 and SumSpec.inexact_reasons(big) == []


class _DeclaresAnEngineSum:
    """A target view declaring a sum without a closed form (an l_{2/3} term: not convex)."""

    def __init__(self, target):
        self._target = target

    def __getattr__(self, name):
        return getattr(self._target, name)

    def sum_designs(self, shape):
        return ({"param": {"family": "sum", "terms": [{"family": "hadamard", "depth": 3}, {"family": "linear"}]},
                 "mechanisms": ("weight_decay",), "rule": "a sum scored by the engine"},)


def test_a_sum_scored_by_the_engine_is_refused_above_the_size_limit():
    import dataclasses

    small = _problem({"kind": "l1"}, [DESIGN_MAX_ENTRIES])
    small = dataclasses.replace(small, target=_DeclaresAnEngineSum(small.target))
    (cand,) = SumSpec.design_candidates(small)
    assert cand["group"].startswith("sum/engine/")
    big = _problem({"kind": "l1"}, [DESIGN_MAX_ENTRIES + 1])
    big = dataclasses.replace(big, target=_DeclaresAnEngineSum(big.target))
    assert SumSpec.design_candidates(big) == []
    (reason,) = SumSpec.inexact_reasons(big)
    assert "not scored" in reason and str(DESIGN_MAX_ENTRIES) in reason and "no closed form" in reason


def test_tv_design_is_exact_at_64():
    res = design({"target": {"kind": "tv"}, "shape": [64], **SMALL})
    best = res["best"]
    assert res["exact"] and best["family"] == "sum" and best["fit_error"] <= 1e-6
    assert best["param"]["terms"] == [{"family": "free"}, {"family": "hadamard", "basis": "cumsum"}]
    assert best["a"] == pytest.approx(1.0, rel=1e-9)  # the bias is TV itself (unit strength)


@pytest.mark.slow  # the robust-PCA solver runs for the target and for the sum on 16 points (about 30 s on 2 shared cores)
def test_sparse_plus_low_rank_design_is_exact_at_12_by_12():
    res = design({"target": {"kind": "sparse_plus_low_rank"}, "shape": [12, 12], **SMALL})
    best = res["best"]
    assert res["exact"] and best["family"] == "sum" and best["fit_error"] <= 1e-6
    assert best["param"]["weights"] == pytest.approx([1.0, 12**0.5])
    assert best["a"] == pytest.approx(1.0, rel=1e-6)


def test_huber_design_is_the_trainable_exact_sum():
    res = design({"target": {"kind": "huber", "delta": 0.7}, "shape": [16], "mechanisms": ["weight_decay"], "max_depth": 2,
                  "sampling": {"n_points": 32}})
    best = res["best"]
    assert res["exact"] and best["family"] == "sum" and best["finite_slope"] is True
    assert best["param"]["weights"] == pytest.approx([1 / 0.7, 1.0]) and best["a"] == pytest.approx(1.0, rel=1e-9)
    # the table transform built from the target is exact too, but psi ~ sqrt(2|x|) at 0: ranked below
    table = [c for c in res["candidates"] if c.get("transform") == "table"]
    assert table and table[0]["fit_error"] <= 1e-6 and table[0]["finite_slope"] is False
    assert table[0]["rank"] > best["rank"]


def test_the_ranking_puts_trainable_exact_designs_first():
    from designer.design._search import rank_key

    base = {"mechanism": "weight_decay", "complexity": [], "family": "hadamard"}
    sharp = {**base, "id": "b", "fit_error": 1e-15, "finite_slope": False}
    smooth = {**base, "id": "c", "fit_error": 1e-7, "finite_slope": True}
    inexact = {**base, "id": "a", "fit_error": 1e-3, "finite_slope": True}
    assert sorted([inexact, sharp, smooth], key=rank_key) == [smooth, sharp, inexact]
    assert sorted([smooth, {**sharp, "finite_slope": True}], key=rank_key)[0]["id"] == "b"  # then the fit


@pytest.mark.slow  # d = 10^6: the full-size check (3 points) and the slice's search (about 35 s on 2 shared cores)
def test_layer_sized_tv_design_is_exact():
    res = design({"target": {"kind": "tv"}, "shape": [1_000_000], **SMALL})
    assert res["exact"] and res["best"]["family"] == "sum" and res["scored_at"]["shape"] == [1024]
    check = res["engine_check"]
    assert check["method"] == "closed form" and check["points"] == 3 and check["max_deviation"] < 1e-9
    assert "fibre minimum" in check["engine_skipped"]


def _affine(values, oracle):
    """Fit error, slope of ``values ~ a oracle + b``."""
    err, a, _ = _scoring.fit_line_host(np.asarray(values), np.asarray(oracle))
    return err, a


@pytest.mark.slow  # compiles the fibre minimum for the search and for evaluate_points
def test_tv_design_is_the_free_offset_plus_cumsum_hadamard_sum():
    res = design({"target": {"kind": "tv"}, "shape": [8], **SMALL})
    best = res["best"]
    assert res["exact"] and best["family"] == "sum" and best["fit_error"] <= 1e-6
    assert best["param"]["terms"] == [{"family": "free"}, {"family": "hadamard", "basis": "cumsum"}]
    pts = np.random.default_rng(5).normal(size=(4, 8)) * np.array([1, 3, 0.1, 2, 1, 5, 0.5, 1])
    values = evaluate_points(best["param"], best["mechanism_spec"], pts.tolist())["values"]
    err, a = _affine(values, np.abs(np.diff(pts, axis=1)).sum(axis=1))
    assert err < 1e-7 and a == pytest.approx(res["strength"], rel=1e-6)
    # a second design of the same shapes reuses the compiled fibre minimum
    before = dict(_scoring.TRACES)
    again = design({"target": {"kind": "tv"}, "shape": [8], **SMALL, "seed": 7})
    assert again["exact"] and dict(_scoring.TRACES) == before


@pytest.mark.slow  # compiles the fibre minimum for the search and for evaluate_points
def test_sparse_plus_low_rank_design_is_the_matrix_product_plus_hadamard_sum():
    pytest.importorskip("cvxpy")
    lam = 0.5  # the default 1 / sqrt(4)
    res = design({"target": {"kind": "sparse_plus_low_rank"}, "shape": [4, 4], **SMALL})
    best = res["best"]
    assert res["exact"] and best["family"] == "sum" and best["fit_error"] <= 1e-6
    assert [t["family"] for t in best["param"]["terms"]] == ["matrix_product", "hadamard"]
    assert best["param"]["weights"] == pytest.approx([1.0, 1.0 / lam])
    rng = np.random.default_rng(6)
    pts = rng.normal(size=(3, 4, 4))
    pts[0] += 3.0 * np.outer(rng.normal(size=4), rng.normal(size=4))
    oracle = [robust_pca_penalty(z, lam, tol=1e-10) for z in pts]
    values = evaluate_points(best["param"], best["mechanism_spec"], pts.tolist())["values"]
    err, a = _affine(values, oracle)
    assert err < 1e-6 and a == pytest.approx(res["strength"], rel=1e-6)


def test_finite_slope_is_read_off_the_transform():
    """psi'(0) is finite unless psi^-1 = r starts flat (r'(0) = 0: Huber's t^2/2) or psi is a power below 1."""
    import jax.numpy as jnp

    from designer.constructive import exact_design
    from designer.families import build_family

    def slope(param):
        return build_family(param, (4,)).finite_slope

    huber_table = exact_design(lambda t: jnp.where(t <= 1.0, 0.5 * t * t, t - 0.5), "weight_decay", breakpoints=(1.0,)).param
    elastic_table = exact_design(lambda t: t + 0.5 * t * t, "weight_decay").param
    assert slope(huber_table) is False and slope(elastic_table) is True
    assert slope({"family": "hadamard", "transform": {"kind": "signed_power", "exponent": 0.5}}) is False
    assert slope({"family": "hadamard", "transform": {"kind": "signed_power", "exponent": 1.5}}) is True
    assert slope({"family": "sum", "terms": [{"family": "hadamard"}, {"family": "linear"}]}) is True
    assert slope({"family": "sum", "terms": [huber_table, {"family": "linear"}]}) is False


def test_elastic_net_declares_no_sum():
    # |z|_1 + (mu/2)|z|^2 is a sum of penalties, not an infimal convolution: no sum of parameterizations has it as bias
    assert SumSpec.design_candidates(_problem({"kind": "elastic_net", "l1_ratio": 0.5}, [8])) == []
