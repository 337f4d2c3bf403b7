"""Fixtures of the service tests: a real PostgreSQL, real ``designer serve`` processes, httpx.

Every server-backed test runs twice, on SQLite and on PostgreSQL (``db_url`` is parametrised).
PostgreSQL is started here from the installed binaries (Debian: ``apt-get install postgresql``);
the PostgreSQL runs are skipped, with that reason, only when no binaries exist.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import httpx
import pytest

READY_TIMEOUT = 180.0

#: Small jobs that finish in seconds; LONG_DESIGN runs long enough to be cancelled mid-way.
#: (Without label noise: its exact designs integrate the profile numerically, a minute of work.)
SMALL_DESIGN = {"kind": "design", "target": {"kind": "l1"}, "shape": [8], "budget": 20, "seed": 0,
                "mechanisms": ["gauge", "weight_decay"]}
#: Five steps (quick screening steps to progress 0.6, then knob fits that compile for seconds in a
#: fresh worker): a worker killed after progress 0.6 leaves a checkpoint of most of them. SCAD has
#: no exact design (its profile is flat beyond a point), so the refine stage always runs (tv no
#: longer does: its exact sum is found in the screen and the refine stage is skipped).
RESUMABLE_DESIGN = {"kind": "design", "target": {"kind": "scad"}, "shape": [64], "budget": 2000, "seed": 0}
LONG_DESIGN = {"kind": "design", "target": {"kind": "scad"}, "shape": [1024], "budget": 100000, "seed": 1}

#: Timing settings that keep recovery tests short (the defaults suit production).
FAST_TIMINGS = {
    "DESIGNER_LEASE_SECONDS": "4",
    "DESIGNER_HEARTBEAT_SECONDS": "1",
    "DESIGNER_REAPER_INTERVAL_SECONDS": "0.5",
    "DESIGNER_WORKER_POLL_SECONDS": "0.2",
    "DESIGNER_CANCEL_GRACE_SECONDS": "3",
    "DESIGNER_SSE_POLL_SECONDS": "0.1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- PostgreSQL -------------------------------------------------------------------------------

def find_postgres_bindir() -> Path | None:
    candidates = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if out.returncode == 0:
            candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).resolve().parent))
    for c in candidates:
        if (Path(c) / "initdb").exists() and (Path(c) / "postgres").exists():
            return Path(c)
    return None


def _as_postgres_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *cmd]
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *cmd]


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A throw-away PostgreSQL cluster on a free loopback port; yields its admin URL.

    Raises ``FileNotFoundError`` when no PostgreSQL binaries are installed.
    """
    bindir = find_postgres_bindir()
    if bindir is None:
        raise FileNotFoundError("no PostgreSQL binaries (initdb, postgres) found: apt-get install -y postgresql")
    root = Path(tempfile.mkdtemp(prefix="designer-pg-"))
    datadir, sockdir = root / "data", root / "sock"
    sockdir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(sockdir, "postgres", "postgres")
        os.chmod(root, 0o755)
    subprocess.run(
        _as_postgres_user([str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust",
                           "-E", "UTF8", "--no-sync"]),
        check=True, capture_output=True,
    )
    port = free_port()
    log = open(root / "postgres.log", "wb")
    proc = subprocess.Popen(
        _as_postgres_user([str(bindir / "postgres"), "-D", str(datadir), "-p", str(port), "-k", str(sockdir),
                           "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=300",
                           "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]),
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    import psycopg

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(url, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not start; see {root / 'postgres.log'}")
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def new_database(admin_url: str) -> str:
    """Create a fresh database on the cluster; return its URL."""
    import psycopg

    name = "designer_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throw-away PostgreSQL cluster for the session; yields its admin URL."""
    if find_postgres_bindir() is None:
        pytest.skip("no PostgreSQL binaries (initdb, postgres) found: apt-get install -y postgresql")
    with throwaway_postgres() as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_url(request) -> str | None:
    """None for SQLite (the default), or the URL of a fresh PostgreSQL database for this module."""
    if request.param == "sqlite":
        return None
    return new_database(request.getfixturevalue("postgres_server"))


# --- the service ------------------------------------------------------------------------------

def designer_command() -> list[str]:
    """The ``designer`` console script next to this interpreter."""
    exe = Path(sys.executable).parent / "designer"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "app"]


@dataclass
class Server:
    """A ``designer serve`` subprocess on a free loopback port, with its data directory."""

    data_dir: Path
    database_url: str | None
    workers: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {**os.environ, **FAST_TIMINGS, **self.extra_env}
        env.pop("DATABASE_URL", None)
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        return env

    def add_user(self, name: str, admin: bool = False) -> str:
        cmd = [*designer_command(), "users", "add", name, "--data-dir", str(self.data_dir)]
        if admin:
            cmd.append("--admin")
        out = subprocess.run(cmd, env=self.env(), capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    def start(self, host: str = "127.0.0.1", wait: bool = True) -> "Server":
        self.port = free_port()
        self.log_path = self.data_dir / f"server-{self.port}.log"
        self.proc = subprocess.Popen(
            [*designer_command(), "serve", "--host", host, "--port", str(self.port),
             "--data-dir", str(self.data_dir), "--workers", str(self.workers)],
            env=self.env(), stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.base_url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready after {READY_TIMEOUT} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path and self.log_path.exists() else ""

    def full_log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.data_dir.glob("server-*.log")))

    def worker_pids(self) -> dict[str, int]:
        """Live worker processes of the running server: {worker id: pid} (from their start lines)."""
        found = dict(re.findall(r"worker (w-\S+) started \(pid (\d+)", self.log_path.read_text(errors="replace")))
        pids = {}
        for worker_id, pid in found.items():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[1]) == self.proc.pid:  # state, parent pid
                pids[worker_id] = int(pid)
        return pids

    def leases(self) -> dict[str, dict]:
        """Every job's status, attempt and lease owner, read from the database itself."""
        from sqlalchemy import create_engine, text

        from app.core.config import Settings

        url = Settings(data_dir=self.data_dir, database_url=self.database_url).resolved_database_url
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT id, status, attempt, lease_owner, progress_fraction FROM jobs")).all()
        finally:
            engine.dispose()
        return {r.id: {"status": r.status, "attempt": r.attempt, "lease_owner": r.lease_owner,
                       "progress_fraction": r.progress_fraction} for r in rows}

    def kill(self, group: bool = False) -> None:
        """SIGKILL the server process (``group``: and its workers, like a machine crash)."""
        if group:
            os.killpg(self.proc.pid, signal.SIGKILL)
        else:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self._reap_group()
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reap_group()

    def _reap_group(self) -> None:
        # Workers of a SIGKILLed server exit on their own; make sure none outlives the test.
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


@pytest.fixture
def make_server(tmp_path, db_url) -> Iterator:
    """Factory for servers owned by one test (recovery tests restart them)."""
    made: list[Server] = []

    def _make(workers: int = 1, data_dir: Path | None = None, **extra_env: str) -> Server:
        server = Server(data_dir=data_dir or tmp_path / f"data{len(made)}", database_url=db_url,
                        workers=workers, extra_env=extra_env)
        server.data_dir.mkdir(parents=True, exist_ok=True)
        made.append(server)
        return server

    yield _make
    for server in made:
        server.stop()


def client(server: Server, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.base_url, headers=headers, timeout=30)


def iter_sse(response: httpx.Response) -> Iterator[dict]:
    """Parse a Server-Sent Events stream into {"id", "event", "data"} dicts."""
    event: dict = {}
    for line in response.iter_lines():
        if line == "":
            if "data" in event:
                event["data"] = json.loads(event["data"])
                yield event
            event = {}
        elif line.startswith(":"):
            continue
        else:
            key, _, value = line.partition(":")
            event[key] = value[1:] if value.startswith(" ") else value


def follow(server: Server, job_id: str, token: str | None = None, last_event_id: int | None = None,
           timeout: float = 180) -> list[dict]:
    """Follow a job's SSE stream until it ends; return the events."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    with httpx.stream("GET", f"{server.base_url}/v1/design-jobs/{job_id}/events", headers=headers,
                      timeout=httpx.Timeout(timeout, connect=10)) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(iter_sse(response))


def wait_status(http: httpx.Client, job_id: str, statuses: set[str], timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"/v1/design-jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} not in {statuses} after {timeout} s: {job}")


def attempts_of(events: list[dict]) -> dict[int, dict]:
    """Per attempt, from a job's event log: its ``running`` event data and its progress events."""
    attempts: dict[int, dict] = {}
    current = None
    for e in events:
        data = e["data"]["data"]
        if e["event"] == "status" and data["status"] == "running":
            current = attempts.setdefault(data["attempt"], {"running": data, "progress": []})
        elif e["event"] == "progress" and current is not None:
            current["progress"].append(data)
    return attempts


def first_step_fraction(attempt: dict) -> float | None:
    """Progress after the attempt's first computed step (its ``start`` report excluded)."""
    steps = [p["fraction"] for p in attempt["progress"] if p["stage"] != "start" and p["fraction"]]
    return steps[0] if steps else None
