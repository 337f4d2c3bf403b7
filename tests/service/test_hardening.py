"""Inputs that once gave a 500, a broken stream or a plain-text error: each is a 4xx problem
document naming the cause, on SQLite and on PostgreSQL (live server with a user and a token)."""

from __future__ import annotations

import base64
import json
import socket

import httpx
import pytest

from tests.service.conftest import SMALL_DESIGN, Server, client

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def server(tmp_path_factory, db_url):
    srv = Server(data_dir=tmp_path_factory.mktemp("hardening"), database_url=db_url, workers=0)
    srv.token = srv.add_user("alice")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def http(server):
    with client(server, server.token) as c:
        yield c


@pytest.fixture(scope="module")
def cancelled_job(http):
    job = http.post("/v1/design-jobs", json={**SMALL_DESIGN, "seed": 77}).json()
    assert http.post(f"/v1/design-jobs/{job['id']}/cancel").json()["status"] == "cancelled"
    return job["id"]


def page_token(created: str, job_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created, job_id]).encode()).decode().rstrip("=")


def assert_problem(r: httpx.Response, status: int, field: str | None, words: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    problem = r.json()
    assert problem["status"] == status and problem["field"] == field and words in problem["detail"], problem
    return problem


@pytest.mark.parametrize("created", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-14:00"])
def test_page_token_whose_time_overflows_in_utc_is_422(http, created):
    r = http.get("/v1/design-jobs", params={"page_token": page_token(created, "job_" + "0" * 24)})
    assert_problem(r, 422, "page_token", "not a token")


def test_page_token_with_a_nul_byte_is_422(http, cancelled_job):
    valid = page_token("2030-01-01T00:00:00+00:00", cancelled_job)
    assert http.get("/v1/design-jobs", params={"page_token": valid}).status_code == 200
    nul = page_token("2030-01-01T00:00:00+00:00", cancelled_job[:-1] + "\x00")
    assert_problem(http.get("/v1/design-jobs", params={"page_token": nul}), 422, "page_token", "not a token")


@pytest.mark.parametrize(("method", "suffix"), [
    ("GET", ""), ("DELETE", ""), ("POST", "/cancel"), ("GET", "/result"), ("GET", "/events"),
    ("GET", "/artifacts/design.png"),
])
@pytest.mark.parametrize("job_id", ["job_%00", "job_%00" + "0" * 23, "%00"])
def test_nul_byte_in_a_job_id_is_404_on_every_route(http, method, suffix, job_id):
    r = http.request(method, f"/v1/design-jobs/{job_id}{suffix}")
    assert_problem(r, 404, "job_id", "no job")


@pytest.mark.parametrize("value", [str(2**31), str(2**63), str(2**64), "99999999999999999999"])
def test_last_event_id_beyond_the_integer_range_is_422(server, cancelled_job, value):
    r = httpx.get(f"{server.base_url}/v1/design-jobs/{cancelled_job}/events",
                  headers={"Authorization": f"Bearer {server.token}", "Last-Event-ID": value})
    assert_problem(r, 422, "Last-Event-ID", "from 0 to 2147483647")


def test_last_event_id_at_the_largest_integer_ends_the_stream_cleanly(server, cancelled_job):
    r = httpx.get(f"{server.base_url}/v1/design-jobs/{cancelled_job}/events",
                  headers={"Authorization": f"Bearer {server.token}", "Last-Event-ID": str(2**31 - 1)}, timeout=30)
    assert r.status_code == 200 and r.text == "retry: 1000\n\n"


@pytest.mark.parametrize(("body", "words"), [
    (b"[" * 1000 + b"]" * 1000, "nested too deeply"),
    (b'{"kind": "design", "target": {"kind": "l1"}, "shape": [' + b"7" * 5000 + b"]}", "more than 4300 digits"),
    (b'{"kind": "design\xff\xfe"}', "not valid UTF-8 (byte 16"),
])
def test_unparseable_bodies_are_400_naming_the_cause(http, body, words):
    r = http.post("/v1/design-jobs", content=body, headers={"Content-Type": "application/json"})
    assert_problem(r, 400, "body", words)["code"] == "malformed_json"


@pytest.mark.parametrize(("length", "body", "words"), [
    (b"abc", b"{}", "Content-Length"),
    (b"-5", b"{}", "Content-Length"),
    (b"2", b'{"kind": "design"}', "Content-Length shorter than the body"),
])
def test_wrong_content_length_is_a_problem_document(server, length, body, words):
    request = (b"POST /v1/design-jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Authorization: Bearer " + server.token.encode() + b"\r\nContent-Length: " + length + b"\r\n\r\n" + body)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    # With a short Content-Length the declared bytes may make a request of their own (answered
    # first); the bytes after them are the malformed request, answered last.
    head, _, payload = raw[raw.rindex(b"HTTP/1.1 "):].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), raw
    assert b"content-type: application/problem+json" in head.lower()
    problem = json.loads(payload)
    assert problem["code"] == "malformed_request" and words in problem["detail"], problem


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("PUT", "/v1/design-jobs/job_x", "DELETE, GET"),
    ("PATCH", "/v1/design-jobs", "GET, POST"),
    ("DELETE", "/v1/design-jobs/job_x/cancel", "POST"),
])
def test_405_lists_every_allowed_method(http, method, path, allow):
    r = http.request(method, path)
    assert r.status_code == 405 and r.headers["content-type"] == PROBLEM
    assert r.headers["allow"] == allow and allow in r.json()["detail"]


@pytest.mark.parametrize("method,path,query,unknown", [
    ("GET", "/v1/design-jobs", {"": "true", '"': "null"}, ""),  # found by the schema fuzzer
    ("GET", "/v1/design-jobs", {"page_size": "5", "page_sise": "5"}, "page_sise"),  # a misspelt name
    ("GET", "/v1/design-jobs/{job}", {"verbose": "1"}, "verbose"),
    ("POST", "/v1/design-jobs/{job}/cancel", {"force": "true"}, "force"),
    ("GET", "/v1/catalog/targets", {"kind": "l1"}, "kind"),
    ("GET", "/v1/me", {"x": "1"}, "x"),
])
def test_unknown_query_parameters_are_422_naming_the_parameter(http, cancelled_job, method, path, query, unknown):
    r = http.request(method, path.format(job=cancelled_job), params=query)
    problem = assert_problem(r, 422, f"query.{unknown}", f"unknown query parameter {unknown!r}")
    assert problem["code"] == "invalid_input"


def test_declared_query_parameters_are_still_accepted(http, cancelled_job):
    r = http.get("/v1/design-jobs", params={"page_size": "5", "status": "cancelled"})
    assert r.status_code == 200, r.text
    assert cancelled_job in [j["id"] for j in r.json()["items"]]
    assert http.get("/healthz", params={"probe": "1"}).status_code == 200  # probes take any parameters
