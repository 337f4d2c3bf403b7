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
