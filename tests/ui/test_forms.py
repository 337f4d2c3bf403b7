"""The pages' logic without a browser: forms from the catalog and schemas, sessions, bias grids."""

from __future__ import annotations

import time

import pytest

from app.core.errors import InvalidInput
from app.numerics import child
from app.ui import forms, pages, session
from designer.catalog import describe
from designer.jobs import parse_job_spec


@pytest.fixture(scope="module")
def catalog():
    return describe()


@pytest.fixture(scope="module")
def schemas():
    return child.schemas()


def _node(nodes, key):
    return next(n for n in nodes if n["key"] == key)


def test_the_form_offers_every_catalog_target_and_a_new_entry_without_code(catalog, schemas):
    form = pages.build_design_form(catalog, schemas)
    target = _node(form, "target")
    assert [b["name"] for b in target["branches"]] == [t["name"] for t in catalog["targets"]]
    schatten = next(b for b in target["branches"] if b["name"] == "schatten")
    p = _node(schatten["fields"], "p")
    assert (p["name"], p["type"], p["minimum"], p["maximum"], p["default"]) == ("target@schatten.p", "number", 0.0, 2.0, "1.0")
    # mechanisms and the validation task come from the job spec's schema
    assert _node(form, "mechanisms")["choices"] == ["gauge", "weight_decay", "label_noise"]
    task = _node(_node(form, "validate")["fields"], "task")
    from designer.simulate.tasks import TASKS

    assert {b["name"] for b in task["branches"]} == set(TASKS)  # every task of the simulator's registry

    extended = {**catalog, "targets": [*catalog["targets"], {"name": "new_target", "description": "a new one", "knobs": [
        {"name": "alpha", "type": "number", "minimum": 0, "maximum": 1, "default": 0.5}]}]}
    target = _node(pages.build_design_form(extended, schemas), "target")
    new = target["branches"][-1]
    assert new["name"] == "new_target" and new["fields"][0]["name"] == "target@new_target.alpha"
    paths: dict[str, str] = {}
    spec = forms.collect([target], {"target.kind": ["new_target"], "target@new_target.alpha": ["0.25"]}, paths)
    assert spec == {"target": {"kind": "new_target", "alpha": 0.25}}  # numbers are parsed (the spec types are strict)
    assert paths["target.alpha"] == "target@new_target.alpha"


def test_a_filled_form_is_the_spec_the_library_accepts(catalog, schemas):
    form = pages.build_design_form(catalog, schemas)
    submitted = {
        "name": ["a <b>name</b>"], "target.kind": ["schatten"], "target@schatten.p": ["1.5"],
        "target@lp.p": ["0.5"],  # another branch's field: ignored
        "shape": ["8, 6"], "mechanisms": ["gauge", "weight_decay"], "budget": ["10"], "seed": ["3"],
        "sampling.log10_min": ["-1"], "validate.enabled": ["on"], "validate.task.kind": ["matrix_sensing"],
        "validate.task@matrix_sensing.rows": ["8"], "validate.task@matrix_sensing.cols": ["6"],
        "validate.steps": ["100"], "validate.noise": [""],
    }
    spec = pages.collect_design(form, submitted, {})
    job = parse_job_spec(spec)
    assert job.name == "a <b>name</b>"
    assert job.target.kind == "schatten" and job.target.p == 1.5
    assert job.shape == [8, 6] and job.mechanisms == ["gauge", "weight_decay"]
    assert (job.budget, job.seed, job.sampling.log10_min) == (10, 3, -1.0)
    assert job.validate_.task.kind == "matrix_sensing" and (job.validate_.task.rows, job.validate_.task.cols) == (8, 6)
    assert job.validate_.steps == 100
    # without the box, no validation
    no_validation = {k: v for k, v in submitted.items() if k != "validate.enabled"}
    assert parse_job_spec(pages.collect_design(form, no_validation, {})).validate_ is None


@pytest.mark.parametrize("change, field, words", [
    ({"target@schatten.p": ["5"]}, "target@schatten.p", "less than or equal to 2"),
    ({"budget": ["many"]}, "budget", "valid integer"),
    ({"shape": ["8, x"]}, "shape", "valid integer"),
    ({"mechanisms": []}, "mechanisms", "at least 1"),
    ({"validate.enabled": ["on"], "validate.task.kind": ["sparse_regression"], "validate.task@sparse_regression.n": ["0"]},
     "validate.task@sparse_regression.n", "greater than or equal to 1"),
])
def test_the_api_errors_land_next_to_their_fields(catalog, schemas, change, field, words):
    form = pages.build_design_form(catalog, schemas)
    submitted = {"target.kind": ["schatten"], "target@schatten.p": ["1"], "shape": ["4, 4"], "mechanisms": ["gauge"], **change}
    paths: dict[str, str] = {}
    spec = pages.collect_design(form, submitted, paths)
    checked = child.validate_job_spec(spec)
    assert "error" in checked
    placed, general = pages.place_errors(form, checked["errors"], paths)
    assert general == [] and words in placed[field], (placed, general)


