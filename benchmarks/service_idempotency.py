"""Benchmark: 1,000 parallel submissions with duplicated Idempotency-Keys.

Checks that exactly the distinct jobs are created, that every duplicate got the first job,
and that no request failed (no "database is locked"); reports the wall time and throughput.

    python benchmarks/service_idempotency.py [--requests 1000] [--distinct 250] [--concurrency 100]
                                             [--database sqlite|postgresql]

The retry storm (goal: under 2 s in all, one job created):

    python benchmarks/service_idempotency.py --requests 500 --distinct 1 --concurrency 500
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_latency import database_env, start_server, stop_server  # noqa: E402


async def submit_all(base: str, requests: int, distinct: int, concurrency: int):
    sem = asyncio.Semaphore(concurrency)
    results: list[tuple[int, int, str | None]] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as http:
        async def one(i: int):
            key = i % distinct
            body = {"kind": "design", "target": {"kind": "l1"}, "shape": [8], "budget": 10, "seed": key}
            async with sem:
                r = await http.post("/v1/design-jobs", json=body, headers={"Idempotency-Key": f"key-{key}"})
            results.append((key, r.status_code, r.json().get("id") if r.status_code < 300 else r.text))

        await asyncio.gather(*(one(i) for i in range(requests)))
        listed = 0
        token = None
        while True:
            page = (await http.get("/v1/design-jobs", params={"page_size": 100, **({"page_token": token} if token else {})})).json()
            listed += len(page["items"])
            token = page["next_page_token"]
            if not token:
                break
    return results, listed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--distinct", type=int, default=250)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite",
                        help="postgresql: a throw-away cluster (unless DATABASE_URL is set)")
    args = parser.parse_args()
    with database_env(args.database):
        return measure(args)


def measure(args: argparse.Namespace) -> int:
    data_dir = tempfile.mkdtemp(prefix="designer-bench-")
    proc, base = start_server(data_dir, workers=0)
    try:
        t0 = time.perf_counter()
        results, listed = asyncio.run(submit_all(base, args.requests, args.distinct, args.concurrency))
        wall = time.perf_counter() - t0
    finally:
        stop_server(proc)
    ids = defaultdict(set)
    statuses = defaultdict(int)
    for key, status, job_id in results:
        statuses[status] += 1
        if status in (200, 201):
            ids[key].add(job_id)
    log = Path(data_dir, "server.log").read_text(errors="replace")
    db = "postgresql" if os.environ.get("DATABASE_URL") else "sqlite"
    ok = (len(ids) == args.distinct and all(len(v) == 1 for v in ids.values()) and listed == args.distinct
          and statuses.get(201, 0) == args.distinct and "database is locked" not in log)
    print(f"database={db} requests={args.requests} distinct_keys={args.distinct} concurrency={args.concurrency} "
          f"wall={wall:.2f}s throughput={args.requests / wall:.0f}/s statuses={dict(statuses)} "
          f"jobs_listed={listed} locked_errors={log.count('database is locked')} ok={ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
