"""Job logic: creation with idempotency, visibility, cancellation, and every status transition.

Services take a session and never commit: the request (or the worker's unit of work) does.
Every transition appends a ``status`` event to the job's log, which feeds the SSE stream.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.core.config import Settings
from app.core.db import utcnow
from app.jobs import repository, storage
from app.jobs.exceptions import (
    ArtifactNotFound, IdempotencyConflict, InvalidIdempotencyKey, InvalidPageToken, JobNotFinished,
    JobNotFound, ResultNotReady,
)
from app.jobs.schemas import (
    TERMINAL_STATUSES, ArtifactPublic, JobError, JobProgress, JobPublic, JobResult, JobsPage,
)
from app.models import Job

MAX_IDEMPOTENCY_KEY = 255


#: Every job id has this form; anything else is answered 404 without a database query (ids are
#: user input: a NUL byte, for one, is an error on PostgreSQL, not a missing row).
JOB_ID_RE = re.compile(r"job_[0-9a-f]{24}")


def new_job_id() -> str:
    """A job id: ``job_`` + 24 hex characters (96 random bits)."""
    return "job_" + secrets.token_hex(12)


def is_job_id(value: str) -> bool:
    return JOB_ID_RE.fullmatch(value) is not None


def spec_hash(spec: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a normalised spec (what "the same body" means)."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _status_event(session: Session, job: Job, **extra: Any) -> None:
    data: dict[str, Any] = {"status": job.status, "attempt": job.attempt, **extra}
    if job.error_code:
        data["error"] = {"code": job.error_code, "message": job.error_message}
    repository.append_event(session, job.id, "status", data)


# --- reading ---------------------------------------------------------------------------------

def to_public(job: Job, owner: str) -> JobPublic:
    """The public view of a job (a :class:`Job` or a row with the same columns)."""
    progress = None
    if job.progress_updated_at is not None:
        progress = JobProgress(
            fraction=job.progress_fraction, stage=job.progress_stage,
            best_fit=job.progress_best_fit, updated_at=job.progress_updated_at,
        )
    error = JobError(code=job.error_code, message=job.error_message or "") if job.error_code else None
    return JobPublic(
        id=job.id, kind=job.kind, owner=owner, status=job.status, spec=job.spec, attempt=job.attempt,
        max_attempts=job.max_attempts, progress=progress, error=error, created_at=job.created_at,
        updated_at=job.updated_at, started_at=job.started_at, finished_at=job.finished_at,
        cancel_requested_at=job.cancel_requested_at, artifacts=_artifacts(job),
    )


def _artifacts(job: Job) -> list[ArtifactPublic]:
    return [
        ArtifactPublic(
            name=a["name"], media_type=a["media_type"], size_bytes=a["size_bytes"],
            url=f"/v1/design-jobs/{job.id}/artifacts/{a['name']}",
        )
        for a in job.artifacts or []
    ]


def get_public(session: Session, principal: Principal, job_id: str) -> JobPublic:
    """The job as the caller sees it (404 if it is not theirs, like :func:`get_visible`).

    The hot path of polling clients: one prebuilt read-only query, no ORM object.
    """
    row = repository.get_row_with_owner(session, job_id) if is_job_id(job_id) else None
    if row is None or (not principal.is_admin and row.owner_id != principal.user_id):
        raise JobNotFound(job_id)
    return to_public(row, row.owner_name)


def get_visible(session: Session, principal: Principal, job_id: str) -> tuple[Job, str]:
    """The job if the caller owns it (or is admin); otherwise 404, never 403, so ids don't leak."""
    found = repository.get_with_owner(session, job_id) if is_job_id(job_id) else None
    if found is None or (not principal.is_admin and found[0].owner_id != principal.user_id):
        raise JobNotFound(job_id)
    return found


