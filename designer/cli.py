"""The ``designer`` command line.

Sub-commands of the numerical library live here; other packages of the distribution add theirs
through the ``designer.commands`` entry-point group (each entry point is a ``register(subparsers)``
callable), so the library never imports the service.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from importlib import metadata
from typing import Callable

from .errors import DesignerInputError, NumericalFailure

#: Sub-commands of the library: name -> module with ``register(subparsers)``.
_BUILTIN = [
    "designer.commands.bias", "designer.commands.reproduce", "designer.commands.design",
    "designer.commands.validate", "designer.commands.sweep", "designer.commands.export",
]


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


def read_json_arg(text: str, field: str):
    """Parse a JSON command-line value, or ``@FILE`` / ``-`` to read it from a file / stdin."""
    try:
        if text == "-":
            return json.load(sys.stdin)
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as fh:
                return json.load(fh)
        return json.loads(text)
    except FileNotFoundError:
        raise DesignerInputError(field, f"no such file: {text[1:]}") from None
    except json.JSONDecodeError as exc:
        raise DesignerInputError(field, f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


def read_json_file(path: str, field: str):
    """Read JSON from a file path (``-`` for stdin)."""
    return read_json_arg("-" if path == "-" else "@" + path, field)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``designer`` parser. With ``argv``, only the command it names registers in full; the
    other built-in commands are listed with their one-line ``HELP``, and plugins (entry points of
    ``designer.commands``) whose register function has a ``help`` attribute with it, so ``designer --help`` and every command
    start without importing the other commands' registries (``design`` lists every target and
    mechanism, which imports the families). Without ``argv``, every command registers in full."""
    parser = argparse.ArgumentParser(
        prog="designer",
        description="Induced implicit bias of parameterizations (arXiv 2601.06597): compute it, "
        "design parameterizations from a target regularizer, and check against SGD.",
        formatter_class=_Formatter,
        epilog="Run 'designer COMMAND --help' for a command's options and an example.",
    )
    parser.add_argument("--version", action="version", version=f"designer {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    import importlib

    wanted = None if argv is None else next((a for a in argv if not a.startswith("-")), "")
    for modname in _BUILTIN:
        module = importlib.import_module(modname)
        name = modname.rsplit(".", 1)[1]
        if wanted in (None, name):
            module.register(sub)
        else:
            sub.add_parser(name, help=module.HELP)
    for ep in _plugins():
        try:
            register = ep.load()
            if wanted in (None, ep.name) or not getattr(register, "help", None):
                register(sub)
            else:  # listed by its help line only; registered in full when it is the command run
                sub.add_parser(ep.name, help=register.help)
        except ImportError as exc:  # an optional extra is not installed
            p = sub.add_parser(ep.name, help=f"(unavailable: {exc.name} is not installed)")
            p.set_defaults(func=_missing(ep.name, exc))
    return parser


def _plugins():
    try:
        return list(metadata.entry_points(group="designer.commands"))
    except Exception:  # pragma: no cover - broken metadata
        return []


def _missing(name: str, exc: ImportError) -> Callable[[argparse.Namespace], int]:
    def run(args):
        print(f"error: '{name}' needs an optional dependency that is not installed ({exc}); "
              "install the 'service' extra: pip install 'implicit-bias-designer[service]'", file=sys.stderr)
        return 2
    return run


def _version() -> str:
    try:
        return metadata.version("implicit-bias-designer")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "0+unknown"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except DesignerInputError as exc:
        print(f"error: {exc.field}: {exc.message}", file=sys.stderr)
        return 2
    except NumericalFailure as exc:
        print(f"error: numerical failure: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def console() -> None:
    """The ``designer`` executable: :func:`main`, then exit without the interpreter's last
    garbage collection over every object JAX and matplotlib left behind (``gc.freeze`` puts them
    out of its reach): 0.5 s of a ``designer reproduce`` process. Everything the command writes is
    closed by then; exit handlers still run."""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    console()
