"""Benchmark: GET /v1/design-jobs/{id} at a steady 200 req/s for 30 s while two design jobs run.

Three processes (plus the job workers):

* the server: ``designer serve`` (as ``python -m app.server``) on a free loopback port (SQLite, or PostgreSQL when
  ``DATABASE_URL`` is set);
* the background jobs: two design jobs kept running the whole time. With ``designer.jobs``
  installed they are real jobs submitted through the API and run by the server's 2 workers
  (the queue is topped up if a job finishes). Without it (``--background standin``, chosen
  automatically) the server runs no workers and this script spawns two stand-in workers: the
  service's own :class:`app.jobs.worker.Worker` machinery (same process setup, claim, lease
  heartbeat, progress writes) running ``designer.design.design`` searches back to back;
* the load generator: a separate process (``--loadgen``), an open-loop asyncio client (uvloop and
  httptools when installed, keep-alive connections, a new connection whenever none is idle). A
  request is sent at each tick of a fixed schedule whatever the previous answers do, and its
  latency is measured from its *scheduled* time, so a stalled server cannot hide queueing delay
  (no coordinated omission). A request unanswered after ``--timeout`` seconds counts as an error.

Prints p50/p99/max latency, achieved rate, errors, the CPU time the server and the load generator
used, and how many design jobs were running at each second of the measurement.

    python benchmarks/service_latency.py [--rate 200] [--seconds 30] [--background auto|api|standin]
                                         [--database sqlite|postgresql]

The server inherits the environment: ``DESIGNER_WORKER_OWN_SCHED_GROUP=1`` runs its workers in a
scheduling group of their own (see README, "The service"); the line ``workers:`` says which.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DESIGN_REQUEST = {"target": {"kind": "l1"}, "shape": [64], "budget": 100000}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: str, workers: int, ready_path: str = "/readyz") -> tuple[subprocess.Popen, str]:
    """``designer serve`` (``python -m app.server``) on a free loopback port; returns once ``ready_path`` answers 200."""
    import httpx

    port = free_port()
    # What `designer serve` execs into, without loading the library's command line first.
    proc = subprocess.Popen([sys.executable, "-m", "app.server", "--port", str(port), "--data-dir", data_dir,
                             "--workers", str(workers)], cwd=ROOT,
                            stdout=open(os.path.join(data_dir, "server.log"), "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}; see {data_dir}/server.log")
        try:
            if httpx.get(base + ready_path, timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not become ready")


@contextlib.contextmanager
def database_env(kind: str):
    """``kind`` "postgresql": a throw-away PostgreSQL cluster (installed binaries), its URL in
    ``DATABASE_URL`` for the servers started inside; "sqlite": as the environment says."""
    if kind != "postgresql" or os.environ.get("DATABASE_URL"):
        yield os.environ.get("DATABASE_URL")
        return
    from tests.service.conftest import new_database, throwaway_postgres

    with throwaway_postgres() as admin:
        os.environ["DATABASE_URL"] = new_database(admin)
        try:
            yield os.environ["DATABASE_URL"]
        finally:
            del os.environ["DATABASE_URL"]


def stop_server(proc: subprocess.Popen) -> None:
    """SIGINT (graceful), then SIGKILL the server's process group if it does not exit in 30 s."""
    import signal

    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _proc_stats() -> dict[int, tuple[int, float]]:
    """{pid: (parent pid, user + system CPU seconds)} of every process (Linux /proc)."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    return out


def cpu_seconds(pid: int, stats: dict[int, tuple[int, float]] | None = None) -> float:
    """CPU time of a process."""
    stats = stats if stats is not None else _proc_stats()
    return stats[pid][1] if pid in stats else 0.0


def tree_cpu_seconds(root: int, stats: dict[int, tuple[int, float]]) -> float:
    """CPU time of a process and its living descendants."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, (0, 0.0))[1]
        todo.extend(children.get(pid, []))
    return total


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


# --- the load generator (its own process) --------------------------------------------------------