def encode_page_token(job: Job) -> str:
    raw = json.dumps([job.created_at.isoformat(), job.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[dt.datetime, str]:
    """The (created_at in UTC, job id) cursor of a token; 422 for anything else.

    Tokens come from clients: the timestamp must be aware and representable in UTC (year 1 at
    +14:00 is not) and the id must have the form of a job id (no NUL bytes reach the database).
    """
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        created, job_id = json.loads(raw)
        when = dt.datetime.fromisoformat(created)
        if when.tzinfo is None or not isinstance(job_id, str) or not is_job_id(job_id):
            raise ValueError
        return when.astimezone(dt.timezone.utc), job_id
    except (ValueError, TypeError, OverflowError):
        raise InvalidPageToken() from None


def list_jobs(
    session: Session, principal: Principal, status: str | None, page_size: int, page_token: str | None,
    kind: str | None = None,
) -> JobsPage:
    before = decode_page_token(page_token) if page_token else None
    rows = repository.list_page(
        session, owner_id=None if principal.is_admin else principal.user_id, status=status,
        before=before, limit=page_size + 1, kind=kind,
    )
    items = rows[:page_size]
    next_token = encode_page_token(items[-1][0]) if len(rows) > page_size else None
    return JobsPage(items=[to_public(job, owner) for job, owner in items], next_page_token=next_token)


def result_of(session: Session, settings: Settings, principal: Principal, job_id: str) -> JobResult:
    job, _ = get_visible(session, principal, job_id)
    if job.status != "succeeded":
        raise ResultNotReady(job_id, job.status)
    return JobResult(job_id=job.id, result=storage.read_result(settings, job.id), artifacts=_artifacts(job))


def artifact_path(session: Session, settings: Settings, principal: Principal, job_id: str, name: str) -> tuple[Path, str]:
    job, _ = get_visible(session, principal, job_id)
    for artifact in job.artifacts or []:
        if artifact["name"] == name:  # only names the worker recorded: no path from the client
            return storage.output_dir(settings, job.id) / artifact["name"], artifact["media_type"]
    raise ArtifactNotFound(job_id, name)


# --- writing from the API ---------------------------------------------------------------------

def check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not (1 <= len(key) <= MAX_IDEMPOTENCY_KEY) or not all(32 <= ord(c) < 127 for c in key):
        raise InvalidIdempotencyKey(MAX_IDEMPOTENCY_KEY)
    return key


def create_job(
    session: Session, settings: Settings, principal: Principal, spec: dict[str, Any], idempotency_key: str | None,
) -> tuple[Job, str, bool]:
    """Insert a queued job (the commit is the enqueue); return (job, owner, created).

    With an ``Idempotency-Key``: the same key and the same normalised spec returns the job
    created first (``created`` False); the same key with another spec raises 409. A unique
    index on (owner, key) settles concurrent submissions: the loser re-reads the winner.
    """
    digest = spec_hash(spec)
    if idempotency_key is not None:
        existing = repository.find_by_idempotency_key(session, principal.user_id, idempotency_key)
        if existing is not None:
            return _replay(existing, idempotency_key, digest, principal)
    now = utcnow()
    job = Job(
        id=new_job_id(), owner_id=principal.user_id, kind=str(spec.get("kind")), spec=spec, status="queued",
        attempt=0, max_attempts=settings.max_attempts, time_limit_seconds=settings.job_time_limit_seconds,
        created_at=now, updated_at=now, idempotency_key=idempotency_key, request_hash=digest,
        event_seq=0, artifacts=[],
    )
    try:
        with session.begin_nested():
            repository.insert_job(session, job)
    except IntegrityError:
        if idempotency_key is None:
            raise
        existing = repository.find_by_idempotency_key(session, principal.user_id, idempotency_key)
        if existing is None:
            raise
        return _replay(existing, idempotency_key, digest, principal)
    _status_event(session, job)
    return job, principal.name, True


def find_replay(session: Session, principal: Principal, spec: dict[str, Any], key: str) -> JobPublic | None:
    """The job an earlier submission with this key created (409 if its spec differs), or None."""
    existing = repository.find_by_idempotency_key(session, principal.user_id, key)
    if existing is None:
        return None
    job, owner, _ = _replay(existing, key, spec_hash(spec), principal)
    return to_public(job, owner)


def _replay(existing: Job, key: str, digest: str, principal: Principal) -> tuple[Job, str, bool]:
    if existing.request_hash != digest:
        raise IdempotencyConflict(key, existing.id)
    return existing, principal.name, False


def request_cancel(session: Session, principal: Principal, job_id: str) -> tuple[Job, str]:
    """Queued jobs are cancelled at once; running ones move to ``cancelling`` and the worker
    stops at its next step (or is terminated after the grace period). Finished jobs are
    returned as they are."""
    job, owner = get_visible(session, principal, job_id)
    job = repository.lock_job(session, job_id) or job
    now = utcnow()
    if job.status == "queued":
        job.status, job.finished_at, job.updated_at, job.cancel_requested_at = "cancelled", now, now, now
        session.flush()
        _status_event(session, job)
    elif job.status == "running":
        job.status, job.cancel_requested_at, job.updated_at = "cancelling", now, now
        session.flush()
        _status_event(session, job)
    return job, owner


def cancel_public(session: Session, principal: Principal, job_id: str) -> JobPublic:
    """:func:`request_cancel`, answered as the caller sees the job."""
    return to_public(*request_cancel(session, principal, job_id))


def delete_finished(session: Session, settings: Settings, principal: Principal, job_id: str) -> None:
    job, _ = get_visible(session, principal, job_id)
    if job.status not in TERMINAL_STATUSES:
        raise JobNotFinished(job_id, job.status)
    repository.delete_job(session, job_id)
    shutil.rmtree(storage.job_dir(settings, job_id), ignore_errors=True)


# --- transitions used by workers and the supervisor ---------------------------------------------

def finish(session: Session, job: Job, status: str, *, error_code: str | None = None,
           error_message: str | None = None, artifacts: list[dict[str, Any]] | None = None) -> None:
    """Move an active job to a terminal status and release its lease."""
    now = utcnow()
    job.status = status
    # Messages may quote user input; PostgreSQL text cannot hold NUL bytes.
    job.error_code, job.error_message = error_code, error_message and error_message.replace("\x00", "\\x00")
    if artifacts is not None:
        job.artifacts = artifacts
    if status == "succeeded":
        job.progress_fraction = 1.0
        job.progress_updated_at = now
    job.finished_at = job.updated_at = now
    job.lease_owner = job.lease_expires_at = None
    session.flush()
    _status_event(session, job)


def requeue_or_fail(session: Session, job: Job, reason: str) -> None:
    """A job whose worker went away: back to the queue, or ``worker_lost`` after the last attempt.

    A job that was being cancelled is simply cancelled.
    """
    if job.status == "cancelling":
        finish(session, job, "cancelled", error_message=None)
        return
    if job.attempt >= job.max_attempts:
        finish(session, job, "failed", error_code="worker_lost",
               error_message=f"{reason}; gave up after {job.attempt} attempt(s)")
        return
    now = utcnow()
    job.status = "queued"
    job.lease_owner = job.lease_expires_at = None
    job.updated_at = now
    session.flush()
    repository.append_event(session, job.id, "status", {"status": "queued", "attempt": job.attempt, "reason": reason})


def record_progress(session: Session, job_id: str, worker_id: str, report: dict[str, Any]) -> None:
    """Store a progress report of the running job and log it as a ``progress`` event."""
    fraction = report.get("fraction")
    fraction = None if fraction is None else min(1.0, max(0.0, float(fraction)))
    best_fit = report.get("best_fit")
    best_fit = None if best_fit is None or best_fit != best_fit or abs(best_fit) == float("inf") else float(best_fit)
    stage = report.get("stage")
    stage = None if stage is None else str(stage)[:200]
    if repository.set_progress(session, job_id, worker_id, fraction=fraction, stage=stage, best_fit=best_fit, now=utcnow()):
        repository.append_event(session, job_id, "progress", {"fraction": fraction, "stage": stage, "best_fit": best_fit})
