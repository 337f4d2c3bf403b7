"""``designer reproduce``: the paper's five experiments side by side with the authors' numbers."""

from __future__ import annotations

import argparse
import sys

EXAMPLE = """example:
  designer reproduce fig5 --out results/ --seeds 4
  designer reproduce all --out results/ --steps 2000      # quick smoke run at reduced steps
  designer reproduce fig2 --seeds 1 --horizon authors --record-every authors   # the authors' work
  # -> results/fig5.json, results/fig5.png and a table on stdout:
  #    metric  model  authors  ours (mean +- sd over seeds)  ours at the longer horizon

Each figure runs the authors' configuration (docs/experiments.md) at their step count (or --steps)
and continues to a longer horizon (their final-accuracy horizon where they had one, else a multiple
of theirs; --horizon authors stops where their script stops), batched over --seeds seeds, recording
about 100 times (--record-every N, or 'authors' for their logging interval). JSON schema: {"figure",
"config", "rows": [{"metric", "model", "authors", "ours", "ours_spread", "ours_converged"}]}.
"""


#: One line for ``designer --help`` (listed without importing what ``register`` needs).
HELP = "reproduce the paper's figures 2-6 side by side with the authors' numbers"


def register(sub: argparse._SubParsersAction) -> None:
    from ..cli import _Formatter

    p = sub.add_parser(
        "reproduce", help=HELP,
        description="Run the authors' exact configurations with the JAX simulator, write {figure}.json "
        "and {figure}.png, and print authors' numbers beside ours.",
        epilog=EXAMPLE, formatter_class=_Formatter,
    )
    p.add_argument("figure", choices=["fig2", "fig3", "fig4", "fig5", "fig6", "all"])
    p.add_argument("--out", default="reproduce-out", help="output directory")
    p.add_argument("--steps", type=int, default=None, help="steps at the authors' horizon (default: theirs)")
    p.add_argument("--seeds", type=int, default=None, help="seeds, run batched (default 4)")
    p.add_argument("--horizon", choices=["longer", "authors"], default="longer",
                   help="'longer': continue past the authors' horizon; 'authors': stop where their script stops")
    p.add_argument("--record-every", default=None, metavar="N|authors",
                   help="record interval up to the authors' horizon (default: about 100 records); "
                   "'authors': their logging interval")
    p.set_defaults(func=run)


def format_table(doc: dict) -> str:
    """The side-by-side table of one figure's JSON document."""
    cfg = doc["config"]
    second = "authors' last step" if cfg.get("horizon") == "authors" else "longer horizon"
    head = (f"{doc['figure']}: {cfg['title']}\n  ours: {cfg['seeds']} seed(s), {cfg['steps']:,} steps "
            f"(authors {cfg['authors_steps']:,}); {second}: {cfg['converged_steps']:,} steps")
    lines = [head, f"  {'metric':<28}{'model':<10}{'authors':>10}   {'ours (mean +- sd)':<24}{'ours @ longer':>14}"]
    for r in doc["rows"]:
        conv = "" if r["ours_converged"] is None else f"{r['ours_converged']:.4g}"
        ours = f"{r['ours']:.4g} +- {r['ours_spread']:.2g}"
        lines.append(f"  {r['metric']:<28}{r['model']:<10}{r['authors']:>10.4g}   {ours:<24}{conv:>14}")
    bad = [c["model"] for c in cfg["curves"] if any(s != 0 for s in c["status"])]
    if bad:
        lines.append(f"  warning: non-finite parameters in {', '.join(bad)}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from .. import enable_compilation_cache
    from ..reproduce import run_figure

    enable_compilation_cache()
    bar = None
    progress = None
    if sys.stderr.isatty():
        from tqdm.auto import tqdm

        bar = tqdm(total=1000, file=sys.stderr, bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")

        def progress(fraction: float, stage: str) -> None:
            bar.n = int(round(1000 * fraction))
            bar.set_postfix_str(stage)
            bar.refresh()

    try:
        doc = run_figure(args.figure, steps=args.steps, seeds=args.seeds, out_dir=args.out, progress=progress,
                         horizon=args.horizon, record_every=args.record_every)
    finally:
        if bar is not None:
            bar.close()
    docs = doc["figures"].values() if args.figure == "all" else [doc]
    print("\n\n".join(format_table(d) for d in docs))
    print(f"\nwrote {', '.join(d['figure'] + '.json/.png' for d in docs)} to {args.out}")
    return 0
