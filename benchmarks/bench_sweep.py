"""Benchmark: the V5 sweep as one batched computation vs the same cells one by one.

8 learning rates x 4 label-noise families x 16 seeds of label-noise SGD on V1's sparse regression
(d = 100, n = 40, batch 1), ``--steps`` steps each. Modes, each in a fresh subprocess so its peak
memory (``ru_maxrss``) is its own:

- ``batched``: every run in one ``vmap`` (``designer.validate.sweep``'s program);
- ``runs``: the 512 cells of the grid (learning rate, family, seed) one after another, each a
  single run of the same simulator (one compiled program, reused) -- the issue's "cells one by
  one"; ``--single-runs N`` times only the first N and extrapolates (labelled as such);
- ``cells``: the 32 (learning rate, family) cells one after another, each already a ``vmap`` over
  its 16 seeds -- a second, much stronger baseline that is itself batched.

Every mode runs as ``designer sweep`` does: the machine's cores are JAX CPU devices and a
batch of runs is split across them (``--cpu-devices 1`` turns that off); a single run uses one.
Compile time is measured apart: the first call of the chunk program (compile + one chunk) is timed
alone, then the timed run starts from there; every timing ends with ``block_until_ready``.

    python benchmarks/bench_sweep.py --steps 20000 --out benchmarks/bench_sweep.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

LRS = [0.0025 * 2.0**k for k in range(-5, 3)]


def _mode(mode: str, steps: int, seeds: int, single_runs: int, cpu_devices: int) -> dict:
    import jax

    from designer._jax import use_cpu_cores

    if cpu_devices != 1:  # as designer sweep does: the cores as JAX CPU devices
        use_cpu_cores(cpu_devices or None)
    import jax.numpy as jnp
    import numpy as np

    import designer  # noqa: F401  (x64 available; the sweep runs in float32)
    from designer.validate._sweep import FAMILIES, plan

    every, rpc = 200, 10  # one chunk = 2,000 steps; same chunk shape in every mode

    def timed(p, n_steps):
        """(compile + first chunk seconds, run seconds for n_steps) of one plan."""
        h = p.hyper
        t0 = time.perf_counter()
        r = p.sim.run(p.state, h, p.data, every * rpc, every, records_per_chunk=rpc)
        jax.block_until_ready(r.state.params)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        r = p.sim.run(r.state, h, p.data, n_steps, every, records_per_chunk=rpc)
        jax.block_until_ready(r.state.params)
        return first, time.perf_counter() - t0, p.sim.n_traces

    out = {"mode": mode, "steps": steps, "learning_rates": len(LRS), "families": len(FAMILIES), "seeds": seeds,
           "runs": len(LRS) * len(FAMILIES) * seeds, "device": str(jax.devices()[0]), "devices": len(jax.devices()),
           "jax": jax.__version__}
    if mode == "batched":
        p = plan(LRS, FAMILIES, (1,), seeds=seeds, steps=steps, label_noise=2.0)
        first, run, traces = timed(p, steps)
        out.update(first_call_seconds=first, run_seconds=run, traces=traces, calls=1)
    elif mode == "cells":
        base = plan(LRS[:1], FAMILIES[:1], (1,), seeds=seeds, steps=steps, label_noise=2.0)
        first_total, run_total, traces = 0.0, 0.0, 0
        for lr in LRS:
            for f in range(len(FAMILIES)):
                w = np.zeros((seeds, len(FAMILIES)))
                w[:, f] = 2.0
                p = base
                hyper = base.hyper._replace(learning_rate=jnp.full((seeds,), lr, base.sim.dtype),
                                            label_noise=jnp.asarray(w, base.sim.dtype))
                p.state, p.hyper, p.data = base.sim.distribute(base.state, hyper, base.data)
                first, run, traces = timed(p, steps)
                first_total += first
                run_total += run
        out.update(first_call_seconds_total=first_total, run_seconds=run_total, traces=traces, calls=len(LRS) * len(FAMILIES))
    else:
        full = plan(LRS, FAMILIES, (1,), seeds=seeds, steps=steps, label_noise=2.0)
        base = plan(LRS[:1], FAMILIES[:1], (1,), seeds=1, steps=steps, label_noise=2.0)
        total = len(LRS) * len(FAMILIES) * seeds
        n_runs = min(single_runs, total) if single_runs else total
        runs = []
        for i in range(n_runs):  # run i of the batched grid: its own seed, learning rate and family
            one = lambda a: jax.device_put(a[i:i + 1], jax.devices()[0])  # a single run: one device
            base.state = jax.tree_util.tree_map(one, full.state)
            base.hyper = jax.tree_util.tree_map(one, full.hyper)
            first, run, traces = timed(base, steps)
            runs.append(run)
        out.update(single_runs_timed=n_runs, run_seconds_per_run=float(np.mean(runs)),
                   run_seconds=float(np.sum(runs)) if n_runs == total else float(np.mean(runs)) * total,
                   extrapolated=n_runs < total, traces=traces, first_call_seconds=first)
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--single-runs", type=int, default=0, help="time only this many single runs in mode 'runs' and extrapolate (0: all)")
    ap.add_argument("--modes", default="batched,runs,cells")
    ap.add_argument("--cpu-devices", type=int, default=0,
                    help="JAX CPU devices (0: one per core, as 'designer sweep'; 1: a single device)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--_mode", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._mode:
        print(json.dumps(_mode(args._mode, args.steps, args.seeds, args.single_runs, args.cpu_devices)))
        return
    results = {}
    for mode in args.modes.split(","):
        proc = subprocess.run([sys.executable, __file__, "--_mode", mode, "--steps", str(args.steps), "--seeds", str(args.seeds),
                               "--single-runs", str(args.single_runs), "--cpu-devices", str(args.cpu_devices)], capture_output=True, text=True, env=os.environ)
        if proc.returncode:
            raise SystemExit(proc.stderr)
        results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{mode:>8}: run {results[mode]['run_seconds']:.2f} s, peak RSS {results[mode]['peak_rss_mib']:.0f} MiB", flush=True)
    b = results.get("batched")
    summary = {"load_average_1min_at_end": os.getloadavg()[0], "cpu_count": os.cpu_count()}
    for mode in ("cells", "runs"):
        if b and mode in results:
            summary[f"speedup_batched_vs_{mode}"] = results[mode]["run_seconds"] / b["run_seconds"]
    doc = {"results": results, "summary": summary}
    print(json.dumps(summary, indent=1))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)


if __name__ == "__main__":
    main()
