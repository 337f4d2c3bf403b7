"""The web pages in a real headless Chromium against a real server: flows, security, accessibility."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.service.conftest import LONG_DESIGN, follow, iter_sse, wait_status
from tests.ui.conftest import CuttingProxy, check_page, sign_in

SCRIPT_NAME = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
JOB_TIMEOUT_MS = 150_000


def _column(page, table: str, index: int) -> list[str]:
    return page.eval_on_selector_all(f"{table} tbody tr", f"rows => rows.map(r => r.cells[{index}].dataset.value)")


@pytest.mark.slow
def test_design_job_from_the_form_to_its_results(lab, context, axe):
    page = context.new_page()
    sign_in(page, lab, "alice")
    check_page(page, axe, "jobs-empty")

    page.click("text=New design")
    page.wait_for_selector("#f-shape")
    check_page(page, axe, "new-job")
    # A bad value: the API's field error appears next to that field, the others are kept.
    page.fill("#f-name", SCRIPT_NAME)
    page.select_option("#f-target\\.kind", "l1")
    page.fill("#f-shape", "8")
    page.fill("#f-budget", "0")
    page.click("text=Submit design job")
    error = page.wait_for_selector("#budget-error")
    assert "greater than or equal to 1" in error.text_content()
    assert page.get_attribute("#f-budget", "aria-invalid") == "true"
    assert page.input_value("#f-shape") == "8" and page.input_value("#f-name") == SCRIPT_NAME
    check_page(page, axe, "new-job-error")

    page.fill("#f-budget", "12")
    page.click("text=Submit design job")
    page.wait_for_url("**/ui/jobs/job_*")
    job_id = page.url.rsplit("/", 1)[-1]
    page.evaluate("window.__same_document = true")
    # The status reaches succeeded from the event stream, without reloading the page.
    page.wait_for_selector('[data-live="status"]:text("succeeded")', timeout=JOB_TIMEOUT_MS)
    page.wait_for_selector("#candidates")
    assert page.evaluate("window.__same_document") is True
    assert page.evaluate("window.__pwned") is None
    # The <script> name is text, not markup.
    assert page.text_content("h1 .job-name") == SCRIPT_NAME

    api = lab.api("alice")
    result = api.get(f"/v1/design-jobs/{job_id}/result").json()["result"]
    assert api.get(f"/v1/design-jobs/{job_id}").json()["spec"]["name"] == SCRIPT_NAME

    # The page's event stream is the API's, and resumes after the last event a browser saw.
    cookies = {"designer_session": next(c["value"] for c in context.cookies() if c["name"] == "designer_session")}

    def events(headers=None, query=""):
        with httpx.stream("GET", f"{lab.url}/ui/jobs/{job_id}/events{query}", cookies=cookies, headers=headers,
                          timeout=30) as response:
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
            return [e["data"] for e in iter_sse(response)]

    everything = events()
    assert everything == [e["data"] for e in follow(lab.server, job_id, lab.tokens["alice"])]
    assert [e["seq"] for e in everything] == list(range(1, len(everything) + 1))
    assert everything[-1]["data"]["status"] == "succeeded" and len(everything) > 3
    assert events({"Last-Event-ID": "2"}) == everything[2:] == events(query="?after=2")

    plot = page.wait_for_selector("img[data-plot]")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=plot)
    assert plot.evaluate("img => img.naturalWidth") > 0

    # Candidates: the page shows the result's ranking; the headings sort it.
    shown = len(_column(page, "#candidates", 0))
    assert shown == min(len(result["candidates"]), 200)
    assert _column(page, "#candidates", 0) == [str(c["rank"]) for c in result["candidates"][:shown]]
    page.click("#candidates th:nth-child(5) button")  # fit error, ascending
    page.click("#candidates th:nth-child(5) button")  # descending
    fits = [float(v) for v in _column(page, "#candidates", 4) if v != ""]
    assert fits == sorted((c["fit_error"] for c in result["candidates"][:shown] if c["fit_error"] is not None), reverse=True)
    assert page.get_attribute("#candidates th:nth-child(5)", "aria-sort") == "descending"
    page.click("#candidates th:nth-child(3) button")  # mechanism, ascending
    mechanisms = _column(page, "#candidates", 2)
    assert mechanisms == sorted(mechanisms) and set(mechanisms) == {c["mechanism"] for c in result["candidates"][:shown]}

    # The best design's hyperparameters are the result's.
    for key, value in result["best"]["hyperparameters"].items():
        if isinstance(value, float):
            cell = page.text_content(f'table.kv tr:has(th:text-is("{key}")) td')
            assert float(cell) == pytest.approx(value, rel=1e-5)

    page.click("summary:text-is('Result JSON')")
    page.wait_for_function("() => document.querySelector('details[data-load] pre').textContent.startsWith('{')")
    assert json.loads(page.text_content("details[data-load] pre")) == result

    with page.expect_download() as download:
        page.click('ul.files a:text-is("design.png")')
    saved = download.value.path().read_bytes()
    assert saved[:8] == b"\x89PNG\r\n\x1a\n"
    assert saved == api.get(f"/v1/design-jobs/{job_id}/artifacts/design.png").content
    check_page(page, axe, "job-succeeded")

    # A second design to compare with (through the API), then the comparison page.
    other = api.post("/v1/design-jobs", json={"kind": "design", "name": "tv search", "target": {"kind": "tv"},
                                              "shape": [8], "budget": 6, "seed": 1}).json()["id"]
    page.goto(lab.url + "/ui/jobs")
    row = page.wait_for_selector(f'tr[data-job-id="{other}"] [data-cell="status"] .status')
    assert row.text_content() in ("queued", "running")
    # The row follows the job live (no reload) until it has finished.
    page.wait_for_selector(f'tr[data-job-id="{other}"] .status:text("succeeded")', timeout=JOB_TIMEOUT_MS)
    assert row.text_content() == "succeeded"
    check_page(page, axe, "jobs")
    page.check(f'input[value="{job_id}"]')
    page.check(f'input[value="{other}"]')
    page.click("text=Compare selected")
    page.wait_for_url("**/ui/compare?*")
    other_result = api.get(f"/v1/design-jobs/{other}/result").json()["result"]
    columns = page.eval_on_selector_all("table.compare thead th code", "cs => cs.map(c => c.textContent)")
    assert sorted(columns) == sorted([job_id, other])
    fit_cells = page.eval_on_selector_all("table.compare tr:has(th:text-is('Fit error')) td", "tds => tds.map(t => t.textContent)")
    expected = {job_id: result["fit_error"], other: other_result["fit_error"]}
    assert [float(t.split()[0]) for t in fit_cells] == pytest.approx([expected[c] for c in columns], rel=1e-3, abs=1e-12)
    images = page.query_selector_all("img[data-plot]")
    assert len(images) == 2
    for img in images:
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img)
    check_page(page, axe, "compare")

    # Delete, with confirmation: refused once (the job stays), accepted once (it is gone).
    page.goto(f"{lab.url}/ui/jobs/{other}")
    page.once("dialog", lambda d: d.dismiss())
    page.click("text=Delete job")
    assert api.get(f"/v1/design-jobs/{other}").status_code == 200
    page.once("dialog", lambda d: d.accept())
    page.click("text=Delete job")
    page.wait_for_url("**/ui/jobs")
    assert api.get(f"/v1/design-jobs/{other}").status_code == 404


@pytest.mark.slow
def test_cancel_a_long_job_from_its_page(lab, context, axe):
    api = lab.api("alice")
    # more sampled points than LONG_DESIGN: every step takes seconds even in a warm worker, so the page
    # receives the job's events over the stream (not only in its first render) before the cut
    submitted = api.post("/v1/design-jobs", json={**LONG_DESIGN, "name": "long one", "sampling": {"n_points": 1024}})
    assert submitted.status_code == 201, submitted.text
    job_id = submitted.json()["id"]
    page = context.new_page()
    sign_in(page, lab, "alice")
    # The page follows the job through a proxy; every connection is dropped once events have
    # arrived: the browser reconnects to the stream saying which event it saw last.
    proxy = CuttingProxy(lab.server.port)
    try:
        page.goto(f"{proxy.url}/ui/jobs/{job_id}")
        # an event has come over the stream (the page keeps its number), not only in the first render
        page.wait_for_function("() => Number(document.getElementById('job').dataset.lastEvent || 0) >= 1",
                               timeout=JOB_TIMEOUT_MS)
        proxy.cut()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            streams = [r for r in proxy.requests if r.startswith(f"GET /ui/jobs/{job_id}/events")]
            if len(streams) >= 2:
                break
            page.wait_for_timeout(100)
        assert len(streams) >= 2, proxy.requests
        assert "last-event-id" not in streams[0].lower()
        resumed = [line for line in streams[1].split("\r\n") if line.lower().startswith("last-event-id:")]
        assert resumed and int(resumed[0].split(":", 1)[1]) >= 1, streams[1]
        page.goto(f"{lab.url}/ui/jobs/{job_id}")
    finally:
        proxy.close()
    page.wait_for_selector('[data-live="status"]:text("running")', timeout=JOB_TIMEOUT_MS)
    page.wait_for_function("() => document.querySelector('[data-live=stage]').textContent !== '—'", timeout=JOB_TIMEOUT_MS)
    check_page(page, axe, "job-running")
    page.once("dialog", lambda d: d.accept())
    page.click("text=Cancel job")
    page.wait_for_selector('[data-live="status"]:text("cancelled")', timeout=60_000)
    assert wait_status(api, job_id, {"cancelled"}, timeout=30)["status"] == "cancelled"
    assert page.query_selector("text=Cancel job") is None
    assert page.query_selector("text=Delete job") is not None

    # A validation task whose predictor shape is not the design's is refused at the door, naming the field.
    refused = api.post("/v1/design-jobs", json={
        "kind": "design", "name": "mismatched", "target": {"kind": "l1"}, "shape": [8], "budget": 3,
        "validate": {"task": {"kind": "sparse_regression", "d": 16}}})
    assert refused.status_code == 422 and refused.json()["field"].startswith("body.validate"), refused.text
    # A job the worker refuses (the validation names a candidate the design does not have): its
    # page says why in words, with the service's message.
    submitted = api.post("/v1/design-jobs", json={
        "kind": "design", "name": "no such candidate", "target": {"kind": "l1"}, "shape": [8], "budget": 3,
        "mechanisms": ["weight_decay"], "validate": {"task": {"kind": "sparse_regression", "d": 8}, "candidate": "no/such"}})
    assert submitted.status_code == 201, submitted.text
    failing = submitted.json()["id"]
    page.goto(f"{lab.url}/ui/jobs/{failing}")
    page.wait_for_selector('[data-live="status"]:text("failed")', timeout=JOB_TIMEOUT_MS)
    failed = api.get(f"/v1/design-jobs/{failing}").json()
    assert failed["error"]["code"] == "invalid_input"
    why = page.wait_for_selector("section[aria-labelledby=error-h]").text_content()
    assert "input was refused" in why and failed["error"]["message"] in why
    check_page(page, axe, "job-failed")


def test_users_see_only_their_own_jobs_and_admins_see_all(lab, context, axe):
    alices = lab.api("alice").post("/v1/design-jobs", json={**LONG_DESIGN, "name": "alice private"}).json()["id"]
    bobs = lab.api("bob").post("/v1/design-jobs", json={**LONG_DESIGN, "name": "bob's", "seed": 7}).json()["id"]
    lab.api("alice").post(f"/v1/design-jobs/{alices}/cancel")
    lab.api("bob").post(f"/v1/design-jobs/{bobs}/cancel")

    page = context.new_page()
    sign_in(page, lab, "bob")
    ids = page.eval_on_selector_all("tr[data-job-id]", "rows => rows.map(r => r.dataset.jobId)")
    assert bobs in ids and alices not in ids
    assert page.query_selector("th:text-is('Owner')") is None
    response = page.goto(f"{lab.url}/ui/jobs/{alices}")
    assert response.status == 404
    assert page.request.get(f"{lab.url}/ui/jobs/rows.json?id={alices}").json() == {}
    check_page(page, axe, "not-found")

    page.click("text=Sign out")
    page.wait_for_url("**/ui/sign-in")
    sign_in(page, lab, "root")
    ids = page.eval_on_selector_all("tr[data-job-id]", "rows => rows.map(r => r.dataset.jobId)")
    assert {alices, bobs} <= set(ids)
    owners = page.eval_on_selector_all("tr[data-job-id]", "rows => rows.map(r => r.cells[r.cells.length - 1].textContent)")
    assert {"alice", "bob"} <= set(owners)
    # Filters: only cancelled design jobs.
    page.select_option("#f-status", "cancelled")
    page.click("button:text-is('Filter')")
    statuses = page.eval_on_selector_all("tr[data-job-id] .status", "els => els.map(e => e.textContent)")
    assert statuses and set(statuses) == {"cancelled"}


def test_sign_in_cookie_csrf_and_headers(lab, context, axe):
    page = context.new_page()
    # No session cookie: the pages send the browser to the sign-in page, and back after it.
    page.goto(lab.url + "/ui/jobs/new")
    assert "/ui/sign-in?next=" in page.url
    check_page(page, axe, "sign-in")
    page.fill("#f-token", "dsg_not-a-token")
    page.click("button[type=submit]")
    assert "not valid" in page.text_content("#token-error")
    page.fill("#f-token", lab.tokens["alice"])
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/jobs/new")

    cookie = next(c for c in context.cookies() if c["name"] == "designer_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
    assert lab.tokens["alice"] not in cookie["value"]

    # Same cookie, no CSRF token (or a wrong one): refused, nothing created.
    jar = {"designer_session": cookie["value"]}
    before = lab.api("alice").get("/v1/design-jobs").json()["items"]
    with httpx.Client(base_url=lab.url, cookies=jar, follow_redirects=False) as http:
        form = {"name": "forged", "target.kind": "l1", "shape": "8"}
        assert http.post("/ui/jobs/new", data=form).status_code == 403
        assert http.post("/ui/jobs/new", data={**form, "csrf": "guess"}).status_code == 403
        assert http.post("/ui/sign-out", data={}).status_code == 403
        # ... and a GET with the cookie works, with a CSP that allows no inline script.
        answer = http.get("/ui/jobs")
        assert answer.status_code == 200
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert lab.api("alice").get("/v1/design-jobs").json()["items"] == before
    # No cookie at all: redirect (pages) or 401 (data), never data.
    with httpx.Client(base_url=lab.url, follow_redirects=False) as http:
        assert http.get("/ui/jobs").status_code == 303
        assert http.get("/ui/jobs").headers["location"].startswith("/ui/sign-in?next=")
        assert http.get("/ui/jobs/rows.json").status_code == 401
        assert http.post("/ui/jobs/new", data={"target.kind": "l1"}).status_code == 403
    # Behind an HTTPS proxy on the same host (uvicorn trusts its X-Forwarded-Proto) the cookie is Secure.
    def new_cookie(**headers):
        with httpx.Client(base_url=lab.url, follow_redirects=False) as http:  # a fresh client: no cookie sent
            return http.get("/ui/sign-in", headers=headers).headers["set-cookie"].lower().split("; ")

    plain, tls = new_cookie(), new_cookie(**{"X-Forwarded-Proto": "https"})
    assert {"httponly", "samesite=strict"} <= set(plain) and "secure" not in plain
    assert {"httponly", "samesite=strict", "secure"} <= set(tls)
    # A forged cookie is no session.
    with httpx.Client(base_url=lab.url, cookies={"designer_session": cookie["value"][:-2] + "xx"}, follow_redirects=False) as http:
        assert http.get("/ui/jobs").status_code == 303


def test_bias_explorer_plots_the_values_of_the_api(lab, context, axe):
    page = context.new_page()
    sign_in(page, lab, "alice")
    page.goto(lab.url + "/ui/bias")
    check_page(page, axe, "bias")
    page.select_option("#f-param\\.family", "hadamard")
    page.fill("#f-param\\@hadamard\\.depth", "3")
    page.select_option("#f-mechanism\\.kind", "gauge")
    page.fill("#f-view\\.point", "[1.0, 0.5]")
    page.select_option("#f-view\\.mode", "slice")
    page.fill("#f-view\\.i", "0")
    page.fill("#f-view\\.low", "0.25")
    page.fill("#f-view\\.high", "2")
    page.fill("#f-view\\.n", "8")
    page.click("text=Plot the bias")
    plot = page.wait_for_selector("img[data-plot]", timeout=60_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=plot)
    summary = page.text_content("section[aria-labelledby=plot-h] p")
    points = [[0.25 + (2 - 0.25) * k / 7, 0.5] for k in range(8)]
    values = lab.api("alice").post("/v1/bias:evaluate", json={
        "param": {"family": "hadamard", "depth": 3}, "mechanism": {"kind": "gauge"}, "points": points}).json()["values"]
    assert summary.startswith("8 points")
    low, high = (float(x) for x in summary.split("R from ")[1].rstrip(".").split(" to "))
    assert low == pytest.approx(min(values), rel=1e-3) and high == pytest.approx(max(values), rel=1e-3)
    check_page(page, axe, "bias-slice")

    # A coordinate the point does not have: the error sits next to that field.
    page.fill("#f-view\\.i", "5")
    page.click("text=Plot the bias")
    assert "not a coordinate" in page.wait_for_selector("#view\\.i-error").text_content()
    # A grid over both coordinates.
    page.fill("#f-view\\.i", "0")
    page.fill("#f-view\\.j", "1")
    page.select_option("#f-view\\.mode", "grid")
    page.fill("#f-view\\.n", "6")
    page.click("text=Plot the bias")
    plot = page.wait_for_selector("img[data-plot]", timeout=60_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=plot)
    assert page.text_content("section[aria-labelledby=plot-h] p").startswith("36 points")


def test_the_jobs_list_pages_with_a_cursor_and_filters(lab, context, axe):
    """60 finished jobs of carol's (written to the database directly): 25 a page, newest first,
    the same jobs and order as the API's list, filters applied on every page."""
    import datetime as dt

    from sqlalchemy import insert

    from app.auth.repository import get_by_name
    from app.core.config import Settings
    from app.core.db import Database
    from app.jobs.service import new_job_id
    from app.models import Job
    from tests.ui.conftest import add_users

    lab.tokens.update(add_users(lab.server, {"carol": False}))
    database = Database(Settings(data_dir=lab.server.data_dir, database_url=lab.server.database_url))
    start = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    with database.transaction() as session:
        carol = get_by_name(session, "carol").id
        session.execute(insert(Job), [{
            "id": new_job_id(), "owner_id": carol, "kind": "design" if i % 3 else "reproduce",
            "spec": {"kind": "design", "name": f"old {i}", "target": {"kind": "l1"}, "shape": [4]} if i % 3 else
                    {"kind": "reproduce", "name": f"old {i}", "figure": "fig5"},
            "status": "failed" if i % 4 == 0 else "succeeded", "attempt": 1, "max_attempts": 3, "time_limit_seconds": 60.0,
            "created_at": start + dt.timedelta(minutes=i), "updated_at": start + dt.timedelta(minutes=i),
            "finished_at": start + dt.timedelta(minutes=i, seconds=30), "event_seq": 0, "artifacts": [],
        } for i in range(60)])
    database.dispose()

    def pages_of(url: str) -> list[list[str]]:
        page.goto(url)
        seen = []
        while True:
            seen.append(page.eval_on_selector_all("tr[data-job-id]", "rows => rows.map(r => r.dataset.jobId)"))
            older = page.query_selector("a[rel=next]")
            if older is None:
                return seen
            older.click()
            page.wait_for_load_state()

    page = context.new_page()
    sign_in(page, lab, "carol")
    api = lab.api("carol")
    listed = pages_of(lab.url + "/ui/jobs")
    assert [len(p) for p in listed] == [25, 25, 10]
    expected, token = [], None
    while True:
        answer = api.get("/v1/design-jobs", params={"page_size": 100, **({"page_token": token} if token else {})}).json()
        expected += [j["id"] for j in answer["items"]]
        if not (token := answer["next_page_token"]):
            break
    assert [j for p in listed for j in p] == expected and len(expected) == 60
    check_page(page, axe, "jobs-last-page")

    failed_reproductions = pages_of(lab.url + "/ui/jobs?status=failed&kind=reproduce")
    assert [len(p) for p in failed_reproductions] == [5]  # i = 0, 12, 24, 36, 48
    names = page.eval_on_selector_all("tr[data-job-id] .job-name", "els => els.map(e => e.textContent)")
    assert names == [f"old {i}" for i in (48, 36, 24, 12, 0)]
