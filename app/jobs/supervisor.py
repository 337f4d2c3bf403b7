"""Runs in the API process: keeps N worker processes alive and reaps what they leave behind.

A small loop service (after Prefect's loop services): every ``reaper_interval_seconds`` it

1. respawns dead workers and requeues their jobs at once (it wakes up when a worker exits);
2. renews the leases of its live workers' jobs, and requeues jobs whose lease expired (any
   worker, any server sharing the database), or fails them with ``worker_lost`` after the last
   attempt;
3. terminates a worker whose job ignored a cancel request for ``cancel_grace_seconds``, or ran
   past its time limit plus the grace period, and settles the job itself.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import multiprocessing.connection
import os
import secrets
import threading
from dataclasses import dataclass, field

from app.core.config import Settings
from app.core.db import Database, locked_now, private_dir, utcnow
from app.jobs import repository, service, storage
from app.jobs.schemas import TERMINAL_STATUSES
from app.jobs.worker import worker_main

log = logging.getLogger("app.supervisor")


@dataclass
class _WorkerHandle:
    worker_id: str
    process: multiprocessing.process.BaseProcess
    started: dt.datetime = field(default_factory=utcnow)


class Supervisor:
    """Owns the worker processes of this server and the lease reaper."""

    def __init__(self, settings: Settings, database: Database):
        self.settings = settings
        self.db = database
        self.ctx = multiprocessing.get_context("spawn")
        self.shutdown_event = self.ctx.Event()
        self.workers: list[_WorkerHandle] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._prefix = "w-" + secrets.token_hex(4)
        self._count = 0
        self.reaped_total = 0
        self.requeued_total = 0
        self.terminated_total = 0

    # -- lifecycle --

    def start(self) -> None:
        os.chmod(private_dir(self.settings.jobs_dir), 0o700)  # also when an older version made it
        for _ in range(self.settings.workers):
            self.workers.append(self._spawn())
        self._thread = threading.Thread(target=self._loop, name="supervisor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.shutdown_event.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        for handle in self.workers:
            handle.process.join(timeout=timeout)
            if handle.process.is_alive():
                handle.process.terminate()
                handle.process.join(timeout=2)

    def alive_workers(self) -> int:
        return sum(1 for h in self.workers if h.process.is_alive())

    def worker_pids(self) -> list[int]:
        return [h.process.pid for h in self.workers if h.process.pid is not None]

    # -- internals --

    def _spawn(self) -> _WorkerHandle:
        self._count += 1
        worker_id = f"{self._prefix}-{self._count}"
        process = self.ctx.Process(
            target=worker_main, args=(worker_id, self.settings.model_dump_json(), self.shutdown_event),
            name=f"designer-worker-{self._count}", daemon=True,
        )
        process.start()
        log.info("spawned worker %s (pid %s)", worker_id, process.pid)
        return _WorkerHandle(worker_id, process)

    def _loop(self) -> None:
        while not self._stop.is_set():
            # Wake up at once when a worker process ends (its sentinel), else every interval.
            multiprocessing.connection.wait([h.process.sentinel for h in self.workers],
                                            timeout=self.settings.reaper_interval_seconds)
            if self._stop.is_set():
                return
            try:
                self.tick()
            except Exception:
                log.exception("supervisor tick failed")
                self._stop.wait(self.settings.reaper_interval_seconds)

    def tick(self) -> None:
        """One round of respawn (requeueing the dead worker's job at once), reap, enforce."""
        for i, handle in enumerate(self.workers):
            if not handle.process.is_alive() and not self._stop.is_set():
                log.warning("worker %s exited (code %s); respawning", handle.worker_id, handle.process.exitcode)
                self._requeue_jobs_of(handle)  # first: starting a process takes a while
                self.workers[i] = self._spawn()
        self._renew()
        self._reap()
        self._enforce()

    def _renew(self) -> None:
        """Renew the leases of this server's live workers' jobs.

        A worker renews its own lease, but a busy machine can starve it (workers run at nice
        19) past its lease while it is alive and working; this process sees it alive. A lease
        therefore expires only when this server is gone too: the case it exists for.
        """
        alive = [h.worker_id for h in self.workers if h.process.is_alive()]
        with self.db.transaction() as session:
            until = locked_now(session) + dt.timedelta(seconds=self.settings.lease_seconds)
            repository.renew_leases(session, alive, until)

    def _requeue_jobs_of(self, handle: _WorkerHandle) -> None:
        """The job of a worker that died goes back to the queue now, not when its lease expires."""
        ended = []
        with self.db.transaction() as session:
            for job in repository.held_jobs(session, handle.worker_id):
                log.warning("worker %s died running job %s; attempt %d of %d",
                            handle.worker_id, job.id, job.attempt, job.max_attempts)
                service.requeue_or_fail(
                    session, job, f"worker {handle.worker_id} died (exit code {handle.process.exitcode})")
                self.requeued_total += 1
                if job.status in TERMINAL_STATUSES:
                    ended.append(job.id)
        for job_id in ended:
            storage.remove_attempts(self.settings, job_id)

    def _reap(self) -> None:
        ended = []
        with self.db.transaction() as session:
            for job in repository.expired_leases(session, locked_now(session)):
                log.warning("lease of job %s (worker %s) expired; attempt %d of %d",
                            job.id, job.lease_owner, job.attempt, job.max_attempts)
                service.requeue_or_fail(session, job, f"worker {job.lease_owner} stopped renewing its lease")
                self.reaped_total += 1
                if job.status in TERMINAL_STATUSES:
                    ended.append(job.id)
        for job_id in ended:
            storage.remove_attempts(self.settings, job_id)

    def _enforce(self) -> None:
        by_id = {h.worker_id: h for h in self.workers}
        now = utcnow()
        grace = dt.timedelta(seconds=self.settings.cancel_grace_seconds)
        with self.db.reading() as session:
            jobs = repository.active_jobs_of(session, list(by_id))
        for job in jobs:
            if job.status == "cancelling" and job.cancel_requested_at and now > job.cancel_requested_at + grace:
                self._terminate(by_id[job.lease_owner], job.id, "cancelled", None,
                                f"terminated: the job did not stop within {self.settings.cancel_grace_seconds:g} s of the cancel request")
            elif job.started_at and now > job.started_at + dt.timedelta(seconds=job.time_limit_seconds) + grace:
                self._terminate(by_id[job.lease_owner], job.id, "failed", "timeout",
                                f"the job exceeded its time limit of {job.time_limit_seconds:g} s and was terminated")

    def _terminate(self, handle: _WorkerHandle, job_id: str, status: str, code: str | None, message: str) -> None:
        log.warning("terminating worker %s (pid %s) running job %s", handle.worker_id, handle.process.pid, job_id)
        handle.process.terminate()
        handle.process.join(timeout=5)
        if handle.process.is_alive():
            handle.process.kill()
            handle.process.join(timeout=5)
        self.terminated_total += 1
        with self.db.transaction() as session:
            job = repository.held_by(session, job_id, handle.worker_id)
            if job is not None:
                service.finish(session, job, status, error_code=code, error_message=message if code else None)
        storage.remove_attempts(self.settings, job_id)
        idx = self.workers.index(handle)
        if not self._stop.is_set():
            self.workers[idx] = self._spawn()
