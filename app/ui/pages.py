"""What the pages show: template rendering, security headers, and the view of each page."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup, escape
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.auth.service import Principal
from app.bias import service as bias_service
from app.bias.schemas import MAX_POINTS, BiasEvaluateRequest
from app.core.config import Settings
from app.core.errors import AppError, InvalidInput
from app.jobs import service
from app.jobs.exceptions import JobNotFound
from app.jobs.schemas import ACTIVE_STATUSES, TERMINAL_STATUSES, JobPublic
from app.ui import forms
from app.ui.session import UiSession, new_session, set_cookie

PAGE_SIZE = 25
#: The job page shows this many ranked candidates (all of them are in the result JSON).
MAX_CANDIDATES = 200

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

#: A failed job's error code, in words (the service's message follows).
ERROR_WORDS = {
    "invalid_input": "The job's input was refused by the library.",
    "numerical_failure": "The computation failed numerically (a singular or non-finite value).",
    "worker_lost": "The worker running the job stopped answering, and the job ran out of attempts.",
    "timeout": "The job ran longer than the service's time limit and was stopped.",
    "internal": "The service hit an unexpected error while running the job.",
}


#: How each hyperparameter of a design follows from the fitted scale ``a`` (the induced bias is
#: ``a R*(z) + b`` in the mechanism's unit) and the requested strength lambda; see
#: ``designer.design.hyperparameters``. A key not listed here is shown without a rule.
HYPERPARAMETER_RULES = {
    "strength": "the requested strength λ",
    "weight_decay": "λ / a",
    "temperature": "T = λ / a",
    "gradient_noise_variance": "s², the gradient-noise variance the request assumes",
    "learning_rate_over_batch_size": "η / B = 2 T / s² (from T = η s² / (2 B))",
    "learning_rate": "η, the request's learning rate",
    "label_noise_variance": "σ² = 4 λ / (a η) (from η σ² / 4 = λ / a)",
    "learning_rate_times_variance": "η σ² = 4 λ / a",
}


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if math.isfinite(value) else str(value)
    return str(value)


def _when(value: dt.datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _doc(text: str | None) -> Markup:
    """A schema description as HTML: escaped, with its reStructuredText literals (``x``) as code."""
    parts = str(escape(text or "")).split("``")
    return Markup("".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts)))


_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
                   trim_blocks=True, lstrip_blocks=True)
_env.filters["fmt"] = _fmt
_env.filters["when"] = _when
_env.filters["doc"] = _doc
_env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=2, sort_keys=False, allow_nan=False)


def secure(response: Response) -> Response:
    for key, value in SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)
    return response


def render(request: Request, template: str, sess: UiSession | None, principal: Principal | None, *,
           status_code: int = 200, **context: Any) -> Response:
    """A page, with a session cookie (and its CSRF token) created if the browser has none."""
    fresh = sess is None
    sess = sess or new_session()
    html = _env.get_template(template).render(request=request, user=principal, csrf=sess.csrf, **context)
    response = secure(Response(html, status_code=status_code, media_type="text/html; charset=utf-8"))
    if fresh:
        set_cookie(request, response, sess)
    return response


def json_response(value: Any) -> Response:
    return secure(Response(json.dumps(value, allow_nan=False), media_type="application/json"))


# --- jobs list --------------------------------------------------------------------------------

def _target(spec: Mapping[str, Any]) -> str:
    if spec.get("kind") == "reproduce":
        return f"figure {spec.get('figure')}"
    target = spec.get("target") or {}
    return str(target.get("kind", "—"))


def row(job: JobPublic) -> dict[str, Any]:
    """One line of the jobs list (also the JSON its live updates read)."""
    spec = job.spec or {}
    progress = job.progress
    shape = spec.get("shape")
    return {
        "id": job.id, "name": spec.get("name") or "", "kind": job.kind, "owner": job.owner, "status": job.status.value,
        "active": job.status.value not in TERMINAL_STATUSES,
        "target": _target(spec), "shape": " × ".join(str(s) for s in shape) if shape else "—",
        "fraction": progress.fraction if progress and progress.fraction is not None else None,
        "stage": progress.stage if progress else None,
        "best_fit": _fmt(progress.best_fit if progress else None),
        "created": _when(job.created_at), "finished": _when(job.finished_at),
    }


def next_url(status, kind: str | None, token: str | None) -> str | None:
    if token is None:
        return None
    query = {k: v for k, v in (("status", status.value if status else None), ("kind", kind), ("page_token", token)) if v}
    return "/ui/jobs?" + urlencode(query)


# --- one job ----------------------------------------------------------------------------------

def _error_words(job: JobPublic) -> str | None:
    if job.error is None:
        return None
    return ERROR_WORDS.get(job.error.code.value, "The job failed.")


def _sort_value(value: Any) -> str:
    return "" if value is None else str(value)


def _candidate_cells(c: Mapping[str, Any]) -> list[tuple[str, str]]:
    """One row of the candidates table: (sort value, text) per column, formatted here once."""
    return [(str(c.get("rank")), str(c.get("rank"))), (str(c.get("description", "")),) * 2,
            (str(c.get("mechanism", "")),) * 2, (_sort_value(c.get("depth")), _fmt(c.get("depth"))),
            (_sort_value(c.get("fit_error")), _fmt(c.get("fit_error"))), (_sort_value(c.get("a")), _fmt(c.get("a")))]


def job_view(db: Session, principal: Principal, settings: Settings, job_id: str) -> dict[str, Any]:
    job = service.get_public(db, principal, job_id)
    result = None
    if job.status.value == "succeeded":
        try:
            result = service.result_of(db, settings, principal, job_id).result
        except (AppError, OSError, ValueError):
            result = None
    candidates = (result or {}).get("candidates") or []
    best = (result or {}).get("best")
    return {
        "job": job, "row": row(job), "result": result, "best": best,
        "candidates": [_candidate_cells(c) for c in candidates[:MAX_CANDIDATES]], "candidates_total": len(candidates),
        "plots": [a for a in job.artifacts if a.media_type == "image/png"],
        "error_words": _error_words(job),
        "active": job.status.value not in TERMINAL_STATUSES,
        "cancellable": job.status.value in ("queued", *ACTIVE_STATUSES) and job.status.value != "cancelling",
        "spec_json": json.dumps(job.spec, indent=2),
        "rules": HYPERPARAMETER_RULES,
    }


def compare_view(db: Session, principal: Principal, settings: Settings, ids: list[str]) -> dict[str, Any]:
    """Finished design jobs side by side; the ids that are not (yet) comparable are said so."""
    jobs, problems = [], []
    for job_id in dict.fromkeys(ids):
        try:
            job = service.get_public(db, principal, job_id)
        except JobNotFound:
            problems.append(f"{job_id}: no such job")
            continue
        if job.kind != "design" or job.status.value != "succeeded":
            problems.append(f"{job_id}: only succeeded design jobs can be compared (this one is a {job.status.value} {job.kind} job)")
            continue
        result = service.result_of(db, settings, principal, job_id).result
        jobs.append({"job": job, "row": row(job), "result": result, "best": result.get("best") or {},
                     "plots": [a for a in job.artifacts if a.media_type == "image/png"]})
    if len(ids) < 2:
        problems.append("pick two or more succeeded design jobs in the jobs list to compare them")
    best_fit = min((j["result"].get("fit_error") for j in jobs if j["result"].get("fit_error") is not None), default=None)
    return {"items": jobs, "problems": problems, "best_fit": best_fit}


# --- forms ------------------------------------------------------------------------------------

async def _catalog(request: Request) -> dict[str, Any]:
    return await request.app.state.numerics.catalog()


async def design_form(request: Request) -> list[dict]:
    """The new-design-job form: the target from the catalog, the rest from the job spec's schema."""
    catalog = await _catalog(request)
    schemas = await run_in_threadpool(request.app.state.numerics.schemas)
    return build_design_form(catalog, schemas)


