"""Chaos: 30 jobs while workers and the server are SIGKILLed again and again.

Every job must end succeeded, exactly once, under the id its first submission got, with no
attempt directory left behind, as long as fewer than ``max_attempts`` kills hit one job; and a
design attempt that took over a killed attempt's checkpoint must continue from it (its first
computed step comes later than a fresh start's).
"""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from tests.service.conftest import (
    RESUMABLE_DESIGN, SMALL_DESIGN, attempts_of, client, first_step_fraction, follow, new_database, wait_status,
)


@pytest.fixture(scope="module")
def db_url(request) -> str:
    """PostgreSQL only (the lab server's database): the recovery paths this test drives are the
    same code on SQLite, where tests/service/test_recovery.py runs each of them."""
    return new_database(request.getfixturevalue("postgres_server"))

JOBS = 30
MAX_ATTEMPTS = 5
#: Worker kills hit only jobs below this attempt, server kills at most two: at most four of the
#: five attempts of any job are used up by kills.
KILLABLE_ATTEMPT = 2
#: Kills of attempts that have saved steps (to show resumption), and of any running attempt
#: (at most one every RANDOM_KILL_SECONDS, so that attempts get the time to save steps).
CHECKPOINT_KILLS = 4
RANDOM_KILLS = 6
RANDOM_KILL_SECONDS = 3.0
#: The server is SIGKILLed alone after this many worker kills, and with its workers after that many.
SERVER_KILL_AFTER = {3: "server", 6: "everything"}


def spec(i: int) -> dict:
    # Every fifth job has five steps and compiles for seconds between them: the resumable ones.
    return {**RESUMABLE_DESIGN, "seed": i} if i % 5 == 0 else {**SMALL_DESIGN, "seed": 100 + i}


@pytest.mark.slow
def test_no_job_is_lost_duplicated_stuck_or_failed_under_repeated_sigkill(make_server):
    server = make_server(workers=2, DESIGNER_MAX_ATTEMPTS=str(MAX_ATTEMPTS)).start()
    http = client(server)
    keys = [f"chaos-{i}" for i in range(JOBS)]
    ids = [http.post("/v1/design-jobs", json=spec(i), headers={"Idempotency-Key": keys[i]}).json()["id"]
           for i in range(JOBS)]
    rng = random.Random(0)
    old_servers = []
    checkpoint_kills = random_kills = 0
    server_kills: set[int] = set()
    last_random = time.monotonic()
    deadline = time.monotonic() + 900
    try:
        while time.monotonic() < deadline:
            jobs = server.leases()
            if all(j["status"] in ("succeeded", "failed", "cancelled") for j in jobs.values()):
                break
            kills = checkpoint_kills + random_kills
            if kills in SERVER_KILL_AFTER and kills not in server_kills:
                server_kills.add(kills)
                old_servers.append(server.proc)
                server.kill(group=SERVER_KILL_AFTER[kills] == "everything")
                server.start()
                http = client(server)
                # Resubmitting after the crash returns the jobs already there, never new ones.
                again = [http.post("/v1/design-jobs", json=spec(i), headers={"Idempotency-Key": keys[i]})
                         for i in range(JOBS)]
                assert [r.status_code for r in again] == [200] * JOBS
                assert [r.json()["id"] for r in again] == ids
                continue
            pids = server.worker_pids()
            running = [j for j in jobs.values()
                       if j["status"] == "running" and j["lease_owner"] in pids and j["attempt"] <= KILLABLE_ATTEMPT]
            saved = [j for j in running if (j["progress_fraction"] or 0) >= 0.4]  # two steps saved
            victim = None
            if saved and checkpoint_kills < CHECKPOINT_KILLS:
                victim, checkpoint_kills = rng.choice(saved), checkpoint_kills + 1
            elif running and random_kills < RANDOM_KILLS and time.monotonic() - last_random > RANDOM_KILL_SECONDS:
                victim, random_kills, last_random = rng.choice(running), random_kills + 1, time.monotonic()
            if victim is not None:
                try:
                    os.kill(pids[victim["lease_owner"]], signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)

        done = {job_id: wait_status(http, job_id, {"succeeded", "failed", "cancelled"}, timeout=300) for job_id in ids}
        assert {d["status"] for d in done.values()} == {"succeeded"}, [d for d in done.values() if d["status"] != "succeeded"]
        assert random_kills >= 3 and checkpoint_kills >= 1 and len(server_kills) == 2, (random_kills, checkpoint_kills)
        listed = http.get("/v1/design-jobs", params={"page_size": 100}).json()["items"]
        assert sorted(j["id"] for j in listed) == sorted(ids)  # nothing duplicated

        resumed = 0
        for job_id in ids:
            events = follow(server, job_id, timeout=60)
            seqs = [int(e["id"]) for e in events]
            assert seqs == sorted(set(seqs))
            finals = [e for e in events if e["event"] == "status" and e["data"]["data"]["status"] in ("succeeded", "failed", "cancelled")]
            assert len(finals) == 1 and finals[0]["data"]["data"]["status"] == "succeeded"
            assert http.get(f"/v1/design-jobs/{job_id}/result").status_code == 200
            assert sorted(p.name for p in (server.data_dir / "jobs" / job_id).iterdir()) == ["output"]
            attempts = attempts_of(events)
            fresh = first_step_fraction(attempts[1]) if 1 in attempts else None
            for number, attempt in attempts.items():
                if "resumed_from_attempt" in attempt["running"]:
                    assert attempt["running"]["resumed_from_attempt"] < number
                    first = first_step_fraction(attempt)
                    if fresh is not None and first is not None:
                        assert first > fresh, (job_id, number, attempts)  # fewer steps recomputed
                        resumed += 1
        assert resumed >= 1
    finally:
        for proc in old_servers:  # orphaned workers of killed servers
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
