"""Defaults of a validation that needs no hand-tuning: learning rate, strength, stopping rule.

- **Learning rate** from the task: the sharpness ``lambda_max`` of the training loss at the
  initial parameters, by power iteration on Hessian-vector products (forward-over-reverse), and
  ``eta = LR_FRACTION * 2 / lambda_max`` (``2 / lambda_max`` is the edge of stability of GD on a
  quadratic). Minibatch SGD (label noise, gauge) takes the largest sharpness over
  ``SHARPNESS_PROBES`` random minibatches of its batch size, with their label noise drawn (one
  example is much sharper than the mean of all). A run that diverges (non-finite parameters, or
  a data loss ``DIVERGENCE_FACTOR`` times the one at zero) is restarted from the same
  initialization with half the learning rate; every retry is reported.
- **Strength** from the task's noise level: for vector regression ``lam = 2 sigma sqrt(2 log d)
  max_j |X_j| / n`` in our units (``(1/n)|y - X z|^2 + lam R``), that is scikit-learn's
  ``alpha = sigma sqrt(2 log d / n)`` for unit-variance columns (the universal choice, Bickel,
  Ritov, Tsybakov 2009); for matrix sensing ``lam = 2 sigma (sqrt(rows) + sqrt(cols)) / sqrt(n)``
  (the operator norm of the noise's gradient, Negahban and Wainwright 2011); for noisy entries
  observed directly (robust PCA, data loss ``|Y - Z|_F^2 / (rows cols)``) likewise
  ``lam = 2 sigma (sqrt(rows) + sqrt(cols)) / (rows cols)``. Noiseless data
  (or a task without a noise level, matrix completion) get ``NOISELESS_FRACTION`` times
  ``lam_max``, the dual norm of the data loss's gradient at zero (the strength at which the
  L1 / nuclear-norm solution is zero). Label noise: the noise is the mechanism; its standard
  deviation is ``LABEL_NOISE_RATIO`` times the root mean square of the targets (V1's protocol:
  std 1 against targets of rms ~2), which fixes the strength ``lam = a eta sigma^2 / 4``.
- **Stopping rule**: training runs in chunks of a fixed number of steps (one compiled program);
  between chunks, weight decay and the gauge stop when the full-batch objective changes by less
  than ``OBJECTIVE_RTOL`` relative over a chunk (``OBJECTIVE_RTOL_POLISHED`` when L-BFGS finishes
  weight decay on the same objective); label noise tracks the distance to the predicted
  limit (the trusted solver's solution): when it has not improved by ``PLATEAU_RTOL`` for
  ``PATIENCE`` chunks the label-noise variance is divided by 10 (``anneal_noise_on_plateau``, the
  default, at most ``NOISE_ANNEALS`` times) and after that training stops. The learning rate
  stays: near the data-fitting set the drift along it (the bias at work) is of order
  ``eta^2 sigma^2`` per step and the spread about it of order ``eta sigma^2``, so a tenth of the
  variance narrows the spread at a tenth of the drift, where a tenth of the learning rate costs
  a hundredth (``anneal_on_plateau``, V1's schedule, divides the learning rate by 10 at most
  ``ANNEALS`` times, with checks ``CHECK_GROWTH`` times further apart after each division).
  Measured on lp (p = 1.5) at depth 4, n = 200, d = 1000: 105,000 steps and gaps of 0.9-1.2%
  against the learning-rate schedule's 400,000 (the cap) and up to 2.8%. A step cap stops
  everything; the result says which rule stopped it and lists every division.
"""

from __future__ import annotations

import math

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

