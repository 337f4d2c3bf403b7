"""Server time of the web pages next to the API's list endpoint, with many jobs in the database.

    python benchmarks/ui_pages.py                       # 10,000 jobs, SQLite, 200 rounds
    DATABASE_URL=postgresql://... python benchmarks/ui_pages.py --jobs 10000
    python benchmarks/ui_pages.py --jobs 500 --rounds 30  # a quick check that it runs

What it measures: the application in this process (``create_app``, no worker processes) called
through httpx's ASGI transport, so each time is the server's work for one request (routing,
session or token, database, template or JSON) without the network. The database gets ``--jobs``
jobs (90 % alice's, 10 % bob's; statuses, kinds, progress and names mixed, like a busy lab
server) and one succeeded job with a result document of ``--candidates`` ranked candidates and
a plot file. Each round requests every endpoint once, in a rotating order, so all of them see
the same machine; the first ``--warmup`` rounds are dropped. Reported: p50 and p99 per endpoint
and p50 relative to the API's ``GET /v1/design-jobs`` (alice, 25 a page) of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STATUSES = ["succeeded"] * 70 + ["failed"] * 10 + ["cancelled"] * 10 + ["queued"] * 5 + ["running"] * 5
TARGETS = ["l1", "tv", "lp", "nuclear", "schatten", "group_l21"]


def _result(candidates: int) -> dict:
    entries = [{
        "rank": i + 1, "id": f"hadamard/identity/d{2 + i % 3}/{m}", "description": f"Hadamard product of depth {2 + i % 3}, {m}",
        "family": "hadamard", "mechanism": m, "basis": "identity", "transform": "identity", "depth": 2 + i % 3,
        "knob": None, "fit_error": 1e-3 * (i + 1), "a": 1.0 + i, "b": 0.1,
        "param": {"family": "hadamard", "depth": 2 + i % 3, "dim": 64}, "mechanism_spec": {"kind": m, "strength": 1.0},
        "hyperparameters": {"weight_decay": 1.0 / (1.0 + i), "strength": 1.0},
    } for i, m in zip(range(candidates), ["weight_decay", "label_noise", "gauge"] * candidates)]
    return {"target": {"kind": "l1"}, "shape": [64], "mechanisms": ["weight_decay", "label_noise", "gauge"], "seed": 0,
            "strength": 1.0, "fit_error": entries[0]["fit_error"], "exact": False, "note": "benchmark document",
            "best": entries[0], "candidates": entries, "candidates_scored": len(entries), "plot": "design.png"}


def populate(settings, jobs: int, candidates: int, seed: int = 0) -> dict:
    """Users, ``jobs`` jobs and one succeeded job with its files; returns tokens and ids."""
    from sqlalchemy import insert

    from app.auth.repository import get_by_name
    from app.auth.service import create_user
    from app.core.db import Database
    from app.jobs.service import new_job_id
    from app.main import prepare_database
    from app.models import Job

    database = Database(settings)
    prepare_database(database)
    rng = random.Random(seed)
    with database.transaction() as session:
        tokens = {name: create_user(session, name, is_admin=name == "root") for name in ("alice", "bob", "root")}
        owners = {name: get_by_name(session, name).id for name in ("alice", "bob")}
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(jobs):
        status = rng.choice(STATUSES)
        created = start + dt.timedelta(seconds=37 * i)
        finished = created + dt.timedelta(seconds=60) if status in ("succeeded", "failed", "cancelled") else None
        kind = "design" if rng.random() < 0.9 else "reproduce"
        spec = ({"kind": "design", "name": f"run {i}", "target": {"kind": rng.choice(TARGETS)}, "shape": [64], "budget": 100, "seed": i}
                if kind == "design" else {"kind": "reproduce", "name": f"figure run {i}", "figure": "fig5"})
        rows.append({
            "id": new_job_id(), "owner_id": owners["alice"] if rng.random() < 0.9 else owners["bob"], "kind": kind,
            "spec": spec, "status": status, "attempt": 1, "max_attempts": 3, "time_limit_seconds": 3600.0,
            "progress_fraction": 1.0 if status == "succeeded" else rng.random(), "progress_stage": "screen",
            "progress_best_fit": rng.random() * 1e-2, "progress_updated_at": created, "error_code": "numerical_failure" if status == "failed" else None,
            "error_message": "singular Gram matrix" if status == "failed" else None, "created_at": created, "updated_at": created,
            "started_at": created, "finished_at": finished, "event_seq": 0, "artifacts": [],
        })
    with database.transaction() as session:
        for k in range(0, len(rows), 1000):
            session.execute(insert(Job), rows[k:k + 1000])
    # The job whose page is measured: succeeded, with a result document and a plot.
    job_id = new_job_id()
    out = settings.jobs_dir / job_id / "output"
    out.mkdir(parents=True)
    (out / "result.json").write_text(json.dumps(_result(candidates)))
    (out / "design.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(1000))
    now = start + dt.timedelta(seconds=37 * jobs)
    with database.transaction() as session:
        session.execute(insert(Job), [{
            "id": job_id, "owner_id": owners["alice"], "kind": "design",
            "spec": {"kind": "design", "name": "the measured one", "target": {"kind": "l1"}, "shape": [64]},
            "status": "succeeded", "attempt": 1, "max_attempts": 3, "time_limit_seconds": 3600.0, "progress_fraction": 1.0,
            "progress_stage": "done", "progress_best_fit": 1e-3, "progress_updated_at": now, "created_at": now, "updated_at": now,
            "started_at": now, "finished_at": now, "event_seq": 0,
            "artifacts": [{"name": "design.png", "media_type": "image/png", "size_bytes": 1008}],
        }])
    database.dispose()
    return {"tokens": tokens, "job_id": job_id}


async def measure(app, tokens: dict, job_id: str, rounds: int, warmup: int) -> dict[str, list[float]]:
    import httpx

    from app.auth.service import hash_token
    from app.ui.session import COOKIE, encode, new_session, secret

    key = secret(app.state.settings)
    cookies = {name: {COOKIE: encode(key, new_session(hash_token(tok), signed_in=True))} for name, tok in tokens.items()}
    transport = httpx.ASGITransport(app=app)
    base = "http://127.0.0.1"
    clients = {name: httpx.AsyncClient(transport=transport, base_url=base, cookies=cookies[name],
                                       headers={"Authorization": f"Bearer {tokens[name]}"}) for name in tokens}
    alice, root = clients["alice"], clients["root"]
    page = (await alice.get("/v1/design-jobs", params={"page_size": 25})).json()
    deep = page["next_page_token"] or ""
    while page["next_page_token"] is not None:  # a page token from deep in alice's history
        deep = page["next_page_token"]
        page = (await alice.get("/v1/design-jobs", params={"page_size": 100, "page_token": deep})).json()
    endpoints = {
        "API GET /v1/design-jobs (alice, 25)": (alice, "/v1/design-jobs?page_size=25"),
        "UI /ui/jobs (alice, 25)": (alice, "/ui/jobs"),
        "UI /ui/jobs deep page (alice)": (alice, f"/ui/jobs?page_token={deep}"),
        "UI /ui/jobs?status=failed&kind=reproduce": (alice, "/ui/jobs?status=failed&kind=reproduce"),
        "API GET /v1/design-jobs (admin, 25)": (root, "/v1/design-jobs?page_size=25"),
        "UI /ui/jobs (admin, 25)": (root, "/ui/jobs"),
        "UI /ui/jobs/{id} (succeeded, result)": (alice, f"/ui/jobs/{job_id}"),
        "API GET /v1/design-jobs/{id}": (alice, f"/v1/design-jobs/{job_id}"),
    }
    times: dict[str, list[float]] = {name: [] for name in endpoints}
    names = list(endpoints)
    for r in range(rounds + warmup):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            client, url = endpoints[name]
            t0 = time.perf_counter()
            response = await client.get(url)
            elapsed = time.perf_counter() - t0
            assert response.status_code == 200, (name, response.status_code, response.text[:300])
            if r >= warmup:
                times[name].append(elapsed)
    for client in clients.values():
        await client.aclose()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--candidates", type=int, default=200, help="candidates in the measured job's result")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()

    from app.core.config import Settings
    from app.main import create_app

    with tempfile.TemporaryDirectory(prefix="ui-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=os.environ.get("DATABASE_URL"))
        t0 = time.perf_counter()
        setup = populate(settings, args.jobs, args.candidates)
        fill_s = time.perf_counter() - t0
        app = create_app(settings, background=False)
        times = asyncio.run(measure(app, setup["tokens"], setup["job_id"], args.rounds, args.warmup))
        app.state.database.dispose()
    db = "postgresql" if settings.database_url else "sqlite"
    print(f"database={db} jobs={args.jobs} candidates={args.candidates} rounds={args.rounds} "
          f"(warm-up {args.warmup}) fill={fill_s:.1f}s cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f}")
    base = statistics.median(times["API GET /v1/design-jobs (alice, 25)"])
    print(f"{'endpoint':44s} {'p50 ms':>8s} {'p99 ms':>8s} {'p50 / API list':>15s}")
    for name, values in times.items():
        values = sorted(values)
        p50 = statistics.median(values)
        p99 = values[min(len(values) - 1, round(0.99 * (len(values) - 1)))]
        print(f"{name:44s} {1e3 * p50:8.2f} {1e3 * p99:8.2f} {p50 / base:14.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
