"""Same data, same curves: our simulator from the very arrays the authors' code makes.

For each figure, the authors' script runs unchanged (``benchmarks/authors.py``) with their seed;
between its set-up and its training, the data (teacher, target and mask, features, measurements)
and the initialization are copied out and saved (``--arrays``, an ``.npz`` per figure, outside the
repository). Their training then runs on, and their logged curves are kept. Ours starts from
exactly those arrays (:meth:`designer.simulate.Simulator.setup_given`) with ``--seeds`` seeds of
our own minibatch and label-noise draws, recording at the authors' logging interval.

- At the start both sides measure the same arrays: the script checks that our metrics equal
  theirs there (a check of the conversion and of the metric definitions).
- Figs. 5 and 6 are full-batch gradient descent: no draws, so the curves must agree to float32
  rounding; the largest relative difference over the logged steps is reported.
- Figs. 2-4 draw minibatches (and label noise), so their one run is compared with the spread of
  ours. Test: under the hypothesis that their run is one more draw of the same process, its rank
  among our N runs is uniform on 0..N, and the two-sided Monte Carlo p-value is
  ``min(1, 2 min(k + 1, N - k + 1) / (N + 1))`` with ``k`` the number of our runs below theirs;
  reported per metric at the authors' plot horizon and at their last step (Bonferroni over a
  figure's metrics: a figure passes when every p >= 0.05 / m). Also reported: the fraction of
  logged steps where their value lies within our range, whose expectation is ``(N - 1)/(N + 1)``.

    python benchmarks/compare_authors.py --authors /path/to/understanding-design-ib --fraction 0.02
    python benchmarks/compare_authors.py --authors ... --figures fig4 --fraction 1 --seeds 16   # idle machine

Needs the benchmark extra (``pip install -e '.[bench]'``); see ``benchmarks/authors.py`` for what to fetch.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import authors  # noqa: E402

LOG_EVERY = {"fig2": 10, "fig3": 100, "fig4": 1000, "fig5": 1, "fig6": 1}


def _np(t):
    return t.detach().cpu().double().numpy().copy()


# -- the authors' arrays -> our data and parameters, per figure -----------------------------------

def capture(figure: str, ns: dict) -> dict:
    """The data and initialization in the authors' namespace after their set-up, as numpy arrays."""
    if figure == "fig2":
        t, s = ns["teacher"].layers, ns["student"].layers
        return {"teacher_W": _np(t[0].weight), "teacher_V": _np(t[1].weight).T,
                "student_W": _np(s[0].weight), "student_V": _np(s[1].weight).T}
    if figure == "fig3":
        t, s = ns["teacher"], ns["student"]
        return {**{f"teacher_{k}": _np(getattr(t, k)) for k in ("wq", "wk", "wv")},
                **{f"student_{k}": _np(getattr(s, k)) for k in ("wq", "wk", "wv")}}
    if figure == "fig4":
        return {"truth": _np(ns["m_true"]), "mask": _np(ns["obs_mask"].float()), "P": _np(ns["model"].p),
                "Q": _np(ns["model"].q)}
    if figure == "fig5":
        return {"x_train": _np(ns["x_train"]), "y_train": _np(ns["y_train"]), "x_test": _np(ns["x_test"]),
                "y_test": _np(ns["y_test"]), "truth": _np(ns["w_true"]), "plain": _np(ns["naive_model_ur"].w),
                "plain_l1": _np(ns["naive_model_rr"].w),
                "designed": np.stack([_np(ns["hadamard_model_ur"].p), _np(ns["hadamard_model_ur"].q)])}
    if figure == "fig6":
        return {"x": _np(ns["ameas"]), "y": _np(ns["ymeas"]), "truth": _np(ns["true_signal"]),
                "plain": _np(ns["simple_model"].w),
                "designed": np.stack([_np(ns["cumsum_model"].w1), _np(ns["cumsum_model"].w2)])}
    raise KeyError(figure)