def build_design_form(catalog: Mapping[str, Any], schemas: Mapping[str, Any]) -> list[dict]:
    """The form's nodes from the catalog (``describe()``) and the spec schemas (``child.schemas()``)."""
    defs = schemas["defs"]
    design = defs["DesignJobSpec"]
    target = forms.catalog_union("target", "target", "kind", catalog.get("targets", []))
    target["description"] = (design["properties"].get("target") or {}).get("description")
    nodes = forms.object_fields("", design, defs, skip=("kind",), overrides={"target": target})
    # what users set most first: name, target, shape, mechanisms, budget, seed
    order = {k: i for i, k in enumerate(("name", "target", "shape", "mechanisms", "budget", "seed"))}
    return sorted(nodes, key=lambda n: order.get(n["key"], len(order)))


def collect_design(form: list[dict], submitted: forms.FormData, paths: dict[str, str]) -> dict[str, Any]:
    return {"kind": "design", **forms.collect(form, submitted, paths)}


def place_errors(form: list[dict], errors: list[Mapping[str, str]], paths: Mapping[str, str]):
    return forms.place_errors(errors, paths, forms.branch_names(form))


def flat_values(submitted: forms.FormData) -> dict[str, Any]:
    """Submitted values to refill the form with (lists kept for check boxes)."""
    return {k: (v if len(v) > 1 else v[0]) for k, v in submitted.items() if k != "csrf"}


