"""No-flags validation grid: ``designer design`` then ``designer validate --design --task``, as a user runs them.

For each cell (an exact target of the designer's table, docs/design_table.md, on a task it applies
to, at the task's corner sizes), runs two whole processes, exactly what a user types:

    designer design --target T --shape S --out d.json
    designer validate --design d.json --task TASK --out v.json

with nothing else (the design is the designer's default best over every mechanism; the row says
which mechanism it picked). Records, per command, the wall time (imports and compilation included),
the CPU time of the process (``resource.getrusage(RUSAGE_CHILDREN)``, user + system: less
sensitive to a shared machine than wall time) and the exit code; from the validation its verdict,
steps, stopping rule and reference solver. A cell passes when both commands exit 0 and the verdict
says delivered (exact designs), or says "not delivered" for a design that is not exact (honest), and
the validate command took at most ``--goal`` seconds (60) of wall time.

Compilation cache (``--cache``): ``cell`` (default) gives every cell a fresh, empty JAX compilation
cache directory shared by its two commands, which is what a user's first ``designer validate`` sees
after their ``designer design`` (the CLI's persistent cache, ``$DESIGNER_JAX_CACHE``); ``run`` shares
one fresh directory across the whole run (later cells may reuse earlier compilations); ``user`` uses
the CLI's own default directory (``~/.cache/designer/jax``) as it is. The output names the choice.

Run: ``python benchmarks/validate_no_flags.py [--quick] [--only SUBSTR[,SUBSTR]] [--dry-run]
[--json out.json] [--cache cell|run|user] [--extras]``; ``--report a.json,b.json`` prints the table of
earlier runs. The full grid is 34 cells; ``--quick`` (16 cells) covers every task and every exact
target at least once, sparse_regression at both corners (see ``QUICK``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

GOAL_S = 60.0

#: sparse_regression sizes: the corners of n in [30, 200], d in [100, 1000], k up to n / 8, and a middle one
SPARSE_SIZES = {"small": {"n": 30, "d": 100, "k": 3}, "mid": {"n": 80, "d": 400, "k": 10},
                "large": {"n": 200, "d": 1000, "k": 25}}

#: exact vector targets trained on sparse_regression (docs/design_table.md: "exact yes")
VECTOR_TARGETS = [
    ("l1", {"kind": "l1"}),
    ("lp0.5", {"kind": "lp", "p": 0.5}),
    ("lp0.8", {"kind": "lp", "p": 0.8}),
    ("lp1.5", {"kind": "lp", "p": 1.5}),
    ("elastic_net", {"kind": "elastic_net"}),
    ("huber", {"kind": "huber"}),
    ("group_l21", {"kind": "group_l21", "group_size": 4}),
]
#: exact matrix targets trained on matrix_completion and matrix_sensing (the tasks' default 20 x 20)
MATRIX_TARGETS = [
    ("nuclear", {"kind": "nuclear"}),
    ("schatten0.5", {"kind": "schatten", "p": 0.5}),
    ("schatten1.5", {"kind": "schatten", "p": 1.5}),
    ("sparse_plus_low_rank", {"kind": "sparse_plus_low_rank"}),
]
MATRIX_TASKS = [("matrix_completion", {"kind": "matrix_completion"}), ("matrix_sensing", {"kind": "matrix_sensing"})]
#: exact in the table but outside the brief's list (no trusted solver for log_det): only with --extras
EXTRA_CELLS = [
    ("log_sum0.01/sparse_regression/small", {"kind": "log_sum", "epsilon": 0.01}, [100],
     {"kind": "sparse_regression", **SPARSE_SIZES["small"]}),
    ("sparse_plus_low_rank/robust_pca", {"kind": "sparse_plus_low_rank"}, [20, 20],
     {"kind": "robust_pca", "rows": 20, "cols": 20, "rank": 2, "corruption": 0.1, "noise": 0.1}),
    ("log_det/matrix_completion", {"kind": "log_det"}, [20, 20], {"kind": "matrix_completion"}),
]


#: ``--quick``: every task and every exact target at least once, sparse_regression at both corners
#: (l1 at both, the other targets at one each), each matrix target on one matrix task (nuclear on both)
QUICK = {
    "l1/sparse_regression/small", "l1/sparse_regression/large", "lp0.5/sparse_regression/large",
    "lp0.8/sparse_regression/small", "lp1.5/sparse_regression/small", "elastic_net/sparse_regression/large",
    "huber/sparse_regression/small", "group_l21/sparse_regression/large", "basis_l1/cosine_sparse",
    "tv/piecewise_constant", "fused_lasso/piecewise_constant", "nuclear/matrix_completion", "nuclear/matrix_sensing",
    "schatten0.5/matrix_completion", "schatten1.5/matrix_sensing", "sparse_plus_low_rank/matrix_completion",
}


def cells(extras: bool = False) -> list[dict]:
    """The full grid: one dict per cell (id, target, shape, task, quick)."""
    out = []
    for name, target in VECTOR_TARGETS:
        for size, s in SPARSE_SIZES.items():
            out.append({"id": f"{name}/sparse_regression/{size}", "target": target, "shape": [s["d"]],
                        "task": {"kind": "sparse_regression", **s}})
    # the cosine task (64 modes) and the piecewise-constant task (the paper's 200-sample signal)
    out.append({"id": "basis_l1/cosine_sparse", "target": {"kind": "basis_l1", "basis": "cosine"}, "shape": [64],
                "task": {"kind": "cosine_sparse"}})
    out.append({"id": "l1/cosine_sparse", "target": {"kind": "l1"}, "shape": [64], "task": {"kind": "cosine_sparse"}})
    for name, target in (("tv", {"kind": "tv"}), ("fused_lasso", {"kind": "fused_lasso"})):
        out.append({"id": f"{name}/piecewise_constant", "target": target, "shape": [200],
                    "task": {"kind": "piecewise_constant"}})
    out.append({"id": "l1/piecewise_constant", "target": {"kind": "l1"}, "shape": [200],
                "task": {"kind": "piecewise_constant"}})
    for name, target in MATRIX_TARGETS:
        for tname, task in MATRIX_TASKS:
            out.append({"id": f"{name}/{tname}", "target": target, "shape": [20, 20], "task": task})
    if extras:
        for cid, target, shape, task in EXTRA_CELLS:
            out.append({"id": cid, "target": target, "shape": shape, "task": task, "extra": True})
    missing = QUICK - {c["id"] for c in out}
    if missing:
        raise ValueError(f"QUICK names cells not in the grid: {sorted(missing)}")
    for c in out:
        c["quick"] = c["id"] in QUICK
    return out


def _designer() -> list[str]:
    exe = shutil.which("designer", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return [exe] if exe else [sys.executable, "-c", "import sys; from designer.cli import main; sys.exit(main())"]


def _run(cmd: list[str], env: dict, timeout: float) -> dict:
    """One whole process: wall time, its CPU time (children's rusage delta), exit code, stderr tail."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        rc, err = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc, err = "timeout", (exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or ""))
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "exit": rc, "stderr_tail": err[-600:]}


