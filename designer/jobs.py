"""The seam between the numerical library and the job service (``app/`` runs these as jobs).

``JobSpec`` is a pure-pydantic discriminated union on ``kind`` (the service's API schemas re-use
it); :func:`run_job` validates a spec, runs it in ``workdir``, reports progress between steps and
returns ``{"result": JSON-able dict, "artifacts": [file names written in workdir]}``.

Errors: :class:`designer.errors.DesignerInputError` (bad input, names the field),
:class:`JobCancelled` (``should_cancel()`` turned true; a subclass of
:class:`designer.errors.Cancelled`), :class:`designer.errors.NumericalFailure`.
"""

from __future__ import annotations

import json
import pathlib
from typing import Annotated, Any, Callable, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ._lazy import specs_only
from ._specs import pydantic_error
from .design._request import DesignRequest, check_design_request
from .errors import Cancelled, DesignerInputError
from .validate._spec import ValidationSpec as ValidateSpec


class JobCancelled(Cancelled):
    """The job stopped between steps because ``should_cancel()`` returned true."""


#: A label the user gives a job (both job kinds): shown by the service, ignored by the computation.
JobName = Annotated[str | None, Field(max_length=200, description="a label for the job, shown in lists (at most 200 characters)")]

#: GPUs a job asks for (both job kinds): a scheduling hint, not part of the computation.
Gpus = Annotated[float, Field(ge=0.0, le=8.0, description="GPUs the job asks for: its Ray task is scheduled on a node "
                              "with them (local workers use the devices of their machine)")]


class DesignJobSpec(DesignRequest):
    """An inverse design (``designer design``) as a job: the design request plus the job's own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    kind: Literal["design"] = "design"
    name: JobName = None
    gpus: Gpus = 0.0
    validate_: ValidateSpec | None = Field(None, alias="validate", description="optional validation run of the design")

    def design_request(self) -> dict:
        """The design request inside the job (JSON-able)."""
        return self.model_dump(mode="json", exclude={"kind", "name", "validate_", "gpus"})


class ReproduceJobSpec(BaseModel):
    """Reproduce a figure of the paper (``designer reproduce``) as a job."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["reproduce"] = "reproduce"
    name: JobName = None
    figure: Literal["fig2", "fig3", "fig4", "fig5", "fig6", "all"]
    steps: int | None = Field(None, ge=1, le=10_000_000, description="SGD steps at the authors' horizon")
    seeds: int | None = Field(None, ge=1, le=1_000, description="number of seeds")
    gpus: Gpus = 0.0


JobSpec = Annotated[Union[DesignJobSpec, ReproduceJobSpec], Field(discriminator="kind")]
_ADAPTER = TypeAdapter(JobSpec)


def parse_job_spec(spec: Any):
    """Validate a job spec (dict or JSON); errors name the field (``target.p``, ``validate.task.n``)."""
    try:
        if isinstance(spec, (str, bytes)):
            return _ADAPTER.validate_json(spec)
        return _ADAPTER.validate_python(spec)
    except ValidationError as exc:
        raise pydantic_error(exc, "", spec) from None


def check_job_spec(spec: Any):
    """Every check a job gets before it runs, without loading JAX (the service calls it at submission).

    Validates the schema (:func:`parse_job_spec`), then for a design the request's target at its
    shape and the validation task (its predictor shape must match the design's). Returns the
    parsed spec; raises :class:`DesignerInputError` naming the field.
    """
    job = parse_job_spec(spec)
    if job.kind == "design":
        check_design_request(DesignRequest.model_validate(job.design_request()))
        if job.validate_ is not None:
            with specs_only():
                _check_validation_task(job)
    return job


def run_job(
    spec: dict,
    *,
    workdir: pathlib.Path,
    progress: Callable[[dict], None],
    should_cancel: Callable[[], bool],
) -> dict:
    """Run a job; returns ``{"result": dict, "artifacts": [names of files written in workdir]}``.

    ``progress`` receives ``{"fraction", "stage", "best_fit"}`` between steps (``best_fit`` is
    ``None`` for reproductions). Raises :class:`JobCancelled`, ``DesignerInputError`` or
    ``NumericalFailure``.
    """
    job = parse_job_spec(spec)
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if job.kind == "design":
        return _run_design(job, workdir, progress, should_cancel)
    return _run_reproduce(job, workdir, progress, should_cancel)


