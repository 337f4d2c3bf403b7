"""``designer validate``: train a design with its mechanism by SGD and compare with a trusted solver."""

from __future__ import annotations

import argparse
import json
import sys

EXAMPLE = """example:
  designer design --target '{"kind":"l1"}' --shape 100 --out result.json
  designer validate --design result.json \\
      --task '{"kind":"sparse_regression","n":200,"d":100,"k":5,"noise":0.1,"seed":0}' --strength 0.05
  # -> {"design": {...}, "training": {...}, "metrics": {"recovery_error": {...},
  #      "support_precision": {...}, "support_recall": {...}}, "solver": {"solver":
  #      "sklearn.linear_model.Lasso", "objective_solver_ours_units": ..., "objective_ours": {...},
  #      "relative_distance": {...}, "same_support": [true]}}
  designer validate --design result.json --candidate hadamard/identity/depth2/identity/label_noise \\
      --task '{"kind":"sparse_regression","n":40,"d":100,"k":5}' --steps 60000 --seeds 4

--task is a simulator task (sparse_regression, cosine_sparse, piecewise_constant, matrix_sensing,
matrix_completion, ...) whose predictor shape matches the design; its optional "seed" is the data
seed. --options takes any other field of the validation spec as JSON (noise, batch_size, schedule,
init, init_scale, polish, support_tolerance, float64). Trusted solvers (scikit-learn, cvxpy) come
with the 'solvers' extra: pip install 'implicit-bias-designer[solvers]'.
"""


def register(sub: argparse._SubParsersAction) -> None:
    from ..cli import _Formatter

    p = sub.add_parser(
        "validate", help="train a design by SGD with its mechanism and compare with a trusted solver",
        description="Train the designed parameterization with its mechanism (weight decay, label noise, or "
        "temperature via learning rate and batch size) using the JAX simulator, and report recovery "
        "error, support precision / recall, effective rank, and the distance to the solution of the "
        "target-regularized problem from a trusted solver with both objectives.",
        epilog=EXAMPLE, formatter_class=_Formatter,
    )
    p.add_argument("--design", required=True, help="design result JSON (file written by 'designer design', or - for stdin)")
    p.add_argument("--task", required=True, help="task spec as JSON (or @FILE); an optional \"seed\" is the data seed")
    p.add_argument("--candidate", default=None, help="candidate id to validate (default: the design's best)")
    p.add_argument("--steps", type=int, default=None, help="SGD steps (default: 20000 weight decay, 60000 otherwise)")
    p.add_argument("--seeds", type=int, default=None, help="runs batched over seeds (default 1 weight decay, 4 otherwise)")
    p.add_argument("--learning-rate", type=float, default=None, help="step size (default: from the design)")
    p.add_argument("--strength", type=float, default=None, help="regularization strength lambda (default: the design's)")
    p.add_argument("--options", default=None, help="other validation-spec fields as JSON (or @FILE)")
    p.add_argument("--out", default=None, help="write the JSON here instead of stdout")
    p.add_argument("--plot", default=None, help="write a PNG (training curve, trained vs solver) here")
    p.set_defaults(func=run)


def build_spec(args: argparse.Namespace) -> dict:
    """The validation spec from the flags."""
    from ..cli import read_json_arg
    from ..errors import DesignerInputError

    spec = dict(read_json_arg(args.options, "options")) if args.options else {}
    if not isinstance(spec, dict):
        raise DesignerInputError("options", "expected a JSON object")
    task = read_json_arg(args.task, "task")
    if not isinstance(task, dict):
        raise DesignerInputError("task", "expected a JSON object")
    task = dict(task)
    if "seed" in task:
        spec["data_seed"] = task.pop("seed")
    spec["task"] = task
    for name in ("candidate", "steps", "seeds", "learning_rate", "strength"):
        value = getattr(args, name)
        if value is not None:
            spec[name] = value
    return spec


def run(args: argparse.Namespace) -> int:
    from .. import enable_compilation_cache
    from ..cli import read_json_file
    from ..validate import validate

    design = read_json_file(args.design, "design")
    spec = build_spec(args)
    enable_compilation_cache()
    bar = None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=100, file=sys.stderr, desc="validate", unit="%", leave=False)

    def progress(p: dict) -> None:
        if bar is not None:
            bar.n = round(100 * p["fraction"])
            bar.set_postfix_str(p["stage"])
            bar.refresh()

    try:
        result = validate(design, spec, progress=progress, plot=args.plot)
    finally:
        if bar is not None:
            bar.close()
    text = json.dumps(result)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    return 0
