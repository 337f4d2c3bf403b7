"""Stationary laws of SGD on ``z = u v``: which model predicts which noise (theory.md sections 2, 4).

Set-up: scalar predictor ``z = u v``, loss ``l(z) = (z - z0)^2`` (the simulator's
``scalar_target``), step ``eta``, chains started balanced at ``u = v = sqrt(z0)`` and run long,
batched over chains. Noise models:

- ``label_noise`` (Gaussian, and Student-t with 3 degrees of freedom at unit variance): the
  gradient noise ``2 s xi (v, u)`` is orthogonal to the orbit;
- ``langevin``: isotropic parameter noise at temperature ``T`` (the paper's diffusion model, i.e.
  the gauge mechanism).

Predicted laws of ``z`` (additive constants and normalisations dropped):

- ``paper``: ``exp(-(l + R)/T)`` with the gauge bias ``R = (T/2) log|z|`` (theory.md section 2);
- ``slice_gibbs``: the Gibbs law ``exp(-L(w)/T)`` conditioned on the balanced slice
  ``u^2 = v^2`` (a delta on the moment map): ``exp(-l/T) / |z|`` (the Jacobian of
  ``(u, v) -> (uv, u^2 - v^2)`` is ``2(u^2 + v^2) = 4|z|`` there);
- ``gibbs``: ``exp(-l/T)``, the z-law far from balance (large imbalance);
- ``gamma``: theory.md section 4's oracle for noise orthogonal to the orbit: Gamma with shape
  ``z0 / (eta_o s^2) - 1/2`` and scale ``eta_o s^2``, ``eta_o = 2 eta`` (our loss has no 1/2).

For label noise the temperature of the isotropic models is matched to the noise power normal to the
orbit at ``z0``: all of SGD's noise is normal, ``eta^2 * 4 s^2 (u^2 + v^2) = 8 eta^2 s^2 z0`` per
step, which a Langevin step puts in the normal direction when ``2 eta T`` equals it, so
``T = 4 eta s^2 z0`` (this also matches the variances of the Gamma law).

Distances: Kolmogorov-Smirnov statistic (``scipy.stats.kstest``) and 1-Wasserstein
(``scipy.stats.wasserstein_distance`` against the density on a fine grid) between the pooled
samples and each predicted law. Samples are autocorrelated, so the KS p-value means nothing; the
statistic is what we compare (its sampling noise is reported as ``ks_noise_floor``, the KS
statistic between two halves of the chains).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import scipy.stats as st

from ..simulate import Simulator

NOISE_MODELS = ("label_noise_gaussian", "label_noise_student_t3", "langevin")
PREDICTIONS = ("paper", "slice_gibbs", "gibbs", "gamma")


def _noise(model: str, s: float, temperature: float) -> list[dict]:
    if model == "label_noise_gaussian":
        return [{"kind": "label_noise", "scale": s}]
    if model == "label_noise_student_t3":
        return [{"kind": "label_noise", "scale": s, "distribution": "student_t", "df": 3.0}]
    if model == "langevin":
        return [{"kind": "langevin", "temperature": temperature}]
    raise ValueError(f"unknown noise model {model!r}; one of {NOISE_MODELS}")


def _grid_law(logpdf, lo: float, hi: float, n: int = 20_001):
    grid = np.linspace(lo, hi, n)
    lp = logpdf(grid)
    pdf = np.exp(lp - np.max(lp))
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(grid))])
    pdf, cdf = pdf / cdf[-1], cdf / cdf[-1]
    return grid, pdf, cdf


def predicted_laws(z0: float, temperature: float, eta: float, s: float, lo: float, hi: float, gamma: bool) -> dict:
    """Each prediction as ``(grid, pdf, cdf)`` on ``[lo, hi]`` (z > 0)."""
    T = temperature
    loss = lambda z: (z - z0) ** 2
    out = {
        "paper": _grid_law(lambda z: -loss(z) / T - 0.5 * np.log(z), lo, hi),
        "slice_gibbs": _grid_law(lambda z: -loss(z) / T - np.log(z), lo, hi),
        "gibbs": _grid_law(lambda z: -loss(z) / T, lo, hi),
    }
    if gamma:
        eta_o = 2.0 * eta
        law = st.gamma(a=z0 / (eta_o * s * s) - 0.5, scale=eta_o * s * s)
        grid = np.linspace(lo, hi, 20_001)
        out["gamma"] = (grid, law.pdf(grid), law.cdf(grid))
    return out


def run_chains(model: str, z0: float = 1.0, eta: float = 0.01, s: float = 1.0, temperature: float | None = None,
               chains: int = 64, burn: int = 2_000, steps: int = 40_000, every: int = 10, dtype=jnp.float64):
    """Long SGD runs of ``z = u v`` with one noise model; returns ``(z samples (chains, records), final imbalance)``."""
    T = 4 * eta * s * s * z0 if temperature is None else temperature
    sim = Simulator({"family": "scalar_product"}, {"kind": "scalar_target", "target": z0}, noise=_noise(model, s, T), dtype=dtype)
    a = math.sqrt(z0)
    init = lambda k: {"u": jnp.asarray(a, sim.dtype), "v": jnp.asarray(a, sim.dtype)}
    state, hyper, data = sim.setup(np.arange(chains), sim.hyper(eta), init=init)
    burned = sim.run(state, hyper, data, burn, burn)
    res = sim.run(burned.state, hyper, data, steps, every)
    imbalance = np.asarray(res.records["imbalance"])[:, -1].reshape(chains, -1)[:, 0]
    return np.asarray(res.records["z"], np.float64), imbalance, res.status


def stationary_check(models=NOISE_MODELS, z0: float = 1.0, eta: float = 0.01, s: float = 1.0, chains: int = 64,
                     burn: int = 2_000, steps: int = 40_000, every: int = 10, plot: str | None = None) -> dict:
    """KS and W1 distances between each noise model's empirical law and each prediction.

    The Gamma law is compared only for the label-noise models (noise orthogonal to the orbit,
    where theory.md section 4 derives it). ``best`` names the closest prediction by KS.
    """
    T = 4 * eta * s * s * z0
    out = {"setup": {"z0": z0, "eta": eta, "label_noise_scale": s, "temperature": T, "chains": chains, "burn": burn,
                     "steps": steps, "every": every, "loss": "(z - z0)^2", "model": "z = u v",
                     "temperature_rule": "T = 4 eta s^2 z0 (noise power normal to the orbit matched); Langevin runs at this T"},
           "models": {}}
    curves = []
    for model in models:
        z, imb, status = run_chains(model, z0, eta, s, T, chains, burn, steps, every)
        x = z.reshape(-1)
        x = x[np.isfinite(x)]
        lo, hi = max(1e-9, float(np.quantile(x, 1e-5)) * 0.5), float(np.quantile(x, 1 - 1e-5)) * 1.5
        laws = predicted_laws(z0, T, eta, s, lo, hi, gamma=model.startswith("label_noise"))
        half = chains // 2
        floor = float(st.ks_2samp(z[:half].reshape(-1), z[half:].reshape(-1)).statistic)
        dist = {}
        for name, (grid, pdf, cdf) in laws.items():
            ks = float(st.kstest(x, lambda q, g=grid, c=cdf: np.interp(q, g, c)).statistic)
            w1 = float(st.wasserstein_distance(x, grid, v_weights=pdf))
            dist[name] = {"ks": ks, "wasserstein": w1}
        best = min(dist, key=lambda k: dist[k]["ks"])
        out["models"][model] = {
            "mean": float(x.mean()), "variance": float(x.var()), "skewness": float(st.skew(x)),
            "samples": int(x.size), "status": [int(v) for v in np.unique(status)],
            "final_imbalance_abs_mean": float(np.mean(np.abs(imb))), "ks_noise_floor": floor,
            "distances": dist, "best": best,
        }
        curves.append({"title": f"{model}: best {best} (KS {dist[best]['ks']:.3f})", "samples": x,
                       "densities": {k: (g, p) for k, (g, p, _) in laws.items()}})
    if plot is not None:
        from ._plot import plot_stationary

        plot_stationary(curves, plot)
        out["plot"] = str(plot)
    return out


__all__ = ["NOISE_MODELS", "PREDICTIONS", "predicted_laws", "run_chains", "stationary_check"]
