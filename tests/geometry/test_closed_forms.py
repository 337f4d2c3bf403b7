"""The engine against the closed forms of theory.md (float64, relative error < 1e-8)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from designer import bases

from . import theory_oracles as closed_forms
from designer.bias import induced_bias
from designer.families import build_family
from designer.mechanisms import Gauge, LabelNoise, WeightDecay

RTOL = 1e-8


def _log_uniform_signed(key, n, d, lo=-3, hi=2):
    k1, k2 = jax.random.split(key)
    mag = 10.0 ** jax.random.uniform(k1, (n, d), minval=lo, maxval=hi)
    return mag * jnp.where(jax.random.bernoulli(k2, 0.5, (n, d)), 1.0, -1.0)


def _assert_differences(values, expected):
    """Equal up to an additive constant: compare differences to the first point."""
    dv = np.asarray(values[1:] - values[0])
    de = np.asarray(expected[1:] - expected[0])
    np.testing.assert_allclose(dv, de, rtol=RTOL, atol=RTOL * np.abs(de).max())


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_hadamard_gauge_is_log_sparsity(depth):
    fam = build_family({"family": "hadamard", "depth": depth}, (12,))
    pts = _log_uniform_signed(jax.random.PRNGKey(depth), 16, 12)
    T = 0.7
    got = induced_bias(fam, Gauge(T), pts)
    want = jax.vmap(lambda z: closed_forms.hadamard_gauge(z, depth, T))(pts)
    _assert_differences(got, want)
    # with our basis the constant is exact too
    np.testing.assert_allclose(got, want, rtol=RTOL)


def test_scalar_product_gauge_is_half_log():
    fam = build_family({"family": "scalar_product"}, ())
    z = jnp.array([1e-3, -0.5, 2.0, 40.0])
    got = induced_bias(fam, Gauge(1.3), z)
    _assert_differences(got, 1.3 * 0.5 * jnp.log(jnp.abs(z)))


@pytest.mark.parametrize("shape,rank", [((6, 6), 6), ((7, 5), 5), ((8, 6), 3)])
def test_matrix_product_gauge_is_spectral_log(shape, rank):
    fam = build_family({"family": "matrix_product", "rank": rank}, shape)
    key = jax.random.PRNGKey(sum(shape) + rank)
    pts = []
    for k in jax.random.split(key, 6):
        k1, k2, k3 = jax.random.split(k, 3)
        u = jnp.linalg.qr(jax.random.normal(k1, (shape[0], rank)))[0]
        v = jnp.linalg.qr(jax.random.normal(k2, (shape[1], rank)))[0]
        s = 10.0 ** jax.random.uniform(k3, (rank,), minval=-2, maxval=1.5)
        pts.append((u * s) @ v.T)
    pts = jnp.stack(pts)
    got = induced_bias(fam, Gauge(2.0), pts)
    want = jnp.stack([closed_forms.matrix_product_gauge(p, 2.0)[()] if rank == min(shape) else
                      _gauge_rank(p, rank, 2.0) for p in pts])
    _assert_differences(got, want)
    np.testing.assert_allclose(got, want, rtol=RTOL)


def _gauge_rank(m, rank, T):
    s = jnp.linalg.svd(m, compute_uv=False)[:rank]
    iu = jnp.triu_indices(rank, k=1)
    return 0.5 * T * (jnp.sum(jnp.log(2 * s)) + jnp.sum(jnp.log(s[:, None] + s[None, :])[iu]))


def test_matrix_product_full_gl_gram():
    from designer.geometry import log_det_gram

    fam = build_family({"family": "matrix_product"}, (5, 5))
    m = jax.random.normal(jax.random.PRNGKey(0), (5, 5))
    got = 0.5 * log_det_gram(fam, fam.balanced_point(m), symmetric_only=False)
    np.testing.assert_allclose(got, closed_forms.matrix_product_gauge(m, full_gl=True), rtol=RTOL)


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_hadamard_weight_decay_is_l_two_over_d(depth):
    fam = build_family({"family": "hadamard", "depth": depth}, (10,))
    pts = _log_uniform_signed(jax.random.PRNGKey(10 + depth), 8, 10)
    got = induced_bias(fam, WeightDecay(0.3), pts)
    want = jax.vmap(lambda z: closed_forms.hadamard_weight_decay(z, depth, 0.3))(pts)
    np.testing.assert_allclose(got, want, rtol=RTOL)
    if depth == 2:  # exactly lambda |z|_1
        np.testing.assert_allclose(got, 0.3 * jnp.sum(jnp.abs(pts), axis=1), rtol=RTOL)


@pytest.mark.parametrize("rank", [None, 2])
def test_matrix_product_weight_decay_is_nuclear_norm(rank):
    fam = build_family({"family": "matrix_product", "rank": rank}, (6, 4))
    key = jax.random.PRNGKey(3)
    a, b = jax.random.normal(key, (2, 8, 6, 2))
    pts = jnp.einsum("nik,njk->nij", a, b[:, :4, :])  # rank-2 matrices
    got = induced_bias(fam, WeightDecay(2.0), pts)
    want = jax.vmap(closed_forms.nuclear_norm)(pts) * 2.0
    np.testing.assert_allclose(got, want, rtol=RTOL)


def test_matrix_product_depth3_weight_decay_is_schatten_two_thirds():
    fam = build_family({"family": "matrix_product", "depth": 3}, (4, 4))
    m = jax.random.normal(jax.random.PRNGKey(4), (3, 4, 4))
    got = induced_bias(fam, WeightDecay(1.0), m)
    s = jnp.linalg.svd(m, compute_uv=False)
    np.testing.assert_allclose(got, 1.5 * jnp.sum(s ** (2.0 / 3.0), axis=1), rtol=RTOL)


def test_group_hadamard_weight_decay_is_group_lasso():
    fam = build_family({"family": "group_hadamard", "group_size": 3}, (12,))
    pts = _log_uniform_signed(jax.random.PRNGKey(5), 5, 12)
    got = induced_bias(fam, WeightDecay(1.0), pts)
    want = jnp.sum(jnp.linalg.norm(pts.reshape(5, 4, 3), axis=2), axis=1)
    np.testing.assert_allclose(got, want, rtol=RTOL)


@pytest.mark.parametrize("depth", [2, 3])
def test_hadamard_label_noise_is_weighted_l1(depth):
    d = 9
    fam = build_family({"family": "hadamard", "depth": depth}, (d,))
    c = jnp.linspace(0.5, 2.0, d)
    pts = _log_uniform_signed(jax.random.PRNGKey(6), 6, d)
    mech = LabelNoise(variance=0.5, learning_rate=0.2, second_moment=c)
    got = induced_bias(fam, mech, pts)
    want = jax.vmap(lambda z: closed_forms.hadamard_label_noise(z, depth, c, 0.5, 0.2))(pts)
    np.testing.assert_allclose(got, want, rtol=RTOL)


def test_label_noise_uses_only_the_diagonal_for_hadamard():
    d = 6
    fam = build_family({"family": "hadamard"}, (d,))
    a = jax.random.normal(jax.random.PRNGKey(7), (d, d))
    sigma = a @ a.T / d + jnp.eye(d)
    pts = _log_uniform_signed(jax.random.PRNGKey(8), 4, d)
    full = induced_bias(fam, LabelNoise(1.0, 1.0, sigma), pts)
    diag = induced_bias(fam, LabelNoise(1.0, 1.0, jnp.diag(sigma)), pts)
    np.testing.assert_allclose(full, diag, rtol=1e-12)


def test_matrix_product_label_noise_minimises_over_the_orbit():
    # identity second moment: tr(J J^T) = n |P|^2 + m |Q|^2, whose orbit minimum is 2 sqrt(mn) |M|_*
    m_rows, n_cols = 5, 3
    fam = build_family({"family": "matrix_product"}, (m_rows, n_cols))
    pts = jax.random.normal(jax.random.PRNGKey(9), (4, m_rows, n_cols))
    got = induced_bias(fam, LabelNoise(1.0, 4.0), pts)
    want = 2.0 * np.sqrt(m_rows * n_cols) * jax.vmap(closed_forms.nuclear_norm)(pts)
    np.testing.assert_allclose(got, want, rtol=1e-7)


@pytest.mark.parametrize("basis", ["cosine", "cumsum", "haar"])
def test_basis_moves_the_bias_to_the_coefficients(basis):
    d = 8
    fam = build_family({"family": "hadamard", "depth": 2, "basis": basis}, (d,))
    coeffs = _log_uniform_signed(jax.random.PRNGKey(11), 5, d)
    signals = coeffs @ jnp.asarray(bases.synthesis(basis, d)).T
    got = induced_bias(fam, Gauge(1.0), signals)
    want = jax.vmap(lambda c: closed_forms.hadamard_gauge(c, 2))(coeffs)
    np.testing.assert_allclose(got, want, rtol=RTOL)
    if basis == "cumsum":  # first differences: log-TV of the signal
        tv_log = jnp.sum(jnp.log(jnp.abs(jnp.diff(signals, prepend=0.0, axis=1))), axis=1)
        _assert_differences(got, 0.5 * tv_log)


def test_asinh_transform_composes_with_its_inverse():
    s = 0.3
    fam = build_family({"family": "hadamard", "depth": 2, "transform": {"kind": "asinh", "scale": s}}, (5,))
    pts = _log_uniform_signed(jax.random.PRNGKey(12), 4, 5, lo=-2, hi=0.5)
    got = induced_bias(fam, WeightDecay(1.0), pts)
    np.testing.assert_allclose(got, jnp.sum(jnp.abs(s * jnp.sinh(pts / s)), axis=1), rtol=RTOL)


def test_relu_gauge_closed_form():
    fam = build_family({"family": "relu_two_layer"}, (6, 3))
    pts = _log_uniform_signed(jax.random.PRNGKey(13), 4, 18).reshape(4, 6, 3)
    got = induced_bias(fam, Gauge(1.0), pts)
    np.testing.assert_allclose(got, jax.vmap(closed_forms.relu_gauge)(pts), rtol=RTOL)


def test_attention_gl_equals_matrix_product_of_the_transpose():
    m = jax.random.normal(jax.random.PRNGKey(14), (3, 4, 4))
    att = induced_bias(build_family({"family": "attention_qk", "symmetry": "gl"}, (4, 4)), Gauge(1.0), m)
    mp = induced_bias(build_family({"family": "matrix_product"}, (4, 4)), Gauge(1.0), m)
    np.testing.assert_allclose(att, mp, rtol=RTOL)
