"""Design-job throughput (jobs per minute): local executor with 1 and 2 workers, Ray with 2.

    python benchmarks/bench_throughput.py            # --jobs 8 --shape 64

Each configuration starts a fresh ``designer serve`` (SQLite, own data directory), submits the
same N design jobs at once through the API, and measures from the first submission to the last
job's success (``finished_at``). The Ray configuration starts a local Ray head
(``ray start --head --num-cpus 2``) and the service with ``DESIGNER_EXECUTOR=ray``. One warm-up
job per configuration runs first and is not counted (imports, JIT compilation cache, Ray worker
start-up), so the numbers compare steady-state throughput; the warm-up time is reported too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ray(cpus: int) -> tuple[subprocess.Popen, str, Path]:
    port = free_port()
    temp = Path(f"/tmp/ray-bench-{port}")
    proc = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
         f"--num-cpus={cpus}", "--num-gpus=0", "--include-dashboard=false", "--disable-usage-stats",
         f"--temp-dir={temp}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    address = f"127.0.0.1:{port}"
    while subprocess.run([str(BIN / "ray"), "status", f"--address={address}"], capture_output=True).returncode:
        if proc.poll() is not None:
            raise RuntimeError("ray head did not start")
        time.sleep(1)
    return proc, address, temp


def stop_group(proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_config(name: str, workers: int, jobs: list[dict], env: dict[str, str]) -> dict:
    data = Path(tempfile.mkdtemp(prefix="bench-tp-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(data / "server.log", "wb")
    server = subprocess.Popen(
        [str(BIN / "designer"), "serve", "--port", str(port), "--data-dir", str(data), "--workers", str(workers)],
        env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        http = httpx.Client(base_url=url, timeout=60)
        t0 = time.monotonic()
        while True:
            try:
                if http.get("/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                raise RuntimeError((data / "server.log").read_text()[-3000:])
            time.sleep(0.2)

        def wait(ids: list[str]) -> list[dict]:
            while True:
                done = [http.get(f"/v1/design-jobs/{i}").json() for i in ids]
                if all(j["status"] in ("succeeded", "failed", "cancelled") for j in done):
                    bad = [j for j in done if j["status"] != "succeeded"]
                    if bad:
                        raise RuntimeError(f"{name}: {bad[0]['status']}: {bad[0]['error']}")
                    return done
                time.sleep(0.25)

        warm = http.post("/v1/design-jobs", json={**jobs[0], "seed": 10_000}).json()
        wait([warm["id"]])
        warmup_s = time.monotonic() - t0
        start = dt.datetime.now(dt.timezone.utc)
        ids = [http.post("/v1/design-jobs", json=j).json()["id"] for j in jobs]
        done = wait(ids)
        end = max(dt.datetime.fromisoformat(j["finished_at"].replace("Z", "+00:00")) for j in done)
        seconds = (end - start).total_seconds()
        return {"name": name, "jobs": len(jobs), "seconds": seconds, "jobs_per_min": 60 * len(jobs) / seconds,
                "startup_and_warmup_s": warmup_s}
    finally:
        stop_group(server, signal.SIGINT)
        log.close()
        shutil.rmtree(data, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--shape", type=int, default=64)
    parser.add_argument("--target", default="tv")
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    jobs = [{"kind": "design", "target": {"kind": args.target}, "shape": [args.shape], "seed": s}
            for s in range(args.jobs)]
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {args.jobs} jobs "
          f"(design, target {args.target}, shape [{args.shape}], seeds 0..{args.jobs - 1})", flush=True)
    results = [run_config("local, 1 worker", 1, jobs, {}), run_config("local, 2 workers", 2, jobs, {})]
    for r in results:
        print(f"{r['name']:<18} {r['jobs_per_min']:6.1f} jobs/min  ({r['seconds']:.1f} s; start-up + warm-up "
              f"{r['startup_and_warmup_s']:.1f} s)", flush=True)
    if not args.skip_ray:
        ray_proc, address, temp = start_ray(2)
        try:
            r = run_config("ray, 2 workers", 2, jobs, {"DESIGNER_EXECUTOR": "ray", "RAY_ADDRESS": address})
        finally:
            stop_group(ray_proc)
            shutil.rmtree(temp, ignore_errors=True)
        results.append(r)
        print(f"{r['name']:<18} {r['jobs_per_min']:6.1f} jobs/min  ({r['seconds']:.1f} s; start-up + warm-up "
              f"{r['startup_and_warmup_s']:.1f} s)", flush=True)
    base = results[0]["jobs_per_min"]
    print("ratios to local/1: " + ", ".join(f"{r['name']} {r['jobs_per_min'] / base:.2f}x" for r in results))
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
