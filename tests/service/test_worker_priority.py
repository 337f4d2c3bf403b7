"""Worker processes and CPU priority: ``DESIGNER_WORKER_OWN_SCHED_GROUP`` puts each worker in a
session (autogroup) of its own at the worker niceness, so that it yields to other sessions too."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest


@pytest.fixture
def db_url() -> None:
    """SQLite only: scheduling does not depend on the database."""
    return None


def autogroup(pid: int) -> tuple[str, int]:
    name, _, nice = Path(f"/proc/{pid}/autogroup").read_text().split()
    return name, int(nice)


def session_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3])


@pytest.mark.skipif(not Path("/proc/self/autogroup").exists(), reason="kernel without autogroup scheduling")
def test_workers_in_a_scheduling_group_of_their_own(make_server):
    server = make_server(workers=1, DESIGNER_WORKER_OWN_SCHED_GROUP="1").start()
    deadline = time.monotonic() + 120
    while not server.worker_pids() and time.monotonic() < deadline:
        time.sleep(0.2)
    (pid,) = server.worker_pids().values()
    assert os.getpriority(os.PRIO_PROCESS, pid) == 19
    # Without the setting a worker is in the server's session and autogroup (the default).
    assert session_of(pid) == pid and session_of(pid) != session_of(server.proc.pid)
    assert autogroup(pid)[0] != autogroup(server.proc.pid)[0] and autogroup(pid)[1] == 19
    server.stop()
    assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
