"""The API contract on a live server without workers (jobs stay queued): auth, isolation,
idempotency, pagination, bad input, OpenAPI, operational endpoints, catalog, bias."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import SMALL_DESIGN, Server, client

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory, db_url):
    srv = Server(data_dir=tmp_path_factory.mktemp("api"), database_url=db_url, workers=0)
    srv.tokens = {name: srv.add_user(name, admin=(name == "root")) for name in ("alice", "bob", "root")}
    srv.start()
    yield srv
    srv.stop()


def design(seed: int) -> dict:
    return {**SMALL_DESIGN, "seed": seed}


def test_openapi_document_is_the_committed_one(server):
    served = httpx.get(server.base_url + "/openapi.json").json()
    committed = json.loads((REPO / "openapi.json").read_text())
    assert served == committed, "run: python -m app.openapi > openapi.json"
    ops = [op["operationId"] for item in served["paths"].values() for op in item.values()]
    assert len(ops) == len(set(ops))
    assert "create_design_job" in ops
    assert served["components"]["schemas"]["JobSpec"]["discriminator"]["propertyName"] == "kind"


def test_operational_endpoints(server):
    assert httpx.get(server.base_url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(server.base_url + "/readyz").json()
    assert ready["status"] == "ready" and ready["database"] is True and ready["workers_expected"] == 0
    version = httpx.get(server.base_url + "/v1/version").json()
    assert version["api"] == "v1"
    assert version["database"] == ("sqlite" if server.database_url is None else "postgresql")
    metrics = httpx.get(server.base_url + "/metrics")
    assert metrics.status_code == 200
    assert "designer_http_request_duration_seconds_bucket" in metrics.text


def test_missing_or_wrong_token_is_401(server):
    r = httpx.get(server.base_url + "/v1/design-jobs")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"] == "Bearer"
    r = httpx.get(server.base_url + "/v1/design-jobs", headers={"Authorization": "Bearer dsg_wrong"})
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"


def test_other_users_jobs_are_404_and_admin_sees_all(server):
    alice, bob, root = (client(server, server.tokens[n]) for n in ("alice", "bob", "root"))
    job = alice.post("/v1/design-jobs", json=design(101)).json()
    assert job["owner"] == "alice"
    for path in ("", "/result", "/events", "/artifacts/plot.png"):
        r = bob.get(f"/v1/design-jobs/{job['id']}{path}")
        assert r.status_code == 404, path
        assert r.json()["field"] in ("job_id", "name")
    assert bob.post(f"/v1/design-jobs/{job['id']}/cancel").status_code == 404
    assert job["id"] not in [j["id"] for j in bob.get("/v1/design-jobs?page_size=100").json()["items"]]
    assert root.get(f"/v1/design-jobs/{job['id']}").json()["owner"] == "alice"
    assert root.get("/me").status_code == 404
    assert root.get("/v1/me").json() == {"name": "root", "is_admin": True, "single_user_mode": False}


def test_idempotent_replay(server):
    http = client(server, server.tokens["alice"])
    first = http.post("/v1/design-jobs", json=design(7), headers={"Idempotency-Key": "k-7"})
    assert first.status_code == 201
    assert first.headers["location"] == f"/v1/design-jobs/{first.json()['id']}"
    again = http.post("/v1/design-jobs", json=design(7), headers={"Idempotency-Key": "k-7"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    other = http.post("/v1/design-jobs", json=design(8), headers={"Idempotency-Key": "k-7"})
    assert other.status_code == 409
    assert other.json()["field"] == "Idempotency-Key" and first.json()["id"] in other.json()["detail"]
    # Keys are per user: bob's "k-7" is another job.
    bob = client(server, server.tokens["bob"]).post("/v1/design-jobs", json=design(7), headers={"Idempotency-Key": "k-7"})
    assert bob.status_code == 201 and bob.json()["id"] != first.json()["id"]


def test_pagination_newest_first_without_gaps_and_status_filter(server):
    token = server.add_user("pager")
    http = client(server, token)
    created = [http.post("/v1/design-jobs", json=design(200 + i)).json()["id"] for i in range(7)]
    seen, token_ = [], None
    pages = 0
    while True:
        params = {"page_size": 3, **({"page_token": token_} if token_ else {})}
        page = http.get("/v1/design-jobs", params=params).json()
        seen += [j["id"] for j in page["items"]]
        pages += 1
        token_ = page["next_page_token"]
        if token_ is None:
            break
    assert pages == 3
    assert seen == list(reversed(created))
    cancelled = http.post(f"/v1/design-jobs/{created[2]}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"
    only = http.get("/v1/design-jobs", params={"status": "cancelled"}).json()["items"]
    assert [j["id"] for j in only] == [created[2]]
    assert http.get("/v1/design-jobs", params={"page_token": "garbage"}).json()["field"] == "page_token"
    r = http.get("/v1/design-jobs", params={"page_size": 1000})
    assert r.status_code == 422 and r.json()["field"] == "query.page_size"


def test_cancel_is_idempotent_result_conflicts_and_delete(server):
    http = client(server, server.tokens["alice"])
    job = http.post("/v1/design-jobs", json=design(300)).json()
    assert http.get(f"/v1/design-jobs/{job['id']}/result").status_code == 409
    assert http.delete(f"/v1/design-jobs/{job['id']}").status_code == 409
    first = http.post(f"/v1/design-jobs/{job['id']}/cancel").json()
    second = http.post(f"/v1/design-jobs/{job['id']}/cancel").json()
    assert first["status"] == second["status"] == "cancelled"
    assert first["finished_at"] == second["finished_at"]
    assert http.delete(f"/v1/design-jobs/{job['id']}").status_code == 204
    assert http.get(f"/v1/design-jobs/{job['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "field", "words"),
    [
        (b'{"kind": "design", "shape": [8', 400, "body", "malformed JSON"),
        (b'{"kind": "design", "target": {"kind": "l1"}, "shape": [NaN], "budget": 5}', 422, "body.shape.0", "finite"),
        (b'{"kind": "design", "target": {"kind": "l1"}, "shape": [Infinity]}', 422, "body.shape.0", "finite"),
        (json.dumps({**SMALL_DESIGN, "shape": [1] * 10_001}).encode(), 422, "body.shape", "limit of 10000"),
        (b'{"kind": "no-such-kind"}', 422, "body.kind", "no-such-kind"),
        (b'[1, 2, 3]', 422, "body", "dict"),
    ],
)
def test_bad_input_answers_4xx_naming_the_field(server, body, status, field, words):
    http = client(server, server.tokens["alice"])
    r = http.post("/v1/design-jobs", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    problem = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert problem["field"] == field and words in problem["detail"], problem
    assert http.get("/healthz").status_code == 200  # still serving


def test_body_over_the_limit_is_413(server):
    http = client(server, server.tokens["alice"])
    huge = b'{"kind": "design", "shape": [' + b"1," * 600_000 + b"1]}"
    r = http.post("/v1/design-jobs", content=huge, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert "limit of 1048576 bytes" in r.json()["detail"]
    assert http.get("/healthz").status_code == 200


def test_catalog_lists_knobs(server):
    http = client(server, server.tokens["bob"])
    for section in ("families", "targets", "mechanisms"):
        r = http.get(f"/v1/catalog/{section}")
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert items and all(item["name"] and isinstance(item["knobs"], list) for item in items)


def test_bias_evaluate_matches_the_library(server):
    from designer.bias import evaluate_points

    body = {"param": {"family": "hadamard", "depth": 2}, "mechanism": {"kind": "gauge"},
            "points": [[1.0, 2.0], [0.5, 3.0], [0.0, 1.0]]}
    r = client(server, server.tokens["bob"]).post("/v1/bias:evaluate", json=body)
    assert r.status_code == 200, r.text
    expected = evaluate_points(body["param"], body["mechanism"], body["points"])
    assert r.json()["singular"] == expected["singular"] == [2]
    assert r.json()["values"][2] is None
    assert r.json()["values"][:2] == pytest.approx(expected["values"][:2], rel=1e-12)


def test_bias_evaluate_rejects_bad_input_with_the_field(server):
    http = client(server, server.tokens["bob"])
    r = http.post("/v1/bias:evaluate", json={"param": {"family": "nope"}, "mechanism": {"kind": "gauge"}, "points": [[1.0]]})
    assert r.status_code == 422 and r.json()["field"].startswith("param"), r.text
    r = http.post("/v1/bias:evaluate", json={"param": {"family": "hadamard", "depth": 2}, "mechanism": {"kind": "gauge"},
                                             "points": [[1.0, 2.0]] * 10_001})
    assert r.status_code == 422 and "10000" in r.json()["detail"]
    r = http.post("/v1/bias:evaluate", content=b'{"param": {"family": "hadamard", "depth": 2}, "mechanism": {"kind": "gauge"}, "points": [[NaN, 1]]}',
                  headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["field"] == "body.points.0.0"
