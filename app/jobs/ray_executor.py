"""The Ray executor: jobs run as Ray tasks on a Ray cluster; the database stays the truth.

With ``DESIGNER_EXECUTOR=ray`` and ``RAY_ADDRESS``, each worker process of the supervisor is a
Ray *driver*: it claims a job with a lease exactly like a local worker, keeps renewing the lease
from its heartbeat thread, and instead of running :func:`designer.jobs.run_job` itself submits it
as a Ray task (``num_cpus``/``num_gpus`` from the settings, so a GPU job lands on a GPU node) and
waits. Status, progress, results and recovery go through the database as before:

- **progress** — the task cannot reach the service's database (SQLite is a local file), so it
  sends its reports to a small :class:`ProgressChannel` actor owned by this worker; the worker
  drains the channel every 0.25 s and records the reports (rate-limited as for local jobs);
- **cancellation** — when the job's status turns ``cancelling`` (or its time limit passes, or the
  service stops), the worker raises the cooperative flag in the channel, which the task polls
  (``should_cancel``), then ``ray.cancel`` interrupts a task that has not stopped after
  ``COOPERATIVE_STOP_SECONDS``; the supervisor's grace-period termination of this process still
  applies, and Ray cancels the tasks of a driver that exits;
- **results** — the task runs in a temporary directory on its node and returns the result and
  its artifact files; the worker writes them into the attempt directory and publishes them with
  the same atomic rename as a local job;
- **recovery** — a lost Ray node or task worker requeues the job (one attempt used); a dead
  driver stops renewing its lease and the reaper requeues the job, as for local workers.

Importing this module imports neither ``ray`` nor ``designer``: the API process never does.
"""

from __future__ import annotations

import logging
import os
import pathlib
import threading
import time
import traceback
from typing import Any, Callable

from app.core.config import Settings
from app.jobs.worker import SINGLE_THREAD_ENV, SINGLE_THREAD_XLA_FLAG, Worker, _Attempt

log = logging.getLogger("app.ray")

#: How long the task may take to stop at its next step before ``ray.cancel`` interrupts it.
COOPERATIVE_STOP_SECONDS = 2.0
#: How often the worker drains progress and the task looks at the cancel flag.
POLL_SECONDS = 0.25


class ProgressChannel:
    """The callback channel between a job's Ray task and the worker that holds its lease.

    One actor per worker process (``num_cpus=0``). Keys are ``"<job id>/<attempt>"`` so a late
    report of an earlier attempt never lands on the next one.
    """

    MAX_PENDING = 64

    def __init__(self) -> None:
        self._reports: dict[str, list[dict[str, Any]]] = {}
        self._cancelled: set[str] = set()

    def report(self, key: str, report: dict[str, Any]) -> None:
        pending = self._reports.setdefault(key, [])
        pending.append(report)
        del pending[:-self.MAX_PENDING]

    def drain(self, key: str) -> list[dict[str, Any]]:
        return self._reports.pop(key, [])

    def cancel(self, key: str) -> None:
        self._cancelled.add(key)

    def is_cancelled(self, key: str) -> bool:
        return key in self._cancelled

    def forget(self, key: str) -> None:
        self._reports.pop(key, None)
        self._cancelled.discard(key)


