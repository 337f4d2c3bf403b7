"""Run the authors' own experiment scripts unchanged, stopping before they save or plot.

The paper's code (GitHub repository ``emaballarin/understanding-design-ib``) is not part of this
project and is never committed to it. Fetch a snapshot of it anywhere (a clone, or an export of
the repository's tree) and pass its root, the folder holding ``src/01_shallowrelu.py``; it needs
the benchmark extra (``pip install -e '.[bench]'``: torch, simple-parsing, safetensors).

What the harness does to their scripts, and nothing else:

- it executes each script's own source with ``__name__ == "__main__"``, in two parts: from the top
  to the training marker (``# ~~ Training loop ~~`` or ``# ~~ Training ~~``: configuration, seeding,
  data, teacher and initialization), then from there to the first of ``# ~~ Save plot data ~~`` /
  ``# ~~ Printout ~~``; everything after (saving safetensors, printing, LaTeX plotting) is
  skipped. The second part is timed (``train_s``): their training loops with their logging;
- the step counts come in through the scripts' own command line (simple-parsing flags such as
  ``--num_steps``), as their README runs them;
- on Python < 3.12, their ``type X = ...`` alias statements (``optim.py``) do not parse; those
  lines alone are read as ``X = ...`` (a type annotation, no effect on any number).

    python benchmarks/authors.py /path/to/understanding-design-ib fig2 --fraction 0.01
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import time
import types
from pathlib import Path

#: figure -> (script, the authors' step-count flags at full size)
SCRIPTS = {
    "fig2": ("01_shallowrelu.py", {"num_steps": 40_000, "num_steps_for_acc": 500_000}),
    "fig3": ("02_attention.py", {"num_steps": 50_000, "num_steps_for_acc": 300_000}),
    "fig4": ("01_suppl_rank_matcomp.py", {"num_steps": 500_000}),
    "fig5": ("03_spectral_sparse.py", {"num_steps": 50_000}),
    "fig6": ("04_tv_regularization.py", {"num_steps": 500_000}),
}
START_MARKERS = ("# ~~ Training loop ~~", "# ~~ Training ~~")
END_MARKERS = ("# ~~ Save plot data ~~", "# ~~ Printout ~~")
REPO = "emaballarin/understanding-design-ib"


class MissingSnapshot(SystemExit):
    pass


def source_dir(path) -> Path:
    """The ``src`` folder of a snapshot of the authors' repository, or a clear error saying what to fetch."""
    root = Path(path) if path else None
    for cand in ([root, root / "src"] if root else []):
        if (cand / SCRIPTS["fig2"][0]).is_file():
            return cand.resolve()
    raise MissingSnapshot(
        f"error: no snapshot of the authors' code at {path!r}.\n"
        f"  Fetch the GitHub repository {REPO} (a clone or an export of its tree; never commit it here),\n"
        f"  e.g. `git clone <its GitHub URL> /tmp/authors`, and pass its root (the folder with src/01_shallowrelu.py).\n"
        f"  It needs the benchmark extra: pip install -e '.[bench]' (torch, simple-parsing, safetensors).")


def step_flags(figure: str, fraction: float = 1.0) -> dict[str, int]:
    """The authors' step-count flags at ``fraction`` of their size."""
    return {k: max(1, round(v * fraction)) for k, v in SCRIPTS[figure][1].items()}


def _load_modules(src: Path) -> list[str]:
    """Import the helper modules that do not parse on this Python after reading their ``type`` alias
    statements as assignments; returns what was rewritten."""
    notes = []
    for path in sorted(src.glob("*.py")):
        if path.name[0].isdigit() or path.stem in sys.modules:
            continue
        text = path.read_text()
        try:
            compile(text, str(path), "exec")
            continue
        except SyntaxError:
            pass
        fixed, n = re.subn(r"^type (\w+)\s*=", r"\1 =", text, flags=re.M)
        mod = types.ModuleType(path.stem)
        mod.__file__ = str(path)
        sys.modules[path.stem] = mod
        exec(compile(fixed, str(path), "exec"), mod.__dict__)
        notes.append(f"{path.name}: {n} 'type' alias statement(s) read as assignments (Python {sys.version_info[0]}.{sys.version_info[1]})")
    return notes


def _split(text: str) -> tuple[str, str]:
    lines = text.splitlines(keepends=True)

    def find(markers, after=0):
        for i in range(after, len(lines)):
            if lines[i].strip().startswith(markers):
                return i
        raise ValueError(f"none of {markers} found")

    a = find(START_MARKERS)
    b = find(END_MARKERS, a + 1)
    indent = len(lines[a]) - len(lines[a].lstrip())
    body = "".join(lines[a:b])
    if indent:  # inside `if __name__ == "__main__":`
        body = "if True:\n" + body
    return "".join(lines[:a]), body


def run_script(figure: str, snapshot, flags: dict | None = None, after_setup=None, threads: int | None = None) -> dict:
    """Run one of the authors' scripts up to the end of training; returns its namespace and timings.

    ``after_setup(namespace)`` is called between setup and training (the comparison reads the data
    and the initialization there). ``threads`` sets ``torch.set_num_threads`` (default: torch's).
    """
    src = source_dir(snapshot)
    script = src / SCRIPTS[figure][0]
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    notes = _load_modules(src)
    import torch

    if threads:
        torch.set_num_threads(threads)
    flags = step_flags(figure) if flags is None else flags
    setup, train = _split(script.read_text())
    argv = sys.argv
    sys.argv = [str(script)] + [f"--{k}={v}" for k, v in flags.items()]
    ns = {"__name__": "__main__", "__file__": str(script), "__builtins__": __builtins__}
    try:
        t0 = time.perf_counter()
        exec(compile(setup, str(script), "exec"), ns)
        t1 = time.perf_counter()
        if after_setup is not None:
            after_setup(ns)
        t2 = time.perf_counter()
        exec(compile(train, str(script), "exec"), ns)
        t3 = time.perf_counter()
    finally:
        sys.argv = argv
    return {"namespace": ns, "setup_s": t1 - t0, "train_s": t3 - t2, "flags": flags, "notes": notes,
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "script": script.name}


def main(argv=None) -> int:
    t_proc = time.perf_counter()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("snapshot", help=f"root of a snapshot of {REPO}")
    p.add_argument("figure", choices=sorted(SCRIPTS))
    p.add_argument("--fraction", type=float, default=1.0, help="fraction of the authors' step counts")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    args = p.parse_args(argv)
    if importlib.util.find_spec("torch") is None:
        raise SystemExit("error: torch is not installed: pip install -e '.[bench]'")
    out = run_script(args.figure, args.snapshot, step_flags(args.figure, args.fraction), threads=args.threads)
    out.pop("namespace")
    out["figure"] = args.figure
    out["process_s_so_far"] = time.perf_counter() - t_proc
    print("AUTHORS_RESULT " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
