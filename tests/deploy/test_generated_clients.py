"""Clients generated from the committed openapi.json: Python (openapi-python-client) runs a
whole flow against a live server; TypeScript types (openapi-typescript, npm) generate cleanly."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[2]
OPENAPI = REPO / "openapi.json"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SMALL = {"kind": "design", "target": {"kind": "l1"}, "shape": [8], "budget": 20, "seed": 0,
         "mechanisms": ["gauge", "weight_decay"]}  # seconds; label noise takes a minute
LONG = {"kind": "design", "target": {"kind": "scad"}, "shape": [1024], "budget": 100000, "seed": 1}


def _generator() -> Path:
    exe = Path(sys.executable).parent / "openapi-python-client"
    if not exe.exists():
        pytest.skip("openapi-python-client is not installed (test extra): pip install -e '.[test]'")
    return exe


@pytest.fixture(scope="module")
def api_client(tmp_path_factory):
    """The generated package, imported from a temporary directory."""
    out = tmp_path_factory.mktemp("pyclient")
    proc = subprocess.run(
        [str(_generator()), "generate", "--path", str(OPENAPI), "--meta", "none",
         "--output-path", str(out / "designer_api_client")],
        capture_output=True, text=True, timeout=300,
        # the generator formats its output with ruff, installed next to this interpreter
        env={**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])},
    )
    printed = proc.stdout + proc.stderr
    assert proc.returncode == 0, printed
    # openapi-python-client reports problems with the document as "Warning(s) encountered".
    assert "warning" not in printed.lower() and "error" not in printed.lower(), printed
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("designer_api_client")
    finally:
        sys.path.remove(str(out))


def _wait(get, client, job_id, statuses, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = get.sync(job_id, client=client)
        if job.status.value in statuses:
            return job
        time.sleep(0.2)
    raise AssertionError(f"{job_id} not in {statuses}: {job.status}")


def test_python_client_whole_flow(api_client, server_and_token):
    server, token = server_and_token
    from designer_api_client import AuthenticatedClient
    from designer_api_client.api.design_jobs import (
        cancel_design_job, create_design_job, get_design_job, get_design_job_artifact, get_design_job_result,
        list_design_jobs,
    )
    from designer_api_client.models import DesignJobSpec, JobPublic, JobResult, JobsPage, Problem

    client = AuthenticatedClient(base_url=server.base_url, token=token, raise_on_unexpected_status=True)

    # create, poll, result, plot
    created = create_design_job.sync(client=client, body=DesignJobSpec.from_dict(SMALL))
    assert isinstance(created, JobPublic) and created.status.value == "queued" and created.owner == "alice"
    done = _wait(get_design_job, client, created.id, {"succeeded", "failed", "cancelled"})
    assert done.status.value == "succeeded", done.error
    result = get_design_job_result.sync(created.id, client=client)
    assert isinstance(result, JobResult) and result.job_id == created.id
    assert result.result.additional_properties["fit_error"] < 1e-6
    png = next(a for a in result.artifacts if a.media_type == "image/png")
    plot = get_design_job_artifact.sync_detailed(created.id, png.name, client=client)
    assert plot.status_code == 200 and plot.content.startswith(PNG_SIGNATURE)

    # cancel a running job
    long = create_design_job.sync(client=client, body=DesignJobSpec.from_dict(LONG))
    _wait(get_design_job, client, long.id, {"running"})
    cancelled = cancel_design_job.sync(long.id, client=client)
    assert cancelled.status.value in ("cancelling", "cancelled")
    assert _wait(get_design_job, client, long.id, {"cancelled", "succeeded", "failed"}).status.value == "cancelled"

    # errors come back as the typed Problem
    missing = get_design_job.sync("job_" + "0" * 24, client=client)
    assert isinstance(missing, Problem) and missing.status == 404

    # list, one job per page, following next_page_token
    third = create_design_job.sync(client=client, body=DesignJobSpec.from_dict({**SMALL, "seed": 2}))
    seen, token_ = [], None
    for _ in range(10):
        page = list_design_jobs.sync(client=client, page_size=1, **({"page_token": token_} if token_ else {}))
        assert isinstance(page, JobsPage) and len(page.items) <= 1
        seen += [job.id for job in page.items]
        token_ = page.next_page_token if isinstance(page.next_page_token, str) else None
        if token_ is None:
            break
    # newest first, each exactly once (the server is shared with other tests of this package)
    everything = [job.id for job in list_design_jobs.sync(client=client, page_size=100).items]
    assert seen == everything and len(set(seen)) == len(seen)
    assert [i for i in seen if i in (created.id, long.id, third.id)] == [third.id, long.id, created.id]


def test_typescript_types_generate(tmp_path):
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("node/npm (npx) not installed: openapi-typescript runs through npx")
    out = tmp_path / "api.d.ts"
    proc = subprocess.run([npx, "--yes", "openapi-typescript", str(OPENAPI), "-o", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    if proc.returncode != 0 and ("ENOTFOUND" in proc.stderr or "EAI_AGAIN" in proc.stderr):
        pytest.skip(f"the npm registry is not reachable: {proc.stderr[-300:]}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "error" not in (proc.stdout + proc.stderr).lower(), proc.stdout + proc.stderr
    types = out.read_text()
    for operation in ("create_design_job", "get_design_job", "cancel_design_job", "list_design_jobs",
                      "get_design_job_result", "stream_design_job_events"):
        assert f'{operation}: {{' in types, operation
    assert "DesignJobSpec" in types and "ReproduceJobSpec" in types
