"""Benchmark: parallel submissions with duplicated Idempotency-Keys (retry storms).

Checks that exactly the distinct jobs are created, that every duplicate got the first job,
and that no request failed (no "database is locked"); reports the wall time, the throughput,
and the CPU time the server process and the client used during the submissions (per request).

    python benchmarks/service_idempotency.py [--requests 1000] [--distinct 250] [--concurrency 100]
                                             [--database sqlite|postgresql] [--client raw|httpx]

The retry storm (goal: under 2 s in all, one job created):

    python benchmarks/service_idempotency.py --requests 500 --distinct 1 --concurrency 500

Clients: ``raw`` (default) opens ``--concurrency`` real HTTP/1.1 keep-alive connections at once
(asyncio, uvloop and httptools when installed) and sends each request as one POST on one of
them; ``httpx`` does the same through ``httpx.AsyncClient``, whose per-request CPU on the same
cores as the server is several times the server's own (see benchmarks/README.md). Either way
every request is a real HTTP request over loopback to ``designer serve``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_latency import Connection, cpu_seconds, database_env, start_server, stop_server  # noqa: E402


def job_body(key: int) -> dict:
    return {"kind": "design", "target": {"kind": "l1"}, "shape": [8], "budget": 10, "seed": key}


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- httpx client --------------------------------------------------------------------------------

async def submit_httpx(base: str, requests: int, distinct: int, concurrency: int) -> list[tuple[int, int, str]]:
    import httpx

    sem = asyncio.Semaphore(concurrency)
    results: list[tuple[int, int, str]] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as http:
        async def one(i: int):
            key = i % distinct
            async with sem:
                r = await http.post("/v1/design-jobs", json=job_body(key), headers={"Idempotency-Key": f"key-{key}"})
            results.append((key, r.status_code, r.text))

        await asyncio.gather(*(one(i) for i in range(requests)))
    return results


# --- raw client: asyncio protocol + httptools --------------------------------------------------

def _post_bytes(host: str, port: int, key: int) -> bytes:
    body = json.dumps(job_body(key)).encode()
    return (f"POST /v1/design-jobs HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Accept: application/json\r\nIdempotency-Key: key-{key}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


async def submit_raw(base: str, requests: int, distinct: int, concurrency: int) -> list[tuple[int, int, str]]:
    """``concurrency`` connections opened at once, the requests spread over them."""
    loop = asyncio.get_running_loop()
    host, port = base.removeprefix("http://").rsplit(":", 1)
    port = int(port)
    results: list[tuple[int, int, str]] = []

    async def lane(indices: range) -> None:
        _, conn = await loop.create_connection(Connection, host, port)
        try:
            for i in indices:
                key = i % distinct
                try:
                    status, text = await asyncio.wait_for(conn.request(_post_bytes(host, port, key)), 120)
                except Exception as exc:
                    results.append((key, 0, f"{type(exc).__name__}: {exc}"))
                    conn.transport.close()
                    _, conn = await loop.create_connection(Connection, host, port)
                    continue
                results.append((key, status, text))
        finally:
            conn.transport.close()

    lanes = min(concurrency, requests)
    await asyncio.gather(*(lane(range(j, requests, lanes)) for j in range(lanes)))
    return results


def run_client(kind: str, base: str, requests: int, distinct: int, concurrency: int):
    submit = submit_raw if kind == "raw" else submit_httpx
    try:
        import uvloop
    except ImportError:
        return asyncio.run(submit(base, requests, distinct, concurrency))
    return uvloop.run(submit(base, requests, distinct, concurrency))


def count_listed(base: str) -> int:
    import httpx

    listed, token = 0, None
    with httpx.Client(base_url=base, timeout=60) as http:
        while True:
            page = http.get("/v1/design-jobs", params={"page_size": 100, **({"page_token": token} if token else {})}).json()
            listed += len(page["items"])
            token = page["next_page_token"]
            if not token:
                return listed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--distinct", type=int, default=250)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw",
                        help="raw: asyncio + httptools connections (light); httpx: httpx.AsyncClient")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite",
                        help="postgresql: a throw-away cluster (unless DATABASE_URL is set)")
    args = parser.parse_args()
    with database_env(args.database):
        return measure(args)


def measure(args: argparse.Namespace) -> int:
    data_dir = tempfile.mkdtemp(prefix="designer-bench-")
    proc, base = start_server(data_dir, workers=0)
    try:
        time.sleep(1.0)  # let the server settle after readiness (background loading)
        server0, client0 = cpu_seconds(proc.pid), own_cpu_seconds()
        t0 = time.perf_counter()
        results = run_client(args.client, base, args.requests, args.distinct, args.concurrency)
        wall = time.perf_counter() - t0
        server_cpu, client_cpu = cpu_seconds(proc.pid) - server0, own_cpu_seconds() - client0
        listed = count_listed(base)
    finally:
        stop_server(proc)
    ids = defaultdict(set)
    statuses = defaultdict(int)
    errors: dict[str, int] = defaultdict(int)
    for key, status, text in results:
        statuses[status] += 1
        if status in (200, 201):
            ids[key].add(json.loads(text)["id"])
        else:
            errors[text[:120]] += 1
    log = Path(data_dir, "server.log").read_text(errors="replace")
    db = "postgresql" if os.environ.get("DATABASE_URL") else "sqlite"
    ok = (len(results) == args.requests and len(ids) == args.distinct and all(len(v) == 1 for v in ids.values())
          and listed == args.distinct and statuses.get(201, 0) == args.distinct
          and statuses.get(200, 0) == args.requests - args.distinct and "database is locked" not in log)
    n = args.requests
    print(f"database={db} client={args.client} requests={n} distinct_keys={args.distinct} "
          f"concurrency={args.concurrency} wall={wall:.2f}s throughput={n / wall:.0f}/s")
    print(f"jobs_created={statuses.get(201, 0)} jobs_listed={listed} replays={statuses.get(200, 0)} "
          f"statuses={dict(statuses)} errors={sum(errors.values())} locked_errors={log.count('database is locked')} "
          f"ok={ok}")
    if errors:
        print("error kinds: " + "; ".join(f"{c}x {t!r}" for t, c in list(errors.items())[:5]))
    print(f"cpu: server {server_cpu:.2f}s ({server_cpu / n * 1000:.2f} ms/request), client {client_cpu:.2f}s "
          f"({client_cpu / n * 1000:.2f} ms/request); load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} cores")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
