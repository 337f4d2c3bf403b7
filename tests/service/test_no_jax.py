"""The API process must never import JAX (it would share XLA state with every request)."""

import subprocess
import sys


def test_importing_the_service_does_not_import_jax():
    code = ("import sys, app.main, app.server, app.cli, app.jobs.worker, app.jobs.supervisor, app.numerics.gateway; "
            "app.main.create_app(); "
            "assert 'jax' not in sys.modules and 'designer' not in sys.modules, sorted(m for m in sys.modules if m.startswith(('jax', 'designer')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
