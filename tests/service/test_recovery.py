"""Crashes: a SIGKILLed server restarted on the same data directory loses no job."""

from __future__ import annotations

import time

from tests.service.conftest import LONG_DESIGN, SMALL_DESIGN, client, wait_status

#: Long enough to be killed mid-way, short enough to finish after the restart.
MEDIUM_DESIGN = {**SMALL_DESIGN, "budget": 60, "seed": 11}


def _wait_running(http, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"/v1/design-jobs/{job_id}").json()
        if job["status"] == "running" and job["progress"] is not None:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never ran: {job}")


def test_sigkill_server_mid_job_then_restart_completes(make_server):
    server = make_server(workers=1).start()
    http = client(server)
    finished = http.post("/v1/design-jobs", json={**SMALL_DESIGN, "seed": 3}).json()
    wait_status(http, finished["id"], {"succeeded"})
    job = http.post("/v1/design-jobs", json=MEDIUM_DESIGN).json()
    _wait_running(http, job["id"])
    server.kill()
    server.stop()  # the orphaned worker gives the job back and exits; none may linger
    server.start()
    http = client(server)
    done = wait_status(http, job["id"], {"succeeded", "failed", "cancelled"})
    assert done["status"] == "succeeded", done
    assert done["attempt"] == 2
    assert http.get(f"/v1/design-jobs/{finished['id']}/result").status_code == 200


def test_crash_of_everything_is_recovered_by_the_lease_reaper(make_server):
    server = make_server(workers=1).start()
    http = client(server)
    job = http.post("/v1/design-jobs", json=MEDIUM_DESIGN).json()
    _wait_running(http, job["id"])
    server.kill(group=True)  # server and workers at once: nobody releases the lease
    server.start()
    done = wait_status(client(server), job["id"], {"succeeded", "failed", "cancelled"})
    assert done["status"] == "succeeded" and done["attempt"] == 2, done


def test_worker_lost_after_the_last_attempt(make_server):
    server = make_server(workers=1, DESIGNER_MAX_ATTEMPTS="1").start()
    http = client(server)
    job = http.post("/v1/design-jobs", json=LONG_DESIGN).json()
    _wait_running(http, job["id"])
    server.kill(group=True)
    server.start()
    done = wait_status(client(server), job["id"], {"succeeded", "failed", "cancelled"})
    assert done["status"] == "failed" and done["error"]["code"] == "worker_lost", done
    assert done["attempt"] == 1


def test_job_over_its_time_limit_fails_with_timeout(make_server):
    server = make_server(workers=1, DESIGNER_JOB_TIME_LIMIT_SECONDS="2").start()
    http = client(server)
    job = http.post("/v1/design-jobs", json=LONG_DESIGN).json()
    done = wait_status(http, job["id"], {"succeeded", "failed", "cancelled"})
    assert done["status"] == "failed" and done["error"]["code"] == "timeout", done
