"""The worker process: claim a job with a lease, run it, heartbeat, publish, repeat.

Runs in a process spawned by :class:`app.jobs.supervisor.Supervisor`; it is the only place
(with the numerics pool) where ``designer`` and therefore JAX are imported. A heartbeat
thread renews the lease, notices cancellation requests, the job's time limit, and the death
of the API process (then the job goes back to the queue and the worker exits).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import multiprocessing
import os
import shutil
import threading
import time
import traceback
from typing import Any

from app.core.config import Settings
from app.core.db import Database, locked_now
from app.jobs import repository, service, storage
from app.jobs.schemas import TERMINAL_STATUSES

log = logging.getLogger("app.worker")


def _finite(value: Any) -> Any:
    """The result with NaN and infinities replaced by None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class _Attempt:
    """State shared between the job thread and the heartbeat thread of one attempt."""

    def __init__(self, job_id: str, attempt: int, deadline: float, workdir=None):
        self.job_id = job_id
        self.attempt = attempt
        self.deadline = deadline
        self.workdir = workdir
        #: Held while the attempt publishes and settles its outcome: a hard stop waits for it.
        self.finishing = threading.Lock()
        self.cancel_requested = threading.Event()
        self.timed_out = threading.Event()
        self.lease_lost = threading.Event()
        self.parent_gone = threading.Event()
        self.shutting_down = threading.Event()
        self.done = threading.Event()

    def should_stop(self) -> bool:
        return any(e.is_set() for e in (self.cancel_requested, self.timed_out, self.lease_lost,
                                        self.parent_gone, self.shutting_down))


