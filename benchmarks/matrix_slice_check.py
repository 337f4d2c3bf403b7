"""Singular values of a balanced depth-2 matrix product under label-noise SGD against the scalar
slice chain's law of the run (docs/findings.md section 9).

    python benchmarks/matrix_slice_check.py --z0 3,1 --eta 0.05 --scale 0.3 --chains 2048 --out matrix.json

``M = P Q`` (square, full rank), loss ``|M - Y|_F^2``, target ``U diag(z0) V^T`` with random
orthogonal ``U``, ``V``, started balanced and rotated (``P = U S^{1/2} R``). Two noises: ``aligned``
(``s U diag(xi) V^T``: the gradient shares the singular vectors and each singular value is exactly
the scalar chain) and ``entrywise`` (independent ``N(0, s^2)`` on every entry of ``Y``: the noise
also rotates the singular vectors and moves the factors off balance). Per singular value: the
chains' mean and variance (standard errors from the spread between chains), the law's, the KS
distance and its floor (:func:`designer.validate._finite_step_check.compare_run`), and the final
imbalance ``|P^T P - Q Q^T|_F``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main(argv=None):
    from designer.validate._finite_step import SliceChain
    from designer.validate._finite_step_check import compare_run, matrix_chains
    from designer.validate._run_law import divergence_point, run_law

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--z0", default="3,1")
    p.add_argument("--eta", type=float, default=0.05)
    p.add_argument("--scale", type=float, default=0.3)
    p.add_argument("--chains", type=int, default=2048)
    p.add_argument("--burn", type=int, default=500)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--every", type=int, default=5)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    z0s = [float(v) for v in a.z0.split(",")]
    laws = []
    for z0 in z0s:
        chain = SliceChain(z0, a.eta, a.scale, 2)
        laws.append((chain, run_law(chain, a.steps, a.burn, a.every)))
    res = {"setup": vars(a), "modes": {}}
    for mode in ("aligned", "entrywise"):
        t0 = time.perf_counter()
        sv, imb = matrix_chains(z0s, a.eta, a.scale, a.chains, a.burn, a.steps, a.every, aligned=mode == "aligned", seed=7)
        secs = time.perf_counter() - t0
        rows = []
        for k, (chain, law) in enumerate(laws):
            out = compare_run(sv[:, :, k], np.all(np.isfinite(sv[:, -1]), axis=1), law, divergence_point(chain))
            rows.append({"z0": chain.z0, "fraction_of_edge": chain.curvature_step, **{
                key: out.get(key) for key in ("mean", "se_mean", "variance", "se_variance", "ks", "ks_floor",
                                              "mean_rel_error", "variance_rel_error", "mean_z", "variance_z",
                                              "diverged_chains", "goal_met")},
                "law_mean": law.mean, "law_variance": law.variance})
            r = rows[-1]
            print(f"{mode} z0={chain.z0:g} (f={chain.curvature_step:.2f}): mean {r['mean']:.5g} +- {r['se_mean']:.2g} "
                  f"(law {law.mean:.5g}, {r['mean_z']:.1f} s.e.), var {r['variance']:.5g} +- {r['se_variance']:.2g} "
                  f"(law {law.variance:.5g}, {100 * r['variance_rel_error']:.1f}%, {r['variance_z']:.1f} s.e.), "
                  f"KS {r['ks']:.4f} (floor {r['ks_floor']:.4f})", flush=True)
        res["modes"][mode] = {"rows": rows, "seconds": secs, "imbalance_final_median": float(np.nanmedian(imb[:, -1])),
                              "imbalance_final_max": float(np.nanmax(imb[:, -1]))}
        print(mode, f"{secs:.0f} s (machine shared), final imbalance median {res['modes'][mode]['imbalance_final_median']:.3g}",
              flush=True)
    with open(a.out, "w", encoding="utf-8") as fh:
        json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