async def bias_form(request: Request) -> list[dict]:
    """The bias explorer's form: family and mechanism from the catalog, then where to look."""
    return build_bias_form(await _catalog(request))


def build_bias_form(catalog: Mapping[str, Any]) -> list[dict]:
    slice_fields = [
        forms.input_node("view.point", "point", type_="json", default=[1.0, 0.5, -0.5],
                     description="the predictor z at which the slice or grid is centred: a number, a list or a matrix (JSON)"),
        forms.input_node("view.mode", "mode", type_="string", choices=["slice", "grid"], default="slice",
                     description="slice: R along one coordinate; grid: R over two coordinates"),
        forms.input_node("view.i", "i", type_="integer", default=0, minimum=0,
                     description="coordinate moved along the slice (index into the flattened predictor)"),
        forms.input_node("view.j", "j", type_="integer", default=1, minimum=0, description="second coordinate (grid only)"),
        forms.input_node("view.low", "low", type_="number", default=-2.0, description="smallest value of the moved coordinates"),
        forms.input_node("view.high", "high", type_="number", default=2.0, description="largest value of the moved coordinates"),
        forms.input_node("view.n", "n", type_="integer", default=41, minimum=2, maximum=201,
                     description="points per coordinate (slice: up to 201; grid: up to 61 per side)"),
    ]
    return [
        forms.catalog_union("param", "param", "family", catalog.get("families", []), selected="hadamard"),
        forms.catalog_union("mechanism", "mechanism", "kind", catalog.get("mechanisms", [])),
        {"node": "group", "name": "view", "key": "view", "label": "where to look", "description": None,
         "optional": False, "fields": slice_fields},
    ]


def _view_numbers(view: Mapping[str, Any]) -> tuple[Any, str, int, int, float, float, int]:
    """The slice/grid settings, each checked with the field named."""
    raw_point = view.get("point", [1.0, 0.5, -0.5])
    mode = view.get("mode", "slice")
    if mode not in ("slice", "grid"):
        raise InvalidInput("mode must be slice or grid", field="view.mode")

    def number(key: str, cast, default, low=None, high=None):
        try:
            value = cast(view.get(key, default))
        except (TypeError, ValueError):
            raise InvalidInput(f"{key} must be a{'n integer' if cast is int else ' number'}", field=f"view.{key}") from None
        if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
            raise InvalidInput(f"{key} must be between {low} and {high}", field=f"view.{key}")
        return value

    n_max = 201 if mode == "slice" else 61
    i, j = number("i", int, 0, 0, 10**6), number("j", int, 1, 0, 10**6)
    low, high = number("low", float, -2.0, -1e6, 1e6), number("high", float, 2.0, -1e6, 1e6)
    if high <= low:
        raise InvalidInput("high must be above low", field="view.high")
    n = number("n", int, 41, 2, n_max)
    return raw_point, mode, i, j, low, high, n