class Worker:
    """One worker: a loop of claim → run → publish, identified by ``worker_id`` in leases.

    Stopping: a cancel request (or the time limit, or the service stopping) is seen by the
    heartbeat within ``STOP_POLL_SECONDS``; the job stops at its next step. A job that does not
    (XLA compiles for seconds, and a compilation cannot be interrupted) gets
    ``settings.cancel_stop_seconds``; then the heartbeat settles the job itself and the process
    exits (:meth:`_hard_stop`), and the supervisor starts a fresh worker.
    """

    #: Design jobs resume from the checkpoint an earlier attempt left in its directory.
    resumes_in_workdir = True
    #: Whether a job that ignores a stop request ends this process (see the class docstring).
    hard_stop = True

    def __init__(self, worker_id: str, settings: Settings, shutdown: Any = None):
        self.worker_id = worker_id
        self.settings = settings
        self.db = Database(settings)
        self.shutdown = shutdown  # a multiprocessing.Event set by the supervisor on stop
        self._parent = multiprocessing.parent_process()

    def _parent_alive(self) -> bool:
        return self._parent is None or self._parent.is_alive()

    def _stopping(self) -> bool:
        return self.shutdown is not None and self.shutdown.is_set()

    def run_forever(self) -> None:
        while not self._stopping():
            if not self._parent_alive():
                log.warning("%s: API process is gone; exiting", self.worker_id)
                return
            try:
                claimed = self.claim()
            except Exception:
                log.exception("%s: claim failed", self.worker_id)
                claimed = None
            if claimed is None:
                time.sleep(self.settings.worker_poll_seconds)
                continue
            self.run_job(*claimed)

    def claim(self) -> tuple[str, int, dict[str, Any], float, Any] | None:
        """Claim the oldest queued job; prepare its attempt directory (taking over the checkpoint
        of a killed attempt); the ``running`` event says which attempt it resumes."""
        with self.db.transaction() as session:
            now = locked_now(session)
            job = repository.claim_next(session, self.worker_id, now, now + dt.timedelta(seconds=self.settings.lease_seconds))
            if job is None:
                return None
            resume = self.resumes_in_workdir and job.kind == "design"
            workdir, resumed = storage.attempt_dir(self.settings, job.id, job.attempt, resume=resume)
            extra = {"resumed_from_attempt": resumed} if resumed is not None else {}
            service._status_event(session, job, **extra)
            return job.id, job.attempt, dict(job.spec), job.time_limit_seconds, workdir

    def run_job(self, job_id: str, attempt: int, spec: dict[str, Any], time_limit: float, workdir=None) -> None:
        state = _Attempt(job_id, attempt, time.monotonic() + time_limit, workdir)
        beat = threading.Thread(target=self._heartbeat, args=(state,), name=f"heartbeat-{job_id}", daemon=True)
        beat.start()
        try:
            self._execute(state, spec)
        finally:
            state.done.set()
            beat.join(timeout=self.settings.heartbeat_seconds + 5)

    def _heartbeat(self, state: _Attempt) -> None:
        """Every ``STOP_POLL_SECONDS``: look for a cancel request; every ``heartbeat_seconds``:
        renew the lease; a job that has not stopped ``cancel_stop_seconds`` after a stop request
        is stopped by ending this process."""
        next_renewal = time.monotonic() + self.settings.heartbeat_seconds
        stop_seen: float | None = None
        while not state.done.wait(min(self.settings.heartbeat_seconds, STOP_POLL_SECONDS)):
            if state.should_stop():
                stop_seen = stop_seen if stop_seen is not None else time.monotonic()
                if self.hard_stop and time.monotonic() - stop_seen > self.settings.cancel_stop_seconds:
                    self._hard_stop(state)
            if not self._parent_alive():
                state.parent_gone.set()
            if self._stopping():
                state.shutting_down.set()
            if time.monotonic() > state.deadline:
                state.timed_out.set()
            try:
                if time.monotonic() >= next_renewal:
                    next_renewal = time.monotonic() + self.settings.heartbeat_seconds
                    with self.db.transaction() as session:
                        status = repository.extend_lease(
                            session, state.job_id, self.worker_id,
                            locked_now(session) + dt.timedelta(seconds=self.settings.lease_seconds),
                        )
                else:
                    with self.db.reading() as session:
                        status = repository.status_if_held(session, state.job_id, self.worker_id)
            except Exception:
                log.exception("%s: heartbeat failed", self.worker_id)
                continue
            if status is None:
                state.lease_lost.set()
            elif status == "cancelling":
                state.cancel_requested.set()

    def _hard_stop(self, state: _Attempt) -> None:
        """Settle a job that did not stop at a step boundary, then end this process."""
        if not state.finishing.acquire(blocking=False):
            return  # the job is publishing or settling its own outcome right now
        status, code, message = self._stopped_outcome(state)
        log.warning("%s: job %s did not stop within %g s (compiling?); ending the worker process",
                    self.worker_id, state.job_id, self.settings.cancel_stop_seconds)
        try:
            if status != "lost":
                self._settle(state, status, code, message, None)
        except Exception:  # the lease expires and the reaper settles the job instead
            log.exception("%s: could not settle job %s", self.worker_id, state.job_id)
        finally:
            logging.shutdown()
            os._exit(HARD_STOP_EXIT_CODE)

    def _progress_reporter(self, state: _Attempt):
        last = {"at": 0.0, "stage": None}

        def progress(report: dict[str, Any]) -> None:
            now = time.monotonic()
            stage = report.get("stage")
            if stage == last["stage"] and now - last["at"] < self.settings.progress_min_interval_seconds:
                return
            last["at"], last["stage"] = now, stage
            try:
                with self.db.transaction() as session:
                    service.record_progress(session, state.job_id, self.worker_id, report)
            except Exception:
                log.exception("%s: could not record progress", self.worker_id)

        return progress

    def _run(self, state: _Attempt, spec: dict[str, Any], workdir) -> tuple[tuple | None, dict[str, Any] | None]:
        """Run the job here: ``(None, output)`` on success, else ``(outcome, None)``.

        The executor seam: :class:`app.jobs.ray_executor.RayWorker` overrides this to run the
        job as a Ray task while this process keeps the lease.
        """
        from designer.errors import DesignerInputError, NumericalFailure
        from designer.jobs import JobCancelled, run_job

        try:
            return None, run_job(spec, workdir=workdir, progress=self._progress_reporter(state), should_cancel=state.should_stop)
        except JobCancelled:
            return self._stopped_outcome(state), None
        except DesignerInputError as exc:
            return ("failed", "invalid_input", f"{exc.field}: {exc.message}"), None
        except NumericalFailure as exc:
            return ("failed", "numerical_failure", str(exc) or type(exc).__name__), None
        except Exception as exc:
            log.error("%s: job %s crashed:\n%s", self.worker_id, state.job_id, traceback.format_exc())
            return ("failed", "internal", f"{type(exc).__name__}: {exc}"[:2000]), None

    def _execute(self, state: _Attempt, spec: dict[str, Any]) -> None:
        workdir = state.workdir
        if workdir is None:
            workdir, _ = storage.attempt_dir(self.settings, state.job_id, state.attempt, resume=False)
        outcome, output = self._run(state, spec, workdir)
        with state.finishing:
            self._finish(state, outcome, output, workdir)

    def _finish(self, state: _Attempt, outcome, output, workdir) -> None:
        if outcome is None and state.lease_lost.is_set():
            outcome = ("lost", None, None)
        if outcome is None:
            try:
                result = _finite(output["result"])
                artifacts = storage.publish(self.settings, state.job_id, workdir, result, list(output.get("artifacts", [])))
            except Exception as exc:
                log.error("%s: publishing job %s failed:\n%s", self.worker_id, state.job_id, traceback.format_exc())
                outcome = ("failed", "internal", f"could not store the result: {type(exc).__name__}: {exc}"[:2000])
            else:
                self._settle(state, "succeeded", None, None, artifacts)
                return
        status, code, message = outcome
        if status == "lost":
            log.warning("%s: lease of job %s was taken over; dropping this attempt", self.worker_id, state.job_id)
            return
        if status != "requeue":  # a requeued job resumes from this directory's checkpoint
            shutil.rmtree(workdir, ignore_errors=True)
        self._settle(state, status, code, message, None)

    def _stopped_outcome(self, state: _Attempt) -> tuple[str, str | None, str | None]:
        if state.lease_lost.is_set():
            return ("lost", None, None)
        if state.timed_out.is_set():
            return ("failed", "timeout", f"the job exceeded its time limit of {self.settings.job_time_limit_seconds:g} s")
        if state.parent_gone.is_set() or state.shutting_down.is_set():
            return ("requeue", None, "the service stopped while the job was running")
        return ("cancelled", None, None)

    def _settle(self, state: _Attempt, status: str, code: str | None, message: str | None,
                artifacts: list[dict[str, Any]] | None) -> None:
        with self.db.transaction() as session:
            job = repository.held_by(session, state.job_id, self.worker_id)
            if job is None:
                log.warning("%s: job %s is no longer ours; result of this attempt dropped", self.worker_id, state.job_id)
                return
            if status == "requeue":
                if state.shutting_down.is_set() and not state.parent_gone.is_set():
                    job.attempt -= 1  # an orderly shutdown is not the job's fault
                service.requeue_or_fail(session, job, message or "requeued")
            elif status == "cancelled" and job.status != "cancelling":
                service.requeue_or_fail(session, job, "stopped without a cancel request")
            else:
                service.finish(session, job, status, error_code=code, error_message=message, artifacts=artifacts)
            ended = job.status in TERMINAL_STATUSES
        if ended and status != "succeeded":
            storage.remove_attempts(self.settings, state.job_id)


