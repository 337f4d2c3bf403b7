"""Runs spread over several devices (CPU cores as JAX devices) give the one-device results."""

import json
import os
import subprocess
import sys

import numpy as np

SCRIPT = r"""
import json, sys
import jax, numpy as np
import designer
from designer.validate._sweep import plan
p = plan([0.01, 0.02], ("gaussian", "student_t3"), (1,), seeds=2, steps=1000, label_noise=1.0, d=20, n=10, k=2)
r = p.sim.run(p.state, p.hyper, p.data, 400, 100)
u = r.state.params["u"]
print(json.dumps({"devices": len(u.sharding.device_set), "u": np.asarray(u).tolist(),
                  "loss": np.asarray(r.records["batch_loss"]).tolist()}))
"""


def _run(devices: int) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_two_devices_split_the_runs_and_agree_with_one():
    one, two = _run(1), _run(2)
    assert one["devices"] == 1 and two["devices"] == 2
    np.testing.assert_allclose(two["u"], one["u"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-5, atol=1e-7)


def test_use_cpu_cores_exposes_cores_before_the_backend_starts():
    code = "import designer, jax; n = designer.use_cpu_cores(3); print(n, len(jax.devices('cpu')))"
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3", "3"]


def test_cli_sweep_splits_its_runs_over_the_cores(tmp_path):
    out = tmp_path / "sweep.json"
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    proc = subprocess.run([sys.executable, "-m", "designer.cli", "sweep", "--learning-rates", "0.01", "--families", "gaussian",
                           "--seeds", "2", "--steps", "200", "--out", str(out)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    grid = json.loads(out.read_text())["grid"]
    cores = len(os.sched_getaffinity(0))
    assert grid["devices"] == (cores if 2 % cores == 0 else 1)