def run_job_task(spec: dict[str, Any], key: str, channel: Any) -> dict[str, Any]:
    """Body of the Ray task: run :func:`designer.jobs.run_job` on this node.

    Returns ``{"outcome": "succeeded", "result", "artifacts", "files": {name: bytes}}``, or
    ``{"outcome": "cancelled"}``, or ``{"outcome": "failed", "code", "message"}``: errors are
    values, so the driver needs neither ``designer`` nor JAX to understand them.
    """
    import tempfile

    import ray
    from designer.errors import DesignerInputError, NumericalFailure
    from designer.jobs import JobCancelled, run_job

    cancelled = threading.Event()
    finished = threading.Event()

    def watch_cancel() -> None:
        while not finished.wait(POLL_SECONDS):
            try:
                if ray.get(channel.is_cancelled.remote(key), timeout=10):
                    cancelled.set()
                    return
            except Exception:  # the driver (and its actor) went away: stop at the next step
                cancelled.set()
                return

    def progress(report: dict[str, Any]) -> None:
        channel.report.remote(key, dict(report))  # fire and forget

    watcher = threading.Thread(target=watch_cancel, name="designer-cancel-watch", daemon=True)
    watcher.start()
    try:
        with tempfile.TemporaryDirectory(prefix="designer-ray-") as tmp:
            workdir = pathlib.Path(tmp)
            try:
                output = run_job(spec, workdir=workdir, progress=progress, should_cancel=cancelled.is_set)
            except JobCancelled:
                return {"outcome": "cancelled"}
            except DesignerInputError as exc:
                return {"outcome": "failed", "code": "invalid_input", "message": f"{exc.field}: {exc.message}"}
            except NumericalFailure as exc:
                return {"outcome": "failed", "code": "numerical_failure", "message": str(exc) or type(exc).__name__}
            except Exception as exc:
                return {"outcome": "failed", "code": "internal", "message": f"{type(exc).__name__}: {exc}"[:2000],
                        "traceback": traceback.format_exc()}
            names = [str(n) for n in output.get("artifacts", [])]
            files = {n: (workdir / n).read_bytes() for n in names if (workdir / n).is_file()}
            return {"outcome": "succeeded", "result": output["result"], "artifacts": names, "files": files}
    finally:
        finished.set()


def task_gpus(spec: dict[str, Any], settings: Settings) -> float:
    """GPUs a job's Ray task asks for: the job's own ``gpus``, at least the service default."""
    return max(float(spec.get("gpus") or 0.0), settings.ray_num_gpus)


def task_runtime_env(settings: Settings, num_gpus: float) -> dict[str, Any]:
    """Environment of the task's Ray worker process, set before it imports JAX.

    The same single-threaded compute as a local worker (``worker_single_threaded``), and JAX on
    CPU unless the task holds a GPU (Ray sets ``CUDA_VISIBLE_DEVICES`` for GPU tasks).
    """
    env: dict[str, str] = {}
    if settings.worker_single_threaded:
        env.update(SINGLE_THREAD_ENV)
        env["XLA_FLAGS"] = SINGLE_THREAD_XLA_FLAG
    if num_gpus <= 0:
        env["JAX_PLATFORMS"] = "cpu"
    for name in ("DESIGNER_JAX_CACHE",):
        if name in os.environ:
            env[name] = os.environ[name]
    return {"env_vars": env}