def ours_inputs(figure: str, a: dict, sim, curve: str):
    """(params, data) for ``sim`` from the captured arrays ``a`` (data leaves not given by the
    authors, evaluation sets only, are drawn by our task from seed 0 and relabelled by their teacher)."""
    import jax

    base = jax.tree_util.tree_map(np.asarray, sim.task.generate(jax.random.PRNGKey(0), sim.dtype))
    if figure == "fig2":
        teacher = {"W": a["teacher_W"], "V": a["teacher_V"]}
        x = base["eval"]["x"]
        y = np.maximum(x @ teacher["W"].T, 0) @ teacher["V"]
        return {"W": a["student_W"], "V": a["student_V"]}, {"teacher": teacher, "eval": {"x": x, "y": y}}
    if figure == "fig3":
        teacher = {"WQ": a["teacher_wq"], "WK": a["teacher_wk"], "WV": a["teacher_wv"]}
        data = {"teacher": teacher, "eval": base["eval"]}
        data["eval"] = {"x": base["eval"]["x"], "y": np.asarray(sim.task._teacher(data, base["eval"]["x"]))}
        return {"WQ": a["student_wq"], "WK": a["student_wk"], "WV": a["student_wv"]}, data
    if figure == "fig4":
        train = {"index": np.arange(a["truth"].size), "y": a["truth"].reshape(-1), "weight": a["mask"].reshape(-1)}
        return {"W1": a["P"], "W2": a["Q"]}, {"truth": a["truth"], "mask": a["mask"], "train": train}
    if figure == "fig5":
        data = {"truth": a["truth"], "train": {"x": a["x_train"], "y": a["y_train"]},
                "test": {"x": a["x_test"], "y": a["y_test"]}}
        return ({"u": a[curve]} if curve == "designed" else {"w": a[curve]}), data
    if figure == "fig6":
        data = {"truth": a["truth"], "train": {"x": a["x"], "y": a["y"]}}
        return ({"u": a[curve]} if curve == "designed" else {"w": a[curve]}), data
    raise KeyError(figure)


# -- the authors' curves, read from their namespace after training --------------------------------

def their_curves(figure: str, ns: dict) -> dict:
    """{curve: {metric: (steps, values (n_logged, ...))}} plus final values at their last step."""
    if figure in ("fig2", "fig3"):
        steps = np.asarray(ns["nsteps"])
        out = {"balance": (steps, np.stack([_np(t) for t in ns["norm_ratios"]]))}
        if figure == "fig3":
            out["frobenius_ratio"] = (steps, np.asarray(ns["frob_ratios"]))
            out["nuclear_ratio"] = (steps, np.asarray(ns["nuc_ratios"]))
        if figure == "fig2":
            s = ns["student"].layers
            final = np.linalg.norm(_np(s[1].weight), axis=0) / (np.linalg.norm(_np(s[0].weight), axis=1) + 1e-12)
        else:
            s = ns["student"]
            final = np.linalg.norm(_np(s.wq), axis=0) / (np.linalg.norm(_np(s.wk), axis=0) + 1e-12)
        return {"student": out, "_final": {"student": {"balance": final}}}
    if figure == "fig4":
        steps = np.asarray(ns["nsteps"])
        return {"PQ": {"mode_energy": (steps, np.stack([_np(t) for t in ns["emp_ib"]])),
                       "balance": (steps, np.stack([_np(t) for t in ns["pq_norm_ratios"]]))}}
    if figure == "fig5":
        steps = np.arange(1, len(ns["naive_test_losses_ur"]) + 1)
        return {c: {"test_mse": (steps, _np(ns[f"{k}_test_losses_{s}"]))}
                for c, k, s in (("plain", "naive", "ur"), ("plain_l1", "naive", "rr"), ("designed", "hadamard", "ur"))}
    if figure == "fig6":
        steps = np.arange(1, len(ns["simple_train_losses"]) + 1)
        return {"plain": {"batch_loss": (steps, _np(ns["simple_train_losses"]))},
                "designed": {"batch_loss": (steps, _np(ns["cumsum_train_losses"]))}}
    raise KeyError(figure)


def _ours_metric(figure, name, records):
    if name == "mode_energy":
        return 2.0 * records["predictor_singular_values"]
    return records[name]


def run_ours(figure: str, arrays: dict, seeds: int, main: int, total: int) -> dict:
    """{curve: {"records": at the authors' interval up to ``main`` then one at ``total``, "start": ...}}."""
    from designer.reproduce import figure_spec
    from designer.simulate import Simulator

    fig = figure_spec(figure)
    every = LOG_EVERY[figure]
    out = {}
    for c in fig.curves:
        sim = Simulator(c.model, c.task, noise=c.noise, metrics=fig.logged)
        params, data = ours_inputs(figure, arrays, sim, c.name)
        state, hyper, data = sim.setup_given(params, data, np.arange(seeds), sim.hyper(c.learning_rate))
        start = sim.snapshot_records(state, data)
        t0 = time.perf_counter()
        res = sim.run(state, hyper, data, main, every)
        recs = res.records
        if total > main:
            more = sim.run(res.state, hyper, data, total - main, total - main)
            recs = {k: np.concatenate([recs[k], more.records[k]], axis=1) for k in recs}
        out[c.name] = {"records": recs, "start": start, "wall_s": time.perf_counter() - t0}
    return out


def rank_p(theirs: float, ours: np.ndarray) -> tuple[int, float]:
    """(k = our runs below theirs, two-sided Monte Carlo p-value of their rank among ours)."""
    n = len(ours)
    k = int(np.sum(ours < theirs))
    return k, min(1.0, 2.0 * min(k + 1, n - k + 1) / (n + 1))