def test_session_cookies_are_signed_expire_and_carry_the_csrf_token(tmp_path):
    key, other = b"k" * 32, b"o" * 32
    s = session.new_session("ab" * 32, signed_in=True)
    value = session.encode(key, s)
    assert session.decode(key, value) == s
    body, sig = value.split(".")
    assert session.decode(other, value) is None
    assert session.decode(key, body + "." + sig[:-1] + ("A" if sig[-1] != "A" else "B")) is None
    forged = session.encode(other, session.UiSession(s.csrf, "cd" * 32, True, s.expires))
    assert session.decode(key, forged.split(".")[0] + "." + sig) is None
    expired = session.UiSession(s.csrf, s.token_hash, True, time.time() - 1)
    assert session.decode(key, session.encode(key, expired)) is None
    session.check_csrf(s, s.csrf)
    for wrong in (None, "", s.csrf[:-1], "x" + s.csrf):
        with pytest.raises(session.CsrfRefused):
            session.check_csrf(s, wrong)
    with pytest.raises(session.CsrfRefused):
        session.check_csrf(None, s.csrf)
    assert session.new_session().csrf != session.new_session().csrf


def test_bias_slices_and_grids_move_the_named_coordinates():
    where = pages.bias_points({"point": [[1.0, 2.0], [3.0, 4.0]], "mode": "slice", "i": "2", "low": "-1", "high": "1", "n": "3"})
    assert where["points"] == [[[1.0, 2.0], [-1.0, 4.0]], [[1.0, 2.0], [0.0, 4.0]], [[1.0, 2.0], [1.0, 4.0]]]
    grid = pages.bias_points({"point": [0.0, 0.0, 5.0], "mode": "grid", "i": "0", "j": "2", "low": "0", "high": "1", "n": "2"})
    assert grid["points"] == [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 1.0]]
    assert pages.bias_points({"point": 2.0, "i": "0", "n": "2", "low": "0", "high": "1"})["points"] == [0.0, 1.0]
    for view, field in (({"point": [1.0], "i": "1"}, "view.i"), ({"point": [1.0, 2.0], "mode": "grid", "i": "0", "j": "0"}, "view.j"),
                        ({"point": "[1, 2]"}, "view.point"), ({"point": [1.0], "n": "100000"}, "view.n"),
                        ({"point": [1.0], "low": "1", "high": "0"}, "view.high"), ({"point": [1.0], "low": "nan"}, "view.low")):
        with pytest.raises(InvalidInput) as err:
            pages.bias_points(view)
        assert err.value.field == field


def test_a_session_names_its_user_and_single_user_mode_needs_none(tmp_path):
    from app.auth.service import UserModeCache, create_user, hash_token
    from app.core.config import Settings
    from app.core.db import Database
    from app.main import prepare_database

    database = Database(Settings(data_dir=tmp_path))
    prepare_database(database)
    try:
        with database.reading() as db:
            local = session.principal_of(db, None, UserModeCache(ttl=0))
            assert (local.name, local.is_admin) == ("local", True)
        with database.transaction() as db:
            token = create_user(db, "erin", is_admin=False)
        with database.reading() as db:
            users = UserModeCache(ttl=0)
            with pytest.raises(session.SignInRequired):
                session.principal_of(db, None, users)
            with pytest.raises(session.SignInRequired):  # signed in before users existed: not any more
                session.principal_of(db, session.new_session(None, signed_in=True), users)
            erin = session.principal_of(db, session.new_session(hash_token(token), signed_in=True), users)
            assert (erin.name, erin.is_admin) == ("erin", False)
            with pytest.raises(session.SignInRequired):
                session.principal_of(db, session.new_session(hash_token(token + "x"), signed_in=True), users)
    finally:
        database.dispose()


def test_descriptions_render_their_literals_as_code_and_escape_the_rest(catalog, schemas):
    form = pages.build_design_form(catalog, schemas)
    l1 = next(b for b in _node(form, "target")["branches"] if b["name"] == "l1")
    assert "``sum_i |z_i|``" in l1["description"]  # the schema's text carries reStructuredText literals
    html = pages._env.from_string('{% import "_fields.html" as f %}{{ f.render(nodes, {}, {}) }}').render(nodes=form)
    assert "``" not in html and "<strong>l1</strong>: L1 norm <code>sum_i |z_i|</code>" in html
    assert str(pages._doc("a <b>x</b> ``<i>``")) == "a &lt;b&gt;x&lt;/b&gt; <code>&lt;i&gt;</code>"