class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection (asyncio + httptools); one request in flight at a time.
    A request's outcome is ``(status, body text)``."""

    def __init__(self):
        import httptools

        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self.body: list[bytes] = []

    async def request(self, raw: bytes) -> tuple[int, str]:
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        try:
            self.parser.feed_data(data)
        except Exception as exc:  # httptools.HttpParserError
            self._fail(exc)

    def on_body(self, body: bytes):
        self.body.append(body)

    def on_message_complete(self):
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), b"".join(self.body).decode()))
        self.body = []
        if not self.parser.should_keep_alive():
            self.close()

    def connection_lost(self, exc):
        self.closed = True
        self._fail(exc or ConnectionError("connection closed"))

    def _fail(self, exc):
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    def close(self):
        self.closed = True
        if self.transport is not None:
            self.transport.close()


async def _load(host: str, port: int, path: str, rate: float, seconds: float, warmup: float, timeout: float) -> dict:
    loop = asyncio.get_running_loop()
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n"
               "User-Agent: service-latency-bench\r\n\r\n").encode()
    idle: list[Connection] = []
    opened = 0
    latencies: list[float] = []
    errors: dict[str, int] = {}

    def error(kind: str) -> None:
        errors[kind] = errors.get(kind, 0) + 1

    async def one(scheduled: float, measured: bool) -> None:
        nonlocal opened
        conn = None
        try:
            while idle:
                conn = idle.pop()
                if not conn.closed:
                    break
                conn = None
            if conn is None:
                _, conn = await asyncio.wait_for(loop.create_connection(Connection, host, port), timeout)
                opened += 1
            status, _ = await asyncio.wait_for(conn.request(request), scheduled + timeout - time.perf_counter())
        except (asyncio.TimeoutError, TimeoutError):
            if conn is not None:
                conn.close()
            if measured:
                error("timeout")
            return
        except Exception as exc:
            if conn is not None:
                conn.close()
            if measured:
                error(type(exc).__name__)
            return
        done = time.perf_counter()
        idle.append(conn)
        if measured:
            latencies.append(done - scheduled)
            if status != 200:
                error(f"http_{status}")

    tasks = []
    n_warm, n = int(rate * warmup), int(rate * seconds)
    start = time.perf_counter() + 0.05
    max_lag = 0.0
    for i in range(n_warm + n):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            max_lag = max(max_lag, -delay)
        tasks.append(asyncio.create_task(one(scheduled, i >= n_warm)))
    sent_end = time.perf_counter()
    await asyncio.gather(*tasks)
    measured_start = start + n_warm / rate
    ok = sorted(latencies)
    return {
        "requests": n, "answered": len(ok), "errors": sum(errors.values()), "error_kinds": errors,
        "sent_rate": n / (sent_end - measured_start), "schedule_max_lag_ms": max_lag * 1000,
        "connections_opened": opened, "latencies": ok,
    }


def loadgen_main(args: argparse.Namespace) -> int:
    """Entry point of the load-generator process: prints one JSON object."""
    import resource

    try:
        import uvloop

        uvloop.install()
        event_loop = "uvloop"
    except ImportError:
        event_loop = "asyncio"
    result = asyncio.run(_load(args.host, args.port, args.path, args.rate, args.seconds, args.warmup, args.timeout))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    result["event_loop"] = event_loop
    json.dump(result, sys.stdout)
    return 0


# --- background design jobs ----------------------------------------------------------------------

