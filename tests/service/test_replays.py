"""Retried submissions (same Idempotency-Key, same bytes) answered by the replay cache in front of
the route (app.jobs.replays): one job per key under a concurrent storm, the job's current state in
every reply, 409 for another body, keys per user, the database as the source of truth (a deleted
job's key creates a new job; a restarted server answers from the database)."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest

from tests.service.conftest import SMALL_DESIGN, Server, client

KEY = {"Idempotency-Key": "storm-1"}


@pytest.fixture(scope="module")
def server(tmp_path_factory, db_url):
    srv = Server(data_dir=tmp_path_factory.mktemp("replays"), database_url=db_url, workers=0)
    srv.tokens = {name: srv.add_user(name) for name in ("alice", "bob")}
    srv.start()
    yield srv
    srv.stop()


def answered_by_cache(server: Server) -> float:
    text = httpx.get(server.base_url + "/metrics").text
    return float(re.search(r"^designer_idempotent_replays_answered_total (\S+)$", text, re.M).group(1))


def design(seed: int) -> dict:
    return {**SMALL_DESIGN, "seed": seed}


async def storm(server: Server, token: str, body: bytes, n: int) -> list[httpx.Response]:
    headers = {**KEY, "Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=n)
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=60) as http:
        return await asyncio.gather(*(http.post("/v1/design-jobs", content=body, headers=headers) for _ in range(n)))


def test_concurrent_retries_create_one_job_and_replies_carry_its_current_state(server):
    alice = client(server, server.tokens["alice"])
    body = json.dumps(design(1)).encode()
    before = answered_by_cache(server)
    replies = asyncio.run(storm(server, server.tokens["alice"], body, 40))
    statuses = sorted(r.status_code for r in replies)
    assert statuses == [200] * 39 + [201]
    job_id = next(r.json()["id"] for r in replies if r.status_code == 201)
    assert {r.json()["id"] for r in replies} == {job_id}
    for r in replies:
        assert r.headers["location"] == f"/v1/design-jobs/{job_id}"
        assert (r.headers.get("idempotent-replayed") == "true") == (r.status_code == 200)
    # The retries waited for the first request's outcome instead of each running the route.
    assert answered_by_cache(server) - before >= 30

    # A replay is the job as GET shows it, byte for byte, and follows its state.
    before = answered_by_cache(server)
    again = alice.post("/v1/design-jobs", content=body, headers={**KEY, "Content-Type": "application/json"})
    assert again.status_code == 200 and again.content == alice.get(f"/v1/design-jobs/{job_id}").content
    assert alice.post(f"/v1/design-jobs/{job_id}/cancel").json()["status"] == "cancelled"
    cancelled = alice.post("/v1/design-jobs", content=body, headers={**KEY, "Content-Type": "application/json"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["finished_at"] is not None and again.json()["finished_at"] is None
    assert answered_by_cache(server) - before == 2

    # The same spec in other bytes goes through the route: the same job; another spec: 409.
    reordered = alice.post("/v1/design-jobs", json=dict(reversed(list(design(1).items()))), headers=KEY)
    assert reordered.status_code == 200 and reordered.json()["id"] == job_id
    other = alice.post("/v1/design-jobs", json=design(2), headers=KEY)
    assert other.status_code == 409 and other.json()["field"] == "Idempotency-Key" and job_id in other.json()["detail"]

    # Keys are per user: bob's identical retry storm is bob's own job, and alice's stays hers.
    bobs = asyncio.run(storm(server, server.tokens["bob"], body, 10))
    assert sorted(r.status_code for r in bobs) == [200] * 9 + [201]
    bob_job = {r.json()["id"] for r in bobs}
    assert len(bob_job) == 1 and job_id not in bob_job
    assert {r.json()["owner"] for r in bobs} == {"bob"}
    mine = alice.post("/v1/design-jobs", content=body, headers={**KEY, "Content-Type": "application/json"})
    assert mine.json()["id"] == job_id and mine.json()["owner"] == "alice"
    # A token the service does not know is refused, whatever was remembered for that body and key.
    stranger = client(server, "not-a-token").post("/v1/design-jobs", content=body,
                                                   headers={**KEY, "Content-Type": "application/json"})
    assert stranger.status_code == 401


def test_the_database_decides_deleted_jobs_and_restarts(server):
    alice = client(server, server.tokens["alice"])
    key = {"Idempotency-Key": "deleted-1", "Content-Type": "application/json"}
    body = json.dumps(design(3)).encode()
    first = alice.post("/v1/design-jobs", content=body, headers=key)
    assert alice.post("/v1/design-jobs", content=body, headers=key).json()["id"] == first.json()["id"]
    alice.post(f"/v1/design-jobs/{first.json()['id']}/cancel")
    assert alice.delete(f"/v1/design-jobs/{first.json()['id']}").status_code == 204
    # The job that key named is gone: the key now creates a new job, as the route decides.
    second = alice.post("/v1/design-jobs", content=body, headers=key)
    assert second.status_code == 201 and second.json()["id"] != first.json()["id"]
    assert alice.post("/v1/design-jobs", content=body, headers=key).json()["id"] == second.json()["id"]

    # A restarted server has an empty cache and answers from the database.
    server.stop()
    server.start()
    again = client(server, server.tokens["alice"]).post("/v1/design-jobs", content=body, headers=key)
    assert again.status_code == 200 and again.json()["id"] == second.json()["id"]
