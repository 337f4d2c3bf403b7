"""Sums of parameterizations and free parameters: the infimal convolution computed by the engine.

Oracles: the Huber function (L1 with half squared L2), total variation (a free offset in front
of ``cumsum(u * v)``), the robust-PCA penalty ``min_{L + S = Z} |L|_* + lam |S|_1`` solved by cvxpy,
and a one-dimensional infimal convolution solved by SciPy for label noise.
"""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from designer import DesignerInputError, evaluate_points
from designer.bias import _bias_chunk, induced_bias
from designer.families import build_family
from designer.mechanisms import build_mechanism

from .theory_oracles import robust_pca_penalty

WD = {"kind": "weight_decay"}
HUBER = {"family": "sum", "terms": [{"family": "hadamard"}, {"family": "linear"}]}
TV = {"family": "sum", "terms": [{"family": "free"}, {"family": "hadamard", "basis": "cumsum"}]}


@pytest.mark.slow  # compiles the fibre minimum (L-BFGS, eigh and KKT Newton in while loops)
def test_l1_plus_half_squared_l2_is_huber():
    pts = np.random.default_rng(0).uniform(-3, 3, size=(6, 4))
    values = np.array(evaluate_points(HUBER, WD, pts.tolist())["values"])
    a = np.abs(pts)
    huber = np.where(a <= 1, 0.5 * a**2, a - 0.5).sum(axis=1)
    np.testing.assert_allclose(values, huber, rtol=1e-9)
    # a weight on the linear term: (1/2)|x / w|^2, so the threshold moves to w^2
    w = 1.5
    values = np.array(evaluate_points({**HUBER, "weights": [1.0, w]}, WD, pts.tolist())["values"])
    huber_w = np.where(a <= w**2, 0.5 * a**2 / w**2, a - 0.5 * w**2).sum(axis=1)
    np.testing.assert_allclose(values, huber_w, rtol=1e-9)


@pytest.mark.slow  # compiles the fibre minimum (L-BFGS, eigh and KKT Newton in while loops)
def test_free_offset_before_cumsum_hadamard_is_total_variation():
    pts = np.random.default_rng(1).normal(size=(5, 6))
    values = np.array(evaluate_points(TV, WD, pts.tolist())["values"])
    np.testing.assert_allclose(values, np.abs(np.diff(pts, axis=1)).sum(axis=1), rtol=0, atol=1e-9)
    # without the offset the first coefficient is charged too
    alone = np.array(evaluate_points({"family": "hadamard", "basis": "cumsum"}, WD, pts.tolist())["values"])
    np.testing.assert_allclose(alone - values, np.abs(pts[:, 0]), rtol=1e-9)


@pytest.mark.slow  # compiles the fibre minimum (L-BFGS, eigh and KKT Newton in while loops)
def test_nuclear_plus_l1_is_the_robust_pca_penalty():
    pytest.importorskip("cvxpy")
    rng = np.random.default_rng(2)
    lam = 0.6
    spec = {"family": "sum", "terms": [{"family": "matrix_product"}, {"family": "hadamard"}], "weights": [1.0, 1.0 / lam]}
    pts = rng.normal(size=(3, 4, 3))
    pts[0] += 4.0 * np.outer(rng.normal(size=4), rng.normal(size=3))  # a low-rank part that dominates
    values = np.array(evaluate_points(spec, WD, pts.tolist())["values"])
    oracle = []
    for z in pts:
        oracle.append(robust_pca_penalty(z, lam, tol=1e-12))
        # both parts are used: the penalty is below either pure norm
        assert oracle[-1] < min(np.linalg.norm(z, "nuc"), lam * np.abs(z).sum()) - 1e-3
    np.testing.assert_allclose(values, oracle, rtol=1e-7)


