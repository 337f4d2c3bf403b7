"""Long batched SGD chains on the balanced slice against the exact finite-step law (``_finite_step``).

One setting: a scalar target ``z0``, step ``eta``, label noise of a law and scale, depth ``D`` and a
loss (``squared``, the simulator's, or ``half_squared``, which the simulator runs as ``squared``
at half the step: same chain). The chains are the project's simulator (``designer.simulate``),
``z = u v`` (``scalar_product`` on ``scalar_target``) for ``D = 2`` and a Hadamard product of depth
``D`` with one coordinate for ``D > 2``, started balanced at ``z0``, batched with ``vmap`` over
chains (and over settings that share ``z0``, ``D`` and the noise law: their step and noise scale
are traced hyperparameters).

Compared on the same samples: the exact (quasi-)stationary law of the slice chain, the small-step
law (theory.md section 4's Gamma law for ``D = 2``) and the paper's isotropic law. Reported: mean
and variance (with standard errors from the spread between chains, which are independent), their
relative errors, the KS statistic of each law, and the sampling floor (the two-sample KS statistic
between two halves of the chains; samples within a chain are autocorrelated, so the floor, not a
p-value, is the yardstick). Chains that diverge are dropped; samples outside ``(0, z_esc)`` (a step
past the escape point, or to ``z < 0`` at odd depth) are left out and counted, and so are the
chains with such an excursion at a recorded step (``chains_with_excursion``), to compare with the
exact law's escape and loss rates: ``chains (1 - exp(-(escape + loss) steps))``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time

import jax.numpy as jnp
import numpy as np
import scipy.stats as st

from ..errors import DesignerInputError
from ..simulate import Simulator
from ..simulate.tasks._base import PredictorTask
from ._finite_step import NoiseLaw, SliceChain, gamma_law, paper_law, small_step_law, stationary_law
from ._run_law import divergence_point, run_law as run_law_


@dataclasses.dataclass(frozen=True)
class VectorTarget(PredictorTask):
    """``scalar_target`` for a one-coordinate vector predictor (a Hadamard product with ``dim = 1``)."""

    target: float = 1.0
    name = "vector_target"
    predictor_shape = (1,)

    def _n_examples(self):
        return 1

    def generate(self, key, dtype=jnp.float32):
        return {"truth": jnp.full((1,), self.target, dtype), "train": {"y": jnp.full((1, 1), self.target, dtype)}}

    def outputs_from_predictor(self, z, data, examples):
        return jnp.broadcast_to(z, examples["y"].shape)

    def metrics(self, model, params, data):
        return {"z": model.predictor(params)[0]}


def _noise_piece(noise: NoiseLaw, scale: float) -> dict:
    if noise.law == "gaussian":
        return {"kind": "label_noise", "scale": scale}
    if noise.law == "student_t":
        return {"kind": "label_noise", "scale": scale, "distribution": "student_t", "df": noise.df}
    return {"kind": "label_noise", "scale": scale, "distribution": "alpha_stable", "alpha": noise.alpha}


def run_slice_chains(z0: float, etas, scales, depth: int = 2, noise: NoiseLaw | None = None, loss: str = "squared",
                     chains: int = 256, burn: int = 2_000, steps: int = 20_000, every: int = 10, seed: int = 0):
    """Batched chains for the settings ``(etas[k], scales[k])`` (one compiled program).

    Returns ``(z, finite)``: ``z`` of shape (settings, chains, records) and, per chain, whether it
    stayed finite. ``loss="half_squared"`` runs the simulator's squared loss at ``eta / 2``.
    """
    noise = noise or NoiseLaw()
    etas, scales = np.broadcast_arrays(np.atleast_1d(np.asarray(etas, np.float64)), np.atleast_1d(np.asarray(scales, np.float64)))
    k = len(etas)
    lr = etas * (0.5 if loss == "half_squared" else 1.0)
    if depth == 2:
        model, task = {"family": "scalar_product"}, {"kind": "scalar_target", "target": z0}
        a = math.sqrt(z0)
        init = lambda key: {"u": jnp.asarray(a, jnp.float64), "v": jnp.asarray(a, jnp.float64)}
    else:
        model, task = {"family": "hadamard", "depth": depth, "dim": 1}, VectorTarget(target=z0)
        a = z0 ** (1.0 / depth)
        init = lambda key: {"u": jnp.full((depth, 1), a, jnp.float64)}
    sim = Simulator(model, task, noise=[_noise_piece(noise, float(scales[0]))], dtype=jnp.float64)
    hyper = sim.hyper(np.repeat(lr, chains), label_noise=np.repeat(scales, chains))
    seeds = seed * 1_000_003 + np.arange(k * chains)
    state, hyper, data = sim.setup(seeds, hyper, init=init, data_seeds=np.zeros(k * chains, np.int64), share_data=True)
    if burn:
        state = sim.run(state, hyper, data, burn, burn).state
    res = sim.run(state, hyper, data, steps, every)
    z = np.asarray(res.records["z"], np.float64).reshape(k, chains, -1)
    finite = (res.status == 0).reshape(k, chains)
    return z, finite


def map_chains(chain: SliceChain, chains: int, burn: int, steps: int, every: int, seed: int = 0, start: float | None = None):
    """Chains of the slice map itself (numpy, vectorised over chains; the map is the simulator's step
    to 1e-12, tests/validate): ``(records (chains, steps // every), finite at the end)``. Gaussian or
    Student-t noise; cheap enough for thousands of chains, to check a row beyond 256 simulator chains.
    A chain is marked diverged once ``|z|`` passes 1e150 (the simulator's float64 overflows soon after)."""
    if chain.noise.law == "alpha_stable":
        raise DesignerInputError("noise.law", "map_chains draws gaussian or student_t noise")
    rng = np.random.default_rng(seed)
    draw = (lambda n: rng.standard_normal(n)) if chain.noise.law == "gaussian" else \
        (lambda n: rng.standard_t(chain.noise.df, n) * chain.noise._t_scale)
    z = np.full(chains, chain.z0 if start is None else float(start))
    rec = np.empty((chains, steps // every))
    with np.errstate(all="ignore"):
        for t in range(burn + steps):
            z = chain.step(z, draw(chains))
            z = np.where(np.isfinite(z) & (np.abs(z) < 1e150), z, np.nan)
            if t >= burn and (t - burn + 1) % every == 0:
                rec[:, (t - burn + 1) // every - 1] = z
    return rec, np.isfinite(rec[:, -1])


@functools.lru_cache(maxsize=16)
def _map_program(depth: int, law: str, df: float, chains: int, burn: int, steps: int, every: int):
    """One compiled program per shape: ``lax.scan`` over the records (and over the steps between two
    records), every chain advanced at once (the step is elementwise, so the chains are the batch axis);
    ``z0``, ``e``, ``s``, the start and the key are traced, so a new row of the same shape does not
    recompile."""
    import jax
    from jax import lax

    t_scale = math.sqrt((df - 2.0) / df) if law == "student_t" else 1.0
    bp = 1.0 - 2.0 / depth

    def draw(key):
        if law == "gaussian":
            return jax.random.normal(key, (chains,), jnp.float64)
        if float(df).is_integer() and df <= 8:
            # t(k) = N / sqrt(chi2_k / k), chi2_k a sum of k squared normals: exact, and far cheaper on
            # CPU than jax.random.t's gamma sampler (a rejection loop)
            g = jax.random.normal(key, (int(df) + 1, chains), jnp.float64)
            return g[0] / jnp.sqrt(jnp.mean(g[1:] ** 2, axis=0)) * t_scale
        return jax.random.t(key, df, (chains,), jnp.float64) * t_scale

    def step(carry, _, z0, e, s):
        z, key = carry
        key, sub = jax.random.split(key)
        c = e * jnp.sign(z) * jnp.abs(z) ** bp
        r = 1.0 - c * (z - z0) + c * s * draw(sub)
        z = z * r**depth
        z = jnp.where(jnp.isfinite(z) & (jnp.abs(z) < 1e150), z, jnp.nan)
        return (z, key), None

    @jax.jit
    def run(z0, e, s, start, key):
        one = lambda carry, _: step(carry, _, z0, e, s)
        carry = (jnp.full((chains,), start, jnp.float64), key)
        if burn:
            carry, _ = lax.scan(one, carry, None, length=burn)

        def record(carry, _):
            carry, _ = lax.scan(one, carry, None, length=every)
            return carry, carry[0]

        _, rec = lax.scan(record, carry, None, length=steps // every)
        return rec.T

    return run


def map_chains_jax(chain: SliceChain, chains: int, burn: int, steps: int, every: int, seed: int = 0,
                   start: float | None = None):
    """:func:`map_chains` compiled with JAX (float64, ``lax.scan`` inside ``jit``; the chains are
    one batch): ``(records (chains, steps // every), finite at the end)``. Thousands of chains over
    thousands of steps in seconds; a second row of the same shape reuses the compiled program."""
    import jax

    from .._jax import enable_x64, unroll_threefry_on_cpu

    if chain.noise.law == "alpha_stable":
        raise DesignerInputError("noise.law", "map_chains_jax draws gaussian or student_t noise")
    if steps < every or every < 1 or steps % every or burn < 0 or chains < 1:
        raise DesignerInputError("steps", f"steps={steps} must be a positive multiple of every={every}, burn={burn} >= 0, chains={chains} >= 1")
    enable_x64()
    unroll_threefry_on_cpu()
    run = _map_program(int(chain.depth), chain.noise.law, float(chain.noise.df), int(chains), int(burn), int(steps), int(every))
    rec = np.asarray(run(chain.z0, chain.e, chain.scale, chain.z0 if start is None else float(start), jax.random.PRNGKey(seed)))
    return rec, np.isfinite(rec[:, -1])


def _orthogonal(rng, n):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def matrix_product_start(z0s, seed: int = 0):
    """A balanced, rotated factorisation of ``M* = U diag(z0s) V^T`` (``U``, ``V``, ``R`` random
    orthogonal): ``P = U S^{1/2} R``, ``Q = R^T S^{1/2} V^T``, so ``P^T P = Q Q^T`` and ``P Q = M*``.
    Returns ``(P, Q, U, V)``."""
    rng = np.random.default_rng(seed)
    z0s = np.asarray(z0s, np.float64)
    n = len(z0s)
    U, V, R = _orthogonal(rng, n), _orthogonal(rng, n), _orthogonal(rng, n)
    h = np.diag(np.sqrt(z0s))
    return U @ h @ R, R.T @ h @ V.T, U, V


@functools.lru_cache(maxsize=8)
def _matrix_program(n: int, chains: int, burn: int, steps: int, every: int, aligned: bool):
    import jax
    from jax import lax

    def step(carry, _, e, s, M0, U, V):
        P, Q, key = carry
        key, sub = jax.random.split(key)
        if aligned:  # label noise in the target's singular basis: Y = U (diag(z0) + s diag(xi)) V^T
            xi = jax.random.normal(sub, (chains, n), jnp.float64)
            Y = M0 + s * jnp.einsum("ik,ck,jk->cij", U, xi, V)
        else:  # independent label noise on every entry
            Y = M0 + s * jax.random.normal(sub, (chains, n, n), jnp.float64)
        G = e * (P @ Q - Y)  # e = 2 eta: the gradient of (M - Y)^2 times eta
        P, Q = P - G @ jnp.swapaxes(Q, 1, 2), Q - jnp.swapaxes(P, 1, 2) @ G
        return (P, Q, key), None

    @jax.jit
    def run(P0, Q0, M0, U, V, e, s, key):
        one = lambda carry, _: step(carry, _, e, s, M0, U, V)
        carry = (jnp.broadcast_to(P0, (chains, n, n)), jnp.broadcast_to(Q0, (chains, n, n)), key)
        if burn:
            carry, _ = lax.scan(one, carry, None, length=burn)

        def record(carry, _):
            carry, _ = lax.scan(one, carry, None, length=every)
            P, Q = carry[0], carry[1]
            sv = jnp.linalg.svd(P @ Q, compute_uv=False)
            imb = jnp.sqrt(jnp.sum((jnp.swapaxes(P, 1, 2) @ P - Q @ jnp.swapaxes(Q, 1, 2)) ** 2, axis=(1, 2)))
            return carry, (sv, imb)

        _, (sv, imb) = lax.scan(record, carry, None, length=steps // every)
        return jnp.moveaxis(sv, 0, 1), imb.T

    return run


def matrix_chains(z0s, eta: float, scale: float, chains: int = 1024, burn: int = 500, steps: int = 4000, every: int = 5,
                  aligned: bool = True, seed: int = 0, start_seed: int = 0):
    """Label-noise SGD on a depth-2 matrix product ``M = P Q`` (square, full rank ``n = len(z0s)``),
    loss ``|M - Y|_F^2`` with ``Y = M* + noise``, ``M* = U diag(z0s) V^T``, from the balanced rotated
    start of :func:`matrix_product_start`; ``lax.scan`` in ``jit``, the chains one batch, float64.

    ``aligned``: the noise is ``s U diag(xi) V^T`` (it shares the target's singular vectors, so every
    gradient does and each singular value follows the scalar slice chain ``z' = z (1 - 2 eta (z -
    z0 - s xi))^2`` exactly); otherwise independent ``N(0, s^2)`` noise on every entry. Returns
    ``(singular values (chains, records, n) in decreasing order, imbalance |P^T P - Q Q^T|_F
    (chains, records))``; a chain that overflows has non-finite records."""
    import jax

    from .._jax import enable_x64, unroll_threefry_on_cpu

    z0s = np.asarray(z0s, np.float64)
    if z0s.ndim != 1 or len(z0s) < 1 or not np.all(z0s > 0):
        raise DesignerInputError("z0s", f"positive target singular values, got {z0s}")
    if steps < every or every < 1 or steps % every or burn < 0 or chains < 1:
        raise DesignerInputError("steps", f"steps={steps} must be a positive multiple of every={every}, burn={burn} >= 0, chains={chains} >= 1")
    enable_x64()
    unroll_threefry_on_cpu()
    P, Q, U, V = matrix_product_start(z0s, start_seed)
    run = _matrix_program(len(z0s), int(chains), int(burn), int(steps), int(every), bool(aligned))
    sv, imb = run(P, Q, U @ np.diag(z0s) @ V.T, U, V, 2.0 * eta, scale, jax.random.PRNGKey(seed))
    return np.asarray(sv), np.asarray(imb)


def _ks(x, law) -> float | None:
    if law is None:
        return None
    return float(st.kstest(x, law.cdf).statistic)


def ks_floors(kept: np.ndarray, ok: np.ndarray, splits: int = 8, seed: int = 0) -> np.ndarray:
    """Two-sample KS distances between two halves of the chains (rows of ``kept``, records where
    ``ok``): the first and second half, then ``splits - 1`` random halves (seeded). A split of a pool
    into halves differs as much as two independent halves of that size would, so these are draws of
    the KS distance that sampling alone makes; their median is the sampling floor. One split is a
    single draw, and where records are correlated along a chain (a chain that crosses to ``z < 0``
    stays there) its spread is as large as itself: at Gaussian noise, depth 3, z0 = 0.1, 0.2 of the
    edge, 16 splits of 8,192 chains gave 0.0009-0.0198, median 0.0061, and the first split 0.0012."""
    n = kept.shape[0]
    half = n // 2
    rng = np.random.default_rng(seed)
    out = []
    for k in range(max(int(splits), 1)):
        idx = np.arange(n) if k == 0 else rng.permutation(n)
        a, b = idx[:half], idx[half:]
        out.append(st.ks_2samp(kept[a][ok[a]], kept[b][ok[b]]).statistic)
    return np.asarray(out, np.float64)


def compare_run(z: np.ndarray, finite: np.ndarray, run, z_top: float | None = None, splits: int = 8) -> dict:
    """The chains' records against the law of the run (:func:`designer.validate._run_law.run_law`):
    every record of every chain that did not diverge, on both sides of 0 (nothing left out), with
    standard errors from the spread between the chains and the KS floor (:func:`ks_floors`: the median
    KS distance between two halves of the chains over ``splits`` splits; the first split's and the
    range are reported beside it).

    With ``z_top`` (:func:`designer.validate._run_law.divergence_point`, the law's escape point) a
    chain whose last record has ``|z| >= z_top`` counts as diverged too: it is diverging when the
    run stops (past ``z_top`` the noiseless step grows ``|z|`` and the chain overflows a few steps
    later), which is how the law counts it; left in, its last record alone can carry the variance
    (``diverging_at_end`` counts them)."""
    at_end = 0
    if z_top is not None:
        with np.errstate(invalid="ignore"):
            going = finite & (np.abs(z[:, -1]) >= z_top)
        at_end = int(going.sum())
        finite = finite & ~going
    kept = z[finite]
    ok = np.isfinite(kept)
    x = kept[ok]
    n_ch = kept.shape[0]
    out = {"law": run.summary(), "diverged_chains": int(z.shape[0] - n_ch), "diverging_at_end": at_end,
           "expected_diverged_chains": float(z.shape[0] * (1.0 - run.survival)), "samples": int(x.size)}
    if x.size < 100 or n_ch < 4:
        out["note"] = "too few samples left"
        return out
    mean, var = float(x.mean()), float(x.var())
    per_mean = np.array([r[m].mean() for r, m in zip(kept, ok)])
    # the pooled variance is the mean over chains of each chain's mean of (z - pooled mean)^2 (equal
    # record counts; to first order the pooled mean's own error does not enter): its standard error is
    # the spread of those per-chain values (adding the errors of E z^2 and of mean^2 in quadrature
    # ignores their correlation and overstated it 10-50x where mean^2 >> var)
    per_dev = np.array([((r[m] - mean) ** 2).mean() for r, m in zip(kept, ok)])
    se_mean = float(np.std(per_mean) / math.sqrt(n_ch))
    se_var = float(np.std(per_dev) / math.sqrt(n_ch))
    floors = ks_floors(kept, ok, splits)
    floor = float(np.median(floors))
    ks = float(st.kstest(x, run.cdf).statistic)
    out.update({"mean": mean, "variance": var, "se_mean": se_mean, "se_variance": se_var, "ks_floor": floor, "ks": ks,
                "ks_floor_first_split": float(floors[0]), "ks_floor_range": [float(np.min(floors)), float(np.max(floors))],
                "negative_fraction": float(np.mean(x < 0)),
                "mean_rel_error": abs(run.mean - mean) / abs(mean), "variance_rel_error": abs(run.variance - var) / var,
                "mean_z": abs(run.mean - mean) / se_mean if se_mean > 0 else None,
                "variance_z": abs(run.variance - var) / se_var if se_var > 0 else None})
    out["goal_met"] = bool(out["mean_rel_error"] < 0.05 and out["variance_rel_error"] < 0.05 and ks <= 2 * floor)
    # the same test with the 5% replaced by the chains' own resolution (2 standard errors) where that is wider
    out["within_sampling_error"] = bool(abs(run.mean - mean) < max(0.05 * abs(mean), 2 * se_mean)
                                        and abs(run.variance - var) < max(0.05 * var, 2 * se_var) and ks <= 2 * floor)
    return out


def compare(z0: float, eta: float, scale: float, depth: int = 2, noise: NoiseLaw | None = None, loss: str = "squared",
            z: np.ndarray | None = None, finite: np.ndarray | None = None, law=None, run=None, **chain_kw) -> dict:
    """One setting: chains (run here unless ``z``/``finite`` are given) against the three laws, and
    against the law of the run ``run`` when given (:func:`compare_run`)."""
    noise = noise or NoiseLaw()
    chain = SliceChain(z0, eta, scale, depth, noise, loss)
    t0 = time.perf_counter()
    law = law or stationary_law(chain)
    exact_s = time.perf_counter() - t0
    chains_s = None
    if z is None:
        t0 = time.perf_counter()
        z, finite = run_slice_chains(z0, [eta], [scale], depth, noise, loss, **chain_kw)
        z, finite = z[0], finite[0]
        chains_s = time.perf_counter() - t0
    z_esc = chain.z_escape
    with np.errstate(invalid="ignore"):
        excursion = ~finite | np.any(~np.isfinite(z) | (z <= 0) | (z >= z_esc), axis=1)
    kept = z[finite]
    inside = np.isfinite(kept) & (kept > 0) & (kept < z_esc)
    x = kept[inside]
    n_ch = kept.shape[0]
    out = {"setup": {"z0": z0, "eta": eta, "noise_scale": scale, "depth": depth, "noise": noise.describe(), "loss": loss,
                     "eta_over_edge": chain.curvature_step, "eta_edge": chain.eta_edge, "z_escape": z_esc,
                     "chains": int(z.shape[0]), "records_per_chain": int(z.shape[1]), **{k: v for k, v in chain_kw.items()}},
           "exact": {**law.summary(), "seconds": exact_s}, "chains_seconds": chains_s,
           "diverged_chains": int(z.shape[0] - n_ch), "chains_with_excursion": int(excursion.sum()), "samples_outside": int(kept.size - x.size), "samples": int(x.size)}
    if run is not None:
        out["run"] = compare_run(z, finite, run, divergence_point(chain))
    if x.size < 100 or n_ch < 4:
        out["note"] = "too few samples left"
        return out
    # per-chain statistics (chains are independent): standard errors of the pooled mean and variance
    mean, var = float(x.mean()), float(x.var())
    per_mean = np.array([r[m].mean() if m.any() else np.nan for r, m in zip(kept, inside)])
    per_dev = np.array([((r[m] - mean) ** 2).mean() if m.any() else np.nan for r, m in zip(kept, inside)])
    se_mean = float(np.nanstd(per_mean) / math.sqrt(n_ch))
    se_var = float(np.nanstd(per_dev) / math.sqrt(n_ch))  # as in compare_run
    floor = float(np.median(ks_floors(kept, inside)))  # the median over splits of the chains (ks_floors)
    lo, hi = float(x.min()) * 0.5, min(float(x.max()) * 2.0, z_esc)
    laws = {"exact": law, "small_step": small_step_law(chain, lo, hi), "paper": paper_law(chain, lo, hi)}
    pred = {}
    for name, L in laws.items():
        if L is None:
            pred[name] = None
            continue
        pred[name] = {"mean": L.mean, "variance": L.variance, "ks": _ks(x, L),
                      "mean_rel_error": abs(L.mean - mean) / abs(mean), "variance_rel_error": abs(L.variance - var) / var}
    out.update({"mean": mean, "variance": var, "se_mean": se_mean, "se_variance": se_var, "ks_floor": floor,
                "predictions": pred, "small_step_is_gamma": gamma_law(chain) is not None})
    e = pred["exact"]
    out["goal_met"] = bool(e["mean_rel_error"] < 0.05 and e["variance_rel_error"] < 0.05 and e["ks"] <= 2 * floor)
    return out


def finite_step_check(z0: float = 3.0, eta: float = 0.01, scale: float = 1.0, depth: int = 2, noise: str = "gaussian",
                      df: float = 3.0, alpha: float = 1.5, loss: str = "squared", chains: int = 256, burn: int = 2_000,
                      steps: int = 20_000, every: int = 10, plot: str | None = None, run_law: bool = False) -> dict:
    """``designer sweep --stationary --exact``: one setting, JSON-able (see :func:`compare`). With
    ``run_law`` (``--run-law``) also the law of the run for the same burn-in, steps and record
    interval (``out["run"]``; both sides of 0 at odd depth); it is computed anyway when a chain left
    ``(0, z_esc)`` at a recorded step at odd depth (``run_law_reason`` says why)."""
    law = NoiseLaw(noise, df, alpha)
    chain = SliceChain(z0, eta, scale, depth, law, loss)  # validates the inputs before any run
    t0 = time.perf_counter()
    exact = stationary_law(chain)
    exact_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    z, fin = run_slice_chains(z0, [eta], [scale], depth, law, loss, chains=chains, burn=burn, steps=steps, every=every)
    chains_s = time.perf_counter() - t0
    with np.errstate(invalid="ignore"):
        left = bool(depth % 2 and np.any(fin[0][:, None] & (z[0] <= 0)))
    run = None
    if (run_law or left) and law.law != "alpha_stable":
        run = run_law_(chain, steps, burn, every)
    out = compare(z0, eta, scale, depth, law, loss, z=z[0], finite=fin[0], law=exact, run=run)
    if run is not None:
        out["run_law_reason"] = "asked (--run-law)" if run_law else "chains crossed to z < 0 (odd depth)"
    out["exact"]["seconds"], out["chains_seconds"] = exact_s, chains_s
    out["setup"].update({"burn": burn, "steps": steps, "every": every})
    if plot is not None and "predictions" in out:
        from ._plot import plot_stationary

        x = z[0][fin[0]].reshape(-1)
        x = x[np.isfinite(x) & (x > 0) & (x < chain.z_escape)]
        grid = np.exp(np.linspace(math.log(max(x.min() * 0.8, 1e-12)), math.log(x.max() * 1.2), 2000))
        dens = {"exact": (grid, exact.density(grid))}
        if run is not None:  # the run law's positive side, as a density per unit z of the positive records
            F = run.cdf(grid)
            dens["run law"] = (grid, np.gradient(F, grid) / max(1.0 - run.cdf(np.array([0.0]))[0], 1e-300))
        for name, L in (("small_step", small_step_law(chain)), ("paper", paper_law(chain))):
            if L is not None:
                dens[name] = (grid, np.gradient(L.cdf(grid), grid))
        ks = {k: v["ks"] for k, v in out["predictions"].items() if v is not None}
        title = (f"z0={z0:g} eta={eta:g} s={scale:g} D={depth} {law.describe()}\nKS " +
                 ", ".join(f"{k} {v:.4f}" for k, v in ks.items()) + f" (floor {out['ks_floor']:.4f})")
        if run is not None and "ks" in out["run"]:
            r = out["run"]
            title += f"\nrun law: KS {r['ks']:.4f} (floor {r['ks_floor']:.4f}), {100 * r['negative_fraction']:.1f}% at z<0 (not shown)"
        plot_stationary([{"title": title, "samples": x, "densities": dens}], plot)
        out["plot"] = str(plot)
    return out


def table_settings(z0: float, fraction: float, depth: int, q: float | None = None, c: float = 0.3) -> tuple[float, float]:
    """``(eta, s)`` for a row of the findings table (squared loss): ``eta`` at ``fraction`` of the
    stability edge (``curvature_step = fraction``) and the noise scale ``s = c sqrt(z0)``, or, with
    ``q``, the one at which the small-step law's relative variance ``fraction s^2 / z0^2`` is ``q``.

    The chain depends on ``(z0, eta, s)`` only through ``fraction`` and ``q = fraction s^2 / z0^2``
    (``z -> z / z0`` maps it to the chain at ``z0 = 1``), so at a fixed ``q`` every ``z0`` is the same
    chain rescaled; ``s = c sqrt(z0)`` gives ``q = c^2 fraction / z0``, a different chain per ``z0``."""
    beta = 2.0 - 2.0 / depth
    eta = fraction / (depth * z0**beta)  # D (2 eta) z0^beta / 2 = fraction
    return eta, (z0 * math.sqrt(q / fraction) if q is not None else c * math.sqrt(z0))


def finite_step_table(z0s=(0.1, 0.3, 1.0, 3.0, 10.0), fractions=(0.05, 0.2, 0.5), depths=(2, 3),
                      noises=("gaussian", "student_t"), q: float | None = None, c: float = 0.3, chains: int = 256, burn: int = 500,
                      steps: int = 4_000, every: int = 5, progress=None, run_law: bool = False, chains_of=None) -> dict:
    """The findings table: every ``z0 x fraction x depth x noise`` (:func:`table_settings`), chains
    batched over the fractions of one ``(z0, depth, noise)``, each row compared by :func:`compare`
    (with ``run_law``, also against the law of the run, ``row["run"]``). ``chains_of(noise, depth,
    z0, settings, seed)``, when given, returns the ``(z, finite)`` of a group instead of running it
    (e.g. chains saved by an earlier run with the same seeds)."""
    rows = []
    t_exact = t_chains = t_run = 0.0
    for noise_name in noises:
        law_ = NoiseLaw(noise_name)
        for depth in depths:
            for z0 in z0s:
                settings = [table_settings(z0, f, depth, q, c) for f in fractions]
                t0 = time.perf_counter()
                if chains_of is not None:
                    z, fin = chains_of(noise_name, depth, z0, settings, len(rows) + 1)
                else:
                    z, fin = run_slice_chains(z0, [e for e, _ in settings], [s for _, s in settings], depth, law_,
                                              chains=chains, burn=burn, steps=steps, every=every, seed=len(rows) + 1)
                t_chains += time.perf_counter() - t0
                for k, (f, (eta, s)) in enumerate(zip(fractions, settings)):
                    t0 = time.perf_counter()
                    chain = SliceChain(z0, eta, s, depth, law_)
                    law = stationary_law(chain)
                    t_exact += time.perf_counter() - t0
                    run = None
                    if run_law:
                        t0 = time.perf_counter()
                        run = run_law_(chain, steps, burn, every)
                        t_run += time.perf_counter() - t0
                    row = compare(z0, eta, s, depth, law_, z=z[k], finite=fin[k], law=law, run=run)
                    row["setup"].update({"fraction_of_edge": f, "q": f * s * s / z0**2, "burn": burn, "steps": steps, "every": every})
                    rows.append(row)
                    if progress is not None:
                        progress(row)
    return {"rows": rows, "seconds": {"exact_laws": t_exact, "run_laws": t_run, "chains_including_compile": t_chains},
            "settings": {"q": q, "c": c, "chains": chains, "burn": burn, "steps": steps, "every": every}}


__all__ = ["VectorTarget", "compare", "compare_run", "finite_step_check", "map_chains", "map_chains_jax", "matrix_chains", "matrix_product_start", "finite_step_table", "run_slice_chains", "table_settings"]