def standin_worker_main(worker_id: str, data_dir: str, seed: int, ids, stop) -> None:
    """A stand-in worker process (spawned): the service's worker, running design searches.

    Uses the same process preparation and :class:`~app.jobs.worker.Worker` plumbing as a real
    worker (claim with a lease, heartbeat thread, throttled progress writes), but the job body is
    ``designer.design.design`` run back to back until ``stop`` is set or the job is cancelled.
    """
    from app.core.config import Settings
    from app.jobs import worker as worker_module

    settings = Settings(data_dir=Path(data_dir))
    worker_module.prepare_worker_process(settings)

    class StandInWorker(worker_module.Worker):
        def _execute(self, state, spec):
            from designer.design import DesignCancelled, design

            request = {k: v for k, v in spec.items() if k != "kind"}
            ids.put(state.job_id)
            try:
                while not stop.is_set():
                    design(request, progress=self._progress_reporter(state), should_cancel=state.should_stop)
            except DesignCancelled:
                pass
            self._settle(state, "cancelled" if state.cancel_requested.is_set() else "requeue", None, "bench over", None)

    from app.auth import repository as auth_repository
    from app.auth.service import Principal
    from app.jobs import service

    w = StandInWorker(worker_id, settings)
    with w.db.transaction() as session:
        local = auth_repository.get_local_user(session)
        service.create_job(session, settings, Principal(local.id, local.name, True),
                           {"kind": "design", **DESIGN_REQUEST, "seed": seed}, None)
    claimed = w.claim()
    if claimed is not None:
        w.run_job(*claimed)


class Background:
    """Two design jobs running for the whole measurement; ``running`` is sampled each second."""

    def __init__(self, mode: str, base: str, data_dir: str, workers: int = 2):
        self.mode, self.base, self.data_dir, self.workers = mode, base, data_dir, workers
        self.job_ids: list[str] = []
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._procs = []

    def start(self, timeout: float = 180) -> None:
        import httpx

        self.http = httpx.Client(base_url=self.base, timeout=30)
        if self.mode == "standin":
            import multiprocessing

            ctx = multiprocessing.get_context("spawn")
            ids, self._mp_stop = ctx.Queue(), ctx.Event()
            for i in range(self.workers):
                p = ctx.Process(target=standin_worker_main, args=(f"bench-{i}", self.data_dir, i + 1, ids, self._mp_stop))
                p.start()
                self._procs.append(p)
            self.job_ids = [ids.get(timeout=timeout) for _ in self._procs]
        else:
            self.job_ids = [self._submit(seed) for seed in range(1, self.workers + 1)]
        deadline = time.monotonic() + timeout
        while self.running() < self.workers:
            if time.monotonic() > deadline:
                raise SystemExit("the design jobs did not start")
            time.sleep(0.2)
        self._thread = threading.Thread(target=self._keep, daemon=True)
        self._thread.start()

    def _submit(self, seed: int) -> str:
        r = self.http.post("/v1/design-jobs", json={"kind": "design", **DESIGN_REQUEST, "seed": seed})
        r.raise_for_status()
        return r.json()["id"]

    def running(self) -> int:
        page = self.http.get("/v1/design-jobs", params={"status": "running", "page_size": 100}).json()
        return len(page["items"])

    def _keep(self) -> None:
        """Sample the running count; in ``api`` mode keep a job queued behind each worker."""
        seed = 100
        while not self._stop.wait(1.0):
            try:
                self.samples.append(self.running())
                if self.mode == "api":
                    queued = self.http.get("/v1/design-jobs", params={"status": "queued", "page_size": 100}).json()
                    for _ in range(self.workers - len(queued["items"])):
                        seed += 1
                        self.job_ids.append(self._submit(seed))
            except Exception as exc:  # a sample lost is reported, not fatal
                print(f"background sampler: {exc}", file=sys.stderr)

    def stop(self) -> None:
        self._stop.set()
        for job_id in self.job_ids:
            try:
                self.http.post(f"/v1/design-jobs/{job_id}/cancel")
            except Exception:
                pass
        if self._procs:
            self._mp_stop.set()
            for p in self._procs:
                p.join(timeout=30)
                if p.is_alive():
                    p.terminate()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200, help="requests per second")
    parser.add_argument("--seconds", type=float, default=30, help="length of the measurement")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of the same load before measuring")
    parser.add_argument("--timeout", type=float, default=10, help="a request unanswered after this is an error")
    parser.add_argument("--background", choices=["auto", "api", "standin"], default="auto",
                        help="real jobs through the API, or stand-in workers (auto: api if designer.jobs exists)")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite",
                        help="postgresql: a throw-away cluster (unless DATABASE_URL is set)")
    parser.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        return loadgen_main(args)
    with database_env(args.database):
        return measure(args)