LR_FRACTION = 0.5
SHARPNESS_PROBES = 16
POWER_ITERATIONS = 40
DIVERGENCE_FACTOR = 1e4
MAX_RETRIES = 8
NOISELESS_FRACTION = 1e-3
LABEL_NOISE_RATIO = 2.0
OBJECTIVE_RTOL = 1e-6
OBJECTIVE_RTOL_POLISHED = 1e-4
PLATEAU_RTOL = 0.02
PATIENCE = 2
ANNEALS = 2
NOISE_ANNEALS = 4
CHECK_GROWTH = 3
CLOSE_ENOUGH = 1e-4
CHUNK = {"weight_decay": 500, "label_noise": 5_000, "gauge": 5_000}
STEP_CAP = {"weight_decay": 20_000, "label_noise": 400_000, "gauge": 200_000}


# -- the data loss of a linear task as JAX functions ---------------------------------------------

def residual_fn(problem: dict):
    """``(r(z, idx), n)``: residuals of examples ``idx`` (the simulator's per-example loss is ``r^2``)."""
    if problem["kind"] == "completion":
        t = jnp.asarray(problem["target"].reshape(-1))
        m = jnp.asarray(problem["mask"].reshape(-1))
        return (lambda z, idx: (z.reshape(-1)[idx] - t[idx]) * m[idx]), t.size
    if problem["kind"] == "sensing":
        a, y = jnp.asarray(problem["a"]), jnp.asarray(problem["y"])
        return (lambda z, idx: jnp.einsum("kij,ij->k", a[idx], z) - y[idx]), y.size
    x, y = jnp.asarray(problem["x"]), jnp.asarray(problem["y"])
    return (lambda z, idx: x[idx] @ z - y[idx]), y.size


def decayed_square_norm(family, params):
    """``|w|^2`` over the parameters weight decay acts on: all but the family's ``free_params``."""
    free = set(getattr(family, "free_params", ()) or ())
    items = params.items() if isinstance(params, dict) else [("", params)]
    return sum((jnp.sum(w * w) for k, v in items if k not in free for w in jax.tree_util.tree_leaves(v)), jnp.zeros(()))


def objective_fn(family, problem: dict, weight_decay: float):
    """Jitted ``params (batched over runs) -> (data_loss + wd/2 |w|^2, data_loss, z)``."""
    resid, n = residual_fn(problem)
    idx = jnp.arange(n)

    def one(params):
        z = family.predictor(params)
        r = resid(z, idx)
        loss = jnp.mean(r * r)
        return loss + 0.5 * weight_decay * decayed_square_norm(family, params), loss, z

    return jax.jit(jax.vmap(one))


# -- learning rate ------------------------------------------------------------------------------

def sharpness(family, problem: dict, params, *, weight_decay: float = 0.0, batch_size: int | None = None,
              label_noise_std: float = 0.0, probes: int = SHARPNESS_PROBES, iterations: int = POWER_ITERATIONS,
              seed: int = 0) -> dict:
    """Largest Hessian eigenvalue (in modulus) of the training loss at ``params`` by power iteration.

    Full batch when ``batch_size`` is None, else the largest over ``probes`` random minibatches
    (with label noise of ``label_noise_std`` on their targets). Returns ``{"lambda_max", ...}``.
    """
    resid, n = residual_fn(problem)
    w0, unravel = jax.flatten_util.ravel_pytree(params)
    rng = np.random.default_rng(seed)
    if batch_size is None:
        idx = np.arange(n)[None, :]
        noise = np.zeros((1, n))
    else:
        idx = rng.integers(0, n, (probes, batch_size))
        noise = label_noise_std * rng.standard_normal((probes, batch_size))
    v0 = rng.standard_normal((idx.shape[0], w0.size))

    def loss(w, ix, eps):
        r = resid(family.predictor(unravel(w)), ix) - eps
        return jnp.mean(r * r) + 0.5 * weight_decay * decayed_square_norm(family, unravel(w))

    @jax.jit
    def power(w, ix, eps, v):
        hvp = lambda u: jax.jvp(jax.grad(lambda q: loss(q, ix, eps)), (w,), (u,))[1]

        def body(_, v):
            hv = hvp(v)
            return hv / jnp.maximum(jnp.linalg.norm(hv), 1e-300)
        v = jax.lax.fori_loop(0, iterations, body, v / jnp.linalg.norm(v))
        return jnp.vdot(v, hvp(v))

    lams = np.abs(np.asarray(jax.vmap(power, in_axes=(None, 0, 0, 0))(w0, jnp.asarray(idx), jnp.asarray(noise), jnp.asarray(v0))))
    return {"lambda_max": float(lams.max()), "method": f"power iteration ({iterations} Hessian-vector products)",
            "over": "full batch" if batch_size is None else f"max over {len(lams)} minibatches of {batch_size}"}