#: How often the heartbeat thread looks for a cancel request (one indexed read).
STOP_POLL_SECONDS = 0.25
#: Exit status of a worker that ended itself because its job did not stop (see Worker.hard_stop).
HARD_STOP_EXIT_CODE = 3

#: Environment that makes numerical libraries use one compute thread; read when they load.
SINGLE_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
SINGLE_THREAD_XLA_FLAG = "--xla_cpu_multi_thread_eigen=false"


def prepare_worker_process(settings: Settings) -> None:
    """Make a worker process yield the CPU to the API process.

    Jobs are throughput work and the API is latency work on the same cores: the worker lowers
    its own priority by ``settings.worker_nice`` (19 by default: CFS gives a nice-19 process
    1/70 of the weight of a nice-0 one, so a request preempts a job at once while an idle machine
    still gives the job every cycle; measured p99 53 ms at nice 19 vs 97 ms at nice 10), and with
    ``settings.worker_single_threaded`` keeps XLA's Eigen pool and BLAS to one thread, so two
    jobs occupy at most two runnable threads instead of one per core each. Must run before
    ``designer`` (JAX, numpy) is imported, as these libraries read the environment when they load.
    """
    if settings.worker_own_sched_group:
        # Linux applies nice only within a scheduling group (a session under autogroup): in the
        # server's session the workers yield to the API process but share one group weight with
        # it against every other session, PostgreSQL included. A session of their own, with that
        # group's niceness set too, makes them yield to the whole machine.
        try:
            os.setsid()
            with open("/proc/self/autogroup", "w") as fh:
                fh.write(str(settings.worker_nice))
        except OSError as exc:  # no autogroup (other kernels): the process nice below still applies
            log.warning("could not give the worker a scheduling group of its own: %s", exc)
    if settings.worker_nice:
        try:
            os.nice(settings.worker_nice)
        except OSError as exc:  # not fatal: the job still runs, only at normal priority
            log.warning("could not lower the worker's priority: %s", exc)
    if settings.worker_single_threaded:
        for name, value in SINGLE_THREAD_ENV.items():
            os.environ.setdefault(name, value)
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} {SINGLE_THREAD_XLA_FLAG}".strip()


def worker_main(worker_id: str, settings_json: str, shutdown: Any) -> None:
    """Entry point of a spawned worker process."""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s %(levelname)s [{worker_id}] %(name)s: %(message)s")
    settings = Settings.model_validate_json(settings_json)
    os.umask(0o077)  # job files are the user's data: owner-only, like the directories holding them
    prepare_worker_process(settings)
    log.info("worker %s started (pid %d, executor %s)", worker_id, os.getpid(), settings.executor)
    if settings.executor == "ray":
        from app.jobs.ray_executor import RayWorker

        RayWorker(worker_id, settings, shutdown).run_forever()
    else:
        Worker(worker_id, settings, shutdown).run_forever()
