"""``designer validate``: train a design with its mechanism by SGD and compare with a trusted solver."""

from __future__ import annotations

import argparse
import json
import sys

EXAMPLE = """example:
  designer design --target '{"kind":"l1"}' --shape 120 --mechanisms label_noise --out d.json
  designer validate --design d.json --task '{"kind":"sparse_regression","n":34,"d":120,"k":4}'
  # -> {"verdict": {"delivered": true, "reference": "scipy.optimize.linprog (highs)",
  #       "relative_gap": [...], "tolerance": 0.05, "message": "delivered: ..."},
  #     "defaults": {"learning_rate": {"value": ..., "rule": "0.5 x 2 / lambda_max ..."},
  #       "strength": {...}, "steps": {...}, ...}, "training": {"stopped_by": ..., "retries": []},
  #     "metrics": {"recovery_error": {...}, "support_recall": {...}}, "solver": {...}}
  designer validate --design result.json \\
      --task '{"kind":"sparse_regression","n":200,"d":100,"k":5,"noise":0.1,"seed":0}' --strength 0.05

Nothing but --design and --task is needed: the learning rate is half the edge of stability
2 / lambda_max at the initialization (power iteration on Hessian-vector products; halved and
retried on divergence), the strength comes from the task's noise level (2 sigma sqrt(2 log d)
max_j |X_j| / n for regression, 1e-3 lambda_max for noiseless data; label noise: std twice the
targets' rms), and training stops by a stopping rule (relative objective change, or for label
noise the distance to the predicted limit: on each plateau the label-noise variance is divided
by 10, at most 4 times, then training stops) or at the step cap. Every chosen default is written
into "defaults" with the rule that chose it; "verdict" says whether the trained objective is
within the tolerance of the trusted solver's (scikit-learn, linprog, cvxpy; for lp / schatten
with p < 1 and log_sum, the best of reweighted L1 / IRLS restarts).

--task is a simulator task (sparse_regression, cosine_sparse, piecewise_constant, matrix_sensing,
matrix_completion, robust_pca, ...) whose predictor shape matches the design; its optional "seed" is the data
seed. --options takes any other field of the validation spec as JSON (noise, batch_size, schedule,
init, init_scale, polish, tolerance, support_tolerance, float64). Trusted solvers (scikit-learn,
cvxpy) come with the 'solvers' extra: pip install 'implicit-bias-designer[solvers]'.
"""


#: One line for ``designer --help`` (listed without importing what ``register`` needs).
HELP = "train a design by SGD with its mechanism and compare with a trusted solver"


def register(sub: argparse._SubParsersAction) -> None:
    from ..cli import _Formatter

    p = sub.add_parser(
        "validate", help=HELP,
        description="Train the designed parameterization with its mechanism (weight decay, label noise, or "
        "temperature via learning rate and batch size) using the JAX simulator, and report recovery "
        "error, support precision / recall, effective rank, and the distance to the solution of the "
        "target-regularized problem from a trusted solver with both objectives.",
        epilog=EXAMPLE, formatter_class=_Formatter,
    )
    p.add_argument("--design", required=True, help="design result JSON (file written by 'designer design', or - for stdin)")
    p.add_argument("--task", required=True, help="task spec as JSON (or @FILE); an optional \"seed\" is the data seed")
    p.add_argument("--candidate", default=None, help="candidate id to validate (default: the design's best)")
    p.add_argument("--steps", type=int, default=None, help="step cap (default: 20000 weight decay, 400000 label noise, 200000 gauge; a stopping rule usually ends earlier)")
    p.add_argument("--seeds", type=int, default=None, help="runs batched over seeds (default 1 weight decay, 4 otherwise)")
    p.add_argument("--learning-rate", type=float, default=None, help="step size (default: half the edge of stability at the initialization)")
    p.add_argument("--strength", type=float, default=None, help="regularization strength lambda (default: from the task's noise level)")
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
