"""Single-user mode: no tokens, loopback only, ends as soon as a user exists."""

from __future__ import annotations

import stat
import subprocess
import time

import httpx

import pytest

from tests.service.conftest import SMALL_DESIGN, client, designer_command, new_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request) -> str | None:
    """A fresh database for every test: single-user mode holds only while no user exists."""
    if request.param == "sqlite":
        return None
    return new_database(request.getfixturevalue("postgres_server"))


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


def test_single_user_mode_answers_loopback_host_names_only(make_server):
    server = make_server(workers=0).start()
    port = server.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}", "127.0.0.2"):
        r = httpx.get(server.base_url + "/v1/me", headers={"Host": host})
        assert r.status_code == 200, (host, r.text)
    for host in (f"evil.example:{port}", "evil.example", f"192.168.1.5:{port}", "[2001:db8::1]", "localhost.evil.example"):
        for path in ("/v1/me", "/v1/design-jobs", "/openapi.json"):
            r = httpx.get(server.base_url + path, headers={"Host": host})
            assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json", (host, r.text)
            assert r.json()["field"] == "Host" and "single-user mode" in r.json()["detail"]
    # Once a user exists the token is the protection: any Host (no allow-list configured).
    token = server.add_user("erin")
    deadline = time.monotonic() + 10
    while httpx.get(server.base_url + "/v1/me", headers={"Host": "designer.lab", "Authorization": f"Bearer {token}"}).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_allowed_hosts_restrict_the_host_once_users_exist(make_server):
    server = make_server(workers=0, DESIGNER_ALLOWED_HOSTS="designer.lab, Other.Lab")
    token = server.add_user("frank")
    server.start()
    auth = {"Authorization": f"Bearer {token}"}
    for host, status in (("designer.lab:8000", 200), ("other.lab", 200), (f"127.0.0.1:{server.port}", 200),
                         ("evil.example", 400), ("designer.lab.evil.example", 400)):
        r = httpx.get(server.base_url + "/v1/me", headers={"Host": host, **auth})
        assert r.status_code == status, (host, r.text)
        if status == 400:
            assert r.json()["field"] == "Host" and "DESIGNER_ALLOWED_HOSTS" in r.json()["detail"]


def test_data_directory_and_database_are_owner_only(make_server, tmp_path):
    server = make_server(workers=0, data_dir=tmp_path / "fresh" / "data")
    if server.database_url is not None:
        # PostgreSQL holds the tables; the data directory holds the job files, owner-only.
        server.data_dir.chmod(0o755)
        server.start()
        assert stat.S_IMODE((server.data_dir / "jobs").stat().st_mode) == 0o700
        return
    server.data_dir.rmdir()  # let the service create it (the fixture made it for the log file)
    server.data_dir.parent.rmdir()
    server.add_user("gina")
    assert stat.S_IMODE(server.data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(server.data_dir.parent.stat().st_mode) == 0o700
    if server.database_url is None:
        files = list(server.data_dir.glob("designer.sqlite3*"))
        assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files), files
    # A database file an older version left readable is made owner-only at start.
    if server.database_url is None:
        db = server.data_dir / "designer.sqlite3"
        db.chmod(0o644)
        server.add_user("hugo")
        assert stat.S_IMODE(db.stat().st_mode) == 0o600
