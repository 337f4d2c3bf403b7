"""Where the predicted bias holds: learning rate x batch size x noise family, one batched computation.

The sweep trains the label-noise design of V1 (``z = u_1 * u_2``, both factors started at the
constant 1, i.e. ``z = v * v`` of HaoChen et al. 2021) on sparse regression with nonnegative
truth by single-example (or minibatch) SGD with fresh label noise, and measures how far the end
point is from the predicted one: the label-noise bias (theory.md section 3, weighted L1 on the
zero-loss manifold) predicts the minimum-L1 interpolant, computed by basis pursuit
(``scipy.optimize.linprog``). The prediction error of a run is ``|z_T - z_BP| / |z_BP|``.

All cells (learning rates x noise families x batch sizes x seeds) are one ``vmap``: the noise
family is not a static choice of a piece but a traced weight vector ``hyper.label_noise`` (one
entry per family, ``scale * onehot(family)``), so one compiled program serves every family
(:class:`FamilyLabelNoise`). The learning rate is divided by 10 for the last two fifths of the
steps and by 100 for the last fifth (the V1 protocol, fewer steps), so every cell ends with
small fluctuations.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ..simulate import Simulator
from ..simulate._noise import Piece, chambers_mallows_stuck
from ._models import PositiveSparseRegression

#: Noise families of the sweep, each with unit variance where it has one.
FAMILIES = ("gaussian", "student_t3", "alpha_stable1.5", "clipped")
#: Gaussian clipped to [-CLIP, CLIP], rescaled to unit variance.
CLIP = 1.0
#: Symmetric alpha-stable with alpha = 1.5 and scale 1/sqrt(2): the alpha -> 2 limit is N(0, 1).
ALPHA = 1.5


def _clipped_gaussian_std(c: float) -> float:
    from scipy.stats import norm

    # E[min(|X|, c)^2] for X ~ N(0, 1)
    second = (2 * norm.cdf(c) - 1) - 2 * c * norm.pdf(c) + 2 * c * c * norm.sf(c)
    return math.sqrt(second)


@dataclasses.dataclass(frozen=True)
class FamilyLabelNoise(Piece):
    """Label noise whose family is data: ``y + sum_f w_f xi_f`` with ``w = hyper.label_noise``.

    ``xi_f`` is a draw of family ``f`` of :data:`FAMILIES` (unit variance; the alpha-stable one has
    scale ``1/sqrt(2)`` and infinite variance). With ``w = s onehot(f)`` a run sees family ``f`` at
    scale ``s``, so one compiled program serves every family. Each family's law is exact, but all
    four are built from the same three uniforms (Box-Muller gives two normals, a third uniform an
    exponential), instead of independent draws: a step's noise then costs about a quarter as much.
    Weights are meant to be one-hot (as :func:`plan` makes them), since two families of one run
    are not independent.
    """

    kind = "family_label_noise"
    hyper_field = "label_noise"

    def default(self):
        return 0.0

    def draws(self, key, shape, dtype):
        """The four families' draws ``(gaussian, student_t3, alpha_stable1.5, clipped)``."""
        u = jax.random.uniform(key, (3, *shape), dtype, minval=jnp.finfo(dtype).tiny, maxval=1.0)
        radius, angle = jnp.sqrt(-2.0 * jnp.log(u[0])), (2.0 * math.pi) * u[1]
        n0, n1 = radius * jnp.cos(angle), radius * jnp.sin(angle)  # Box-Muller: independent N(0, 1)
        e = -jnp.log(u[2])  # Exp(1), independent of n0, n1
        gauss = n0
        # t(3) = N0 / sqrt(chi2_3 / 3) with chi2_3 = N1^2 + 2 Exp(1): exact and branch-free
        # (jax.random.t draws a gamma by rejection, a while loop that every vmapped lane waits for);
        # unit variance: / sqrt(3)
        student = n0 / jnp.sqrt((n1 * n1 + 2.0 * e) / 3.0) / math.sqrt(3.0)
        v = (u[1] - 0.5) * jnp.asarray(math.pi, dtype)  # U(-pi/2, pi/2), independent of e
        stable = chambers_mallows_stuck(v, e, ALPHA) / math.sqrt(2.0)
        clipped = jnp.clip(n0, -CLIP, CLIP) / _clipped_gaussian_std(CLIP)
        return gauss, student, stable, clipped

    def perturb_targets(self, key, y, hyper):
        return self.perturb_drawn(y, jnp.stack(self.draws(key, y.shape, y.dtype)), hyper)

    # a record interval's noise in one wide computation (Piece.predraws): drawn per step, XLA
    # fuses these transcendentals into the per-parameter update and computes them per parameter
    predraws = True

    def predraw(self, key, n, shape, dtype):
        return jnp.stack(self.draws(key, (n, *shape), dtype), axis=1)  # (n, families, *shape)

    def perturb_drawn(self, y, drawn, hyper):
        w = jnp.asarray(hyper.label_noise, y.dtype).reshape((-1,) + (1,) * y.ndim)
        # select, do not multiply: an unused family's draw may be inf (alpha-stable, t), and 0 * inf is NaN
        return y + jnp.sum(jnp.where(w != 0, w * drawn, 0.0), axis=0)