def _summaries(name, values):
    """Scalar summaries of one logged metric (..., components) -> {label: (...)}."""
    v = np.asarray(values, np.float64)
    if name == "balance":
        return {"balance_min": v.min(-1), "balance_max": v.max(-1), "mean_abs_log_balance": np.abs(np.log(v)).mean(-1)}
    if name == "mode_energy":
        return {f"mode_energy_{i + 1}": v[..., i] for i in range(5)}
    return {name: v}


def compare(figure: str, snapshot: str, fraction: float, seeds: int, arrays_dir: Path, threads: int | None) -> dict:
    flags = authors.step_flags(figure, fraction)
    main = flags["num_steps"]
    total = max(flags.values())
    every = LOG_EVERY[figure]
    if main % every:
        raise SystemExit(f"{figure}: {main} steps is not a multiple of the authors' logging interval {every}")
    got = {}

    def grab(ns):
        got.update(capture(figure, ns))

    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # their progress messages
        run = authors.run_script(figure, snapshot, flags, after_setup=grab, threads=threads)
    t_theirs = time.perf_counter() - t0
    arrays_dir.mkdir(parents=True, exist_ok=True)
    np.savez(arrays_dir / f"{figure}.npz", **got)
    theirs = their_curves(figure, run["namespace"])
    ours = run_ours(figure, dict(np.load(arrays_dir / f"{figure}.npz")), seeds, main, total)
    rows, checks = [], []
    for curve, metrics in theirs.items():
        if curve.startswith("_"):
            continue
        rec = ours[curve]["records"]
        for name, (steps, vals) in metrics.items():
            mine = _ours_metric(figure, name, rec)  # (seeds, n_records, ...)
            our_steps = rec["step"][0]
            # at the start (the authors' first log is after step 1: compare our snapshot with step 1 only
            # for the deterministic figures; the start check uses the arrays themselves below)
            common = [i for i, s in enumerate(steps) if s % every == 0 and s <= main]
            at = np.searchsorted(our_steps, steps[common])
            theirs_v, ours_v = vals[common], mine[:, at]
            if figure in ("fig5", "fig6"):
                rel = np.max(np.abs(ours_v[0] - theirs_v) / np.maximum(np.abs(theirs_v), 1e-30))
                rows.append({"curve": curve, "metric": name, "at": int(steps[common][-1]),
                             "theirs": float(theirs_v[-1]), "ours": float(ours_v[0, -1]),
                             "max_rel_diff_over_curve": float(rel)})
                continue
            for label, th in _summaries(name, theirs_v).items():
                ou = _summaries(name, ours_v)[label]  # (seeds, n)
                inside = float(np.mean((th >= ou.min(0)) & (th <= ou.max(0))))
                k, p = rank_p(th[-1], ou[:, -1])
                rows.append({"curve": curve, "metric": label, "at": int(steps[common][-1]), "theirs": float(th[-1]),
                             "ours_mean": float(ou[:, -1].mean()), "ours_sd": float(ou[:, -1].std(ddof=1)),
                             "rank": k, "p": p, "inside_range": inside})
        # the start: both sides measure the same arrays
        start = ours[curve]["start"]
        if figure in ("fig2", "fig3", "fig4"):
            st = {"fig2": lambda a: np.linalg.norm(a["student_V"], axis=1) / np.linalg.norm(a["student_W"], axis=1),
                  "fig3": lambda a: np.linalg.norm(a["student_wq"], axis=0) / np.linalg.norm(a["student_wk"], axis=0),
                  "fig4": lambda a: np.linalg.norm(a["P"], axis=0) / np.linalg.norm(a["Q"], axis=1)}[figure](got)
            checks.append(float(np.max(np.abs(start["balance"][0].reshape(-1) - st) / st)))
    if figure in ("fig2", "fig3") and total > main:  # their final balance after the extended training
        fin = theirs["_final"]["student"]["balance"]
        ou = _summaries("balance", ours["student"]["records"]["balance"][:, -1])
        for label, th in _summaries("balance", fin).items():
            k, p = rank_p(float(th), ou[label])
            rows.append({"curve": "student", "metric": label, "at": total, "theirs": float(th),
                         "ours_mean": float(ou[label].mean()), "ours_sd": float(ou[label].std(ddof=1)),
                         "rank": k, "p": p, "inside_range": None})
    m = sum(1 for r in rows if "p" in r)
    verdict = ("deterministic: " + ("same curves" if all(r["max_rel_diff_over_curve"] < 1e-3 for r in rows) else "DIFFERENT")
               if figure in ("fig5", "fig6") else
               ("consistent" if all(r["p"] >= 0.05 / m for r in rows if "p" in r) else "INCONSISTENT") +
               f" (Bonferroni over {m} p-values at 0.05)")
    return {"figure": figure, "steps": main, "total_steps": total, "seeds": seeds, "rows": rows,
            "start_balance_max_rel_diff": max(checks) if checks else None, "verdict": verdict,
            "theirs_wall_s": t_theirs, "ours_wall_s": sum(o["wall_s"] for o in ours.values()),
            "harness_notes": run["notes"]}


