"""Where a design's time goes: per scoring group, first call (compile + run) and second call (run).

Wraps the search's chunk scorer (``designer.design._search._score_chunk``) to time each chunk,
then runs the same design twice in one process (a new seed the second time, so compiled
functions are reused): the first design's time per group minus the second's is compile time.
Run: ``python benchmarks/bench_design_groups.py '{"kind": "log_sum", "epsilon": 0.01}' 32``.
"""

from __future__ import annotations

import collections
import json
import sys
import time


def main() -> None:
    target = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {"kind": "log_sum", "epsilon": 0.01}
    d = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    import jax

    from designer.design import _search, design

    times: collections.Counter = collections.Counter()
    inner = _search._score_chunk

    def timed(problem, chunk):
        t0 = time.perf_counter()
        out = inner(problem, chunk)
        jax.block_until_ready(out)
        times[chunk[0]["group"]] += time.perf_counter() - t0
        return out

    _search._score_chunk = timed
    rows = []
    for seed in (3, 4):
        times.clear()
        t0 = time.perf_counter()
        design({"target": target, "shape": [d], "seed": seed})
        rows.append((time.perf_counter() - t0, dict(times)))
    (t1, g1), (t2, g2) = rows
    print(f"design {json.dumps(target)} d={d}: first {t1:.2f} s, second {t2:.2f} s (compile ~{t1 - t2:.2f} s)")
    for g in sorted(g1, key=lambda k: -g1[k]):
        print(f"  {g:50s} first {g1[g]:7.2f} s  second {g2.get(g, 0.0):7.2f} s")


if __name__ == "__main__":
    main()