class RayWorker(Worker):
    """A worker that holds leases here and runs the jobs as Ray tasks."""

    # The task runs in a temporary directory on its node: no checkpoint here to resume from.
    resumes_in_workdir = False
    # ``ray.cancel`` interrupts a task that does not stop (this process stays).
    hard_stop = False

    def __init__(self, worker_id: str, settings: Settings, shutdown: Any = None):
        super().__init__(worker_id, settings, shutdown)
        self._ray: Any = None
        self._remote_task: Any = None
        self._channel: Any = None

    def _connect(self) -> Any:
        if self._ray is None:
            import ray

            ray.init(address=self.settings.ray_address, namespace="designer", log_to_driver=False,
                     logging_level=logging.WARNING, configure_logging=False)
            self._remote_task = ray.remote(run_job_task)
            self._channel = ray.remote(ProgressChannel).options(num_cpus=0, max_concurrency=4).remote()
            self._ray = ray
            log.info("%s: connected to Ray at %s (resources %s)", self.worker_id, self.settings.ray_address,
                     ray.cluster_resources())
        return self._ray

    def run_forever(self) -> None:
        # Connect before claiming anything: a job's lease and cancel grace should not be spent
        # on connecting (several seconds), and with no cluster the jobs stay queued.
        while not self._stopping() and self._parent_alive():
            try:
                self._connect()
                break
            except Exception as exc:
                log.error("%s: cannot reach the Ray cluster at %s (%s); retrying", self.worker_id,
                          self.settings.ray_address, exc)
                time.sleep(max(self.settings.worker_poll_seconds, 5.0))
        super().run_forever()

    def _run(self, state: _Attempt, spec: dict[str, Any], workdir) -> tuple[tuple | None, dict[str, Any] | None]:
        try:
            ray = self._connect()
        except Exception as exc:
            log.error("%s: cannot reach the Ray cluster at %s: %s", self.worker_id, self.settings.ray_address, exc)
            time.sleep(self.settings.worker_poll_seconds)
            return ("requeue", None, f"the Ray cluster at {self.settings.ray_address} is unreachable: {exc}"), None
        key = f"{state.job_id}/{state.attempt}"
        num_gpus = task_gpus(spec, self.settings)
        ref = self._remote_task.options(
            num_cpus=self.settings.ray_num_cpus, num_gpus=num_gpus, max_retries=0,
            runtime_env=task_runtime_env(self.settings, num_gpus), name=f"designer-job-{state.job_id}",
        ).remote(spec, key, self._channel)
        log.info("%s: job %s attempt %d runs as Ray task %s", self.worker_id, state.job_id, state.attempt,
                 ref.task_id().hex())
        try:
            reply = self._wait(ray, ref, key, state, self._progress_reporter(state))
        finally:
            self._channel.forget.remote(key)
        return self._outcome(reply, state, workdir)

    def _wait(self, ray: Any, ref: Any, key: str, state: _Attempt, progress: Callable[[dict], None]) -> Any:
        """Wait for the task, relaying its progress and our stop requests; returns its reply
        or the exception that ``ray.get`` raised."""
        stop_sent_at: float | None = None
        interrupted = False
        while True:
            ready, _ = ray.wait([ref], timeout=POLL_SECONDS)
            try:
                for report in ray.get(self._channel.drain.remote(key), timeout=30):
                    progress(report)
            except Exception:
                log.exception("%s: could not read progress of job %s", self.worker_id, state.job_id)
            if ready:
                break
            if state.should_stop():
                now = time.monotonic()
                if stop_sent_at is None:
                    self._channel.cancel.remote(key)
                    stop_sent_at = now
                elif not interrupted and now - stop_sent_at > COOPERATIVE_STOP_SECONDS:
                    log.warning("%s: job %s did not stop at its next step; ray.cancel", self.worker_id, state.job_id)
                    ray.cancel(ref)
                    interrupted = True
        try:
            return ray.get(ref)
        except Exception as exc:  # TaskCancelledError, WorkerCrashedError, NodeDiedError, ...
            return exc

    def _outcome(self, reply: Any, state: _Attempt, workdir) -> tuple[tuple | None, dict[str, Any] | None]:
        from ray.exceptions import TaskCancelledError

        if isinstance(reply, TaskCancelledError) or (isinstance(reply, dict) and reply["outcome"] == "cancelled"):
            return self._stopped_outcome(state), None
        if isinstance(reply, BaseException):
            if state.should_stop():
                return self._stopped_outcome(state), None
            log.error("%s: Ray task of job %s was lost: %r", self.worker_id, state.job_id, reply)
            return ("requeue", None, f"the Ray task was lost: {type(reply).__name__}"), None
        if reply["outcome"] == "failed":
            if reply.get("traceback"):
                log.error("%s: job %s crashed on Ray:\n%s", self.worker_id, state.job_id, reply["traceback"])
            return ("failed", reply["code"], reply["message"]), None
        workdir = pathlib.Path(workdir)
        for name, data in reply["files"].items():
            if pathlib.Path(name).name != name:
                return ("failed", "internal", f"the task returned a bad artifact name {name!r}"), None
            (workdir / name).write_bytes(data)
        return None, {"result": reply["result"], "artifacts": reply["artifacts"]}
