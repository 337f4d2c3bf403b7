"""Benchmark of ``designer design`` end to end, against an earlier designer in the same run.

For ``--target '{"kind":"l1"}' --shape 64`` and ``--target '{"kind":"nuclear"}' --shape 20,20``
(both end after the screen stage, since an exact knob-free match exists) and, for comparison,
``log_sum`` on 64 (which runs the transform stage too):

- cold: a fresh Python process with an empty persistent-compilation-cache directory; wall time
  from process start (measured by the parent around the whole child) split into interpreter
  start, import, compile (JAX's own compile-time events: tracing, lowering, XLA backend) and
  search (the rest of the first design);
- cold, warm cache: a second fresh process reusing that cache directory (what a user's second
  command sees);
- warm: a repeated design (new seed, same shapes) in the same process, median of 5.

Prints a table and the ratios to the goals (cold < 10 s, warm < 1 s) and writes JSON with
``--json``. With ``--baseline REV`` (e.g. the commit before the registry-driven search) the same
cases run interleaved with that revision's designer (exported by ``git archive`` into a temporary
directory) and the ratios this / baseline are printed. ``--large`` adds the layer-sized cases
(d = 10^6 and 4,096 x 4,096, scored on a slice and checked at full size): cold and warm time and
peak memory (no baseline: the earlier designer refused them). Run:
``python benchmarks/bench_design.py [--baseline df6b175] [--large] [--json out.json]`` (pin to two
cores with ``taskset -c 0,1`` to match the target machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CASES = {
    "l1 --shape 64": {"target": {"kind": "l1"}, "shape": [64]},
    "nuclear --shape 20,20": {"target": {"kind": "nuclear"}, "shape": [20, 20]},
    # not in the list: no exact knob-free match, so the transform stage (optax knob fit) runs
    "log_sum --shape 64 (transform stage)": {"target": {"kind": "log_sum"}, "shape": [64]},
}
LARGE = {
    "l1 --shape 1000000": {"target": {"kind": "l1"}, "shape": [1_000_000]},
    "nuclear --shape 4096,4096": {"target": {"kind": "nuclear"}, "shape": [4096, 4096], "mechanisms": ["weight_decay", "gauge"]},
}
GOAL_COLD_S, GOAL_WARM_S = 10.0, 1.0
ALL = {**CASES, **LARGE}


def child(case: str) -> None:
    t0 = time.perf_counter()
    import jax

    compile_s = {"total": 0.0}

    def listener(event: str, duration: float, **_):
        if event in ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
                     "/jax/core/compile/backend_compile_duration"):
            compile_s["total"] += duration

    jax.monitoring.register_event_duration_secs_listener(listener)
    import designer
    import designer.cli  # noqa: F401  (what the command imports)
    from designer.design import design

    designer.enable_compilation_cache()
    t1 = time.perf_counter()
    req = ALL[case]
    design(req)
    t2 = time.perf_counter()
    first_compile = compile_s["total"]
    warm = []
    for seed in range(1, 6 if case in CASES else 2):
        s = time.perf_counter()
        design({**req, "seed": seed})
        warm.append(time.perf_counter() - s)
    print(json.dumps({
        "import_s": t1 - t0, "first_design_s": t2 - t1, "compile_s": first_compile,
        "search_s": (t2 - t1) - first_compile, "warm_s": statistics.median(warm), "warm_all_s": warm,
        "recompile_s_in_warm": compile_s["total"] - first_compile,
        "peak_rss_mib": __import__("resource").getrusage(__import__("resource").RUSAGE_SELF).ru_maxrss / 1024,
    }))


def measure(case: str, cache_dir: str, source: str | None = None) -> dict:
    """One fresh process; ``source`` is a directory holding another designer to import instead."""
    env = {**os.environ, "DESIGNER_JAX_CACHE": cache_dir}
    if source is not None:
        env["PYTHONPATH"] = source
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", case], capture_output=True, text=True,
                          env=env, check=True, cwd=source or os.getcwd())
    wall = time.perf_counter() - start
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # wall from process start to the end of the first design (the warm repeats are excluded)
    after_first = sum(out["warm_all_s"])
    out["wall_to_first_result_s"] = wall - after_first
    out["interpreter_start_s"] = out["wall_to_first_result_s"] - out["import_s"] - out["first_design_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", default=None, help="write the numbers here")
    parser.add_argument("--baseline", default=None, help="git revision of an earlier designer to time in the same run")
    parser.add_argument("--large", action="store_true", help="also the layer-sized cases (minutes each)")
    parser.add_argument("--only", default=None, help="comma-separated substrings: the cases whose name contains one")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved repeats of the baseline comparison (medians)")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    report = {"cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)), "loadavg_before": os.getloadavg(), "cases": {}}
    wanted = [w.strip() for w in args.only.split(",")] if args.only else None
    pick = lambda names: [n for n in names if wanted is None or any(w in n for w in wanted)]
    if args.baseline:
        report["baseline"] = compare(args.baseline, pick(CASES), args.repeats)
    for case in pick(list(CASES) + (list(LARGE) if args.large else [])):
        with tempfile.TemporaryDirectory() as cache:
            cold = measure(case, cache)
            cached = measure(case, cache)
        report["cases"][case] = {"cold": cold, "cold_warm_cache": cached}
        c, k = cold, cached
        print(f"\n{case}")
        print(f"  cold (empty cache): {c['wall_to_first_result_s']:.2f} s from process start = interpreter {c['interpreter_start_s']:.2f}"
              f" + import {c['import_s']:.2f} + compile {c['compile_s']:.2f} + search {c['search_s']:.2f}"
              f"   ratio to 10 s goal: {c['wall_to_first_result_s'] / GOAL_COLD_S:.2f}")
        print(f"  fresh process, cache filled: {k['wall_to_first_result_s']:.2f} s (compile {k['compile_s']:.2f})"
              f"   ratio: {k['wall_to_first_result_s'] / GOAL_COLD_S:.2f}")
        print(f"  warm repeated design: {c['warm_s'] * 1e3:.0f} ms (median of 5; recompile during warm: {c['recompile_s_in_warm']:.3f} s)"
              f"   ratio to 1 s goal: {c['warm_s'] / GOAL_WARM_S:.2f}   peak RSS {c['peak_rss_mib']:.0f} MiB")
    report["loadavg_after"] = os.getloadavg()
    print(f"\nload average before/after: {report['loadavg_before']} / {report['loadavg_after']} on {report['affinity']} usable CPUs")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)


def compare(rev: str, cases: list[str], repeats: int = 1) -> dict:
    """The ``cases``, this designer and ``rev``'s interleaved (cold, then cached; ``repeats`` times,
    medians and spread), with ratios."""
    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True,
                          cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    out = {"revision": rev, "cases": {}}
    with tempfile.TemporaryDirectory() as old:
        archive = subprocess.run(["git", "-C", root, "archive", rev, "designer"], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
        print(f"baseline: designer at {rev} (exported to {old})")
        for case in cases:
            runs: dict = {}
            for _ in range(repeats):
                with tempfile.TemporaryDirectory() as c_new, tempfile.TemporaryDirectory() as c_old:
                    for phase in ("cold", "cached"):
                        runs.setdefault(("old", phase), []).append(measure(case, c_old, old))
                        runs.setdefault(("new", phase), []).append(measure(case, c_new))
            row = {}
            for phase, key, source in (("cold", "wall_to_first_result_s", "cold"), ("cached", "wall_to_first_result_s", "cached"),
                                       ("warm", "warm_s", "cold")):
                n = [r[key] for r in runs[("new", source)]]
                o = [r[key] for r in runs[("old", source)]]
                row[phase] = {"new_s": statistics.median(n), "old_s": statistics.median(o),
                              "ratio": statistics.median(n) / statistics.median(o), "new_all_s": n, "old_all_s": o}
            out["cases"][case] = row
            print(f"{case}: cold {row['cold']['new_s']:.2f} s vs {row['cold']['old_s']:.2f} s ({row['cold']['ratio']:.2f}x), "
                  f"cached {row['cached']['new_s']:.2f} vs {row['cached']['old_s']:.2f} ({row['cached']['ratio']:.2f}x), "
                  f"warm {row['warm']['new_s'] * 1e3:.0f} vs {row['warm']['old_s'] * 1e3:.0f} ms ({row['warm']['ratio']:.2f}x)")
    return out


if __name__ == "__main__":
    main()
