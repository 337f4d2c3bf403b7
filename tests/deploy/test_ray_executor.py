"""Jobs as Ray tasks (DESIGNER_EXECUTOR=ray) against a local Ray head on loopback.

The service's database stays the source of truth: status, progress events, the result and the
plot come through the API exactly as with local workers; cancellation reaches the running task.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import Server, client, follow, free_port, wait_status

SMALL_DESIGN = {"kind": "design", "target": {"kind": "l1"}, "shape": [8], "budget": 20, "seed": 0,
         "mechanisms": ["gauge", "weight_decay"]}  # seconds; label noise takes a minute
#: Runs ~10 s on one core (no exact match for total variation at this size): long enough to cancel.
LONG_DESIGN = {"kind": "design", "target": {"kind": "scad"}, "shape": [1024], "budget": 100000, "seed": 1}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[ray]'")


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """``ray start --head --block`` on 127.0.0.1 with 2 CPUs, in its own process group."""
    ray_bin = Path(sys.executable).parent / "ray"
    if not ray_bin.exists():
        pytest.skip("the `ray` command is not installed next to this interpreter")
    port = free_port()
    # Ray's socket paths must stay short: a short temp dir of its own.
    temp = Path("/tmp") / f"ray-designer-{port}"
    log = open(tmp_path_factory.mktemp("ray") / "head.log", "wb")
    proc = subprocess.Popen(
        [str(ray_bin), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
         "--num-cpus=2", "--num-gpus=0", "--include-dashboard=false", "--disable-usage-stats",
         f"--temp-dir={temp}", f"--ray-client-server-port={free_port()}",
         f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}",
         f"--min-worker-port={free_port()}", "--max-worker-port=0"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        probe = subprocess.run([str(ray_bin), "status", f"--address={address}"], capture_output=True, text=True)
        if probe.returncode == 0:
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.skip(f"a local Ray head did not start: {Path(log.name).read_text()[-2000:]}")
        time.sleep(1)
    yield address
    proc.send_signal(signal.SIGTERM)  # --block: stops the processes it started
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    log.close()
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_server(tmp_path_factory, ray_head):
    srv = Server(data_dir=tmp_path_factory.mktemp("ray-e2e"), database_url=None, workers=2,
                 extra_env={"DESIGNER_EXECUTOR": "ray", "RAY_ADDRESS": ray_head,
                            # a cold Ray worker imports JAX before its first step: more than
                            # FAST_TIMINGS' 3 s, so the supervisor's kill does not pre-empt the test
                            "DESIGNER_CANCEL_GRACE_SECONDS": "20"}).start()
    yield srv
    srv.stop()


def test_job_runs_as_a_ray_task_end_to_end(ray_server):
    http = client(ray_server)
    job = http.post("/v1/design-jobs", json=SMALL_DESIGN).json()
    events = follow(ray_server, job["id"])
    statuses = [e["data"]["data"]["status"] for e in events if e["event"] == "status"]
    assert statuses[0] == "queued" and "running" in statuses and statuses[-1] == "succeeded", events
    fractions = [e["data"]["data"]["fraction"] for e in events if e["event"] == "progress"]
    assert fractions and fractions == sorted(fractions), "progress flows back from the Ray task"
    done = http.get(f"/v1/design-jobs/{job['id']}").json()
    assert done["attempt"] == 1 and done["progress"]["fraction"] == 1.0
    result = http.get(f"/v1/design-jobs/{job['id']}/result").json()
    assert result["result"]["fit_error"] < 1e-6
    plot = next(a for a in result["artifacts"] if a["media_type"] == "image/png")
    content = http.get(plot["url"]).content
    assert content.startswith(PNG_SIGNATURE) and len(content) == plot["size_bytes"]
    assert f"job {job['id']} attempt 1 runs as Ray task" in ray_server.log()


def test_cancel_reaches_the_running_ray_task(ray_server):
    http = client(ray_server)
    job = http.post("/v1/design-jobs", json=LONG_DESIGN).json()
    wait_status(http, job["id"], {"running"}, timeout=120)
    assert http.post(f"/v1/design-jobs/{job['id']}/cancel").status_code == 202
    # The task stops at its next step (cooperative flag) or by ray.cancel 2 s later, well
    # before the supervisor's grace period would have the driver killed.
    final = wait_status(http, job["id"], {"cancelled", "failed", "succeeded"}, timeout=60)
    assert final["status"] == "cancelled" and final["error"] is None, final
    assert "terminating worker" not in ray_server.log(), "stopped by the cancel flag or ray.cancel, not by a kill"


def test_ray_executor_needs_an_address(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "DESIGNER_RAY_ADDRESS")}
    out = subprocess.run([sys.executable, "-m", "app.server", "--data-dir", str(tmp_path), "--port", str(free_port())],
                         env={**env, "DESIGNER_EXECUTOR": "ray"}, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "RAY_ADDRESS" in out.stderr, out.stderr


def test_a_job_that_asks_for_gpus_gets_them():
    from app.core.config import Settings
    from app.jobs.ray_executor import task_gpus, task_runtime_env
    from designer.jobs import parse_job_spec

    spec = parse_job_spec({"kind": "design", "target": {"kind": "l1"}, "shape": [8], "gpus": 1}).model_dump(mode="json")
    settings = Settings(data_dir="/tmp/unused")
    assert task_gpus(spec, settings) == 1.0
    assert task_gpus({"kind": "design"}, settings) == 0.0
    assert task_gpus({"kind": "design"}, Settings(data_dir="/tmp/unused", ray_num_gpus=0.5)) == 0.5
    # without a GPU the task is pinned to JAX's CPU backend; with one it is not
    assert task_runtime_env(settings, 0.0) != task_runtime_env(settings, 1.0)
