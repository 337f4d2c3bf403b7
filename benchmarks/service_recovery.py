"""Benchmark: how fast the service recovers a job whose worker died, and cancels a job in each phase.

One server (``python -m app.server``, SQLite, or PostgreSQL when ``DATABASE_URL`` is set) with
one worker and an empty JAX compilation cache of its own, so compilations really compile:

* **requeue**: a design job runs; its worker is SIGKILLed; measured from the kill to the job
  being back in the queue (or claimed again), and to its success. The baseline is what the
  lease alone would give: ``DESIGNER_LEASE_SECONDS`` (the reaper requeues an expired lease);
* **cancel**, from the cancel request to status ``cancelled`` (polled every 5 ms):
  ``queued`` (the worker is busy with another job), ``compiling`` (the job's first step is being
  compiled: a new shape each time), ``stepping`` (the job is between steps of a long search).

    python benchmarks/service_recovery.py [--repeats 3] [--lease 30]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_latency import database_env, start_server, stop_server  # noqa: E402

RESUMABLE = {"kind": "design", "target": {"kind": "tv"}, "shape": [16], "budget": 2000}
LONG = {"kind": "design", "target": {"kind": "tv"}, "budget": 100000}
POLL = 0.005


def worker_pids(data_dir: str, server_pid: int) -> list[int]:
    pids = []
    for pid in re.findall(r"worker w-\S+ started \(pid (\d+)", Path(data_dir, "server.log").read_text(errors="replace")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == server_pid:
            pids.append(int(pid))
    return pids


def wait_until(http: httpx.Client, job_id: str, done, timeout: float = 600) -> tuple[float, dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"/v1/design-jobs/{job_id}").json()
        if done(job):
            return time.monotonic(), job
        time.sleep(POLL)
    raise SystemExit(f"job {job_id} timed out: {job}")


def running_with_progress(job: dict) -> bool:
    return job["status"] == "running" and job["progress"] is not None


def measure_requeue(http, data_dir, server_pid, seed) -> tuple[float, float]:
    job = http.post("/v1/design-jobs", json={**RESUMABLE, "seed": seed}).json()
    wait_until(http, job["id"], running_with_progress)
    (pid,) = worker_pids(data_dir, server_pid)
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    requeued, _ = wait_until(http, job["id"], lambda j: j["status"] == "queued" or j["attempt"] >= 2)
    finished, last = wait_until(http, job["id"], lambda j: j["status"] in ("succeeded", "failed", "cancelled"))
    assert last["status"] == "succeeded", last
    return requeued - killed, finished - killed


def cancel_and_time(http, job_id) -> float:
    sent = time.monotonic()
    http.post(f"/v1/design-jobs/{job_id}/cancel")
    at, job = wait_until(http, job_id, lambda j: j["status"] in ("cancelled", "succeeded", "failed"))
    assert job["status"] == "cancelled", job
    return at - sent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lease", type=float, default=30.0, help="DESIGNER_LEASE_SECONDS (the fallback)")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite",
                        help="postgresql: a throw-away cluster (unless DATABASE_URL is set)")
    args = parser.parse_args()
    with database_env(args.database):
        return measure(args)


def measure(args: argparse.Namespace) -> int:
    data_dir = tempfile.mkdtemp(prefix="designer-bench-recovery-")
    os.environ["DESIGNER_JAX_CACHE"] = tempfile.mkdtemp(prefix="designer-bench-jax-")
    os.environ["DESIGNER_LEASE_SECONDS"] = str(args.lease)
    proc, base = start_server(data_dir, workers=1)
    http = httpx.Client(base_url=base, timeout=60)
    results: dict[str, list[float]] = {"requeue": [], "requeue_to_success": [], "cancel_queued": [],
                                       "cancel_compiling": [], "cancel_stepping": []}
    try:
        for r in range(args.repeats):
            requeue, success = measure_requeue(http, data_dir, proc.pid, seed=r)
            results["requeue"].append(requeue)
            results["requeue_to_success"].append(success)

            busy = http.post("/v1/design-jobs", json={**LONG, "shape": [1024], "seed": 100 + r}).json()
            queued = http.post("/v1/design-jobs", json={**RESUMABLE, "seed": 200 + r}).json()
            results["cancel_queued"].append(cancel_and_time(http, queued["id"]))
            wait_until(http, busy["id"], lambda j: j["progress"] is not None and (j["progress"]["fraction"] or 0) > 0)
            results["cancel_stepping"].append(cancel_and_time(http, busy["id"]))

            # A shape never compiled in this cache: the first step compiles for seconds.
            compiling = http.post("/v1/design-jobs", json={**LONG, "shape": [1000 + r], "seed": 300 + r}).json()
            wait_until(http, compiling["id"], running_with_progress)
            results["cancel_compiling"].append(cancel_and_time(http, compiling["id"]))
    finally:
        http.close()
        stop_server(proc)
    db = "postgresql" if os.environ.get("DATABASE_URL") else "sqlite"
    print(f"database={db} repeats={args.repeats} lease={args.lease:g}s (baseline: requeue by lease expiry)")
    for name, values in results.items():
        line = (f"  {name:20s} p50={statistics.median(values):7.3f}s max={max(values):7.3f}s  "
                f"all=[{', '.join(f'{v:.3f}' for v in values)}]")
        if name == "requeue":
            line += f"  ratio to lease = {statistics.median(values) / args.lease:.3f}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
