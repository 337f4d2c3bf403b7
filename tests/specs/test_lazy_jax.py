"""Specs import and validate without JAX; JAX loads (configured, pytrees registered) on first use."""

import subprocess
import sys


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_specs_import_and_validate_without_jax():
    code = (
        "import sys\n"
        "import designer, designer.jobs, designer.specs, designer.catalog\n"
        "from designer.simulate import NoiseSpec, TaskSpec\n"
        "from designer.validate import ValidationSpec\n"
        "from designer.design import DesignRequest\n"
        "designer.catalog.describe()\n"
        "designer.jobs.parse_job_spec({'kind': 'design', 'target': {'kind': 'lp', 'p': 0.5}, 'shape': [32]})\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'optax'))\n"
        "assert not loaded, loaded\n"
        "print('ok')\n"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_constructing_a_family_registers_it_even_when_jax_was_imported_first():
    code = (
        "import jax, jax.numpy as jnp\n"
        "from designer.families.hadamard import Hadamard\n"
        "fam = Hadamard(depth=2, dim=3)\n"
        "leaves, tree = jax.tree_util.tree_flatten(fam)\n"
        "assert jax.tree_util.tree_unflatten(tree, leaves) == fam\n"
        "out = jax.jit(lambda f, u: f.predictor({'u': u}))(fam, jnp.ones((2, 3)) * 2.0)\n"
        "assert out.dtype == jnp.float64, out.dtype  # designer turned float64 on\n"
        "assert float(out.sum()) == 12.0\n"
        "print('ok')\n"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_touching_jax_while_checking_specs_is_an_error():
    code = (
        "from designer._lazy import jnp, specs_only\n"
        "with specs_only():\n"
        "    try:\n"
        "        jnp.zeros(3)\n"
        "    except RuntimeError as exc:\n"
        "        print('refused:', 'checking specs' in str(exc))\n"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "refused: True"
