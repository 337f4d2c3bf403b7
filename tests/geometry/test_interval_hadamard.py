"""The Hadamard product behind the interval dictionary: its weight-decay bias is the fused lasso.

The registered closed form (``sum_i |z_{i+1} - z_i| + lambda sum_i |z_i|``, the coarea formula) is
checked against the definition of the bias, the weighted-L1 synthesis problem
``min { sum_I c_I |y_I| : sum_I y_I 1_I = z }``, solved as a linear program by scipy's HiGHS, and
against cvxpy's fused lasso; the balanced point against the same minimum. The comparison with the
engine's numerical fibre minimum is the family's row of test_registered_closed_forms.py.
"""

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import linprog

from designer import DesignerInputError, evaluate_points
from designer.families import build_family
from designer.families.interval_hadamard import MAX_DIM, atom_costs, intervals
from designer.mechanisms import build_mechanism

RNG = np.random.default_rng(11)


def _dictionary(d):
    a, b = intervals(d)
    i = np.arange(d)[:, None]
    return ((i >= a[None, :]) & (i <= b[None, :])).astype(np.float64)


def _synthesis_lp(z, lam):
    """``min sum_I c_I |y_I|`` s.t. ``sum_I y_I 1_I = z`` (y = p - q, p, q >= 0), HiGHS."""
    d = len(z)
    m, c = _dictionary(d), atom_costs(d, lam)
    res = linprog(np.concatenate([c, c]), A_eq=np.hstack([m, -m]), b_eq=z, bounds=(0, None), method="highs",
                  options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10})
    assert res.status == 0
    return res.fun


