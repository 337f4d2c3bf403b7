"""``designer export``: a design as a self-contained PyTorch or JAX module."""

from __future__ import annotations

import argparse
import sys

EXAMPLE = """example:
  designer design --target '{"kind":"l1"}' --shape 64 --request '{"strength":0.05}' --out result.json
  designer export --design result.json --framework torch --out parameterization.py
  designer export --design result.json --candidate hadamard/basis=identity/depth=2/transform=identity/label_noise \\
      --framework jax --out parameterization_jax.py

PyTorch: Parameterization() for torch.nn.utils.parametrize.register_parametrization(layer,
"weight", ...), DesignedWeight() standalone, optimizer(module, ...) with the mechanism's settings
(weight decay on the factors only; the learning rate and batch size of a temperature; a label-noise
helper). JAX: init(key), predictor(params), balanced(z), optimizer(...) (optax).
The module is generated from the validated specs by templates; nothing in the design is run.
"""


#: One line for ``designer --help`` (listed without importing what ``register`` needs).
HELP = "write a design as a self-contained PyTorch or JAX module"


def register(sub: argparse._SubParsersAction) -> None:
    from ..cli import _Formatter

    p = sub.add_parser(
        "export", help=HELP,
        description="Write the chosen candidate of a design (the best by default) as a small, readable, "
        "self-contained Python module: the parameterization, its initialisation and the training settings "
        "its mechanism needs.",
        epilog=EXAMPLE, formatter_class=_Formatter,
    )
    p.add_argument("--design", required=True, help="design result JSON (file written by 'designer design', or - for stdin)")
    p.add_argument("--candidate", default=None, help="candidate id to export (default: the design's best)")
    p.add_argument("--framework", required=True, help="torch or jax")
    p.add_argument("--out", default=None, help="write the module here instead of stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..cli import read_json_file
    from ..export import export_design

    design = read_json_file(args.design, "design")
    source = export_design(design, args.framework, args.candidate)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(source)
    else:
        sys.stdout.write(source)
    return 0