def run_cell(cell: dict, workdir: str, cache: str, timeout: float, goal: float) -> dict:
    """``designer design`` then ``designer validate`` for one cell; the row of the table."""
    env = dict(os.environ)
    if cache == "cell":
        env["DESIGNER_JAX_CACHE"] = tempfile.mkdtemp(prefix="jaxcache-", dir=workdir)
    elif cache != "user":
        env["DESIGNER_JAX_CACHE"] = cache
    tag = cell["id"].replace("/", "_")
    dpath, vpath = os.path.join(workdir, tag + ".design.json"), os.path.join(workdir, tag + ".validate.json")
    exe = _designer()
    row: dict = {"id": cell["id"], "target": cell["target"], "shape": cell["shape"], "task": cell["task"]}
    row["design_cmd"] = exe[-1:] + ["design", "--target", json.dumps(cell["target"]),
                                     "--shape", ",".join(map(str, cell["shape"])), "--out", dpath]
    d = _run(exe + row["design_cmd"][1:], env, timeout)
    row["design"] = d
    if d["exit"] != 0:
        row.update(status="FAIL", reason=f"design exited {d['exit']}")
        return row
    with open(dpath, encoding="utf-8") as fh:
        des = json.load(fh)
    best = des["best"]
    row.update(best=best.get("description"), mechanism=best.get("mechanism"), exact=bool(des.get("exact")),
               fit_error=des.get("fit_error"))
    row["validate_cmd"] = exe[-1:] + ["validate", "--design", dpath, "--task", json.dumps(cell["task"]), "--out", vpath]
    v = _run(exe + row["validate_cmd"][1:], env, timeout)
    row["validate"] = v
    if v["exit"] != 0:
        row.update(status="FAIL", reason=f"validate exited {v['exit']}")
        return row
    with open(vpath, encoding="utf-8") as fh:
        val = json.load(fh)
    ver, tr = val.get("verdict") or {}, val.get("training") or {}
    row.update(delivered=ver.get("delivered"), verdict=ver.get("message"), reference=ver.get("reference"),
               relative_gap=ver.get("relative_gap"), steps=tr.get("steps"), stopped_by=tr.get("stopped_by"),
               retries=len(tr.get("retries") or []), learning_rate=tr.get("learning_rate"),
               strength=tr.get("strength"), seeds=tr.get("seeds"))
    honest = row["delivered"] is True if row["exact"] else row["delivered"] is False
    if not honest:
        row.update(status="FAIL", reason="not delivered" if row["exact"] else "verdict not honest for an inexact design")
    elif v["wall_s"] > goal:
        row.update(status="SLOW", reason=f"validate wall {v['wall_s']:.0f} s > {goal:g} s")
    else:
        row.update(status="PASS", reason="")
    return row


