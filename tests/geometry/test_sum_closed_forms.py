"""A sum's closed form: the infimal convolution of its terms' convex atoms (designer.families._sum_closed).

Oracles: ``scipy.special.huber`` (L1 with half squared L2), numpy total variation (a free offset in
front of a cumsum Hadamard product), the robust-PCA penalty by cvxpy (nuclear with lambda L1), scipy's
bounded scalar minimiser for a one-dimensional offset, and hand formulas (singular values, weighted
medians). The registry test (test_registered_closed_forms.py) checks the same forms against the
engine's fibre minimum.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.special import huber

from designer.design import _scoring
from designer.families import build_family
from designer.families._sum_closed import score_sum

from .theory_oracles import robust_pca_penalty

RNG = np.random.default_rng(11)
HUBER = {"family": "sum", "terms": [{"family": "hadamard"}, {"family": "linear"}]}
TV = {"family": "sum", "terms": [{"family": "free"}, {"family": "hadamard", "basis": "cumsum"}]}
RPCA = {"family": "sum", "terms": [{"family": "matrix_product"}, {"family": "hadamard"}]}


def _closed(spec, shape, mechanism="weight_decay"):
    fn = build_family(spec, shape).closed_form(mechanism)
    assert fn is not None
    return lambda pts: np.asarray(jax.jit(jax.vmap(fn))(jnp.asarray(pts)))


@pytest.mark.parametrize("delta", [0.3, 1.0, 2.5])
def test_l1_infconv_half_squared_l2_is_huber(delta):
    pts = RNG.uniform(-4, 4, size=(6, 7))
    # weights [1/delta, 1]: delta |x|_1 (weight decay on (1/delta) u v) and |y|^2 / 2
    values = _closed({**HUBER, "weights": [1.0 / delta, 1.0]}, (7,))(pts)
    np.testing.assert_allclose(values, huber(delta, pts).sum(axis=1), rtol=1e-13)
    # any weights: |x|_1 / w1 and |y|^2 / (2 w2^2) = (1 / w2^2) (w2^2 / w1 |x|_1 + |y|^2 / 2)
    w1, w2 = 0.7, 1.9
    values = _closed({**HUBER, "weights": [w1, w2]}, (7,))(pts)
    np.testing.assert_allclose(values, huber(w2**2 / w1, pts).sum(axis=1) / w2**2, rtol=1e-13)


def test_huber_in_an_orthonormal_basis_is_huber_of_the_coefficients():
    from designer import bases

    spec = {"family": "sum", "terms": [{"family": "hadamard", "basis": "cosine"}, {"family": "linear"}]}
    pts = RNG.normal(size=(4, 8)) * 2
    coeffs = bases.analyze("cosine", pts)
    np.testing.assert_allclose(_closed(spec, (8,))(pts), huber(1.0, coeffs).sum(axis=1), rtol=1e-12)


@pytest.mark.parametrize("d", [2, 9, 1000])
def test_free_offset_plus_cumsum_hadamard_is_total_variation(d):
    pts = RNG.normal(size=(4, d)) * RNG.uniform(0.1, 5.0, size=(1, d))
    np.testing.assert_allclose(_closed(TV, (d,))(pts), np.abs(np.diff(pts, axis=1)).sum(axis=1), rtol=1e-13, atol=0)


def test_free_offset_label_noise_weights_the_differences():
    # label noise on a depth-2 Hadamard product: 2 |B e_i|^2 |c_i|, with |B e_i|^2 = d - i for cumsum
    d, w = 6, 1.3
    pts = RNG.normal(size=(3, d))
    weights = 2.0 * w * (d - np.arange(1, d))  # weight w: w^2 R(x / w) = w R(x)
    expect = (weights * np.abs(np.diff(pts, axis=1))).sum(axis=1)
    np.testing.assert_allclose(_closed({**TV, "weights": [1.0, w]}, (d,), "label_noise")(pts), expect, rtol=1e-13)


def test_free_offset_of_a_l1_term_in_another_basis_is_the_one_dimensional_minimum():
    # a given (dense) map: A 1 has no zero entry, the weighted median is not a single coefficient
    b = RNG.normal(size=(5, 5)) + 3 * np.eye(5)
    spec = {"family": "sum", "terms": [{"family": "free"}, {"family": "hadamard", "basis": {"kind": "matrix", "values": b.tolist()}}]}
    pts = RNG.normal(size=(3, 5))
    a_inv = np.linalg.inv(b)
    oracle = [minimize_scalar(lambda t: np.abs(a_inv @ (z - t)).sum(), bracket=(-5, 5), method="brent", tol=1e-12).fun for z in pts]
    np.testing.assert_allclose(_closed(spec, (5,))(pts), oracle, rtol=1e-10)
    # with a squared norm instead: the least-squares offset
    spec = {"family": "sum", "terms": [{"family": "free"}, {"family": "linear", "basis": {"kind": "matrix", "values": b.tolist()}}]}
    oracle = [minimize_scalar(lambda t: 0.5 * np.sum((a_inv @ (z - t)) ** 2), method="brent", tol=1e-12).fun for z in pts]
    np.testing.assert_allclose(_closed(spec, (5,))(pts), oracle, rtol=1e-10)


def test_nuclear_infconv_l1_is_the_robust_pca_penalty():
    pytest.importorskip("cvxpy")
    lam = 0.45
    rng = np.random.default_rng(21)  # its own points, whatever ran before (the solver's iterations depend on them)
    pts = rng.normal(size=(4, 5, 4))
    pts[0] += 4.0 * np.outer(rng.normal(size=5), rng.normal(size=4))
    values = _closed({**RPCA, "weights": [1.0, 1.0 / lam]}, (5, 4))(pts)
    oracle = np.array([robust_pca_penalty(z, lam, tol=1e-10) for z in pts])
    np.testing.assert_allclose(values, oracle, rtol=1e-8)
    # both parts are used (the value is below either pure norm)
    assert np.all(oracle < np.minimum(np.linalg.norm(pts, "nuc", axis=(1, 2)), lam * np.abs(pts).sum(axis=(1, 2))) - 1e-3)


def test_nuclear_infconv_squared_frobenius_is_huber_of_the_singular_values():
    spec = {"family": "sum", "terms": [{"family": "matrix_product"}, {"family": "linear"}], "weights": [0.5, 1.0]}
    pts = RNG.normal(size=(3, 4, 3)) * 2
    s = np.linalg.svd(pts, compute_uv=False)
    np.testing.assert_allclose(_closed(spec, (4, 3))(pts), huber(2.0, s).sum(axis=1), rtol=1e-12)


def test_same_kind_terms_take_the_cheaper_weight():
    pts = RNG.normal(size=(3, 6))
    l1 = {"family": "sum", "terms": [{"family": "hadamard"}, {"family": "hadamard"}], "weights": [2.0, 0.5]}
    np.testing.assert_allclose(_closed(l1, (6,))(pts), 0.5 * np.abs(pts).sum(axis=1), rtol=1e-14)
    sq = {"family": "sum", "terms": [{"family": "linear"}, {"family": "linear", "basis": "cosine"}], "weights": [1.0, 2.0]}
    # (1/2)|x|^2 and (1/8)|y|^2: harmonic coefficient 1/5
    np.testing.assert_allclose(_closed(sq, (6,))(pts), 0.1 * (pts**2).sum(axis=1), rtol=1e-13)


def test_label_noise_of_a_linear_term_is_a_constant_whatever_the_split():
    # the linear term's Jacobian does not depend on theta: tr = w^2 |B|_F^2 = w^2 d, the Hadamard term takes 0
    pts = RNG.normal(size=(3, 5))
    np.testing.assert_allclose(_closed({**HUBER, "weights": [1.0, 0.6]}, (5,), "label_noise")(pts), 0.36 * 5, rtol=1e-14)


@pytest.mark.parametrize(
    "spec, shape, mechanism",
    [
        ({"family": "sum", "terms": [{"family": "hadamard", "depth": 3}, {"family": "linear"}]}, (4,), "weight_decay"),  # l_{2/3}
        ({"family": "sum", "terms": [{"family": "hadamard", "transform": {"kind": "asinh"}}, {"family": "linear"}]}, (4,), "weight_decay"),
        ({"family": "sum", "terms": [{"family": "hadamard"}, {"family": "hadamard", "basis": "cosine"}]}, (4,), "weight_decay"),
        ({"family": "sum", "terms": [{"family": "free"}, {"family": "hadamard"}, {"family": "linear"}]}, (4,), "weight_decay"),
        ({"family": "sum", "terms": [{"family": "matrix_product", "rank": 1}, {"family": "hadamard"}]}, (3, 3), "weight_decay"),
        (HUBER, (4,), "gauge"),
    ],
)
def test_sums_without_a_form_here_stay_with_the_engine(spec, shape, mechanism):
    assert build_family(spec, shape).closed_form(mechanism) is None


@pytest.mark.parametrize(
    "spec, shape, mechanisms",
    [
        ({"family": "hadamard"}, (5,), ("weight_decay", "label_noise")),
        ({"family": "hadamard", "basis": "cumsum"}, (5,), ("weight_decay", "label_noise")),
        ({"family": "hadamard", "basis": "cumsum2d"}, (2, 3), ("weight_decay", "label_noise")),
        ({"family": "matrix_product"}, (3, 2), ("weight_decay", "label_noise")),
        ({"family": "linear", "basis": "haar"}, (4,), ("weight_decay", "label_noise")),
    ],
)
def test_a_single_term_atom_is_its_registered_closed_form(spec, shape, mechanisms):
    from designer.families import Sum
    from designer.families._sum_closed import closed_form

    fam = build_family(spec, shape)
    pts = jnp.asarray(RNG.normal(size=(3, *shape)))
    for m in mechanisms:
        one = Sum((fam,), (1.0,))  # a one-term sum: the atom's own value
        np.testing.assert_allclose(np.asarray(jax.vmap(closed_form(one, m))(pts)), np.asarray(jax.vmap(fam.closed_form(m))(pts)),
                                   rtol=1e-13, err_msg=m)


def test_sum_scoring_compiles_once_for_any_weight():
    pts = jnp.asarray(RNG.normal(size=(8, 6)))
    t = jnp.asarray(huber(0.5, np.asarray(pts)).sum(axis=1))
    fam = build_family({**HUBER, "weights": [2.0, 1.0]}, (6,))
    err, a, _ = score_sum(fam, "weight_decay", pts, t)
    assert float(err) < 1e-12 and float(a) == pytest.approx(1.0, rel=1e-12)
    before = _scoring.TRACES["score_sum"]
    err, a, _ = score_sum(build_family({**HUBER, "weights": [0.25, 1.0]}, (6,)), "weight_decay", pts * 3, t)
    assert _scoring.TRACES["score_sum"] == before  # a new weight is a new leaf value, not a new trace
    assert float(err) > 1e-3  # and it is used: delta = 4 does not fit Huber_0.5
