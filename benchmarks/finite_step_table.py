"""The finite-step table of docs/findings.md section 8, with the law of the run beside the
quasi-stationary law (``designer.validate._finite_step_check.finite_step_table``).

    python benchmarks/finite_step_table.py --run-law --chains-dir chains/ --out table.jsonl

Rows are written one JSON object per line as they finish (``--groups`` picks row groups by index,
``noise x depth x z0`` in the table's order, 0..19; the default is all 20). With ``--chains-dir``
each group's chains are saved there (``g<index>.npz``) and reused on the next run: the same seeds
as the table (``seed = 3 * group + 1``), so the chains are the table's.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-law", action="store_true", help="also the law of the run (row['run'])")
    p.add_argument("--chains-dir", default=None, help="save / reuse each group's chains here")
    p.add_argument("--groups", default=None, help="comma-separated group indices (default: all)")
    p.add_argument("--rows", default=None, help="comma-separated rows group:fraction_index (0, 1, 2 for 0.05, 0.2, 0.5)")
    p.add_argument("--out", required=True, help="JSON lines, one row each")
    p.add_argument("--map-check", default=None,
                   help="instead: for the rows of this JSON-lines file (with 'run'), run --map-chains chains of the "
                        "slice map (numpy) and compare mean, variance, fraction at z < 0, diverged chains with the run law")
    p.add_argument("--map-chains", type=int, default=4096)
    args = p.parse_args(argv)
    if args.map_check:
        return map_check(args)

    from designer.validate._finite_step import NoiseLaw
    from designer.validate._finite_step_check import finite_step_table, run_slice_chains, table_settings

    z0s, fractions, depths, noises = (0.1, 0.3, 1.0, 3.0, 10.0), (0.05, 0.2, 0.5), (2, 3), ("gaussian", "student_t")
    groups = [(n, d, z) for n in noises for d in depths for z in z0s]
    wanted = range(len(groups)) if args.groups is None else [int(g) for g in args.groups.split(",")]

    def chains_of(noise, depth, z0, settings, seed):
        path = os.path.join(args.chains_dir, f"g{(seed - 1) // 3}.npz") if args.chains_dir else None
        if path and os.path.exists(path):
            d = np.load(path)
            return d["z"], d["fin"]
        z, fin = run_slice_chains(z0, [e for e, _ in settings], [s for _, s in settings], depth, NoiseLaw(noise),
                                  chains=256, burn=500, steps=4000, every=5, seed=seed)
        if path:
            os.makedirs(args.chains_dir, exist_ok=True)
            np.savez(path, z=z, fin=fin)
        return z, fin

    jobs = [(g, (0, 1, 2)) for g in wanted]
    if args.rows:
        pairs = [tuple(int(v) for v in r.split(":")) for r in args.rows.split(",")]
        jobs = [(g, (k,)) for g, k in pairs]
    with open(args.out, "a", encoding="utf-8") as fh:
        for g, ks in jobs:
            noise, depth, z0 = groups[g]
            t0 = time.perf_counter()

            def group_chains(n, d, z, s, seed, g=g, ks=ks):
                # the whole group's chains (the table's seed 3 g + 1, all three steps), then the rows asked
                za, fa = chains_of(n, d, z, [table_settings(z, f, d) for f in fractions], 3 * g + 1)
                return za[list(ks)], fa[list(ks)]

            res = finite_step_table(z0s=(z0,), fractions=tuple(fractions[k] for k in ks), depths=(depth,), noises=(noise,),
                                    run_law=args.run_law, chains_of=group_chains)
            for row in res["rows"]:
                row["group"] = g
                fh.write(json.dumps(row) + "\n")
            fh.flush()
            print(g, noise, depth, z0, f"{time.perf_counter() - t0:.0f} s", res["seconds"], flush=True)


def map_check(args):
    import math

    from designer.validate._finite_step import NoiseLaw, SliceChain
    from designer.validate._finite_step_check import map_chains

    with open(args.map_check, encoding="utf-8") as fh, open(args.out, "a", encoding="utf-8") as out:
        for line in fh:
            row = json.loads(line)
            su, law = row["setup"], row.get("run", {}).get("law")
            if law is None:
                continue
            noise = NoiseLaw("gaussian" if su["noise"] == "gaussian" else "student_t")
            chain = SliceChain(su["z0"], su["eta"], su["noise_scale"], su["depth"], noise)
            z, fin = map_chains(chain, args.map_chains, su["burn"], su["steps"], su["every"], seed=12345)
            k = z[fin]
            n = len(k)
            per_mean, per_neg = k.mean(axis=1), np.mean(k < 0, axis=1)
            per_m2 = (k**2).mean(axis=1)
            mean, var = float(k.mean()), float(k.var())
            se_mean = float(per_mean.std() / math.sqrt(n))
            se_var = math.sqrt((per_m2.std() / math.sqrt(n)) ** 2 + (2 * mean * se_mean) ** 2)
            res = {"setup": su, "chains": args.map_chains, "diverged": int((~fin).sum()),
                   "expected_diverged": args.map_chains * (1 - law["survival"]),
                   "mean": mean, "se_mean": se_mean, "law_mean": law["mean"], "variance": var, "se_variance": se_var,
                   "law_variance": law["variance"], "negative_fraction": float(per_neg.mean()),
                   "se_negative_fraction": float(per_neg.std() / math.sqrt(n)), "law_negative": law["negative_mass"]}
            out.write(json.dumps(res) + "\n")
            out.flush()
            print(su["noise"], su["depth"], su["z0"], su["fraction_of_edge"],
                  f"mean {mean:.5g} +- {se_mean:.2g} (law {law['mean']:.5g}), var {var:.5g} +- {se_var:.2g} "
                  f"(law {law['variance']:.5g}), z<0 {per_neg.mean():.4f} +- {res['se_negative_fraction']:.4f} "
                  f"(law {law['negative_mass']:.4f}), diverged {res['diverged']} (expected {res['expected_diverged']:.1f})",
                  flush=True)


if __name__ == "__main__":
    main()
