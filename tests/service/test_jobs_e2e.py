"""Jobs end to end on a live server with two workers (single-user mode, no tokens)."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import LONG_DESIGN, SMALL_DESIGN, Server, client, follow, wait_status

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory, db_url):
    srv = Server(data_dir=tmp_path_factory.mktemp("e2e"), database_url=db_url, workers=2).start()
    yield srv
    srv.stop()


def test_submit_follow_to_completion_then_result_and_plot(server):
    http = client(server)
    job = http.post("/v1/design-jobs", json=SMALL_DESIGN).json()
    events = follow(server, job["id"])
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    statuses = [e["data"]["data"]["status"] for e in events if e["event"] == "status"]
    assert statuses[0] == "queued" and statuses[-1] == "succeeded" and "running" in statuses
    fractions = [e["data"]["data"]["fraction"] for e in events if e["event"] == "progress"]
    assert fractions and fractions == sorted(fractions)
    done = http.get(f"/v1/design-jobs/{job['id']}").json()
    assert done["status"] == "succeeded" and done["attempt"] == 1 and done["progress"]["fraction"] == 1.0
    result = http.get(f"/v1/design-jobs/{job['id']}/result")
    assert result.status_code == 200 and result.json()["job_id"] == job["id"]
    pngs = [a for a in result.json()["artifacts"] if a["media_type"] == "image/png"]
    assert pngs, result.json()
    plot = http.get(pngs[0]["url"])
    assert plot.status_code == 200 and plot.content.startswith(PNG_SIGNATURE)
    assert len(plot.content) == pngs[0]["size_bytes"]
    output = server.data_dir / "jobs" / job["id"] / "output"
    assert (output / "result.json").exists() and not list(output.parent.glob("*.tmp"))
    # Job data is owner-only: directories 0700, files 0600.
    for path in (server.data_dir / "jobs", output.parent, output):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    for path in output.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_sse_resumes_after_last_event_id(server):
    http = client(server)
    job = http.post("/v1/design-jobs", json={**SMALL_DESIGN, "seed": 5}).json()
    everything = follow(server, job["id"])
    middle = int(everything[len(everything) // 2]["id"])
    rest = follow(server, job["id"], last_event_id=middle)
    assert [e["id"] for e in rest] == [e["id"] for e in everything if int(e["id"]) > middle]
    r = httpx.get(f"{server.base_url}/v1/design-jobs/{job['id']}/events", headers={"Last-Event-ID": "x"})
    assert r.status_code == 422 and r.json()["field"] == "Last-Event-ID"


def test_cancel_a_running_job(server):
    http = client(server)
    job = http.post("/v1/design-jobs", json=LONG_DESIGN).json()
    deadline = time.monotonic() + 120
    while http.get(f"/v1/design-jobs/{job['id']}").json()["progress"] is None:
        assert time.monotonic() < deadline, "the job never reported progress"
        time.sleep(0.1)
    r = http.post(f"/v1/design-jobs/{job['id']}/cancel")
    assert r.status_code == 202 and r.json()["status"] in ("cancelling", "cancelled")
    done = wait_status(http, job["id"], {"cancelled", "succeeded", "failed"})
    assert done["status"] == "cancelled" and done["error"] is None
    assert http.get(f"/v1/design-jobs/{job['id']}/result").status_code == 409
    assert not (server.data_dir / "jobs" / job["id"] / "output").exists()


def test_api_process_never_loads_jax(server):
    maps = Path(f"/proc/{server.proc.pid}/maps")
    if not maps.exists():
        pytest.skip("no /proc on this system")
    # By now the workers and the numerics pool have run JAX; the API process must not have.
    assert "jaxlib" not in maps.read_text() and "xla_extension" not in maps.read_text()
