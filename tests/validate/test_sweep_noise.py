"""The sweep's label-noise families: each one-hot draw has the law it is named after (scipy oracles)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from designer.validate._sweep import ALPHA, CLIP, FAMILIES, FamilyLabelNoise, _clipped_gaussian_std

N = 40_000


def _draw(family: str) -> np.ndarray:
    w = np.zeros(len(FAMILIES))
    w[FAMILIES.index(family)] = 1.0
    hyper = type("H", (), {"label_noise": jnp.asarray(w, jnp.float32)})()
    f = jax.jit(jax.vmap(lambda k: FamilyLabelNoise().perturb_targets(k, jnp.zeros((1,), jnp.float32), hyper)))
    return np.asarray(f(jax.random.split(jax.random.PRNGKey(11), N)), np.float64).ravel()


def _cdf_close(x, cdf, points):
    """Empirical CDF within 5 binomial standard errors of the oracle at each point."""
    for p in points:
        F = cdf(p)
        emp = np.mean(x <= p)
        assert abs(emp - F) < 5 * np.sqrt(F * (1 - F) / N) + 1e-12, (p, emp, F)


@pytest.mark.parametrize("family,oracle", [
    ("gaussian", stats.norm()),
    ("student_t3", stats.t(3, scale=1 / np.sqrt(3))),  # unit variance
    ("alpha_stable1.5", stats.levy_stable(ALPHA, 0.0, scale=1 / np.sqrt(2))),
])
def test_continuous_family_laws(family, oracle):
    x = _draw(family)
    assert np.all(np.isfinite(x))
    _cdf_close(x, oracle.cdf, [-3.0, -1.5, -0.5, 0.0, 0.5, 1.5, 3.0])
    if family != "alpha_stable1.5":
        assert abs(np.var(x) - 1.0) < 0.1  # unit variance (t3's sample variance converges slowly)


def test_clipped_family_has_its_atoms_and_unit_variance():
    x = _draw("clipped")
    top = CLIP / _clipped_gaussian_std(CLIP)
    p_atom = 2 * stats.norm.sf(CLIP)
    assert np.max(np.abs(x)) == pytest.approx(top, rel=1e-6)
    frac = np.mean(np.isclose(np.abs(x), top, rtol=1e-6))
    assert abs(frac - p_atom) < 5 * np.sqrt(p_atom * (1 - p_atom) / N)
    assert abs(np.var(x) - 1.0) < 5 * np.sqrt(2.0 / N) * 2


def test_predrawn_interval_selects_the_family_and_the_simulator_applies_it():
    from designer.validate._sweep import plan

    piece = FamilyLabelNoise()
    drawn = piece.predraw(jax.random.PRNGKey(5), 7, (3,), jnp.float32)
    assert drawn.shape == (7, len(FAMILIES), 3)
    y = jnp.arange(3.0, dtype=jnp.float32)
    for f in range(len(FAMILIES)):
        w = np.zeros(len(FAMILIES), np.float32)
        w[f] = 2.0
        hyper = type("H", (), {"label_noise": jnp.asarray(w)})()
        np.testing.assert_array_equal(piece.perturb_drawn(y, drawn[4], hyper), y + 2.0 * drawn[4, f])
    # same seeds, with and without noise: the same minibatches (the steps' keys do not depend on the
    # pre-draw), so the first step's losses differ only through the applied noise
    quiet, loud = (plan([0.01], ("gaussian",), (1,), seeds=4, steps=500, label_noise=s, d=20, n=10, k=2)
                   for s in (0.0, 2.0))
    r0 = quiet.sim.run(quiet.state, quiet.hyper, quiet.data, 20, 1)
    r2 = loud.sim.run(loud.state, loud.hyper, loud.data, 20, 1)
    l0, l2 = r0.records["batch_loss"][:, 0], r2.records["batch_loss"][:, 0]
    assert np.all(np.abs(l2 - l0) > 1e-6)
    # the noise of scale 2 is what separates them: l2 = (sqrt(l0) +- 2 xi)^2 with |xi| ~ N(0, 1)
    xi = np.abs(np.sqrt(l2) - np.sqrt(l0)) / 2.0
    assert np.all(xi < 6.0)
