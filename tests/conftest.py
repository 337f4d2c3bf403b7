"""Shared test setup: float64 for geometry (designer turns it on at import) and one JAX
compilation cache for every process of a test run.

The cache directory is made empty at the start of each run (by the xdist controller, or by the
only process without xdist) and exported as ``DESIGNER_JAX_CACHE`` before the workers start, so
the pytest workers, the CLI subprocesses and the servers' worker processes of this run share
the programs any of them compiled, and nothing compiled by an earlier run (or left in
``~/.cache``) is reused: a local run costs what a clean CI checkout costs. The directory is
removed when the run ends.
"""

import os
import shutil
import tempfile

import designer  # noqa: F401  (enables jax_enable_x64)
import jax

jax.config.update("jax_enable_x64", True)

_OWNED = "_designer_test_jax_cache"


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # the controller, or a run without xdist
        path = tempfile.mkdtemp(prefix="designer-test-jax-")
        os.environ["DESIGNER_JAX_CACHE"] = path  # inherited by the xdist workers and every subprocess
        setattr(config, _OWNED, path)
    designer.enable_compilation_cache(os.environ["DESIGNER_JAX_CACHE"])


def pytest_unconfigure(config):
    path = getattr(config, _OWNED, None)
    if path:
        shutil.rmtree(path, ignore_errors=True)
