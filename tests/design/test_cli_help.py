"""``designer --help`` lists every command without importing the numerical modules or the
service's server (pydantic-settings); a named command still gets its full parser."""

import subprocess
import sys

PROBE = """
import sys
from designer.cli import main
try:
    main(["--help"])
except SystemExit:
    pass
heavy = sorted(m for m in ("jax", "numpy", "designer.mechanisms", "designer.families", "designer.targets",
                           "app.server", "pydantic_settings") if m in sys.modules)
print("HEAVY", heavy)
"""


def test_top_level_help_imports_no_numerical_module():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out
    for name in ("bias", "reproduce", "design", "validate", "sweep", "export", "serve", "users", "jobs"):
        assert f"    {name} " in out or f"    {name}\n" in out


def test_the_named_command_registers_in_full():
    from designer.cli import build_parser

    def sub(parser):
        return next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices

    lazy = sub(build_parser(["design", "--help"]))
    assert "--target" in lazy["design"].format_help() and "--figure" not in lazy["reproduce"].format_help()
    assert "--horizon" not in lazy["reproduce"].format_help()  # listed, not registered
    assert "--horizon" in sub(build_parser(["reproduce"]))["reproduce"].format_help()
    assert "--horizon" in sub(build_parser())["reproduce"].format_help()  # no argv: everything
    assert "--data-dir" not in lazy["serve"].format_help()  # a plugin with a help line: listed only
    assert "--data-dir" in sub(build_parser(["serve", "--help"]))["serve"].format_help()