def _stop_short(text: str | None) -> str:
    if not text:
        return "-"
    for key, short in (("relative change", "objective rule"), ("distance to the predicted limit below", "close to limit"),
                       ("distance to the predicted limit stopped", "distance rule"), ("step cap", "cap")):
        if key in text:
            return short
    return text[:30]


def table(rows: list[dict]) -> str:
    head = ("| cell | best design (mechanism) | design wall / CPU (s) | validate wall / CPU (s) | steps, stopped by | "
            "verdict | status |\n|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        d, v = r.get("design") or {}, r.get("validate") or {}
        gap = r.get("relative_gap")
        gap_s = "" if not gap else f", gap {max(gap):.1e}"
        verdict = ("delivered" if r.get("delivered") else "not delivered" if r.get("delivered") is False
                   else "no verdict") if v.get("exit") == 0 else r.get("reason", "")
        steps = f"{r['steps']:,}, {_stop_short(r.get('stopped_by'))}" if r.get("steps") is not None else "-"
        lines.append(f"| {r['id']} | {r.get('best', '-')} ({r.get('mechanism', '-')}) | "
                     f"{d.get('wall_s', '-')} / {d.get('cpu_s', '-')} | {v.get('wall_s', '-')} / {v.get('cpu_s', '-')} | "
                     f"{steps} | {verdict}{gap_s} | {r['status']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default=None, help="comma-separated substrings: run the cells whose id contains one")
    ap.add_argument("--quick", action="store_true", help="16 cells: every task and exact target at least once, sparse_regression at both corner sizes (QUICK)")
    ap.add_argument("--extras", action="store_true", help="add log_sum (epsilon 0.01), robust_pca and log_det cells")
    ap.add_argument("--dry-run", action="store_true", help="list the grid and exit")
    ap.add_argument("--cache", default="cell", help="cell (fresh per cell, default), run (one fresh per run), user, or a path")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per command before it is killed")
    ap.add_argument("--goal", type=float, default=GOAL_S, help="validate wall-time goal per command (s)")
    ap.add_argument("--json", default=None, help="write the rows here")
    ap.add_argument("--keep", default=None, help="keep design / validate JSON and caches in this directory")
    ap.add_argument("--report", default=None, help="print the table of earlier runs' --json files (comma-separated) and exit")
    args = ap.parse_args(argv)
    if args.report:
        rows = [r for f in args.report.split(",") if f for r in json.load(open(f, encoding="utf-8"))["rows"]]
        print(table(rows))
        return 0

    grid = cells(args.extras)
    if args.quick:
        grid = [c for c in grid if c["quick"] or c.get("extra")]
    if args.only:
        keys = [k for k in args.only.split(",") if k]
        grid = [c for c in grid if any(k in c["id"] for k in keys)]
    if args.dry_run:
        for c in grid:
            print(f"{c['id']:45s} target={json.dumps(c['target'])} shape={c['shape']} task={json.dumps(c['task'])}")
        print(f"{len(grid)} cells")
        return 0
    workdir = args.keep or tempfile.mkdtemp(prefix="validate-no-flags-")
    os.makedirs(workdir, exist_ok=True)
    cache = args.cache
    if cache == "run":
        cache = tempfile.mkdtemp(prefix="jaxcache-run-", dir=workdir)
    cache_text = {"cell": "a fresh, empty JAX compilation cache per cell, shared by its design and validate commands",
                  "user": "the CLI's default compilation cache directory, as it is"}.get(
        args.cache, f"one compilation cache directory for the whole run: {cache}")
    try:
        load0 = os.getloadavg()
    except OSError:
        load0 = None
    print(f"# {len(grid)} cells; compilation cache: {cache_text}; load average at start {load0}", flush=True)
    rows, t0 = [], time.perf_counter()
    try:
        for c in grid:
            r = run_cell(c, workdir, cache, args.timeout, args.goal)
            rows.append(r)
            v = r.get("validate") or {}
            print(f"{r['status']:4s} {r['id']:42s} validate wall {v.get('wall_s', '-')} s cpu {v.get('cpu_s', '-')} s "
                  f"{r.get('mechanism', '-')} steps {r.get('steps', '-')} {_stop_short(r.get('stopped_by'))} "
                  f"{r.get('reason', '')}", flush=True)
    finally:
        total = time.perf_counter() - t0
        try:
            load1 = os.getloadavg()
        except OSError:
            load1 = None
        print()
        print(table(rows))
        print(f"\ntotal wall {total:.0f} s; load average at end {load1}; compilation cache: {cache_text}")
        if args.json:
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump({"rows": rows, "total_wall_s": total, "cache": cache_text, "load_start": load0,
                           "load_end": load1, "goal_s": args.goal, "cpus": os.cpu_count()}, fh, indent=1)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(r["status"] == "PASS" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