# -- strength -------------------------------------------------------------------------------------

def lam_max(problem: dict) -> float:
    """Dual norm of the data loss's gradient at zero: ``2 scale |A^T y|_inf`` (vectors), ``_op`` (matrices)."""
    s = problem["scale"]
    if problem["kind"] == "vector":
        return float(2 * s * np.max(np.abs(problem["x"].T @ problem["y"])))
    if problem["kind"] == "sensing":
        g = np.einsum("kij,k->ij", problem["a"], problem["y"])
    else:
        g = problem["mask"] * problem["target"]
    return float(2 * s * np.linalg.norm(g, 2))


def default_strength(task_spec: dict, problem: dict) -> dict:
    """``{"value", "rule"}``: the regularizer's coefficient ``lam`` from the task's noise level."""
    sigma = float(task_spec.get("noise") or 0.0)
    lmax = lam_max(problem)
    if sigma > 0 and problem["kind"] == "vector":
        n, d = problem["x"].shape
        col = float(np.max(np.linalg.norm(problem["x"], axis=0)))
        lam = 2 * sigma * math.sqrt(2 * math.log(max(d, 2))) * col / n
        rule = (f"universal choice lam = 2 sigma sqrt(2 log d) max_j |X_j| / n (sklearn alpha = sigma sqrt(2 log d / n) "
                f"for unit-variance columns), sigma = {sigma:g} (the task's noise)")
    elif sigma > 0 and problem["kind"] == "sensing":
        n = len(problem["y"])
        rows, cols = problem["shape"]
        lam = 2 * sigma * (math.sqrt(rows) + math.sqrt(cols)) / math.sqrt(n)
        rule = f"lam = 2 sigma (sqrt(rows) + sqrt(cols)) / sqrt(n), sigma = {sigma:g} (the task's noise)"
    elif sigma > 0 and problem["kind"] == "completion":
        rows, cols = problem["shape"]
        lam = 2 * problem["scale"] * sigma * (math.sqrt(rows) + math.sqrt(cols))
        rule = (f"lam = 2 sigma (sqrt(rows) + sqrt(cols)) / (rows cols), sigma = {sigma:g} (the task's noise): the operator "
                "norm of the noise's gradient (2 / (rows cols)) E (Davidson and Szarek: |E|_op ~ sigma (sqrt(rows) + sqrt(cols)))")
    else:
        lam = NOISELESS_FRACTION * lmax
        rule = (f"noiseless data: lam = {NOISELESS_FRACTION:g} lam_max, lam_max = {lmax:.6g} (the dual norm of the "
                "data loss's gradient at zero)")
    if lam >= lmax > 0:
        lam, rule = 0.5 * lmax, rule + f"; capped at lam_max / 2 = {0.5 * lmax:.6g} (above it the solution is zero)"
    return {"value": float(lam), "rule": rule, "lam_max": lmax}


def default_label_noise_std(problem: dict) -> dict:
    y = problem["target"][problem["mask"] > 0] if problem["kind"] == "completion" else problem["y"]
    rms = float(np.sqrt(np.mean(np.square(y)))) if np.size(y) else 1.0
    return {"value": LABEL_NOISE_RATIO * max(rms, 1e-12),
            "rule": f"label noise std = {LABEL_NOISE_RATIO:g} x rms of the targets ({rms:.6g})"}


__all__ = ["decayed_square_norm", "default_label_noise_std", "default_strength", "lam_max", "objective_fn", "residual_fn", "sharpness"]
