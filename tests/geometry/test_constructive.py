"""Constructive rules: table transforms make depth-2 designs exact, checked through the engine.

The profiles are written here (``r(y)`` for ``y >= 0``); the oracle is ``sum_i r(|z_i|)`` (or
``sum_i g(s_i)`` over singular values) at magnitudes from 1e-2 to 1e2.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from designer import evaluate_points
from designer.constructive import exact_design, exact_spectral_design

DELTA = 0.7  # Huber threshold
PROFILES = {
    "l1": (lambda y: y, ()),
    "lp0.5": (lambda y: y**0.5, ()),
    "lp0.8": (lambda y: y**0.8, ()),
    "lp1.5": (lambda y: y**1.5, ()),
    "elastic_net": (lambda y: y + 0.25 * y**2, ()),
    "huber": (lambda y: jnp.where(y <= DELTA, 0.5 * y**2, DELTA * (y - 0.5 * DELTA)), (DELTA,)),
}


def _points(shape, seed):
    rng = np.random.default_rng(seed)
    mags = 10.0 ** rng.uniform(-2, 2, size=shape)
    return mags * rng.choice([-1.0, 1.0], size=shape)


def _max_rel_error(design, r, pts):
    values = np.array(evaluate_points(design.param, design.mechanism, pts.tolist())["values"])
    target = np.asarray(r(jnp.abs(jnp.asarray(pts)))).sum(axis=1)
    return np.max(np.abs(values - target) / target)


@pytest.mark.parametrize("name", list(PROFILES))
def test_weight_decay_design_is_exact(name):
    r, breaks = PROFILES[name]
    design = exact_design(r, "weight_decay", breakpoints=breaks)
    assert design.exists, design.reason
    assert _max_rel_error(design, r, _points((64, 4), 0)) <= 1e-6


@pytest.mark.slow  # label-noise bias through the table: one L-BFGS compile (~20-100 s on shared cores)
def test_label_noise_designs_are_exact():
    for name in ("l1", "lp0.5", "lp0.8", "lp1.5", "elastic_net"):
        r, breaks = PROFILES[name]
        design = exact_design(r, "label_noise", breakpoints=breaks)
        assert design.exists, design.reason
        assert _max_rel_error(design, r, _points((32, 3), 1)) <= 1e-6, name


def test_label_noise_constants_on_l1():
    # r(y) = y: I(y) = 2 sqrt(y), psi^-1(y) = 2 y, so psi(x) = x / 2 and the bias is 2|x| psi'^2 = |z|
    design = exact_design(PROFILES["l1"][0], "label_noise")
    table = design.param["transform"]
    y, x = np.array(table["y"]), np.array(table["x"])
    np.testing.assert_allclose(x[1:], 2 * y[1:], rtol=1e-10)


@pytest.mark.parametrize("p", [0.5, 0.8, 1.5, 1.9])
def test_label_noise_table_of_a_power_is_its_closed_form(p):
    # r(y) = y^p: I(y) = y^(1 - p/2) / (1 - p/2), so psi^-1(y) = I^2 / 2 and its slope I / sqrt(r)
    design = exact_design(lambda y: y**p, "label_noise")
    table = design.param["transform"]
    y, x, m = (np.array(table[k])[1:] for k in ("y", "x", "slopes"))
    integral = y ** (1 - p / 2) / (1 - p / 2)
    np.testing.assert_allclose(x, 0.5 * integral**2, rtol=1e-12)
    np.testing.assert_allclose(m[1:], integral[1:] / np.sqrt(y[1:] ** p), rtol=1e-12)


def test_label_noise_table_integral_against_scipy_quad():
    # no closed form: I(y) = int_0^y dt / sqrt(t + t^2 / 4 + sin(20 t)^2 / 100) against QUADPACK on
    # pieces shorter than the oscillation; beyond y ~ 10 the knots are further apart than the sine's
    # period, where the panels' two Gauss-Legendre rules disagree and the panels are cut finer
    from scipy.integrate import quad

    r = lambda t: t + 0.25 * t**2 + 0.01 * jnp.sin(20 * t) ** 2
    table = exact_design(r, "label_noise").param["transform"]
    y, x = np.array(table["y"]), np.array(table["x"])
    f = lambda t: 1.0 / np.sqrt(t + 0.25 * t**2 + 0.01 * np.sin(20 * t) ** 2)
    for k in (1, 400, len(y) - 1):
        edges = np.concatenate([[0.0], np.linspace(y[k] / 1000, y[k], 1000)])
        reference = sum(quad(f, a, b, epsabs=0.0, epsrel=1e-13, limit=200)[0] for a, b in zip(edges[:-1], edges[1:]))
        assert abs(x[k] - 0.5 * reference**2) <= 1e-13 * x[k], (k, y[k])


def test_where_no_exact_design_exists():
    huber, breaks = PROFILES["huber"]
    res = exact_design(huber, "label_noise", breakpoints=breaks)
    assert not res.exists and "diverges" in res.reason
    scad_like = lambda y: jnp.minimum(y, 1.0)  # flat beyond 1, like SCAD and MCP
    for mech in ("weight_decay", "label_noise"):
        res = exact_design(scad_like, mech)
        assert not res.exists and "flat" in res.reason
    res = exact_design(PROFILES["l1"][0], "gauge")
    assert not res.exists and "-infinite at 0" in res.reason


@pytest.mark.parametrize("p", [0.5, 1.0, 1.5])
def test_spectral_weight_decay_design_is_exact(p):
    g = lambda s: s**p
    design = exact_spectral_design(g, "weight_decay")
    assert design.exists
    rng = np.random.default_rng(2)
    pts = []
    for _ in range(8):  # singular values spread over 1e-2..1e2
        u, _ = np.linalg.qr(rng.normal(size=(4, 3)))
        v, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        pts.append((u * 10.0 ** rng.uniform(-2, 2, size=3)) @ v.T)
    pts = np.array(pts)
    values = np.array(evaluate_points(design.param, design.mechanism, pts.tolist())["values"])
    target = (np.linalg.svd(pts, compute_uv=False) ** p).sum(axis=1)
    assert np.max(np.abs(values - target) / target) <= 1e-6
    assert not exact_spectral_design(g, "label_noise").exists