def _run_design(job: DesignJobSpec, workdir, progress, should_cancel) -> dict:
    from . import enable_compilation_cache
    from .design import DesignCancelled, design

    enable_compilation_cache()
    request = job.design_request()
    state_path = workdir / "design_state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else None

    def save(s: dict) -> None:
        tmp = state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(s))
        tmp.replace(state_path)

    share = DESIGN_SHARE if job.validate_ is not None else 1.0
    if job.validate_ is not None:
        _check_validation_task(job)

    def report(p: dict) -> None:
        progress({"fraction": share * p["fraction"], "stage": p["stage"], "best_fit": p["best_fit"]})

    progress({"fraction": 0.0, "stage": "start", "best_fit": None})
    saved = workdir / "design_result.json"
    if job.validate_ is not None and saved.exists() and (workdir / "design.png").exists():
        result = json.loads(saved.read_text())
    else:
        try:
            result = design(request, progress=report, should_cancel=should_cancel, state=state,
                            on_state=save, plot=str(workdir / "design.png"))
        except DesignCancelled as exc:
            save(exc.state)
            raise JobCancelled(str(exc)) from None
    result["plot"] = "design.png"
    artifacts = ["result.json", "design.png", *_write_exports(result, workdir)]
    if job.validate_ is not None:
        # the design is saved first, so a cancelled validation resumes without searching again
        (workdir / "design_result.json").write_text(json.dumps(result))
        state_path.unlink(missing_ok=True)
        result["validate"] = _run_validation(job.validate_, result, workdir, progress, should_cancel)
        artifacts.append("validate.png")
    (workdir / "result.json").write_text(json.dumps(result))
    state_path.unlink(missing_ok=True)
    (workdir / "design_result.json").unlink(missing_ok=True)
    progress({"fraction": 1.0, "stage": "done", "best_fit": result["fit_error"]})
    return {"result": result, "artifacts": artifacts}


def _write_exports(result: dict, workdir: pathlib.Path) -> list[str]:
    """The best candidate as PyTorch and JAX modules (``designer export``); returns their file names.

    A design whose best candidate cannot be exported (no mechanism settings in range) still
    succeeds: the reason is written into the result's ``export`` entry instead.
    """
    from .export import ARTIFACT_NAMES, export_design

    names, errors = [], {}
    for framework, name in ARTIFACT_NAMES.items():
        try:
            source = export_design(result, framework)
        except DesignerInputError as exc:
            errors[framework] = f"{exc.field}: {exc.message}"
            continue
        (workdir / name).write_text(source, encoding="utf-8")
        names.append(name)
    result["export"] = {"candidate": result["best"].get("id"), "files": names, **({"errors": errors} if errors else {})}
    return names


def _check_validation_task(job: DesignJobSpec) -> None:
    """Fail before the design when the validation task cannot train a predictor of its shape."""
    from .simulate.tasks import build_task

    task = build_task(job.validate_.task.model_dump(), "validate.task")
    if list(task.predictor_shape or ()) != list(job.shape):
        raise DesignerInputError("validate.task", f"the task's predictor shape {list(task.predictor_shape or ())} "
                                 f"does not match the design's shape {list(job.shape)}")


#: Share of a design job's progress taken by the design when a validation follows it.
DESIGN_SHARE = 0.3


def _run_validation(spec: ValidateSpec, design_result: dict, workdir, progress, should_cancel) -> dict:
    """Train the design's best candidate on ``spec.task`` (``designer.validate.validate``).

    Progress (stage ``validate:<stage>``) and cancellation happen between simulator chunks.
    """
    from .validate import validate

    best = design_result["fit_error"]

    def report(p: dict) -> None:
        frac = DESIGN_SHARE + (1 - DESIGN_SHARE) * p["fraction"]
        progress({"fraction": min(frac, 0.999), "stage": f"validate:{p['stage']}", "best_fit": best})

    try:
        out = validate(design_result, spec, progress=report, should_cancel=should_cancel,
                       plot=str(workdir / "validate.png"))
    except JobCancelled:
        raise
    except Cancelled as exc:
        raise JobCancelled(str(exc)) from None
    out["plot"] = "validate.png"
    return out


def _run_reproduce(job: ReproduceJobSpec, workdir, progress, should_cancel) -> dict:
    from .reproduce import run_figure  # imported only when needed

    before = {p.relative_to(workdir) for p in workdir.rglob("*") if p.is_file()}

    def report(fraction: float, stage: str = "reproduce") -> None:
        progress({"fraction": float(fraction), "stage": str(stage), "best_fit": None})

    try:
        result = run_figure(job.figure, steps=job.steps, seeds=job.seeds, out_dir=workdir,
                            progress=report, should_cancel=should_cancel)
    except JobCancelled:
        raise
    except Cancelled as exc:
        raise JobCancelled(str(exc)) from None
    after = sorted(str(p.relative_to(workdir)) for p in workdir.rglob("*") if p.is_file() and p.relative_to(workdir) not in before)
    return {"result": result, "artifacts": after}


__all__ = ["DesignJobSpec", "JobCancelled", "JobSpec", "ReproduceJobSpec", "ValidateSpec", "check_job_spec",
           "parse_job_spec", "run_job"]
