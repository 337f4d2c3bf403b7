"""Exact finite-step stationary law (transfer operator) against the batched SGD chains it replaces.

For each setting, in one process: the exact law (``designer.validate._finite_step.stationary_law``,
numpy/scipy, no compilation) and the simulator's chains (``run_slice_chains``: compile + first
chunk timed apart from the run). Reported: seconds, the ratio chains / exact, and what each buys:
the exact law's error estimate (Richardson correction) against the chains' standard error of the
variance (from the spread between independent chains).

    python benchmarks/bench_stationary.py                       # 256 chains x 20,000 steps
    python benchmarks/bench_stationary.py --chains 64 --steps 2000 --out bench_stationary.json
"""

from __future__ import annotations

import argparse
import json
import math
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

from designer.validate._finite_step import NoiseLaw, SliceChain, stationary_law  # noqa: E402
from designer.validate._finite_step_check import run_slice_chains  # noqa: E402

SETTINGS = [
    {"z0": 3.0, "eta": 0.01, "scale": 1.0, "depth": 2, "noise": "gaussian"},
    {"z0": 1.0, "eta": 0.1, "scale": 0.3, "depth": 3, "noise": "student_t"},
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
        t0 = time.perf_counter()
        law = stationary_law(chain)
        exact_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        stationary_law(chain)
        exact_second = time.perf_counter() - t0
        # chains: a short call compiles (same shapes as the long one), then the timed run
        t0 = time.perf_counter()
        run_slice_chains(s["z0"], [s["eta"]], [s["scale"]], s["depth"], noise, chains=args.chains, burn=0,
                         steps=args.every, every=args.every)
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        z, fin = run_slice_chains(s["z0"], [s["eta"]], [s["scale"]], s["depth"], noise, chains=args.chains, burn=0,
                                  steps=args.steps, every=args.every, seed=1)
        chains_s = time.perf_counter() - t0  # run_slice_chains returns host arrays: the work is done
        x = z[0][fin[0]]
        # the quasi-stationary law is the law of the chains that have not left (0, z_esc): a chain's
        # records count until it first leaves (at odd depth a chain that crossed to z < 0 creeps there
        # and may flip back near 0+, which that law does not describe; the run law does)
        left = np.cumsum(~((x > 0) & (x < chain.z_escape)), axis=1) > 0
        x = np.where(left, np.nan, x)
        with np.errstate(all="ignore"):
            per = np.nanvar(x, axis=1)  # NaN for a chain that left at once
        se_var = float(np.nanstd(per) / math.sqrt(np.sum(np.isfinite(per))))
        row = {**s, "exact_seconds_first": exact_first, "exact_seconds_second": exact_second,
               "exact_cells": law.error["cells"], "exact_variance": law.variance,
               "exact_variance_error_estimate": law.error["variance"],
               "chains": args.chains, "steps": args.steps, "chains_compile_seconds": compile_s,
               "chains_run_seconds": chains_s, "chains_variance": float(np.nanvar(x)), "chains_variance_se": se_var,
               "ratio_chains_over_exact": chains_s / exact_second}
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = {"rows": rows, "devices": [str(d) for d in jax.devices()]}
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
