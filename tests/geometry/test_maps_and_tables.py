"""Fixed linear maps (2-D cumulative sum, given matrices) and table transforms, through the engine.

Oracles: numpy cumulative sums and differences, numpy inverses, SciPy's PCHIP interpolant, and
the closed forms of the weight-decay and label-noise biases of a depth-2 Hadamard product behind a
transform (theory.md section 5.1): weight decay ``sum |psi^{-1}(z_i)|``, label noise
``sum 2 |x_i| psi'(x_i)^2`` with ``x = psi^{-1}(z)``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.interpolate import PchipInterpolator

from designer import DesignerInputError, evaluate_points
from designer.families import build_family
from designer.linear_maps import NamedMap
from designer.transforms import TableTransformSpec

WD = {"kind": "weight_decay"}
LN = {"kind": "label_noise", "learning_rate": 4.0}  # unit = eta sigma^2 / 4 = 1


def test_cumsum2d_is_2d_cumulative_sum_and_mixed_differences():
    rng = np.random.default_rng(0)
    c = rng.normal(size=(4, 5))
    m = NamedMap("cumsum2d", (4, 5))
    z = np.asarray(m.synth(jnp.asarray(c)))
    np.testing.assert_allclose(z, np.cumsum(np.cumsum(c, 0), 1), rtol=1e-14, atol=1e-14)
    back = np.asarray(m.analysis(jnp.asarray(z)))
    mixed = np.diff(np.diff(np.pad(z, ((1, 0), (1, 0))), axis=0), axis=1)
    np.testing.assert_allclose(back, mixed, rtol=0, atol=1e-13)
    np.testing.assert_allclose(back, c, rtol=0, atol=1e-13)


def test_hadamard_on_images_with_cumsum2d_weight_decay_is_l1_of_mixed_differences():
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(3, 4, 3))
    out = evaluate_points({"family": "hadamard", "basis": "cumsum2d"}, WD, pts.tolist())
    mixed = np.diff(np.diff(np.pad(pts, ((0, 0), (1, 0), (1, 0))), axis=1), axis=2)
    np.testing.assert_allclose(out["values"], np.abs(mixed).sum(axis=(1, 2)), rtol=1e-12)
    # entrywise Hadamard on matrices, depth 3 and no basis: (3/2) sum |Z_ij|^{2/3}
    out = evaluate_points({"family": "hadamard", "depth": 3}, WD, pts.tolist())
    np.testing.assert_allclose(out["values"], 1.5 * (np.abs(pts) ** (2 / 3)).sum(axis=(1, 2)), rtol=1e-12)


def test_given_matrix_basis_weight_decay_and_gauge():
    rng = np.random.default_rng(2)
    b = rng.normal(size=(5, 5)) + 3 * np.eye(5)
    pts = rng.normal(size=(4, 5))
    spec = {"family": "hadamard", "basis": {"kind": "matrix", "values": b.tolist()}}
    coeffs = np.linalg.solve(b, pts.T).T
    wd = evaluate_points(spec, WD, pts.tolist())["values"]
    np.testing.assert_allclose(wd, np.abs(coeffs).sum(axis=1), rtol=1e-12)
    gauge = evaluate_points(spec, {"kind": "gauge", "temperature": 2.0}, pts.tolist())["values"]
    np.testing.assert_allclose(gauge, np.log(2 * np.abs(coeffs)).sum(axis=1), rtol=1e-12)  # (T/2) log(2|c|)
    # on images the matrix acts on the row-major flattening
    img = rng.normal(size=(2, 2, 3))
    b6 = rng.normal(size=(6, 6)) + 3 * np.eye(6)
    out = evaluate_points({"family": "hadamard", "basis": {"kind": "matrix", "values": b6.tolist()}}, WD, img.tolist())
    np.testing.assert_allclose(out["values"], np.abs(np.linalg.solve(b6, img.reshape(2, 6).T)).sum(axis=0), rtol=1e-12)


@pytest.mark.parametrize(
    "values,points,field,words",
    [
        ([[1.0, 2.0], [2.0, 4.0]], [[1.0, 2.0]], "param.basis.values", "singular"),
        ([[1.0, 0.0], [0.0, 1e-9]], [[1.0, 2.0]], "param.basis.values", "ill-conditioned"),
        ([[1.0, 0.0], [0.0, 1.0]], [[1.0, 2.0, 3.0]], "param.basis.values", "3 x 3"),
        ([[1.0, 0.0, 0.0], [0.0, 1.0], [0.0, 0.0, 1.0]], [[1.0, 2.0, 3.0]], "param.basis.values[1]", "row 1"),
        ([[1.0, 0.0, 0.0], [0.0, float("nan"), 0.0], [0.0, 0.0, 1.0]], [[1.0, 2.0, 3.0]], "param.basis.values", "non-finite"),
    ],
)
def test_bad_given_matrix_names_the_field(values, points, field, words):
    with pytest.raises(DesignerInputError) as info:
        evaluate_points({"family": "hadamard", "basis": {"kind": "matrix", "values": values}}, WD, points)
    assert info.value.field == field
    assert words in info.value.message


def test_cumsum2d_refused_for_vectors():
    with pytest.raises(DesignerInputError) as info:
        evaluate_points({"family": "hadamard", "basis": "cumsum2d"}, WD, [[1.0, 2.0]])
    assert info.value.field == "param.basis" and "vector" in info.value.message


# -- table transforms ------------------------------------------------------------------------------

Y = np.array([0.0, 0.1, 0.3, 0.7, 1.2, 2.0, 3.5, 6.0])
X = np.array([0.0, 0.05, 0.2, 0.35, 1.0, 1.6, 2.2, 5.0])  # psi^{-1}(y_k) = x_k
TABLE = {"kind": "table", "x": X.tolist(), "y": Y.tolist()}


def _scipy_inverse():
    return PchipInterpolator(Y, X, extrapolate=False)


def test_table_inverse_is_scipy_pchip_and_forward_inverts_it_exactly():
    t = TableTransformSpec(**{k: v for k, v in TABLE.items() if k != "kind"}).build()
    ref = _scipy_inverse()
    ys = np.linspace(-5.9, 5.9, 300)  # not 0, where psi" jumps
    xs = np.asarray(jax.jit(t.inverse)(jnp.asarray(ys)))
    np.testing.assert_allclose(xs, np.sign(ys) * ref(np.abs(ys)), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(np.asarray(jax.jit(t.forward)(jnp.asarray(xs))), ys, rtol=1e-13, atol=1e-15)
    # derivatives: psi^{-1}' is the interpolant's derivative; psi' its reciprocal (implicit rule),
    # and the second derivative of psi by differentiating that rule again
    dinv = jax.jit(jax.vmap(jax.grad(t.inverse)))(jnp.asarray(ys))
    np.testing.assert_allclose(np.asarray(dinv), ref.derivative()(np.abs(ys)), rtol=1e-12)
    dfwd = jax.jit(jax.vmap(jax.grad(t.forward)))(jnp.asarray(xs))
    np.testing.assert_allclose(np.asarray(dfwd), 1.0 / ref.derivative()(np.abs(ys)), rtol=1e-12)
    d2 = jax.jit(jax.vmap(jax.grad(jax.grad(t.forward))))(jnp.asarray(xs))
    g1, g2 = ref.derivative()(np.abs(ys)), ref.derivative(2)(np.abs(ys))
    np.testing.assert_allclose(np.asarray(d2), -np.sign(ys) * g2 / g1**3, rtol=1e-9, atol=1e-12)


def test_table_extrapolates_linearly_with_the_end_slope():
    t = TableTransformSpec(x=X.tolist(), y=Y.tolist()).build()
    slope = float(_scipy_inverse().derivative()(Y[-1]))
    assert slope > 0
    ys = np.array([6.5, 10.0, -20.0])
    expect = np.sign(ys) * (X[-1] + slope * (np.abs(ys) - Y[-1]))
    np.testing.assert_allclose(np.asarray(t.inverse(jnp.asarray(ys))), expect, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(t.forward(jnp.asarray(expect))), ys, rtol=1e-14)


def _table_points():
    pts = np.random.default_rng(3).uniform(-5.5, 5.5, size=(6, 4))
    ref = _scipy_inverse()
    return pts, ref(np.abs(pts)), ref.derivative()(np.abs(pts))


def test_table_transform_weight_decay_matches_closed_form():
    pts, g, _ = _table_points()
    wd = evaluate_points({"family": "hadamard", "transform": TABLE}, WD, pts.tolist())["values"]
    np.testing.assert_allclose(wd, g.sum(axis=1), rtol=1e-12)


@pytest.mark.slow  # compiling L-BFGS over second derivatives of the inverse: ~20-100 s on 2 shared cores
def test_table_transform_label_noise_matches_closed_form():
    pts, g, dg = _table_points()
    ln = evaluate_points({"family": "hadamard", "transform": TABLE}, LN, pts.tolist())["values"]  # 2 |x| psi'(x)^2, psi' = 1/G'
    np.testing.assert_allclose(ln, (2 * g / dg**2).sum(axis=1), rtol=1e-8)


def test_table_with_given_slopes_is_the_hermite_cubic():
    ys = np.array([0.0, 1.0, 2.0])
    xs = np.array([0.0, 1.0, 4.0])  # x = y^2: slopes 0, 2, 4 make the Hermite cubic exact
    t = TableTransformSpec(x=xs.tolist(), y=ys.tolist(), slopes=[0.0, 2.0, 4.0]).build()
    q = np.linspace(0, 2, 17)
    np.testing.assert_allclose(np.asarray(t.inverse(jnp.asarray(q))), q**2, rtol=1e-14, atol=1e-15)
    # psi = sqrt, flat at 0 (G'(0) = 0): the inverse is exact relative to the value, down to 1e-300
    x = np.array([1e-300, 1e-30, 1e-8, 0.3, 2.5, 3.99, 4.0])
    np.testing.assert_allclose(np.asarray(jax.jit(t.forward)(jnp.asarray(x))), np.sqrt(x), rtol=1e-14, atol=0)
    np.testing.assert_allclose(np.asarray(jax.jit(t.forward)(jnp.asarray(-x))), -np.sqrt(x), rtol=1e-14, atol=0)


@pytest.mark.parametrize(
    "table,field,words",
    [
        ({"x": [0.0, 1.0, 2.0, 3.0], "y": [0.0, 1.0, 0.5, 2.0]}, "param.transform.y[2]", "increase strictly"),
        ({"x": [0.0, 1.0, 1.0], "y": [0.0, 1.0, 2.0]}, "param.transform.x[2]", "increase strictly"),
        ({"x": [0.1, 1.0], "y": [0.0, 1.0]}, "param.transform.x[0]", "must be 0"),
        ({"x": [0.0, 1.0, 2.0], "y": [0.0, 1.0]}, "param.transform.y", "one y per x"),
        ({"x": [0.0, 1.0, 2.0], "y": [0.0, 1.0, 2.0], "slopes": [1.0, 5.0, 1.0]}, "param.transform.slopes[0]", "non-monotone"),
        ({"x": [0.0, 1.0], "y": [0.0, 1.0], "slopes": [1.0, -1.0]}, "param.transform.slopes[1]", ">= 0"),
    ],
)
def test_bad_table_names_the_field(table, field, words):
    with pytest.raises(DesignerInputError) as info:
        evaluate_points({"family": "hadamard", "transform": {"kind": "table", **table}}, WD, [[1.0, 2.0]])
    assert info.value.field == field
    assert words in info.value.message


def test_table_family_compiles_once():
    fam = build_family({"family": "hadamard", "transform": TABLE}, (4,))
    f = jax.jit(lambda fam, z: fam.predictor(fam.balanced_point(z)))
    z = jnp.asarray([0.3, -1.0, 2.0, 7.0])
    np.testing.assert_allclose(np.asarray(f(fam, z)), np.asarray(z), rtol=1e-13)
    fam2 = build_family({"family": "hadamard", "transform": {**TABLE, "y": (Y * 1.5).tolist()}}, (4,))
    f(fam2, z)
    assert f._cache_size() == 1  # the knots are leaves: another table of the same size reuses the trace
