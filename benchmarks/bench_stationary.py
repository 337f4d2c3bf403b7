"""Exact finite-step stationary law (transfer operator) against the batched SGD chains it replaces.

For each setting, in one process: the exact law (``designer.validate._finite_step.stationary_law``;
at odd depth the law of the run, ``designer.validate.run_law``, since the chains cross to ``z < 0``;
numpy/scipy, no compilation) and the simulator's chains (``run_slice_chains``: compile + first
chunk timed apart from the run). Reported: seconds, the ratio chains / exact, and what each buys:
the exact law's error estimate (Richardson correction) against the chains' standard error of the
variance (from the spread between independent chains).

    python benchmarks/bench_stationary.py                       # 256 chains x 20,000 steps
    python benchmarks/bench_stationary.py --chains 64 --steps 2000 --out bench_stationary.json
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

from designer.validate._finite_step import NoiseLaw, SliceChain, stationary_law  # noqa: E402
from designer.validate._finite_step_check import compare_run, run_slice_chains  # noqa: E402
from designer.validate._run_law import divergence_point, run_law  # noqa: E402

SETTINGS = [
    {"z0": 3.0, "eta": 0.01, "scale": 1.0, "depth": 2, "noise": "gaussian"},
    # odd depth: chains cross to z < 0 and creep there, so the comparison is the law of the run
    # (designer.validate.run_law) over the findings table's run: 500 burn-in steps, 4,000 recorded every 5
    {"z0": 1.0, "eta": 0.1, "scale": 0.3, "depth": 3, "noise": "student_t", "run": {"burn": 500, "steps": 4000, "every": 5}},
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chains", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    rows = []
    for s in SETTINGS:
        noise = NoiseLaw(s["noise"])
        chain = SliceChain(s["z0"], s["eta"], s["scale"], s["depth"], noise)
        run = s.get("run")
        burn, steps, every = (run["burn"], run["steps"], run["every"]) if run else (0, args.steps, args.every)
        exact = functools.partial(run_law, chain, steps, burn, every) if run else functools.partial(stationary_law, chain)
        t0 = time.perf_counter()
        law = exact()
        exact_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        exact()
        exact_second = time.perf_counter() - t0
        # chains: a first identical call compiles every program the run uses (the chunk's records and
        # `every` are compile-time constants, the burn-in is a program of its own), then the timed run
        t0 = time.perf_counter()
        run_slice_chains(s["z0"], [s["eta"]], [s["scale"]], s["depth"], noise, chains=args.chains, burn=burn,
                         steps=steps, every=every, seed=0)
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        z, fin = run_slice_chains(s["z0"], [s["eta"]], [s["scale"]], s["depth"], noise, chains=args.chains, burn=burn,
                                  steps=steps, every=every, seed=1)
        chains_s = time.perf_counter() - t0  # run_slice_chains returns host arrays: the work is done
        if run:
            # every record of every chain that did not diverge, both signs, against the law of the run
            cmp = compare_run(z[0], fin[0], law, divergence_point(chain))
            var, se_var = cmp["variance"], cmp["se_variance"]
        else:
            x = z[0][fin[0]]
            x = np.where((x > 0) & (x < chain.z_escape), x, np.nan)
            per = np.nanvar(x, axis=1)
            var, se_var = float(np.nanvar(x)), float(np.nanstd(per) / math.sqrt(np.sum(np.isfinite(per))))
        row = {**s, "exact": "run_law" if run else "stationary_law", "exact_seconds_first": exact_first,
               "exact_seconds_second": exact_second, "exact_cells": law.cells if run else law.error["cells"],
               "exact_variance": law.variance, "exact_variance_error_estimate": law.error["variance"],
               "chains": args.chains, "burn": burn, "steps": steps, "every": every, "chains_first_call_seconds": compile_s,
               "chains_run_seconds": chains_s, "chains_variance": var, "chains_variance_se": se_var,
               "ratio_chains_over_exact": chains_s / exact_second}
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = {"rows": rows, "devices": [str(d) for d in jax.devices()]}
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