class _SetupDone(Exception):
    pass


def ours_only(figure: str, snapshot: str, seeds: int, arrays_dir: Path) -> dict:
    """The authors' arrays (their set-up only, their training skipped), then ours at the full
    horizon: the spread that minibatch draws alone give on their data."""
    from designer.reproduce import figure_spec

    got = {}

    def grab(ns):
        got.update(capture(figure, ns))
        raise _SetupDone

    with contextlib.redirect_stdout(sys.stderr):
        try:
            authors.run_script(figure, snapshot, authors.step_flags(figure), after_setup=grab)
        except _SetupDone:
            pass
    arrays_dir.mkdir(parents=True, exist_ok=True)
    np.savez(arrays_dir / f"{figure}.npz", **got)
    flags = authors.step_flags(figure)
    main, total = flags["num_steps"], max(flags.values())
    ours = run_ours(figure, got, seeds, main, total)
    fig = figure_spec(figure)
    rows = []
    for row in fig.rows:
        rec = ours[row.model]["records"]
        snap = ours[row.model]["start"] if row.at == "start" else {k: v[:, -1] for k, v in rec.items()}
        try:
            v = np.asarray(row.value(snap), np.float64)
        except KeyError:
            continue
        rows.append({"metric": row.metric + ("_start" if row.at == "start" else ""), "model": row.model,
                     "authors_published": row.authors, "ours_mean": float(v.mean()), "ours_sd": float(v.std(ddof=1)),
                     "ours_min": float(v.min()), "ours_max": float(v.max())})
    return {"figure": figure, "steps": total, "seeds": seeds, "rows": rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--authors", default=None, help=f"root of a snapshot of {authors.REPO}")
    p.add_argument("--figures", default="fig2,fig3,fig4,fig5,fig6")
    p.add_argument("--fraction", type=float, default=1.0, help="fraction of the authors' step counts")
    p.add_argument("--seeds", type=int, default=16, help="our minibatch seeds per figure")
    p.add_argument("--arrays", default="/tmp/authors_arrays", help="where the .npz of their arrays go (outside the repo)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--json", default=None)
    p.add_argument("--ours-only", action="store_true",
                   help="their set-up only (no training); ours at their full horizon on their arrays")
    args = p.parse_args()
    authors.source_dir(args.authors)
    import designer  # noqa: F401  (float64 and the CPU threefry lowering, as everywhere)

    if args.ours_only:
        docs = [ours_only(f, args.authors, args.seeds, Path(args.arrays)) for f in args.figures.split(",")]
        for d in docs:
            print(f"\n## {d['figure']}: ours on the authors' arrays, {d['steps']:,} steps, {d['seeds']} minibatch seeds")
            for r in d["rows"]:
                print(f"  {r['metric']:<26}{r['model']:<10} published {r['authors_published']:<8g} ours {r['ours_mean']:.4g} "
                      f"+- {r['ours_sd']:.2g} (range {r['ours_min']:.4g} .. {r['ours_max']:.4g})")
        if args.json:
            Path(args.json).write_text(json.dumps(docs, indent=2))
        return

    docs = []
    for f in args.figures.split(","):
        d = compare(f, args.authors, args.fraction, args.seeds, Path(args.arrays), args.threads)
        docs.append(d)
        print(f"\n## {f}: {d['steps']:,} steps logged, {d['total_steps']:,} in all, {d['seeds']} seeds of ours; "
              f"start balance max rel diff {d['start_balance_max_rel_diff']}; {d['verdict']}")
        for r in d["rows"]:
            if "p" in r:
                inside = "" if r["inside_range"] is None else f"  inside our range {100 * r['inside_range']:.0f}% of logged steps"
                print(f"  {r['curve']:<9}{r['metric']:<22} step {r['at']:>8,}  theirs {r['theirs']:.4g}  ours "
                      f"{r['ours_mean']:.4g} +- {r['ours_sd']:.2g}  rank {r['rank']}/{d['seeds']}  p {r['p']:.2f}{inside}")
            else:
                print(f"  {r['curve']:<9}{r['metric']:<22} step {r['at']:>8,}  theirs {r['theirs']:.6g}  ours "
                      f"{r['ours']:.6g}  max rel diff over the curve {r['max_rel_diff_over_curve']:.2e}")
        sys.stdout.flush()
    if args.json:
        Path(args.json).write_text(json.dumps(docs, indent=2))


if __name__ == "__main__":
    main()
