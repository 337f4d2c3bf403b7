"""Crashes: a SIGKILLed server restarted on the same data directory loses no job."""

from __future__ import annotations

import os
import signal
import time

from tests.service.conftest import (
    LONG_DESIGN, RESUMABLE_DESIGN, SMALL_DESIGN, attempts_of, client, first_step_fraction, follow, wait_status,
)

#: Long enough to be killed mid-way, short enough to finish after the restart.
MEDIUM_DESIGN = {**SMALL_DESIGN, "budget": 60, "seed": 11}


def _wait_running(http, job_id: str, timeout: float = 120, fraction: float = 0.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"/v1/design-jobs/{job_id}").json()
        if job["status"] == "running" and job["progress"] is not None and (job["progress"].get("fraction") or 0) >= fraction:
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


def _wait_progress(http, job_id: str, fraction: float, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"/v1/design-jobs/{job_id}").json()
        assert job["status"] in ("queued", "running"), f"the job ended before it could be killed: {job}"
        if job["progress"] and job["progress"]["fraction"] >= fraction:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never reached progress {fraction}: {job}")


def test_killed_worker_job_is_requeued_at_once_and_resumes_from_its_checkpoint(make_server):
    # A lease far longer than the test: only the supervisor seeing the death can requeue in time.
    server = make_server(workers=1, DESIGNER_LEASE_SECONDS="600").start()
    http = client(server)
    job = http.post("/v1/design-jobs", json=RESUMABLE_DESIGN).json()
    killed_at = _wait_progress(http, job["id"], 0.6)["progress"]["fraction"]  # most steps done and saved
    (pid,) = server.worker_pids().values()
    os.kill(pid, signal.SIGKILL)
    done = wait_status(http, job["id"], {"succeeded", "failed", "cancelled"}, timeout=300)
    assert done["status"] == "succeeded" and done["attempt"] == 2, done

    events = follow(server, job["id"])
    requeued = [e["data"]["data"] for e in events if e["event"] == "status" and e["data"]["data"]["status"] == "queued"]
    assert len(requeued) == 2 and "died" in requeued[1]["reason"], requeued  # not "stopped renewing its lease"
    attempts = attempts_of(events)
    assert "resumed_from_attempt" not in attempts[1]["running"]
    assert attempts[2]["running"]["resumed_from_attempt"] == 1
    # A restart would report its first step at attempt 1's first fraction again; the resumed
    # attempt's first computed step comes after the steps it found in the checkpoint.
    assert 0 < first_step_fraction(attempts[1]) < killed_at
    assert first_step_fraction(attempts[2]) > killed_at, attempts[2]
    job_dir = server.data_dir / "jobs" / job["id"]
    assert sorted(p.name for p in job_dir.iterdir()) == ["output"]


def test_cancel_while_the_worker_cannot_stop_ends_the_worker_and_the_next_job_runs(make_server):
    # The supervisor's termination after the grace period is out of reach: the worker itself ends.
    # The long design samples 1,024 points of d = 1,024: past its screening steps (progress 0.6),
    # each knob fit runs for seconds with no step boundary inside, against the worker's half-second
    # stop limit.
    server = make_server(workers=1, DESIGNER_CANCEL_GRACE_SECONDS="600").start()
    http = client(server)
    job = http.post("/v1/design-jobs", json={**LONG_DESIGN, "seed": 13}).json()
    _wait_running(http, job["id"], fraction=0.6)
    first_pid = set(server.worker_pids().values())
    http.post(f"/v1/design-jobs/{job['id']}/cancel")
    done = wait_status(http, job["id"], {"succeeded", "failed", "cancelled"}, timeout=120)
    assert done["status"] == "cancelled" and done["error"] is None, done
    assert not (server.data_dir / "jobs" / job["id"]).exists() or not list((server.data_dir / "jobs" / job["id"]).iterdir())
    after = http.post("/v1/design-jobs", json={**SMALL_DESIGN, "seed": 12}).json()
    assert wait_status(http, after["id"], {"succeeded", "failed", "cancelled"})["status"] == "succeeded"
    assert "did not stop within 0.5 s (compiling?); ending the worker process" in server.log()
    assert "exited (code 3)" in server.log()
    assert set(server.worker_pids().values()).isdisjoint(first_pid)  # a fresh worker ran the next job


def test_queued_job_cancelled_after_a_killed_attempt_leaves_no_directory(make_server):
    server = make_server(workers=1).start()
    http = client(server)
    job = http.post("/v1/design-jobs", json={**RESUMABLE_DESIGN, "seed": 3}).json()
    _wait_progress(http, job["id"], 0.6)
    server.kill(group=True)  # everything dies: the checkpoint stays in attempt-1.tmp
    job_dir = server.data_dir / "jobs" / job["id"]
    assert [p.name for p in job_dir.iterdir()] == ["attempt-1.tmp"]
    assert (job_dir / "attempt-1.tmp" / "design_state.json").is_file()
    server.workers = 0  # the reaper requeues the job when its lease expires; nobody runs it
    server.start()
    http = client(server)
    wait_status(http, job["id"], {"queued"}, timeout=60)
    assert http.post(f"/v1/design-jobs/{job['id']}/cancel").json()["status"] == "cancelled"
    assert list(job_dir.iterdir()) == []