def _flat(value: Any) -> tuple[list[float], tuple[int, ...]]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)], ()
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return [float(v) for v in value], (len(value),)
    if (isinstance(value, list) and value and all(isinstance(r, list) and r for r in value)
            and len({len(r) for r in value}) == 1
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for r in value for v in r)):
        return [float(v) for r in value for v in r], (len(value), len(value[0]))
    raise InvalidInput("the point must be a number, a list of numbers or a matrix (list of equal rows)", field="view.point")


def _unflat(values: list[float], shape: tuple[int, ...]) -> Any:
    if shape == ():
        return values[0]
    if len(shape) == 1:
        return list(values)
    rows, cols = shape
    return [values[r * cols:(r + 1) * cols] for r in range(rows)]


def bias_points(view: Mapping[str, Any]) -> dict[str, Any]:
    """The predictors of a slice (one coordinate moved) or a grid (two), around ``view.point``."""
    raw_point, mode, i, j, low, high, n = _view_numbers(view)
    base, shape = _flat(raw_point)
    for key, idx in (("i", i), ("j", j)) if mode == "grid" else (("i", i),):
        if idx >= len(base):
            raise InvalidInput(f"{key} = {idx} is not a coordinate of the point (it has {len(base)})", field=f"view.{key}")
    if mode == "grid" and i == j:
        raise InvalidInput("the grid needs two different coordinates", field="view.j")
    axis = [low + (high - low) * k / (n - 1) for k in range(n)]
    points = []
    if mode == "slice":
        for x in axis:
            p = list(base)
            p[i] = x
            points.append(_unflat(p, shape))
    else:
        for y in axis:
            for x in axis:
                p = list(base)
                p[i], p[j] = x, y
                points.append(_unflat(p, shape))
    assert len(points) <= MAX_POINTS
    return {"mode": mode, "i": i, "j": j, "axis": axis, "points": points}


async def evaluate_bias(request: Request, form: list[dict], submitted: forms.FormData) -> dict[str, Any]:
    """Evaluate R on the requested slice or grid with ``/v1/bias:evaluate``'s logic; a PNG plot."""
    paths: dict[str, str] = {}
    spec = forms.collect(form, submitted, paths)
    try:
        where = bias_points(spec.get("view", {}))
        body = BiasEvaluateRequest.model_validate({"param": spec["param"], "mechanism": spec["mechanism"], "points": where["points"]})
        answer = await bias_service.evaluate(request.app.state.numerics, body, request.app.state.settings.bias_timeout_seconds)
    except AppError as exc:
        errors, general = forms.place_errors([{"field": exc.field or "", "message": exc.detail}], paths, forms.branch_names(form))
        return {"errors": errors, "general": general, "plot": None}
    except ValidationError as exc:  # the request's own checks (limits)
        errs = [{"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "invalid")} for e in exc.errors()]
        errors, general = forms.place_errors(errs, paths, forms.branch_names(form))
        return {"errors": errors, "general": general, "plot": None}
    from app.ui import plots

    title = f"{spec['param'].get('family')} under {spec['mechanism'].get('kind')}"
    png = await run_in_threadpool(plots.bias_png, where, answer.values, title)
    finite = [v for v in answer.values if v is not None]
    return {"errors": {}, "general": [], "plot": png, "singular": len(answer.singular), "points": len(answer.values),
            "value_range": (min(finite), max(finite)) if finite else None}
