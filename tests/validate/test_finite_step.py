"""Exact finite-step stationary laws on the balanced slice (designer/validate/_finite_step.py).

- the chain's map is the simulator's step on the slice (depth 2 and 3, the noise through the target);
- the cell transfer operator against a chain with a closed-form stationary law (a log-AR(1)
  chain, Gaussian stationary law), with the h^2 error that the Richardson step removes;
- the exact law satisfies the exact first-moment identity of stationarity, E[z' - z] = 0;
- its small-step limit is theory.md's Gamma law, with a distance that falls like eta;
- the exact law against long batched chains of the simulator at two settings (one where the Gamma
  law misses the variance by 6%), and the escape rate against the fraction of diverged chains.
"""

import math

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st

from designer.errors import DesignerInputError
from designer.simulate import Simulator
from designer.validate._finite_step import (
    NoiseLaw, SliceChain, _law, _solve, gamma_law, small_step_law, stationary_law,
)
from designer.validate._finite_step_check import VectorTarget, compare, run_slice_chains


@pytest.mark.parametrize("depth", [2, 3])
def test_chain_map_is_the_simulators_step_on_the_slice(depth):
    """One SGD step of the simulator from a balanced point with target y = z0 + s xi equals
    z' = z (1 - 2 eta (z - z0 - s xi) z^{1-2/D})^D, and stays balanced (three runs, one batch)."""
    z0, s, eta = 1.5, 0.7, 0.03
    chain = SliceChain(z0, eta, s, depth)
    z = np.array([1.2, 0.4, 2.5])
    xi = np.array([0.3, -1.7, 2.2])
    y = z0 + s * xi
    if depth == 2:
        sim = Simulator({"family": "scalar_product"}, {"kind": "scalar_target", "target": z0}, dtype=jnp.float64)
        params = {"u": jnp.asarray(np.sqrt(z)), "v": jnp.asarray(np.sqrt(z))}
    else:
        sim = Simulator({"family": "hadamard", "depth": depth, "dim": 1}, VectorTarget(target=z0), dtype=jnp.float64)
        params = {"u": jnp.asarray(np.broadcast_to((z ** (1 / depth))[:, None, None], (3, depth, 1)).copy())}
    state, hyper, data = sim.setup([0, 1, 2], sim.hyper(eta))
    state = state._replace(params=params)
    data = {**data, "train": {"y": jnp.asarray(y).reshape(data["train"]["y"].shape)}}
    new = sim.run(state, hyper, data, 1, 1).state.params
    if depth == 2:
        factors = np.stack([np.asarray(new["u"]), np.asarray(new["v"])], axis=1)
    else:
        factors = np.asarray(new["u"]).reshape(3, depth)
    np.testing.assert_allclose(np.prod(factors, axis=1), chain.step(z, xi), rtol=1e-12)
    assert np.max(np.ptp(factors**2, axis=1)) < 1e-12  # still balanced


class _LogAR1:
    """x' = rho x + sigma eps (x = log z): stationary law N(0, sigma^2 / (1 - rho^2)) in x."""

    def __init__(self, rho, sigma):
        self.rho, self.sigma = rho, sigma

    def motion(self, z):
        return np.full(np.shape(z), self.sigma)

    def transition(self, x_src, edges):
        u = (edges[:, None] - self.rho * x_src[None, :]) / self.sigma
        F = st.norm.cdf(u)
        return np.diff(F, axis=0), F[0], 1.0 - F[-1]


def test_transfer_operator_against_a_closed_form():
    rho, sigma = 0.9, 0.05
    sd = sigma / math.sqrt(1 - rho**2)
    ar = _LogAR1(rho, sigma)
    errs = {}
    for cells in (120, 180):
        edges = np.linspace(-8 * sd, 8 * sd, cells + 1)
        law = _law(ar, edges, *_solve(ar, edges))
        x = np.linspace(-6 * sd, 6 * sd, 501)
        cdf_err = np.max(np.abs(law.cdf(np.exp(x)) - st.norm.cdf(x / sd)))
        # variance in x of the cell law (uniform within a cell): exact value sd^2
        mid, h = 0.5 * (edges[1:] + edges[:-1]), np.diff(edges)
        var_x = float(law.prob @ (mid**2 + h**2 / 12))
        errs[cells] = (var_x / sd**2 - 1.0, cdf_err, law)
    # the cell method's error is a numerical diffusion of order h^2: 1.5x finer -> 2.25x smaller
    (v1, c1, _), (v2, c2, _) = errs[120], errs[180]
    assert 0.003 < v1 < 0.03 and v2 == pytest.approx(v1 / 2.25, rel=0.05)
    assert c1 < 0.01 and c2 < c1
    # Richardson removes it: the extrapolated variance is exact to ~1e-4
    extrapolated = v2 + (v2 - v1) / (1.5**2 - 1)
    assert abs(extrapolated) < 2e-4 < 0.1 * abs(v2)


