"""The Gamma-law oracle of theory.md section 4 as a statistical test of the simulator.

``z = u v``, loss ``(z0 - z)^2`` with Gaussian label noise of std ``s`` (gradient in z:
``2(z - z0) - 2 s xi``, i.e. the oracle's step is ``eta_o = 2 eta``). Started balanced, the
imbalance stays zero and z has the stationary law Gamma(shape ``z0/(eta_o s^2) - 1/2``, scale
``eta_o s^2``): mean ``z0 - eta_o s^2 / 2`` (0.99 here, the noise-induced shift that a simulator
without the second-order term would miss: its mean would be 1.00), variance ``~ z0 eta_o s^2``,
skewness ``2 / sqrt(shape)`` (a Gaussian law would have 0).
"""

import jax.numpy as jnp
import numpy as np
import scipy.stats as st

from designer.simulate import Simulator


def test_stationary_law_is_the_gamma_oracle():
    s, eta, z0 = 1.0, 0.01, 1.0
    eta_o = 2 * eta
    shape, scale = z0 / (eta_o * s * s) - 0.5, eta_o * s * s
    sim = Simulator({"family": "scalar_product"}, {"kind": "scalar_target", "target": z0},
                    noise=[{"kind": "label_noise", "scale": s}])
    init = lambda k: {"u": jnp.asarray(1.0, jnp.float32), "v": jnp.asarray(1.0, jnp.float32)}
    state, hyper, data = sim.setup(np.arange(64), sim.hyper(eta), init=init)
    burn = sim.run(state, hyper, data, 2000, 2000)
    res = sim.run(burn.state, hyper, data, 40_000, 10)
    assert (res.status == 0).all()
    z = res.records["z"].reshape(-1).astype(np.float64)
    mean, var, skew = z.mean(), z.var(), st.skew(z)
    # Standard error of the mean is ~6e-4 (autocorrelation ~25 steps); the predicted shift is 1e-2.
    assert abs(mean - shape * scale) < 3e-3, mean
    assert abs(var / (shape * scale**2) - 1) < 0.08, var
    assert abs(skew - 2 / np.sqrt(shape)) < 0.1, skew
    # imbalance stays at zero (theory.md: noise orthogonal to the orbit cannot create it)
    assert np.max(np.abs(res.records["imbalance"])) < 1e-4
