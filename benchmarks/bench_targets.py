"""Cost of evaluating each target over a batch of sampled predictors (what a design does once).

Run: python benchmarks/bench_targets.py [--points 64] [--d 1024] [--sides 8 16 32 64] [--repeats 5]

For every registered target with a fixed spec below: ``jit(vmap(target.value))`` over ``points``
predictors drawn like the designer's default sampling (vector: magnitudes 10^U(-2, 2), random
signs; matrix: singular values 10^U(-2, 2) between random rotations). Reports compile time (first
call minus a steady call) and the steady time (median of ``repeats``, block_until_ready), as a
ratio against the baseline measured in the same process: ``l1`` for vector targets, ``nuclear``
(one SVD per point) for matrix targets. ``sparse_plus_low_rank`` runs a solver per point: it also
reports the iterations the solver ran (to the default 1e-9 certified gap) at each side. Baseline
and target are interleaved round by round, so drifts of a shared machine hit both alike.
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
from designer.targets import TARGETS, build_target

VECTOR = {
    "l1": {"kind": "l1"}, "lp": {"kind": "lp", "p": 0.5}, "log_sum": {"kind": "log_sum"},
    "elastic_net": {"kind": "elastic_net"}, "huber": {"kind": "huber"}, "scad": {"kind": "scad"},
    "mcp": {"kind": "mcp"}, "tv": {"kind": "tv"}, "fused_lasso": {"kind": "fused_lasso"},
}
MATRIX = {
    "nuclear": {"kind": "nuclear"}, "schatten": {"kind": "schatten", "p": 0.5}, "log_det": {"kind": "log_det"},
    "tv_2d": {"kind": "tv_2d"}, "sparse_plus_low_rank": {"kind": "sparse_plus_low_rank"},
}


def sample(rng, n, shape):
    if len(shape) == 1:
        return rng.choice([-1.0, 1.0], size=(n, *shape)) * 10.0 ** rng.uniform(-2, 2, size=(n, *shape))
    m, k = shape
    r = min(m, k)
    out = np.empty((n, m, k))
    for i in range(n):
        q1, _ = np.linalg.qr(rng.standard_normal((m, m)))
        q2, _ = np.linalg.qr(rng.standard_normal((k, k)))
        out[i] = (q1[:, :r] * 10.0 ** rng.uniform(-2, 2, r)) @ q2[:, :r].T
    return out


def paired(base, fn, points, repeats):
    compile_s = {}
    for name, f in (("baseline", base), ("target", fn)):
        t0 = time.perf_counter()
        jax.block_until_ready(f(points))
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        jax.block_until_ready(f(points))
        compile_s[name] = max(first - (time.perf_counter() - t0), 0.0)
    ratios, steady = [], {"baseline": [], "target": []}
    for _ in range(repeats):
        for name, f in (("baseline", base), ("target", fn)):
            t0 = time.perf_counter()
            jax.block_until_ready(f(points))
            steady[name].append(time.perf_counter() - t0)
        ratios.append(steady["target"][-1] / steady["baseline"][-1])
    return {"compile_s": round(compile_s["target"], 3), "steady_s": statistics.median(steady["target"]),
            "baseline_steady_s": statistics.median(steady["baseline"]), "ratio": round(statistics.median(ratios), 2)}


def batched(target):
    return jax.jit(jax.vmap(target.value))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=64)
    ap.add_argument("--d", type=int, default=1024)
    ap.add_argument("--sides", type=int, nargs="+", default=[8, 16, 32, 64])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    assert set(VECTOR) | set(MATRIX) <= set(TARGETS)
    rng = np.random.default_rng(0)
    rows = []
    pts = jnp.asarray(sample(rng, args.points, (args.d,)))
    base = batched(build_target(VECTOR["l1"], (args.d,)))
    for kind, spec in VECTOR.items():
        rows.append({"target": kind, "shape": [args.d], **paired(base, batched(build_target(spec, (args.d,))), pts, args.repeats)})
        print(json.dumps(rows[-1]), flush=True)
    for side in args.sides:
        shape = (side, side)
        pts = jnp.asarray(sample(rng, args.points, shape))
        base = batched(build_target(MATRIX["nuclear"], shape))
        for kind, spec in MATRIX.items():
            target = build_target(spec, shape)
            row = {"target": kind, "shape": list(shape), **paired(base, batched(target), pts, args.repeats)}
            if kind == "sparse_plus_low_rank":
                value, lower, _, _, its = jax.jit(jax.vmap(target.solve))(pts)
                its = np.asarray(its)
                row.update(iterations_median=int(np.median(its)), iterations_max=int(its.max()),
                           max_relative_gap=float(np.max((np.asarray(value) - np.asarray(lower)) / np.asarray(value))))
            rows.append(row)
            print(json.dumps(row), flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_rss_mb": round(peak_mb, 1), "points": args.points}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
