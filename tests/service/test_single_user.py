"""Single-user mode: no tokens, loopback only, ends as soon as a user exists."""

from __future__ import annotations

import subprocess
import time

import httpx

from tests.service.conftest import SMALL_DESIGN, client, designer_command


def test_refuses_other_addresses_without_users_and_ends_when_a_user_is_added(make_server):
    server = make_server(workers=0)
    refused = subprocess.run(
        [*designer_command(), "serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", str(server.data_dir)],
        env=server.env(), capture_output=True, text=True, timeout=120,
    )
    assert refused.returncode == 2
    assert "refusing to listen on 0.0.0.0" in refused.stderr and "designer users add" in refused.stderr

    server.start()
    assert "single-user mode" in server.log()
    http = client(server)
    assert http.post("/v1/design-jobs", json=SMALL_DESIGN).status_code == 201
    assert http.get("/v1/me").json() == {"name": "local", "is_admin": True, "single_user_mode": True}

    token = server.add_user("carol")
    deadline = time.monotonic() + 10
    while http.get("/v1/design-jobs").status_code != 401:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert client(server, token).get("/v1/design-jobs").json()["items"] == []


def test_users_add_rejects_duplicates_and_bad_names(make_server):
    server = make_server(workers=0)
    server.add_user("dave")
    for name, words in (("dave", "already exists"), ("no spaces", "must be")):
        out = subprocess.run([*designer_command(), "users", "add", name, "--data-dir", str(server.data_dir)],
                             env=server.env(), capture_output=True, text=True, timeout=120)
        assert out.returncode == 1 and words in out.stderr and out.stdout == ""


def test_help_has_examples():
    for cmd in (["serve", "--help"], ["users", "add", "--help"]):
        out = subprocess.run([*designer_command(), *cmd], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and "example:" in out.stdout