def v1_task(n: int = 40, d: int = 100, k: int = 5) -> PositiveSparseRegression:
    """V1's data: ``x ~ N(0, I_d)``, ``w* = 1`` on ``k`` coordinates, noiseless labels."""
    return PositiveSparseRegression(n=n, d=d, k=k, noise=0.0, low=1.0, high=1.0)


@dataclasses.dataclass
class SweepPlan:
    """The grid and its batched set-up (built by :func:`plan`)."""

    sim: Simulator
    state: object
    hyper: object
    data: dict
    grid: dict
    shape: tuple
    phases: list
    every: int


def plan(learning_rates, families=FAMILIES, batch_sizes=(1,), seeds: int = 16, steps: int = 100_000,
         label_noise: float = 1.0, n: int = 40, d: int = 100, k: int = 5, data_seed: int = 0,
         init_scale: float = 1.0, dtype=jnp.float32, chunks: int = 20) -> SweepPlan:
    """Batched states for the grid learning rate x family x batch size x seed (one run each)."""
    lrs = np.asarray(learning_rates, np.float64)
    fam_idx = [FAMILIES.index(f) for f in families]
    bss = np.asarray(batch_sizes, np.int64)
    shape = (len(lrs), len(fam_idx), len(bss), seeds)
    L, F, B, S = np.meshgrid(lrs, np.arange(len(fam_idx)), bss, np.arange(seeds), indexing="ij")
    r = L.size
    task = v1_task(n, d, k)
    piece = FamilyLabelNoise()
    sim = Simulator({"family": "hadamard", "depth": 2}, task,
                    noise=[{"kind": "minibatch", "batch_size": int(bss.min()), "replacement": True,
                            "max_batch_size": int(bss.max())}, piece], dtype=dtype,
                    metrics=False)  # only the end state is read: no test-set metrics every record
    hyper = sim.hyper(L.reshape(-1), batch_size=B.reshape(-1))
    init = lambda key: {"u": jnp.full((2, d), init_scale, sim.dtype)}
    state, hyper, data = sim.setup(np.arange(r), hyper, init=init, data_seeds=np.full(r, data_seed), share_data=True)
    weights = np.zeros((r, len(FAMILIES)))
    weights[np.arange(r), np.asarray(fam_idx)[F.reshape(-1)]] = label_noise
    hyper = hyper._replace(label_noise=jnp.asarray(weights, sim.dtype))
    # runs split across the devices (the cores, under 'designer sweep'); no LAPACK in this
    # simulation's step or records, which Simulator.distribute needs on CPU
    state, hyper, data = sim.distribute(state, hyper, data)
    # steps: 3/5 at eta, 1/5 at eta/10, 1/5 at eta/100; all phases share one chunk shape
    every = max(1, steps // (5 * chunks))
    unit = every * chunks
    n5 = max(1, round(steps / (5 * unit)))
    phases = [(3 * n5 * unit, 1.0), (n5 * unit, 0.1), (n5 * unit, 0.01)]
    grid = {"learning_rate": lrs.tolist(), "family": list(families), "batch_size": bss.tolist(), "seeds": seeds,
            "steps": sum(p[0] for p in phases), "label_noise": label_noise, "n": n, "d": d, "k": k,
            "data_seed": data_seed, "init_scale": init_scale, "dtype": str(jnp.dtype(dtype)),
            "devices": len(state.params["u"].sharding.device_set),
            "schedule": "eta for 3/5 of the steps, eta/10 for 1/5, eta/100 for 1/5"}
    return SweepPlan(sim, state, hyper, data, grid, shape, phases, every)


def run_plan(p: SweepPlan, progress: Callable[[float], None] | None = None, should_cancel=None):
    """Run every phase of the plan (one compiled chunk program); returns ``(state, status, timing)``."""
    state, status = p.state, None
    total = sum(n for n, _ in p.phases)
    done = 0
    t0 = time.perf_counter()
    for n, factor in p.phases:
        h = p.hyper._replace(learning_rate=p.hyper.learning_rate * factor)
        base = done
        res = p.sim.run(state, h, p.data, n, p.every, records_per_chunk=max(1, n // p.every // max(1, n // (p.every * 20))),
                        should_cancel=should_cancel,
                        on_chunk=(lambda s, b=base: progress((b + s) / total)) if progress else None)
        state, done = res.state, done + n
        status = res.status if status is None else np.maximum(status, res.status)
    jax.block_until_ready(state.params)
    return state, status, time.perf_counter() - t0


def predicted_endpoint(data: dict) -> tuple[np.ndarray, dict]:
    """The label-noise prediction: min-L1 interpolant by basis pursuit (``scipy.optimize.linprog``)."""
    from ._solvers import basis_pursuit

    x = np.asarray(data["train"]["x"], np.float64)
    y = np.asarray(data["train"]["y"], np.float64)
    bp = basis_pursuit(x, y)
    truth = np.asarray(data["truth"], np.float64)
    return bp["z"], {"solver": bp["solver"], "distance_to_truth": float(np.linalg.norm(bp["z"] - truth) / np.linalg.norm(truth)),
                     "constraint_residual": bp["constraint_residual"]}


def sweep(learning_rates, families=FAMILIES, batch_sizes=(1,), seeds: int = 16, steps: int = 100_000,
          label_noise: float = 1.0, holds_below: float = 0.1, plot: str | None = None,
          progress: Callable[[float], None] | None = None, **kw) -> dict:
    """Prediction error of the label-noise bias per cell (module docstring); JSON-able result.

    ``holds_below``: a cell "holds" when the median relative error over its seeds is below this
    and no run diverged. ``plot``: heat-map PNG (one panel per batch size: family x learning rate).
    """
    p = plan(learning_rates, families, batch_sizes, seeds, steps, label_noise, **kw)
    t0 = time.perf_counter()
    state, status, run_s = run_plan(p, progress=progress)
    z_pred, pred_info = predicted_endpoint(p.data)
    u = np.asarray(state.params["u"], np.float64)
    z = u[:, 0] * u[:, 1]
    finite = np.all(np.isfinite(z), axis=1) & (status == 0)
    err = np.where(finite, np.linalg.norm(z - z_pred[None], axis=1) / np.linalg.norm(z_pred), np.nan)
    truth = np.asarray(p.data["truth"])
    support_ok = np.where(finite, np.all((np.abs(z) > 0.05) == (truth != 0)[None], axis=1), False)
    x, y = np.asarray(p.data["train"]["x"]), np.asarray(p.data["train"]["y"])
    train_mse = np.where(finite, np.mean((z @ x.T - y[None]) ** 2, axis=1), np.nan)
    err_c = err.reshape(p.shape)
    with np.errstate(all="ignore"):
        median = np.nanmedian(err_c, axis=-1)
    diverged = (~finite).reshape(p.shape).mean(axis=-1)
    median = np.where(diverged > 0.5, np.nan, median)
    cells = []
    for i, lr in enumerate(p.grid["learning_rate"]):
        for j, fam in enumerate(p.grid["family"]):
            for b, bs in enumerate(p.grid["batch_size"]):
                sl = (i, j, b)
                m = median[sl]
                cells.append({
                    "learning_rate": lr, "family": fam, "batch_size": bs,
                    "median_relative_error": None if not np.isfinite(m) else float(m),
                    "max_relative_error": None if np.all(np.isnan(err_c[sl])) else float(np.nanmax(err_c[sl])),
                    "diverged_fraction": float(diverged[sl]),
                    "support_recovered_fraction": float(support_ok.reshape(p.shape)[sl].mean()),
                    "median_train_mse": None if np.all(np.isnan(train_mse.reshape(p.shape)[sl])) else float(np.nanmedian(train_mse.reshape(p.shape)[sl])),
                    "holds": bool(np.isfinite(m) and m < holds_below and diverged[sl] == 0),
                })
    result = {"grid": p.grid, "prediction": {"kind": "label-noise bias: min-L1 interpolant (basis pursuit)", **pred_info},
              "holds_below": holds_below, "cells": cells,
              "timing": {"run_seconds_including_compile": run_s, "total_seconds": time.perf_counter() - t0 + run_s},
              "plot": None}
    if plot is not None:
        from ._plot import plot_heatmaps

        panels = []
        for b, bs in enumerate(p.grid["batch_size"]):
            panels.append({"values": np.log10(median[:, :, b].T), "x": [f"{lr:.2g}" for lr in p.grid["learning_rate"]],
                           "y": p.grid["family"], "xlabel": "learning rate", "ylabel": "label-noise family",
                           "title": f"batch size {bs}: median log10 |z - z_BP| / |z_BP| ({seeds} seeds)"})
        plot_heatmaps(panels, plot, f"label-noise SGD on V1 sparse regression, noise scale {label_noise}, {p.grid['steps']:,} steps")
        result["plot"] = str(plot)
    return result


__all__ = ["ALPHA", "CLIP", "FAMILIES", "FamilyLabelNoise", "plan", "predicted_endpoint", "run_plan", "sweep", "v1_task"]
