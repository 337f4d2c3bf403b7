"""Rows of the finite-step table (docs/findings.md sections 8-9) rechecked with many chains.

For each row ``noise:depth:z0:fraction`` (the table's ``eta`` and ``s = 0.3 sqrt(z0)``,
:func:`designer.validate._finite_step_check.table_settings`): the law of the run
(:func:`designer.validate.run_law`, the table's 500 burn-in steps and 4,000 steps recorded every 5),
``--chains`` chains of the slice map (the simulator's step to 1e-12; ``--backend jax``: ``lax.scan``
in ``jit``, ``numpy``: the same map vectorised over chains), and the comparison
(:func:`designer.validate._finite_step_check.compare_run`: every record of every chain that did not
diverge, a chain whose last record is past the law's escape point counting as diverged), with the
small-step law (theory.md's Gamma law at depth 2, the limiting SDE's law at depth 3) on the same
records. One JSON object per row and line.

    python benchmarks/finite_step_recheck.py --rows student_t:2:10:0.5 --chains 8192 --out recheck.jsonl

``--law-cache DIR`` keeps each run law (its distribution function and moments, ``.npz``) for the
next run: a depth-3 run law takes minutes on a loaded 2-core machine. ``--render a.jsonl b.jsonl``
prints the markdown table of docs/findings.md section 9. ``--batches N`` instead gives the mean and
variance over ``N`` batches of ``--chains`` chains against the law (rows whose variance is carried
by rare events):

    python benchmarks/finite_step_recheck.py --rows student_t:3:10:0.05 --chains 16384 --batches 16 --ppw 2 --out many.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np

LAW_VERSION = 2  # bumped when designer.validate.run_law changes its numbers (cache keys)

ALL_ROWS = [f"{n}:{d}:{z0:g}:{f:g}" for n in ("gaussian", "student_t") for d in (2, 3)
            for z0 in (0.1, 0.3, 1.0, 3.0, 10.0) for f in (0.05, 0.2, 0.5)]


def load_or_run_law(chain, burn, steps, every, cache, key, ppw=1.0):
    from designer.validate._run_law import RunLaw, run_law

    # keyed by the row, the resolution and the law's version: a cached law of another resolution, or
    # from before a fix of the law, is not reused
    tag = f"{key}_ppw{ppw:g}_v{LAW_VERSION}"
    path = os.path.join(cache, tag.replace(":", "_") + ".npz") if cache else None
    if path and os.path.exists(path):
        d = np.load(path, allow_pickle=False)
        meta = json.loads(str(d["meta"]))
        law = RunLaw(d["z_neg"], d["F_neg"], d["z_pos"], d["F_pos"], meta["mean"], meta["variance"])
        for k in ("survival", "negative", "zero", "error", "cells", "dropped", "seconds"):
            setattr(law, k, meta[k])
        return law
    law = run_law(chain, steps, burn, every, points_per_width=ppw)
    if path:
        os.makedirs(cache, exist_ok=True)
        meta = {k: getattr(law, k) for k in ("mean", "variance", "survival", "negative", "zero", "error", "cells",
                                              "dropped", "seconds")}
        np.savez(path, z_neg=law.z_neg, F_neg=law.F_neg, z_pos=law.z_pos, F_pos=law.F_pos, meta=json.dumps(meta))
    return law


def row_chain(row: str):
    """``noise:depth:z0:fraction`` -> ``(noise, depth, z0, fraction, eta, s, chain)`` at the table's
    setting (:func:`designer.validate._finite_step_check.table_settings`)."""
    from designer.validate._finite_step import NoiseLaw, SliceChain
    from designer.validate._finite_step_check import table_settings

    noise, depth, z0, f = row.split(":")
    depth, z0, f = int(depth), float(z0), float(f)
    eta, s = table_settings(z0, f, depth)
    return noise, depth, z0, f, eta, s, SliceChain(z0, eta, s, depth, NoiseLaw(noise))


def recheck(row: str, chains: int, backend: str, cache: str | None, seed: int, burn=500, steps=4000, every=5,
            ppw: float = 1.0, with_detail: bool = False) -> dict:
    import scipy.stats as st

    from designer.validate._finite_step import small_step_law
    from designer.validate._finite_step_check import compare_run, map_chains, map_chains_jax
    from designer.validate._run_law import divergence_point

    noise, depth, z0, f, eta, s, chain = row_chain(row)
    t0 = time.perf_counter()
    law = load_or_run_law(chain, burn, steps, every, cache, row, ppw)
    t_law = time.perf_counter() - t0
    t0 = time.perf_counter()
    run = map_chains_jax if backend == "jax" else map_chains
    z, fin = run(chain, chains, burn, steps, every, seed=seed)
    t_chains = time.perf_counter() - t0
    out = compare_run(z, fin, law, divergence_point(chain))
    out["law"]["seconds"] = t_law
    res = {"row": row, "setup": {"noise": noise, "depth": depth, "z0": z0, "fraction_of_edge": f, "eta": eta,
                                  "noise_scale": s, "chains": chains, "burn": burn, "steps": steps, "every": every,
                                  "backend": backend, "seed": seed, "points_per_width": ppw},
           "run": out, "chains_seconds": t_chains}
    if "mean" in out:
        kept = z[fin & ~(np.abs(np.nan_to_num(z[:, -1], nan=np.inf)) >= divergence_point(chain))]
        x = kept[np.isfinite(kept)]
        small = small_step_law(chain)
        if small is not None:
            res["small_step"] = {"mean": small.mean, "variance": small.variance,
                                 "mean_rel_error": abs(small.mean - out["mean"]) / abs(out["mean"]),
                                 "variance_rel_error": abs(small.variance - out["variance"]) / out["variance"],
                                 "ks": float(st.kstest(x, small.cdf).statistic)}
        if with_detail:
            res["detail"] = detail(law, x)
        out["se_mean_rel"] = out["se_mean"] / abs(out["mean"])
        out["se_variance_rel"] = out["se_variance"] / out["variance"]
    return res


def moments_many(row: str, chains: int, batches: int, cache: str | None, seed: int, burn=500, steps=4000, every=5,
                 ppw: float = 1.0) -> dict:
    """The chains' mean and variance over ``batches`` batches of ``chains`` chains (seeds ``seed + k``),
    kept as per-chain sums, against the run law: for rows whose variance is carried by rare events (a
    t(3) kick that sends one chain in thousands across 0, where at depth 3 it creeps for the rest of
    the run), which 8,192 chains cannot resolve. Diverged chains, and chains past the law's escape
    point at the end, are dropped as :func:`compare_run` does."""
    from designer.validate._finite_step_check import map_chains
    from designer.validate._run_law import divergence_point

    chain = row_chain(row)[-1]
    t0 = time.perf_counter()
    law = load_or_run_law(chain, burn, steps, every, cache, row, ppw)
    t_law = time.perf_counter() - t0
    z_top = divergence_point(chain)
    s1, s2, counts, dropped = [], [], [], 0
    t0 = time.perf_counter()
    for k in range(batches):
        z, fin = map_chains(chain, chains, burn, steps, every, seed=seed + k)
        with np.errstate(invalid="ignore"):
            fin = fin & ~(np.abs(z[:, -1]) >= z_top)
        kept = z[fin]
        ok = np.isfinite(kept)
        dropped += int(z.shape[0] - kept.shape[0])
        v = np.where(ok, kept, 0.0)
        s1.append(v.sum(axis=1))
        s2.append((v * v).sum(axis=1))
        counts.append(ok.sum(axis=1))
    s1, s2, n = np.concatenate(s1), np.concatenate(s2), np.concatenate(counts).astype(np.float64)
    mean = float(s1.sum() / n.sum())
    var = float(s2.sum() / n.sum() - mean * mean)
    per_mean = s1 / n
    per_dev = (s2 - 2 * mean * s1) / n + mean * mean  # each chain's mean of (z - pooled mean)^2
    m = len(n)
    se_mean, se_var = float(np.std(per_mean) / math.sqrt(m)), float(np.std(per_dev) / math.sqrt(m))
    return {"row": row, "chains": chains * batches, "kept_chains": m, "dropped_chains": dropped,
            "expected_dropped_chains": chains * batches * (1.0 - law.survival),
            "mean": mean, "se_mean": se_mean, "variance": var, "se_variance": se_var,
            "law_mean": law.mean, "law_variance": law.variance,
            "mean_rel_error": abs(law.mean - mean) / abs(mean), "variance_rel_error": abs(law.variance - var) / var,
            "mean_z": abs(law.mean - mean) / se_mean if se_mean > 0 else None,
            "variance_z": abs(law.variance - var) / se_var if se_var > 0 else None,
            "law_seconds": t_law, "chains_seconds": time.perf_counter() - t0, "seed": seed, "points_per_width": ppw}


def detail(law, x: np.ndarray, windows=(3, 5, 8, 12, 20, 40)) -> dict:
    """Where law and records differ: the variance inside ``mean +- k sd`` windows and the mass outside
    them (the law as a distribution on its grid cells, the records as they are), and the place of
    the largest difference of the distribution functions on the law's grid."""
    zg = np.concatenate([law.z_neg, law.z_pos])
    fg = np.concatenate([law.F_neg, law.F_pos])
    order = np.argsort(zg, kind="stable")
    zg, fg = zg[order], fg[order]
    mid, mass = 0.5 * (zg[1:] + zg[:-1]), np.diff(fg)
    total = mass.sum()
    x = np.sort(x)
    sd = math.sqrt(law.variance)
    rows = []
    for k in windows:
        lo, hi = law.mean - k * sd, law.mean + k * sd
        w = (mid >= lo) & (mid <= hi)
        lm = float((mid[w] * mass[w]).sum() / mass[w].sum())
        lv = float(((mid[w] - lm) ** 2 * mass[w]).sum() / mass[w].sum())
        xs = x[(x >= lo) & (x <= hi)]
        rows.append({"k_sd": k, "law_outside": float(1 - mass[w].sum() / total), "records_outside": float(1 - xs.size / x.size),
                     "law_variance": lv, "records_variance": float(xs.var()), "relative_difference": (lv - float(xs.var())) / float(xs.var())})
    fc = np.searchsorted(x, zg, side="right") / x.size
    i = int(np.argmax(np.abs(fc - fg)))
    return {"windows": rows, "largest_cdf_difference": {"z": float(zg[i]), "law": float(fg[i]), "records": float(fc[i])}}