@pytest.mark.parametrize("chain,escape", [
    (SliceChain(1.0, 0.05, 0.8, 2), 1e-12),
    (SliceChain(2.0, 0.02, 0.6, 3, NoiseLaw("student_t", df=5.0)), 1e-6),  # heavy tail: rare escapes
], ids=["d2-gaussian", "d3-t5"])
def test_exact_law_is_stationary_for_the_first_moment(chain, escape):
    """Under the stationary law E[z' - z] = E[drift(z)] = 0 exactly (drift in closed form)."""
    law = stationary_law(chain)
    mid = np.exp(0.5 * (law.edges[1:] + law.edges[:-1]))
    drift = chain.drift(mid)
    scale = float(law.prob @ np.abs(drift))
    assert abs(float(law.prob @ drift)) < 2e-3 * scale
    assert law.error["variance"] < 5e-3 * law.variance and law.escape_rate < escape


def test_small_step_limit_is_the_gamma_law():
    """At depth 2 the exact law tends to theory.md's Gamma law, the gap falling like eta."""
    gaps = []
    for eta in (0.004, 0.002):
        chain = SliceChain(1.0, eta, 1.0, 2)
        law, g = stationary_law(chain), gamma_law(chain)
        z = np.linspace(g.ppf(1e-6), g.isf(1e-6), 2001)
        gaps.append((np.max(np.abs(law.cdf(z) - g.cdf(z))), abs(law.variance / g.var() - 1), abs(law.mean - g.mean())))
    (c1, v1, m1), (c2, v2, m2) = gaps
    assert c1 < 0.01 and v1 < 0.03
    assert 1.6 < c1 / c2 < 2.5 and 1.6 < v1 / v2 < 2.5
    assert m1 < 1e-4 and m2 < 1e-4  # the mean is the Gamma law's to O(eta^2)
    # and the small-step law of the module is the same Gamma law
    ss = small_step_law(SliceChain(1.0, 0.002, 1.0, 2))
    assert ss.mean == pytest.approx(1.0 - 0.004 / 2, rel=1e-12) and ss.variance == pytest.approx(0.004 * (1 - 0.002), rel=1e-9)


def test_exact_law_against_batched_chains_where_the_gamma_law_misses():
    """z0 = 3, eta = 0.01, s = 1 (the Gamma law's variance is 6% low): the exact law within the
    sampling error of 128 chains, the Gamma law not."""
    out = compare(3.0, 0.01, 1.0, 2, chains=128, burn=500, steps=8_000, every=8)
    e, g = out["predictions"]["exact"], out["predictions"]["small_step"]
    assert out["diverged_chains"] == 0 and out["samples_outside"] == 0
    assert e["variance_rel_error"] < 0.03 and abs(e["mean"] - out["mean"]) < 4 * out["se_mean"]
    assert abs(e["variance"] - out["variance"]) < 4 * out["se_variance"]
    assert e["ks"] < 2 * out["ks_floor"]
    assert g["variance_rel_error"] > 0.04 and g["ks"] > e["ks"]


@pytest.mark.slow
def test_exact_law_against_chains_depth3_student_t_near_the_edge():
    """Depth 3, Student-t(3) noise at 0.4 of the stability edge: the law, and the chains that leave
    ``(0, z_esc)`` (diverge, or cross to z < 0) against the exact law's escape and loss rates."""
    z0, depth, s = 1.0, 3, 0.15
    eta = 0.4 / depth  # curvature_step = D e z0^(4/3) / 2 = 0.4 with e = 2 eta
    noise = NoiseLaw("student_t")
    chain = SliceChain(z0, eta, s, depth, noise)
    assert chain.curvature_step == pytest.approx(0.4)
    law = stationary_law(chain)
    chains, steps = 128, 3_000
    z, fin = run_slice_chains(z0, [eta], [s], depth, noise, chains=chains, burn=200, steps=steps, every=2)
    out = compare(z0, eta, s, depth, noise, z=z[0], finite=fin[0], law=law)
    e = out["predictions"]["exact"]
    assert e["mean_rel_error"] < 0.01 and e["variance_rel_error"] < 0.1 and e["ks"] < 2 * out["ks_floor"]
    expected = chains * (1 - math.exp(-(law.escape_rate + law.loss_rate) * steps))
    assert 10 < expected < chains - 10
    assert abs(out["chains_with_excursion"] - expected) < 4 * math.sqrt(expected)


def test_bad_inputs_name_the_field():
    with pytest.raises(DesignerInputError, match="z0"):
        SliceChain(0.0, 0.01, 1.0)
    with pytest.raises(DesignerInputError, match="depth"):
        SliceChain(1.0, 0.01, 1.0, depth=1)
    with pytest.raises(DesignerInputError, match="noise.df"):
        NoiseLaw("student_t", df=2.0)
    with pytest.raises(DesignerInputError, match="loss"):
        SliceChain(1.0, 0.01, 1.0, loss="l1")
