"""``designer bias``: the induced bias at given predictors."""

from __future__ import annotations

import argparse
import json
import sys

EXAMPLE = """example:
  echo '[[1, 2, 3], [0.5, -1, 2]]' > points.json
  designer bias --param '{"family":"hadamard","depth":3}' \\
                --mechanism '{"kind":"gauge","temperature":1.0}' --points points.json
  # -> {"values": [...], "singular": []}

mechanisms: {"kind":"gauge","temperature":T}  {"kind":"weight_decay","strength":l}
            {"kind":"label_noise","variance":v,"learning_rate":eta}
families:   scalar_product, hadamard (depth, basis, transform), group_hadamard (group_size),
            matrix_product (depth, rank), relu_two_layer (outputs), attention_qk (symmetry)
values[i] is null where the bias is singular (log of zero, e.g. a zero coordinate under the
gauge bias of a product); those indices are listed in "singular".
"""


#: One line for ``designer --help`` (listed without importing what ``register`` needs).
HELP = "evaluate the induced bias R(z) at predictors"


def register(sub: argparse._SubParsersAction) -> None:
    from ..cli import _Formatter

    p = sub.add_parser(
        "bias", help=HELP,
        description="Evaluate the induced bias R(z) of a parameterization under a mechanism "
        "(additive constants dropped; float64).",
        epilog=EXAMPLE, formatter_class=_Formatter,
    )
    p.add_argument("--param", required=True, help="family spec as JSON (or @FILE)")
    p.add_argument("--mechanism", required=True, help="mechanism spec as JSON (or @FILE)")
    p.add_argument("--points", required=True, help="JSON file with a list of predictors ('-' for stdin)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..cli import read_json_arg, read_json_file

    param = read_json_arg(args.param, "param")
    mechanism = read_json_arg(args.mechanism, "mechanism")
    points = read_json_file(args.points, "points")
    from .. import enable_compilation_cache
    from ..bias import evaluate_points

    enable_compilation_cache()
    result = evaluate_points(param, mechanism, points)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    if result["singular"]:
        print(f"note: the bias is singular (-inf) at {len(result['singular'])} point(s): "
              f"{result['singular'][:10]}", file=sys.stderr)
    return 0
