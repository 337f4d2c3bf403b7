"""Cost of the sums in the design search: a design with its sum candidate against the same design
without it (``SumSpec.design_candidates`` offering nothing), in one process, cold then warm.

For each row: the baseline design (no sum; it compiles the other families' scorers) and again
with a new seed (baseline warm), then the design with the sum (cold: the sum's scorer compiles,
its closed form where it has one, else the engine's fibre minimum; the other scorers are already
compiled), then again with a new seed (warm: nothing compiles; the trace counter is checked).
Reports seconds, the ratios (cold to baseline cold, warm to baseline warm), and the fit errors.
Run: ``python benchmarks/bench_sum_design.py [--rows tv64,spl12,huber64,tv1m]``.
"""

from __future__ import annotations

import argparse
import json
import time

ROWS = {
    "tv8": ({"kind": "tv"}, [8]),
    "tv64": ({"kind": "tv"}, [64]),
    "tv1m": ({"kind": "tv"}, [1_000_000]),
    "spl4": ({"kind": "sparse_plus_low_rank"}, [4, 4]),
    "spl12": ({"kind": "sparse_plus_low_rank"}, [12, 12]),
    "huber64": ({"kind": "huber"}, [64]),
}


def _timed(request):
    from designer.design import design

    t0 = time.perf_counter()
    res = design(request)  # returns host numbers: everything has finished
    return time.perf_counter() - t0, res


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="tv64")
    args = parser.parse_args()
    from designer.design import _scoring
    from designer.families.sum import SumSpec

    offer = SumSpec.__dict__["design_candidates"]
    for name in args.rows.split(","):
        target, shape = ROWS[name]
        request = {"target": target, "shape": shape, "mechanisms": ["weight_decay"], "seed": 0}
        SumSpec.design_candidates = classmethod(lambda cls, problem, screened=None: [])
        base_s, base = _timed(request)
        base_warm_s, _ = _timed({**request, "seed": 2})
        SumSpec.design_candidates = offer
        cold_s, cold = _timed(request)
        traces = dict(_scoring.TRACES)
        warm_s, warm = _timed({**request, "seed": 1})
        print(json.dumps({
            "row": name, "baseline_s": round(base_s, 2), "baseline_warm_s": round(base_warm_s, 2), "baseline_fit": base["fit_error"],
            "with_sum_cold_s": round(cold_s, 2), "with_sum_warm_s": round(warm_s, 2),
            "cold_ratio": round(cold_s / base_s, 2), "warm_ratio": round(warm_s / base_warm_s, 2),
            "fit": cold["fit_error"], "best": cold["best"]["id"], "warm_retraced": dict(_scoring.TRACES) != traces,
        }))


if __name__ == "__main__":
    main()
