"""The paper battery against the authors' own scripts: same work, whole processes, interleaved.

For each figure and each repeat, in turn (the order rotates between repeats):

- **authors**: their script in a fresh process (``benchmarks/authors.py``: their code unchanged,
  stopped before saving and plotting), timed from their training marker to the end of their
  training (``train_s``: their training loops with their own logging; their imports, data set-up
  and plotting are not counted, which favours them);
- **ours, fresh cache**: ``designer reproduce FIG --seeds 1 --horizon authors --record-every
  authors`` as a whole process (interpreter start, imports, compile, run, JSON and PNG) with an
  empty persistent compile cache; the same steps as theirs, checked from the JSON written;
- **ours, warm cache**: the same command again on the cache the fresh run filled.

Medians over repeats, the spread is min-max; ratios are the authors' median over ours. With
``--fraction 1`` it also times ``designer reproduce all`` (one process for the battery; ``--steps``
cannot scale the five figures at once).

    python benchmarks/bench_authors.py --authors /path/to/understanding-design-ib            # the real run
    python benchmarks/bench_authors.py --authors ... --fraction 0.002 --repeats 1           # smoke test

The authors' code is not part of this project: fetch it (see ``benchmarks/authors.py``).
Needs the benchmark extra (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import authors  # noqa: E402

FIGURES = ("fig2", "fig3", "fig4", "fig5", "fig6")


def _designer_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("designer")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "designer.cli"]


def run_authors(snapshot: str, figure: str, fraction: float, threads: int | None) -> dict:
    cmd = [sys.executable, str(HERE / "authors.py"), snapshot, figure, "--fraction", str(fraction)]
    if threads:
        cmd += ["--threads", str(threads)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("AUTHORS_RESULT ")), None)
    if proc.returncode or line is None:
        raise SystemExit(f"authors' {figure} failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
    out = json.loads(line.split(" ", 1)[1])
    out["process_s"] = wall
    return out


def run_ours(figure: str, steps: int | None, cache: Path, out: Path, cwd: Path) -> dict:
    cmd = _designer_cmd() + ["reproduce", figure, "--seeds", "1", "--horizon", "authors", "--record-every", "authors",
                             "--out", str(out)]
    if steps is not None:
        cmd += ["--steps", str(steps)]
    env = {**os.environ, "DESIGNER_JAX_CACHE": str(cache)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"designer reproduce {figure} failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
    names = FIGURES if figure == "all" else (figure,)
    cfgs = {n: json.loads((out / f"{n}.json").read_text())["config"] for n in names}
    return {"process_s": wall, "configs": cfgs}


def _same_work(figure: str, flags: dict, cfg: dict) -> None:
    want = (flags["num_steps"], flags.get("num_steps_for_acc", flags["num_steps"]))
    got = (cfg["steps"], cfg["converged_steps"])
    if (want[0], max(want)) != got or cfg["seeds"] != 1:
        raise SystemExit(f"{figure}: not the same work: authors {want} steps, ours {got} with {cfg['seeds']} seeds")


def _med(xs):
    return statistics.median(xs)


def _spread(xs):
    return f"{min(xs):.2f}-{max(xs):.2f}" if len(xs) > 1 else "-"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--authors", default=os.environ.get("AUTHORS_SNAPSHOT"),
                   help=f"root of a snapshot of {authors.REPO} (or $AUTHORS_SNAPSHOT)")
    p.add_argument("--fraction", type=float, default=1.0, help="fraction of the authors' step counts (1: their work)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--figures", default=",".join(FIGURES))
    p.add_argument("--threads", type=int, default=None, help="torch threads for the authors' scripts (default: torch's)")
    p.add_argument("--json", default=None, help="write the raw timings here")
    args = p.parse_args()
    authors.source_dir(args.authors)  # a clear error if the snapshot is missing
    figs = [f for f in args.figures.split(",") if f]
    from designer.reproduce import figure_spec

    steps = {f: None if args.fraction == 1 else max(1, round(figure_spec(f).steps * args.fraction)) for f in figs}
    flags = {f: authors.step_flags(f, args.fraction) for f in figs}
    work = Path(tempfile.mkdtemp(prefix="bench_authors_"))
    raw = {f: {"authors": [], "authors_process": [], "fresh": [], "warm": []} for f in figs}
    raw["all"] = {"fresh": [], "warm": []}
    try:
        for r in range(args.repeats):
            for f in figs[r % len(figs):] + figs[:r % len(figs)]:
                cache = work / f"cache_{f}_{r}"
                order = ["authors", "ours"] if r % 2 == 0 else ["ours", "authors"]
                for who in order:
                    if who == "authors":
                        a = run_authors(args.authors, f, args.fraction, args.threads)
                        raw[f]["authors"].append(a["train_s"])
                        raw[f]["authors_process"].append(a["process_s"])
                        print(f"[{r}] {f} authors: training {a['train_s']:.2f} s (process {a['process_s']:.1f} s, "
                              f"torch {a['torch']} x{a['torch_threads']} threads, flags {a['flags']})", flush=True)
                    else:
                        for kind in ("fresh", "warm"):
                            o = run_ours(f, steps[f], cache, work / f"out_{f}_{r}_{kind}", work)
                            _same_work(f, flags[f], o["configs"][f])
                            raw[f][kind].append(o["process_s"])
                            print(f"[{r}] {f} ours, {kind} cache: {o['process_s']:.2f} s", flush=True)
                shutil.rmtree(cache, ignore_errors=True)
            if args.fraction == 1 and set(figs) == set(FIGURES):
                cache = work / f"cache_all_{r}"
                for kind in ("fresh", "warm"):
                    o = run_ours("all", None, cache, work / f"out_all_{r}_{kind}", work)
                    raw["all"][kind].append(o["process_s"])
                    print(f"[{r}] all, one process, {kind} cache: {o['process_s']:.2f} s", flush=True)
                shutil.rmtree(cache, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nfraction {args.fraction} of the authors' steps, {args.repeats} repeat(s), medians in seconds "
          f"(spread: min-max); load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print("| fig | authors (training loops) | ours, fresh compile cache | ours, warm cache | ratio fresh | ratio warm |")
    print("|---|---|---|---|---|---|")
    tot = {"authors": 0.0, "fresh": 0.0, "warm": 0.0}
    for f in figs:
        a, fr, wa = (_med(raw[f][k]) for k in ("authors", "fresh", "warm"))
        tot["authors"] += a
        tot["fresh"] += fr
        tot["warm"] += wa
        print(f"| {f} | {a:.2f} ({_spread(raw[f]['authors'])}) | {fr:.2f} ({_spread(raw[f]['fresh'])}) | "
              f"{wa:.2f} ({_spread(raw[f]['warm'])}) | {a / fr:.1f}x | {a / wa:.1f}x |")
    print(f"| battery, one process per figure | {tot['authors']:.1f} | {tot['fresh']:.1f} | {tot['warm']:.1f} | "
          f"**{tot['authors'] / tot['fresh']:.1f}x** | {tot['authors'] / tot['warm']:.1f}x |")
    if raw["all"]["fresh"]:
        fr, wa = _med(raw["all"]["fresh"]), _med(raw["all"]["warm"])
        print(f"| battery, `reproduce all` (one process) | {tot['authors']:.1f} | {fr:.1f} ({_spread(raw['all']['fresh'])}) | "
              f"{wa:.1f} ({_spread(raw['all']['warm'])}) | **{tot['authors'] / fr:.1f}x** | {tot['authors'] / wa:.1f}x |")
    if args.json:
        Path(args.json).write_text(json.dumps({"fraction": args.fraction, "raw": raw}, indent=2))


if __name__ == "__main__":
    main()
