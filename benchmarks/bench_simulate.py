"""Wall time of the JAX simulator against the authors'-style eager PyTorch loops, same configurations.

For each figure: the PyTorch loops of ``benchmarks/torch_baseline.py`` (one seed, one Python
iteration per step) and ours (one seed, the configurations of :mod:`designer.reproduce`) run the
same number of steps -- a ``--fraction`` of the authors' battery (their longer final-accuracy runs
included: fig2 500k, fig3 300k, fig4 500k, fig5 3 x 50k, fig6 2 x 500k). Ours is timed with
``block_until_ready`` after a warm-up chunk, compile time reported apart. Then ``vmap`` over 16
seeds against 1 seed on the same steps, and the process's peak resident memory.

    python benchmarks/bench_simulate.py --fraction 0.05
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

import designer  # noqa: E402,F401
from designer.reproduce import figure_spec  # noqa: E402
from designer.simulate import Simulator  # noqa: E402

import torch_baseline  # noqa: E402


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_ours(figure: str, steps: int, seeds: int) -> tuple[float, float]:
    """(compile seconds, run seconds) for all curves of ``figure``, ``steps`` steps, ``seeds`` seeds."""
    compile_s = run_s = 0.0
    every = steps // 10
    for c in figure_spec(figure).curves:
        sim = Simulator(c.model, c.task, noise=c.noise)
        state, hyper, data = sim.setup(np.arange(seeds), sim.hyper(c.learning_rate), init=lambda k, s=sim, cv=c: cv.init(s, k))
        jax.block_until_ready((state, data))
        t0 = time.perf_counter()
        jax.block_until_ready(sim._chunk_jit(state, hyper, data, 1, every))  # first call: compile + one chunk
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = sim.run(state, hyper, data, steps, every, records_per_chunk=1)
        jax.block_until_ready(res.state)
        run = time.perf_counter() - t0
        assert sim.n_traces == 1, "the timed run recompiled"
        compile_s += max(first - run / 10, 0.0)
        run_s += run
    return compile_s, run_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fraction", type=float, default=0.05, help="fraction of the authors' battery steps")
    parser.add_argument("--figures", default="fig2,fig3,fig4,fig5,fig6")
    parser.add_argument("--vmap-fraction", type=float, default=None, help="fraction for the 16-vs-1 seed test (default --fraction / 5)")
    args = parser.parse_args()
    figs = args.figures.split(",")
    vfrac = args.vmap_fraction or args.fraction / 5
    print(f"backend: {jax.default_backend()}, devices: {jax.devices()}, torch threads: {torch_baseline.torch.get_num_threads()}")
    rows, tot_t, tot_o, tot_c = [], 0.0, 0.0, 0.0
    for f in figs:
        steps = int(torch_baseline.BATTERY_STEPS[f] * args.fraction) // 10 * 10
        t_torch, _ = torch_baseline.FIGURES[f](steps)
        rss_torch = peak_rss_mib()
        c, o = time_ours(f, steps, 1)
        tot_t, tot_o, tot_c = tot_t + t_torch, tot_o + o, tot_c + c
        rows.append((f, steps, t_torch, o, c, t_torch / o))
        print(f"{f}: {steps:,} steps/curve  torch {t_torch:8.2f} s   ours {o:7.2f} s (+ compile {c:5.2f} s)   "
              f"ratio {t_torch / o:6.1f}x   peak RSS {rss_torch:.0f} -> {peak_rss_mib():.0f} MiB", flush=True)
    print(f"battery at fraction {args.fraction}: torch {tot_t:.1f} s, ours {tot_o:.1f} s (+ compile {tot_c:.1f} s): "
          f"{tot_t / tot_o:.1f}x run-only, {tot_t / (tot_o + tot_c):.1f}x including compile; "
          f"full-battery estimate torch {tot_t / args.fraction:.0f} s, ours {tot_o / args.fraction:.0f} s")
    for f in figs:
        steps = max(10, int(torch_baseline.BATTERY_STEPS[f] * vfrac) // 10 * 10)
        _, one = time_ours(f, steps, 1)
        _, many = time_ours(f, steps, 16)
        print(f"{f}: vmap 16 seeds / 1 seed wall-time ratio {many / one:5.2f} ({steps:,} steps; {one:.2f} s vs {many:.2f} s)",
              flush=True)
    print(f"peak RSS of the process: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