def _points(d, n=4):
    # piecewise-constant signals with zeros and repeated levels (ties exercise the layer cake) and dense ones
    pts = []
    for k in range(n):
        if k % 2:
            pts.append(RNG.standard_normal(d) * 3.0)
        else:
            levels = RNG.choice([-2.0, -0.5, 0.0, 0.0, 1.0, 3.0], size=d)
            pts.append(np.repeat(levels[: (d + 1) // 2], 2)[:d])
    return np.stack(pts)


@pytest.mark.parametrize("d, lam", [(2, 1.0), (5, 0.3), (9, 1.0), (14, 2.5)])
def test_closed_form_is_the_synthesis_minimum(d, lam):
    fam = build_family({"family": "interval_hadamard", "lambda": lam}, (d,))
    zs = _points(d)
    closed = np.asarray(jax.vmap(fam.closed_form("weight_decay"))(jnp.asarray(zs)))
    lp = np.array([_synthesis_lp(z, lam) for z in zs])
    np.testing.assert_allclose(closed, lp, rtol=1e-9)
    # cvxpy's fused lasso of the same points
    for z, v in zip(zs, closed):
        x = cp.Constant(z)
        ref = (cp.norm1(cp.diff(x)) + lam * cp.norm1(x)).value
        assert v == pytest.approx(float(ref), rel=1e-12)


@pytest.mark.parametrize("d, lam", [(4, 0.7), (13, 0.2)])
def test_balanced_point_is_the_least_norm_point_of_the_fibre(d, lam):
    fam = build_family({"family": "interval_hadamard", "lambda": lam}, (d,))
    wd = build_mechanism({"kind": "weight_decay"}, fam)
    zs = _points(d, 3)

    @jax.jit
    def run(fam, zs):
        one = lambda z: (fam.balanced_point(z), fam.layer_cake(z), wd.shape(fam, z), fam.closed_form("weight_decay")(z))
        w, y, engine, closed = jax.vmap(one)(zs)
        return w, y, jax.vmap(fam.predictor)(w), engine, closed

    w, y, back, engine, closed = run(fam, jnp.asarray(zs))
    np.testing.assert_allclose(np.asarray(back), zs, atol=1e-12 * np.abs(zs).max())
    u, v = np.asarray(w["u"][:, 0]), np.asarray(w["u"][:, 1])
    np.testing.assert_allclose(u**2, v**2, rtol=0, atol=1e-15)  # balanced: moment map 0
    # |w|^2 / 2 = sum_I |x_I| reaches the LP minimum: the least-norm point of the whole fibre
    lp = np.array([_synthesis_lp(z, lam) for z in zs])
    np.testing.assert_allclose(0.5 * np.sum(u**2 + v**2, axis=1), lp, rtol=1e-9)
    np.testing.assert_allclose(np.asarray(engine), np.asarray(closed), rtol=1e-12)
    # the layer cake uses a laminar family of intervals: at most 2 d - 1 per sign
    assert np.all(np.count_nonzero(np.asarray(y), axis=1) <= 2 * (2 * d - 1))


@pytest.mark.slow
def test_closed_form_is_the_engines_numerical_fibre_minimum():
    # the engine's augmented-Lagrangian fibre minimum (designer.fibre) from the least-norm split
    fam = build_family({"family": "interval_hadamard", "lambda": 0.7}, (4,))
    wd = build_mechanism({"kind": "weight_decay"}, fam)
    zs = jnp.asarray(RNG.standard_normal((3, 4)) * 3.0)
    numeric = jax.jit(jax.vmap(lambda z: fam.fibre_minimum(lambda p: wd.fibre_functional(fam, p), z).value))(zs)
    closed = jax.vmap(fam.closed_form("weight_decay"))(zs)
    np.testing.assert_allclose(np.asarray(numeric), np.asarray(closed), rtol=1e-8)


def test_scaling_of_the_atoms_matches_the_dictionary():
    d, lam = 5, 0.4
    fam = build_family({"family": "interval_hadamard", "lambda": lam}, (d,))
    x = RNG.standard_normal(fam.n_atoms)
    z = np.asarray(fam.synthesize(jnp.asarray(x)))
    np.testing.assert_allclose(z, _dictionary(d) @ (x / atom_costs(d, lam)), rtol=1e-13)
    c = atom_costs(d, lam)
    a, b = intervals(d)
    whole = (a == 0) & (b == d - 1)
    assert c[whole] == pytest.approx(lam * d)  # TV of the whole range is 0
    assert c[(a == 1) & (b == 2)] == pytest.approx(2 + 2 * lam)  # interior: TV 2
    assert c[(a == 0) & (b == 0)] == pytest.approx(1 + lam)  # touches one end: TV 1


@pytest.mark.parametrize(
    "param, mechanism, points, field, words",
    [
        ({"family": "interval_hadamard", "lambda": 0.0}, {"kind": "weight_decay"}, [[1.0, 2.0]], "param.lambda", "greater than 0"),
        ({"family": "interval_hadamard", "dim": MAX_DIM + 1}, {"kind": "weight_decay"}, [[1.0, 2.0]], "param.dim", str(MAX_DIM)),
        ({"family": "interval_hadamard"}, {"kind": "weight_decay"}, [[1.0]], "param.dim", "between 2"),
        ({"family": "interval_hadamard"}, {"kind": "weight_decay"}, [[[1.0, 2.0]]], "points", "vectors"),
        ({"family": "interval_hadamard"}, {"kind": "gauge"}, [[1.0, 2.0]], "mechanism.kind", "overcomplete dictionary"),
    ],
)
def test_bad_input_names_the_field(param, mechanism, points, field, words):
    with pytest.raises(DesignerInputError) as info:
        evaluate_points(param, mechanism, points)
    assert info.value.field == field
    assert words in info.value.message


def test_weight_decay_bias_through_the_public_entry_point():
    z = [[0.0, 1.0, 1.0, -2.0, 0.0]]
    out = evaluate_points({"family": "interval_hadamard", "lambda": 0.5}, {"kind": "weight_decay", "strength": 2.0}, z)
    assert out["values"][0] == pytest.approx(2.0 * (1 + 0 + 3 + 2 + 0.5 * 4), rel=1e-12)


@pytest.mark.slow
def test_label_noise_is_the_weighted_synthesis_minimum():
    # label noise (identity second moment): min sum_I 2 |B e_I|^2 |x_I| = min sum_I 2 (|I| / c_I) |y_I|
    # over z = sum_I y_I 1_I, here by the engine's numerical fibre minimum, against HiGHS
    d, lam = 3, 0.8
    fam = build_family({"family": "interval_hadamard", "lambda": lam}, (d,))
    ln = build_mechanism({"kind": "label_noise"}, fam)
    zs = RNG.standard_normal((2, d)) * 2.0
    engine = np.asarray(jax.jit(jax.vmap(lambda z: ln.shape(fam, z)))(jnp.asarray(zs)))
    a, b = intervals(d)
    weights = 2.0 * (b - a + 1) / atom_costs(d, lam)
    m = _dictionary(d)
    for z, got in zip(zs, engine):
        res = linprog(np.concatenate([weights, weights]), A_eq=np.hstack([m, -m]), b_eq=z, bounds=(0, None), method="highs")
        assert got == pytest.approx(res.fun, rel=1e-7)
