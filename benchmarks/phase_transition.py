"""Phase transition of sparse recovery: designed biases trained by GD against their target's solvers.

Noiseless Gaussian measurements ``y = X z*`` (``X`` n x d, ``N(0, 1)``), ``z*`` k-sparse with unit
magnitudes; success when ``|z - z*| / |z*| < 1e-2``. For each k and data seed:

- solvers of the targets: basis pursuit (``linprog``), and the best of the reweighted restarts of
  ``designer.validate`` (reweighted L1 / IRLS) on ``sum |z|^(2/3)`` and on ``log_sum`` subject to
  ``X z = y``;
- designs (``designer design`` with weight decay) trained as ``designer validate`` trains them:
  GD on the designed parameterization with coupled weight decay at ``lam = 1e-3 lam_max`` (the
  noiseless default), learning rate half the edge of stability at the initialization, then the
  L-BFGS finish; batched over data seeds (one compiled program per k). Protocols: the default
  (initial scale 1), a small initial scale, and an annealed strength (``lam`` from ``0.1
  lam_max`` down to the default, divided by 10 per stage).

    python benchmarks/phase_transition.py --d 256 --n 64 --ks 4,8,12,16,20,24,28 --seeds 10 --out phase.json
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from designer.design import design  # noqa: E402
from designer.families import build_family  # noqa: E402
from designer.simulate import Simulator, build_task  # noqa: E402
from designer.validate import _auto  # noqa: E402
from designer.validate._validate import init_fn, linear_problem, polish_weight_decay, solve_target_problem  # noqa: E402

TARGETS = {"l1": {"kind": "l1"}, "lp_2/3": {"kind": "lp", "p": 2 / 3}, "log_sum": {"kind": "log_sum", "epsilon": 1e-3}}


def success(z, truth) -> bool:
    return bool(np.linalg.norm(np.asarray(z) - truth) <= 1e-2 * np.linalg.norm(truth))


def train(entry, d, task, seeds, protocol, steps):
    """GD + weight decay on every data seed at once (``designer validate``'s defaults), then L-BFGS."""
    fam = build_family(entry["param"], (d,))
    a = float(entry["a"])
    sim = Simulator(fam, task, noise=[{"kind": "weight_decay", "strength": 1.0, "mode": "coupled"}], dtype=jnp.float64, metrics=False)
    init = init_fn(fam, protocol.get("init_scale", 1.0), jnp.float64)
    state, hyper, data = sim.setup(np.arange(len(seeds)), sim.hyper(1.0), init=init, data_seeds=np.asarray(seeds))
    problems = [linear_problem(task, jax.tree_util.tree_map(lambda v, i=i: np.asarray(v[i]), data)) for i in range(len(seeds))]
    lams = np.array([_auto.NOISELESS_FRACTION * _auto.lam_max(p) for p in problems])
    p0 = jax.tree_util.tree_map(lambda v: v[0], state.params)
    stages = [1.0] if not protocol.get("anneal") else [100.0, 10.0, 1.0]
    for f in stages:
        unit = f * lams / a
        lr = np.array([_auto.LR_FRACTION * 2 / _auto.sharpness(fam, p, p0, weight_decay=u)["lambda_max"] for p, u in zip(problems, unit)])
        h = hyper._replace(learning_rate=jnp.asarray(lr), weight_decay=jnp.asarray(unit))
        state = sim.run(state, h, data, steps // len(stages), steps // len(stages)).state
    zs = []
    for i, p in enumerate(problems):
        params = jax.tree_util.tree_map(lambda v, i=i: np.asarray(v[i]), state.params)
        params, _ = polish_weight_decay(fam, params, p, lams[i] / a)
        zs.append(np.asarray(fam.predictor(params)))
    truths = [np.asarray(data["truth"][i]) for i in range(len(seeds))]
    return zs, truths, problems, lams


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--ks", default="4,8,12,16,20,24,28")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    d, n, ks, seeds = args.d, args.n, [int(k) for k in args.ks.split(",")], list(range(args.seeds))
    designs = {name: design({"target": t, "shape": [d], "mechanisms": ["weight_decay"], "transforms": name == "log_sum"})["best"]
               for name, t in TARGETS.items()}
    protocols = {"default": {}, "init_scale_0.1": {"init_scale": 0.1}, "annealed_strength": {"anneal": True}}
    rows = []
    t0 = time.time()
    for k in ks:
        task = build_task({"kind": "sparse_regression", "n": n, "d": d, "k": k})
        row = {"k": k}
        for name, entry in designs.items():
            for pname, prot in protocols.items():
                if name != "lp_2/3" and pname != "default":  # protocols are compared on the exact non-convex design
                    continue
                zs, truths, problems, _ = train(entry, d, task, seeds, prot, args.steps)
                row[f"design {name} ({entry['id']}), {pname}"] = float(np.mean([success(z, t) for z, t in zip(zs, truths)]))
        ok = {"basis pursuit (linprog)": [], "reweighted lp 2/3 (best restart)": [], "reweighted log_sum (best restart)": []}
        for p, t in zip(problems, truths):
            ok["basis pursuit (linprog)"].append(success(solve_target_problem({"kind": "l1"}, "label_noise", p, 0.0, (d,))["z"], t))
            ok["reweighted lp 2/3 (best restart)"].append(success(solve_target_problem(TARGETS["lp_2/3"], "label_noise", p, 0.0, (d,))["z"], t))
            ok["reweighted log_sum (best restart)"].append(success(solve_target_problem(TARGETS["log_sum"], "label_noise", p, 0.0, (d,))["z"], t))
        row.update({key: float(np.mean(v)) for key, v in ok.items()})
        rows.append(row)
        print(json.dumps(row), f"[{time.time() - t0:.0f} s]", flush=True)
    out = {"d": d, "n": n, "seeds": len(seeds), "steps": args.steps, "criterion": "|z - z*| / |z*| < 1e-2", "rows": rows,
           "designs": {k: v["id"] for k, v in designs.items()}}
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1)
    return out


if __name__ == "__main__":
    main()
