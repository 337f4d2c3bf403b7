"""The API process must never import JAX (it would share XLA state with every request).

It does import the library's spec models (they load without JAX) to check job specs itself.
"""

import subprocess
import sys


def test_importing_the_service_and_checking_a_spec_does_not_import_jax():
    code = (
        "import sys, app.main, app.server, app.cli, app.jobs.worker, app.jobs.supervisor, app.numerics.gateway; "
        "app.main.create_app(); "
        "assert 'designer' not in sys.modules, 'create_app imports the library'; "
        "from app.core.specs import JobSpecChecker; "
        "checked = JobSpecChecker().check_now({'kind': 'design', 'target': {'kind': 'l1'}, 'shape': [8]}); "
        "assert checked['spec']['shape'] == [8], checked; "
        "bad = JobSpecChecker().check_now({'kind': 'design', 'target': {'kind': 'l1'}, 'shape': [0]}); "
        "assert bad['error']['field'] == 'body.shape.0', bad; "
        "assert 'designer.jobs' in sys.modules; "
        "assert not any(m == 'jax' or m.startswith(('jax.', 'jaxlib')) for m in sys.modules), "
        "sorted(m for m in sys.modules if m.startswith('jax'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