@pytest.mark.slow  # label noise inside the fibre minimum: third derivatives to compile
def test_label_noise_on_a_sum_is_the_infimal_convolution_of_the_terms():
    # depth 2: 2|x| per coordinate; depth 3: 3|x|^{4/3} (theory.md section 3, unit = 1)
    spec = {"family": "sum", "terms": [{"family": "hadamard"}, {"family": "hadamard", "depth": 3}]}
    pts = np.random.default_rng(3).uniform(-2, 2, size=(3, 3))
    values = np.array(evaluate_points(spec, {"kind": "label_noise", "learning_rate": 4.0}, pts.tolist())["values"])
    per_coord = lambda z: minimize_scalar(lambda x: 2 * abs(x) + 3 * abs(z - x) ** (4 / 3), bounds=(min(0, z), max(0, z)), method="bounded", options={"xatol": 1e-13}).fun
    oracle = [sum(per_coord(z) for z in row) for row in pts]
    np.testing.assert_allclose(values, oracle, rtol=1e-7)


@pytest.mark.slow  # compiles the fibre minimum (L-BFGS, eigh and KKT Newton in while loops)
def test_sum_compiles_once_and_batches():
    fam = build_family(HUBER, (3,))
    mech = build_mechanism(WD, fam)
    pts = np.random.default_rng(4).normal(size=(4, 3))
    first = induced_bias(fam, mech, pts)
    size = _bias_chunk._cache_size()
    second = induced_bias(fam, mech, pts * 2.0)
    assert _bias_chunk._cache_size() == size
    a = np.abs(pts)
    np.testing.assert_allclose(first, np.where(a <= 1, 0.5 * a**2, a - 0.5).sum(axis=1), rtol=1e-9)
    a = 2 * a
    np.testing.assert_allclose(second, np.where(a <= 1, 0.5 * a**2, a - 0.5).sum(axis=1), rtol=1e-9)


def test_free_family_alone_has_zero_bias():
    out = evaluate_points({"family": "free", "span": "all"}, WD, [[1.0, -2.0], [3.0, 4.0]])
    assert out["values"] == [0.0, 0.0]


def test_linear_family_weight_decay_is_half_squared_norm_of_the_coefficients():
    rng = np.random.default_rng(5)
    b = rng.normal(size=(3, 3)) + 2 * np.eye(3)
    pts = rng.normal(size=(4, 3))
    out = evaluate_points({"family": "linear", "basis": {"kind": "matrix", "values": b.tolist()}}, WD, pts.tolist())
    np.testing.assert_allclose(out["values"], 0.5 * (np.linalg.solve(b, pts.T) ** 2).sum(axis=0), rtol=1e-12)


@pytest.mark.parametrize(
    "param,mechanism,points,field,words",
    [
        (HUBER, {"kind": "gauge"}, [[1.0, 2.0]], "mechanism.kind", "one group orbit"),
        ({"family": "sum", "terms": [{"family": "hadamard", "dim": 3}, {"family": "linear"}]}, WD, [[1.0, 2.0]], "param.terms[0].dim", "length 2"),
        ({"family": "sum", "terms": [{"family": "hadamard"}, {"family": "matrix_product"}]}, WD, [[1.0, 2.0]], "param.terms[1]", "matrices"),
        ({"family": "sum", "terms": [{"family": "hadamard", "depth": 1}, {"family": "linear"}]}, WD, [[1.0, 2.0]], "param.terms[0].depth", "greater than or equal"),
        ({"family": "sum", "terms": [{"family": "hadamard"}, {"family": "nope"}]}, WD, [[1.0, 2.0]], "param.terms[1]", "nope"),
        ({**HUBER, "weights": [1.0]}, WD, [[1.0, 2.0]], "param.weights", "one per term"),
        ({**HUBER, "weights": [1.0, -1.0]}, WD, [[1.0, 2.0]], "param.weights[1]", "(0, 1e6]"),
        ({"family": "sum", "terms": [HUBER, {"family": "linear"}]}, WD, [[1.0, 2.0]], "param.terms[0].family", "not itself a sum"),
    ],
)
def test_bad_sums_name_the_field(param, mechanism, points, field, words):
    with pytest.raises(DesignerInputError) as info:
        evaluate_points(param, mechanism, points)
    assert info.value.field == field
    assert words in info.value.message


def test_mismatched_term_sizes_without_points():
    spec = {"family": "sum", "terms": [{"family": "hadamard", "dim": 3}, {"family": "hadamard", "dim": 4}]}
    with pytest.raises(DesignerInputError) as info:
        build_family(spec)
    assert info.value.field == "param.terms[1]" or info.value.field == "param.terms[1].dim"
