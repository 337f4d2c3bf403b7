"""``designer design``: search parameterizations whose induced bias matches a target regularizer."""

from __future__ import annotations

import argparse
import json
import os
import sys

EXAMPLE = """example:
  designer design --target '{"kind":"l1"}' --shape 64 --plot design.png
  # -> {"best": {"param": {"family":"hadamard","depth":2,...}, "mechanism_spec": {...},
  #      "fit_error": 5e-16, "hyperparameters": {"weight_decay": 1.0, ...}}, "candidates": [...]}
  designer design --target '{"kind":"nuclear"}' --shape 20,20 --out result.json
  designer design --target '{"kind":"l1"}' --shape 64 --mechanisms gauge   # honest mismatch

targets: {targets}
mechanisms: {mechanisms}
The best "param" and "mechanism_spec" are accepted by 'designer bias --param ... --mechanism ...'.
--request takes a full request as JSON (sampling, max_depth, strength, learning_rate, ...);
--state FILE saves the search after each step and resumes from FILE when it exists.
"""


#: One line for ``designer --help`` (listed without importing what ``register`` needs).
HELP = "inverse design: find a parameterization and mechanism for a target bias"


def register(sub: argparse._SubParsersAction) -> None:
    from ..cli import _Formatter
    from ..mechanisms import MECHANISMS
    from ..targets import TARGETS

    p = sub.add_parser(
        "design", help=HELP,
        description="Search basis x factorization x depth x transform x mechanism for an induced bias "
        "R_phi(z) ~ a R*(z) + b (a > 0) over a sampling distribution; report the fit error, the "
        "parameterization, and the hyperparameter that sets the strength.",
        epilog=EXAMPLE.replace("{targets}", ", ".join(TARGETS)).replace("{mechanisms}", ", ".join(MECHANISMS)),
        formatter_class=_Formatter,
    )
    p.add_argument("--target", help="target spec as JSON (or @FILE), e.g. '{\"kind\":\"l1\"}'")
    p.add_argument("--shape", help="predictor shape: 64 (vector) or 20,20 (matrix)")
    p.add_argument("--mechanisms", default=None, help=f"comma-separated subset of {','.join(MECHANISMS)} (default: all)")
    p.add_argument("--budget", type=int, default=None, help="largest number of candidates to score (default: all)")
    p.add_argument("--seed", type=int, default=None, help="seed of the sampling distribution (default 0)")
    p.add_argument("--request", default=None, help="full design request as JSON (or @FILE); flags override its fields")
    p.add_argument("--out", default=None, help="write the result JSON here instead of stdout")
    p.add_argument("--plot", default=None, help="write a PNG of target vs induced bias here")
    p.add_argument("--state", default=None, help="save the search state here after each step; resume from it if it exists")
    p.set_defaults(func=run)


def _shape(text: str) -> list[int]:
    from ..errors import DesignerInputError

    try:
        return [int(x) for x in text.replace("x", ",").split(",") if x.strip()]
    except ValueError:
        raise DesignerInputError("shape", f"expected sizes like 64 or 20,20, got {text!r}") from None


def build_request(args: argparse.Namespace) -> dict:
    """The request dict from the command-line flags."""
    from ..cli import read_json_arg
    from ..errors import DesignerInputError

    req = dict(read_json_arg(args.request, "request")) if args.request else {}
    if not isinstance(req, dict):
        raise DesignerInputError("request", "expected a JSON object")
    if args.target is not None:
        req["target"] = read_json_arg(args.target, "target")
    if args.shape is not None:
        req["shape"] = _shape(args.shape)
    if args.mechanisms is not None:
        req["mechanisms"] = [m.strip() for m in args.mechanisms.split(",") if m.strip()]
    if args.budget is not None:
        req["budget"] = args.budget
    if args.seed is not None:
        req["seed"] = args.seed
    for key in ("target", "shape"):
        if key not in req:
            raise DesignerInputError(key, f"required: give --{key} (or a --request with it)")
    return req


def run(args: argparse.Namespace) -> int:
    from .. import enable_compilation_cache
    from ..design import design

    request = build_request(args)
    enable_compilation_cache()
    state = None
    if args.state and os.path.exists(args.state):
        from ..cli import read_json_file

        state = read_json_file(args.state, "state")

    def save_state(s: dict) -> None:
        tmp = args.state + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(s, fh)
        os.replace(tmp, args.state)

    bar = None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=100, file=sys.stderr, desc="design", unit="%", leave=False)

    def progress(p: dict) -> None:
        if bar is not None:
            bar.n = round(100 * p["fraction"])
            best = p["best_fit"]
            bar.set_postfix_str(f"{p['stage']} best fit {best:.3g}" if best is not None else p["stage"])
            bar.refresh()

    try:
        result = design(request, progress=progress, state=state,
                        on_state=save_state if args.state else None, plot=args.plot)
    finally:
        if bar is not None:
            bar.close()
    text = json.dumps(result, indent=None)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    if not result["exact"]:
        print(f"note: {result['note']}", file=sys.stderr)
    return 0
