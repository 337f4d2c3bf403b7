"""Every closed form registered next to a family agrees with the geometry engine (constants included).

Generated from the registries: for every family row of the contract tests (``CASES``) and every
mechanism in ``MECHANISMS`` (one per sum row: a sum's engine is slow to compile), a registered closed form (``family.closed_form(kind)``) must equal
``mechanism.shape(family, z)`` of the autodiff engine at random predictors; and every family that
scores design candidates with its own closed forms (``score_candidates``) must give the fit the
engine gives on the same design problem.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from designer.design._request import parse_design_request
from designer.design._scoring import engine_scores
from designer.design._search import _family_candidates, build_problem
from designer.families import FAMILIES, build_family
from designer.mechanisms import MECHANISMS, build_mechanism

from .test_family_contract import CASES

RNG = np.random.default_rng(3)
#: The engine's label noise runs an L-BFGS over the orbit (slow to compile): small cases only.
LABEL_NOISE_MAX_PARAMS = 24

#: A sum's engine is a fibre minimum over all parameters (25 to 55 s to compile each mechanism on
#: 2 cores), so each sum row compares one mechanism: weight decay for Huber (hadamard + linear) and
#: robust PCA (matrix product + hadamard), label noise for the free offset before a cumsum Hadamard
#: product (its closed form is checked against exact oracles in test_sum_closed_forms.py).
SUM_ENGINE_MECHANISM = {"free": "label_noise"}


def _row(name, spec, shape):
    if name == "sum":
        return pytest.param(name, spec, shape, marks=pytest.mark.slow)
    return (name, spec, shape)


ROWS = [_row(name, spec, shape) for name in FAMILIES for spec, shape, _ in CASES.get(name, [])]
EXTRA = [  # knob-carrying transforms and more depths of the families with closed forms
    ("hadamard", {"family": "hadamard", "depth": 3, "basis": "cumsum", "transform": {"kind": "asinh", "scale": 0.7}}, (6,)),
    ("hadamard", {"family": "hadamard", "depth": 2, "basis": "haar", "transform": {"kind": "signed_power", "exponent": 1.7}}, (8,)),
    ("matrix_product", {"family": "matrix_product", "depth": 4}, (3, 3)),
    ("matrix_product", {"family": "matrix_product"}, (2, 3)),
]


def _point(fam):
    shape = fam.predictor_shape
    if len(shape) == 2 and fam.name == "matrix_product":
        return RNG.standard_normal(shape) * 2.0
    return RNG.standard_normal(shape) * 3.0


@pytest.mark.parametrize("name, spec, shape", ROWS + EXTRA, ids=lambda v: v if isinstance(v, str) else None)
def test_registered_closed_forms_match_the_engine(name, spec, shape):
    fam = build_family(spec, shape)
    checked = 0
    kinds = list(MECHANISMS)
    if name == "sum":
        kinds = [SUM_ENGINE_MECHANISM.get(spec["terms"][0]["family"], "weight_decay")]
    for kind in kinds:
        closed = fam.closed_form(kind)
        if closed is None:
            continue
        try:
            mech = build_mechanism({"kind": kind}, fam)
        except ValueError:
            continue
        if kind == "label_noise" and fam.n_params > LABEL_NOISE_MAX_PARAMS:
            continue
        zs = jnp.asarray(np.stack([_point(fam) for _ in range(3)]))
        engine = jax.jit(jax.vmap(lambda z, f=fam, m=mech: m.shape(f, z)))(zs)
        np.testing.assert_allclose(np.asarray(jax.vmap(closed)(zs)), np.asarray(engine), rtol=1e-8, err_msg=f"{name} {kind}")
        checked += 1
    full_rank = name != "matrix_product" or fam.rank == min(fam.rows, fam.cols)  # low rank: no closed form
    table = (spec.get("transform") or {}).get("kind") == "table"  # a Hadamard table transform has closed forms too
    if name in ("hadamard", "group_hadamard", "matrix_product") and full_rank and (name == "hadamard" or not table):
        assert checked >= 2, f"{name} registers closed forms: at least two must have been compared"
    if name in ("sum", "linear", "interval_hadamard"):
        assert checked >= 1, f"{name} registers closed forms: one must have been compared"


PROBLEMS = [
    {"target": {"kind": "lp", "p": 0.7}, "shape": [8], "max_depth": 3},
    {"target": {"kind": "group_l21", "group_size": 2}, "shape": [6], "max_depth": 2},
    {"target": {"kind": "schatten", "p": 0.5}, "shape": [3, 2], "max_depth": 3},
]


@pytest.mark.parametrize("request_", PROBLEMS, ids=lambda r: r["target"]["kind"])
def test_closed_form_scorers_give_the_engines_fit(request_):
    prob = build_problem(*parse_design_request({**request_, "sampling": {"n_points": 16}}))
    # candidates the family hands to the engine itself ("/engine/" groups) would compare the engine with itself
    cands = [c for c in _family_candidates(prob, None) if getattr(FAMILIES[c["family"]], "score_candidates", None)
             and "/engine/" not in c["group"]]
    cands = [c for c in cands if not (c["mechanism"] == "label_noise" and c["family"] == "matrix_product"
                                      and np.prod(prob.shape) > 6)]
    # the engine's label noise compiles an L-BFGS over the orbit per candidate (~15 s): every depth on
    # the first basis and the first depth on the cumsum basis (weights |B e_i|^2 = d - i, not all 1)
    # are enough here; every basis's label-noise closed form is compared with the engine above
    first_basis = cands[0].get("traits", {}).get("basis")
    seen, kept = set(), []
    for c in cands:
        basis = (c.get("traits") or {}).get("basis")
        key = (c["family"], (c.get("traits") or {}).get("depth")) if basis == first_basis else (c["family"], basis)
        if c["mechanism"] == "label_noise":
            # a table transform's engine label noise compiles for ~50 s; its closed form is compared with
            # the engine above (the table row), and the scorer is the same fit of that closed form
            if basis not in (first_basis, None, "cumsum") or (c.get("traits") or {}).get("transform") == "table":
                continue
            if key in seen:
                continue
            seen.add(key)
        kept.append(c)
    cands = kept
    assert cands, "the problem must exercise a closed-form scorer"
    for c in cands:
        closed = FAMILIES[c["family"]].score_candidates(prob, [c])[0]
        engine = engine_scores(prob, [c])[0]
        assert closed["fit_error"] == pytest.approx(engine["fit_error"], rel=1e-6, abs=1e-9), c["id"]
        assert closed["a"] == pytest.approx(engine["a"], rel=1e-7, abs=1e-12), c["id"]
        assert closed["b"] == pytest.approx(engine["b"], rel=1e-7, abs=1e-9), c["id"]


def test_matrix_gauge_equal_singular_values_is_stable():
    from designer.families._matrix_closed import matrix_shapes

    s = jnp.asarray([2.0, 2.0, 2.0 * (1 + 1e-12), 0.5])
    for depth in (2.0, 3.0, 5.0):
        g = float(matrix_shapes(s, depth, 4.0, 4.0)[1])
        x = np.asarray(s) ** (2 / depth)
        ref = 0.5 * sum(np.log(sum(x[i] ** k * x[j] ** (depth - 1 - k) for k in range(int(depth)))) for i in range(4) for j in range(i, 4))
        np.testing.assert_allclose(g, ref, rtol=1e-12)
