"""Geometry engine speed: autodiff Gram path vs closed form, vmap vs a Python loop.

Run: python benchmarks/bench_geometry.py [--repeats 20]

Reports, measured in one process (float64, CPU):
- the gauge bias through the engine (generators by jvp, block Gram, slogdet) against the
  hand-written closed form, for hadamard depth 3 with d = 1,000 and matrix_product 50 x 50
  rank 10 (goal: within 3x);
- batched evaluation with vmap against a Python loop over points calling the jitted
  single-point function (goal: at least 50x);
compile times apart (first call minus a steady call), steady times as the median of repeats
with block_until_ready (engine and closed form interleaved, round by round; the ratio is the
median of the per-round ratios), and the process's peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import designer  # noqa: F401  (float64)
from designer.bias import induced_bias
from designer.families import build_family
from designer.mechanisms import Gauge


def timed(fn, *args, repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        runs.append(time.perf_counter() - t0)
    steady = statistics.median(runs)
    return {"compile_s": max(first - steady, 0.0), "steady_s": steady}


def paired(engine, closed, repeats, calls=10):
    """Engine against closed form, interleaved: ``repeats`` rounds of ``calls`` calls of each.

    The ratio is the median over rounds of the per-round ratio, so drifts of this shared
    machine's speed (often 2x over a few seconds) hit both sides of each ratio alike.
    """
    compile_s = {}
    for name, fn in (("engine", engine), ("closed_form", closed)):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        compile_s[name] = time.perf_counter() - t0
    rounds = {"engine": [], "closed_form": []}
    for _ in range(repeats):
        for name, fn in (("engine", engine), ("closed_form", closed)):
            t0 = time.perf_counter()
            for _ in range(calls):
                jax.block_until_ready(fn())
            rounds[name].append((time.perf_counter() - t0) / calls)
    out = {}
    for name, times in rounds.items():
        steady = statistics.median(times)
        out[name] = {"compile_s": max(compile_s[name] - steady, 0.0), "steady_s": steady}
    ratios = [e / c for e, c in zip(rounds["engine"], rounds["closed_form"])]
    out["ratio"] = statistics.median(ratios)
    out["ratio_quartiles"] = statistics.quantiles(ratios, n=4)[::2] if len(ratios) > 1 else [out["ratio"]] * 2
    return out


def engine_vs_closed_form(repeats):
    out = {}
    # hadamard depth 3, d = 1000
    fam = build_family({"family": "hadamard", "depth": 3}, (1000,))
    key = jax.random.PRNGKey(0)
    z = jnp.exp(jax.random.uniform(key, (1000,), minval=-5, maxval=3)) * jnp.sign(jax.random.normal(key, (1000,)))
    engine = jax.jit(lambda f, z: Gauge(1.0).bias(f, z))
    closed = jax.jit(fam.closed_form("gauge"))  # the closed form registered next to the family
    out["hadamard_d3_1000"] = paired(lambda: engine(fam, z), lambda: closed(z), repeats)
    np.testing.assert_allclose(engine(fam, z), closed(z), rtol=1e-9)
    # matrix_product 50 x 50 rank 10
    fam = build_family({"family": "matrix_product", "rank": 10}, (50, 50))
    k1, k2, k3 = jax.random.split(key, 3)
    u = jnp.linalg.qr(jax.random.normal(k1, (50, 10)))[0]
    v = jnp.linalg.qr(jax.random.normal(k2, (50, 10)))[0]
    m = (u * jnp.exp(jax.random.uniform(k3, (10,), minval=-2, maxval=2))) @ v.T

    def closed_rank(m):  # the closed form on the top-10 spectrum (the rest is zero)
        s = jnp.linalg.svd(m, compute_uv=False)[:10]
        iu = jnp.triu_indices(10, k=1)
        return 0.5 * (jnp.sum(jnp.log(2 * s)) + jnp.sum(jnp.log(s[:, None] + s[None, :])[iu]))

    closed = jax.jit(closed_rank)
    out["matrix_product_50x50_r10"] = paired(lambda: engine(fam, m), lambda: closed(m), repeats)
    np.testing.assert_allclose(engine(fam, m), closed(m), rtol=1e-9)
    return out


def vmap_vs_loop(n_points, repeats):
    fam = build_family({"family": "hadamard", "depth": 3}, (64,))
    mech = Gauge(1.0)
    pts = jnp.exp(jax.random.uniform(jax.random.PRNGKey(1), (n_points, 64), minval=-5, maxval=3))
    single = jax.jit(lambda f, m, z: m.bias(f, z))
    jax.block_until_ready(single(fam, mech, pts[0]))  # compile outside the loop timing

    def loop(pts):
        return np.array([float(single(fam, mech, p)) for p in pts])

    batched = timed(lambda p: induced_bias(fam, mech, p), pts, repeats=repeats)
    t0 = time.perf_counter()
    looped_values = loop(pts)
    looped = time.perf_counter() - t0
    np.testing.assert_allclose(induced_bias(fam, mech, pts), looped_values, rtol=1e-10)
    return {
        "points": n_points, "vmap": batched, "python_loop_s": looped,
        "vmap_points_per_s": n_points / batched["steady_s"], "loop_points_per_s": n_points / looped,
        "ratio": looped / batched["steady_s"],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--points", type=int, default=4096)
    args = ap.parse_args()
    report = {"jax": jax.__version__, "backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()]}
    report["engine_vs_closed_form"] = engine_vs_closed_form(args.repeats)
    report["vmap_vs_loop"] = vmap_vs_loop(args.points, max(3, args.repeats // 4))
    report["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(report, indent=2))
    for name, row in report["engine_vs_closed_form"].items():
        print(f"{name}: engine {row['engine']['steady_s'] * 1e3:.3f} ms vs closed form "
              f"{row['closed_form']['steady_s'] * 1e3:.3f} ms -> ratio {row['ratio']:.2f}x "
              f"(quartiles over rounds {row['ratio_quartiles'][0]:.2f}-{row['ratio_quartiles'][1]:.2f}) "
              f"(compile {row['engine']['compile_s']:.2f} s vs {row['closed_form']['compile_s']:.2f} s)")
    v = report["vmap_vs_loop"]
    print(f"vmap vs loop ({v['points']} points, hadamard d=64 depth 3): {v['ratio']:.0f}x "
          f"({v['vmap_points_per_s']:.0f} vs {v['loop_points_per_s']:.0f} points/s)")
    print(f"peak RSS {report['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
