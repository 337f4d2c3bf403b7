"""Benchmark: GET /v1/design-jobs/{id} latency at a steady 200 req/s for 30 s, two design jobs running.

Starts ``designer serve`` (2 workers, SQLite unless DATABASE_URL is set) on a free loopback port,
submits two long design jobs, then fires requests on an open-loop schedule (a request every
5 ms whatever the answers do) and reports p50/p99 latency and the error count.

    python benchmarks/service_latency.py [--rate 200] [--seconds 30] [--budget 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: str, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    exe = Path(sys.executable).parent / "designer"
    proc = subprocess.Popen([str(exe), "serve", "--port", str(port), "--data-dir", data_dir, "--workers", str(workers)],
                            stdout=open(os.path.join(data_dir, "server.log"), "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not become ready")


async def load(base: str, job_id: str, rate: float, seconds: float) -> tuple[list[float], int, int]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as http:
        async def one():
            nonlocal errors
            t0 = time.perf_counter()
            try:
                r = await http.get(f"/v1/design-jobs/{job_id}")
                if r.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - t0)

        tasks = []
        start = time.perf_counter()
        n = int(rate * seconds)
        for i in range(n):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return latencies, errors, n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--budget", type=int, default=100000, help="budget of the two background design jobs")
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="designer-bench-")
    proc, base = start_server(data_dir, workers=2)
    try:
        http = httpx.Client(base_url=base, timeout=30)
        jobs = [http.post("/v1/design-jobs", json={"kind": "design", "target": {"name": "l1"}, "shape": [64],
                                                   "budget": args.budget, "seed": s}).json()["id"] for s in (1, 2)]
        deadline = time.monotonic() + 120
        while not all(http.get(f"/v1/design-jobs/{j}").json()["status"] == "running" for j in jobs):
            if time.monotonic() > deadline:
                raise SystemExit("the two design jobs did not start")
            time.sleep(0.2)
        latencies, errors, n = asyncio.run(load(base, jobs[0], args.rate, args.seconds))
        still = [http.get(f"/v1/design-jobs/{j}").json()["status"] for j in jobs]
        q = statistics.quantiles(latencies, n=100)
        db = "postgresql" if os.environ.get("DATABASE_URL") else "sqlite"
        print(f"database={db} requests={n} rate={args.rate}/s seconds={args.seconds} errors={errors} "
              f"p50={q[49] * 1000:.2f}ms p99={q[98] * 1000:.2f}ms max={max(latencies) * 1000:.2f}ms "
              f"jobs_still={still}")
        for j in jobs:
            http.post(f"/v1/design-jobs/{j}/cancel")
    finally:
        proc.send_signal(2)
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