def measure(args: argparse.Namespace) -> int:

    mode = args.background
    if mode == "auto":
        mode = "api" if importlib.util.find_spec("designer.jobs") is not None else "standin"
    data_dir = tempfile.mkdtemp(prefix="designer-bench-")
    if mode == "standin":  # no workers, and readiness would wait for designer.jobs: liveness will do
        proc, base = start_server(data_dir, workers=0, ready_path="/healthz")
    else:
        proc, base = start_server(data_dir, workers=2)
    background = Background(mode, base, data_dir)
    try:
        background.start()
        target = background.job_ids[0]
        port = int(base.rsplit(":", 1)[1])
        stats0, busy0, wall0 = _proc_stats(), machine_busy_seconds(), time.monotonic()
        own0 = tree_cpu_seconds(proc.pid, stats0) + tree_cpu_seconds(os.getpid(), stats0)
        out = subprocess.run(
            [sys.executable, __file__, "--loadgen", "--port", str(port), "--path", f"/v1/design-jobs/{target}",
             "--rate", str(args.rate), "--seconds", str(args.seconds), "--warmup", str(args.warmup),
             "--timeout", str(args.timeout)],
            capture_output=True, text=True, check=True,
        )
        stats1, busy1, wall = _proc_stats(), machine_busy_seconds(), time.monotonic() - wall0
        server_cpu = cpu_seconds(proc.pid, stats1) - cpu_seconds(proc.pid, stats0)
        jobs_cpu = (tree_cpu_seconds(proc.pid, stats1) + tree_cpu_seconds(os.getpid(), stats1) - own0
                    - server_cpu)  # workers (api) or stand-ins, and this script (the load generator exited)
        result = json.loads(out.stdout)
        samples = list(background.samples)
    finally:
        background.stop()
        stop_server(proc)
    lat = result["latencies"]
    q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else [float("nan")] * 99
    db = "postgresql" if os.environ.get("DATABASE_URL") else "sqlite"
    print(f"database={db} background={mode} target_rate={args.rate:g}/s seconds={args.seconds:g} "
          f"requests={result['requests']} sent_rate={result['sent_rate']:.1f}/s "
          f"answered_rate={len(lat) / args.seconds:.1f}/s errors={result['errors']} {result['error_kinds'] or ''}")
    print(f"latency p50={q[49] * 1000:.2f}ms p99={q[98] * 1000:.2f}ms max={max(lat, default=float('nan')) * 1000:.2f}ms "
          f"(from scheduled send time; timeout {args.timeout:g}s)")
    print(f"cpu: server {server_cpu:.1f}s, load generator {result['cpu_seconds']:.1f}s ({result['event_loop']}, "
          f"{result['connections_opened']} connections, schedule lag max {result['schedule_max_lag_ms']:.1f}ms); "
          f"design jobs running per second: min={min(samples, default=0)} max={max(samples, default=0)} "
          f"({len(samples)} samples)")
    print(f"workers: nice {os.environ.get('DESIGNER_WORKER_NICE', '19 (default)')}, own scheduling group "
          f"{os.environ.get('DESIGNER_WORKER_OWN_SCHED_GROUP', '0 (default)')}; autogroup scheduling "
          f"{Path('/proc/sys/kernel/sched_autogroup_enabled').read_text().strip() if Path('/proc/sys/kernel/sched_autogroup_enabled').exists() else 'absent'}")
    print(f"machine: {os.cpu_count()} cores busy {busy1 - busy0:.1f} of {wall * (os.cpu_count() or 1):.1f} CPU-s "
          f"during the run; the design jobs used {jobs_cpu:.1f} CPU-s; load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