def render(paths) -> str:
    """The markdown table of docs/findings.md section 9 from the JSON lines of earlier runs (the last
    result of each row wins), in the table's row order."""
    got = {}
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                r = json.loads(line)
                got[r["row"]] = r
    head = ("| noise | D | z0 | eta/edge | chains | mean +- s.e. | run law: mean error (s.e.) | variance +- s.e. | "
            "run law: variance error (s.e.) | KS (floor) | small-step: variance error, KS | diverged: chains / law | goal |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for row in ALL_ROWS:
        if row not in got:
            continue
        r, su = got[row], got[row]["setup"]
        o = r["run"]
        name = "Gauss" if su["noise"] == "gaussian" else "t(3)"
        ppw = su.get("points_per_width", 1.0)
        mark = f", {ppw:g} cells per width" if ppw != 1.0 else ""
        lead = f"| {name} | {su['depth']} | {su['z0']:g} | {su['fraction_of_edge']:g} | {su['chains']}{mark} "
        if "mean" not in o:
            lines.append(lead + f"| no law: {o['diverged_chains']} of {su['chains']} chains diverged | | | | | | "
                         f"{o['diverged_chains']} / {o['expected_diverged_chains']:.0f} | no law |")
            continue
        sm = r.get("small_step")
        ok_ks = o["ks"] <= 2 * o["ks_floor"]
        goal = "yes" if o["goal_met"] else "no"
        ks = f"**{o['ks']:.4f}** ({o['ks_floor']:.4f})" if ok_ks else f"{o['ks']:.4f} ({o['ks_floor']:.4f})"
        small = f"{100 * sm['variance_rel_error']:.1f}%, {sm['ks']:.4f}" if sm else "none"
        lines.append(lead + f"| {o['mean']:.5g} +- {100 * o['se_mean_rel']:.2f}% | {100 * o['mean_rel_error']:.2f}% "
                     f"({o['mean_z']:.1f}) | {o['variance']:.4g} +- {100 * o['se_variance_rel']:.1f}% | "
                     f"{100 * o['variance_rel_error']:.2f}% ({o['variance_z']:.1f}) | {ks} | {small} | "
                     f"{o['diverged_chains']} / {o['expected_diverged_chains']:.1f} | {goal} |")
    return head + "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default=None, help="comma-separated noise:depth:z0:fraction, or 'all'")
    p.add_argument("--render", nargs="+", default=None, help="instead: print the markdown table of these JSON-lines files")
    p.add_argument("--chains", type=int, default=4096)
    p.add_argument("--backend", choices=("jax", "numpy"), default="numpy")
    p.add_argument("--law-cache", default=None)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--ppw", type=float, default=1.0, help="run law cells per kernel width (coarse grid; fine: 1.5x)")
    p.add_argument("--detail", action="store_true",
                   help="also compare variances inside mean +- k sd windows and locate the largest CDF difference")
    p.add_argument("--batches", type=int, default=0,
                   help="instead of the comparison: mean and variance over this many batches of --chains chains "
                        "(rows whose variance is carried by rare events)")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.render:
        print(render(args.render), end="")
        return
    if not (args.rows and args.out):
        p.error("--rows and --out are needed (or --render)")
    rows = ALL_ROWS if args.rows == "all" else args.rows.split(",")
    with open(args.out, "a", encoding="utf-8") as fh:
        for row in rows:
            if args.batches:
                r = moments_many(row, args.chains, args.batches, args.law_cache, args.seed, ppw=args.ppw)
                fh.write(json.dumps(r) + "\n")
                fh.flush()
                print(f"{row}: {r['kept_chains']} of {r['chains']} chains kept (law expects {r['expected_dropped_chains']:.1f} "
                      f"dropped, {r['dropped_chains']} were); mean {r['mean']:.6g} +- {r['se_mean']:.2g} (law "
                      f"{r['law_mean']:.6g}, {100 * r['mean_rel_error']:.2f}%, {r['mean_z']:.1f} s.e.), variance "
                      f"{r['variance']:.6g} +- {r['se_variance']:.2g} (law {r['law_variance']:.6g}, "
                      f"{100 * r['variance_rel_error']:.2f}%, {r['variance_z']:.1f} s.e.); law {r['law_seconds']:.0f} s, "
                      f"chains {r['chains_seconds']:.0f} s", flush=True)
                continue
            res = recheck(row, args.chains, args.backend, args.law_cache, args.seed, ppw=args.ppw, with_detail=args.detail)
            fh.write(json.dumps(res) + "\n")
            fh.flush()
            r = res["run"]
            if "mean" not in r:
                print(row, "no comparison:", r.get("note"), "diverged", r["diverged_chains"], flush=True)
                continue
            sm = res.get("small_step", {})
            print(f"{row}: mean {r['mean']:.5g} +- {r['se_mean']:.2g} (law {r['law']['mean']:.5g}, {100 * r['mean_rel_error']:.2f}%), "
                  f"var {r['variance']:.5g} +- {r['se_variance']:.2g} (law {r['law']['variance']:.5g}, "
                  f"{100 * r['variance_rel_error']:.2f}%), KS {r['ks']:.4f} floor {r['ks_floor']:.4f}, "
                  f"small-step var {100 * sm.get('variance_rel_error', math.nan):.1f}% KS {sm.get('ks', math.nan):.4f}, "
                  f"diverged {r['diverged_chains']} (law {r['expected_diverged_chains']:.1f}), "
                  f"law {r['law']['seconds']:.0f} s, chains {res['chains_seconds']:.0f} s", flush=True)
            for w in res.get("detail", {}).get("windows", []):
                print(f"  inside mean +- {w['k_sd']} sd: variance law {w['law_variance']:.6g} records {w['records_variance']:.6g} "
                      f"({100 * w['relative_difference']:+.2f}%), outside law {w['law_outside']:.2e} records {w['records_outside']:.2e}")
            if "detail" in res:
                c = res["detail"]["largest_cdf_difference"]
                print(f"  largest CDF difference at z = {c['z']:.4g}: law {c['law']:.5f} records {c['records']:.5f}", flush=True)


if __name__ == "__main__":
    main()
