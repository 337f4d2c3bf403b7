"""Request and response schemas of the jobs domain (``JobPublic``, ``JobsPage``, ``JobResult``)."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field

from app.core.specs import JobSpecJSON


class JobStatus(str, Enum):
    queued = "queued"
    running = "running"
    cancelling = "cancelling"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


TERMINAL_STATUSES = frozenset({JobStatus.succeeded.value, JobStatus.failed.value, JobStatus.cancelled.value})
ACTIVE_STATUSES = frozenset({JobStatus.running.value, JobStatus.cancelling.value})


class JobErrorCode(str, Enum):
    invalid_input = "invalid_input"
    numerical_failure = "numerical_failure"
    worker_lost = "worker_lost"
    timeout = "timeout"
    internal = "internal"


class JobProgress(BaseModel):
    """The last progress report of the running job."""

    fraction: float | None = Field(default=None, ge=0, le=1, description="Share of the work done, 0 to 1.")
    stage: str | None = None
    best_fit: float | None = Field(default=None, description="Best objective value so far (lower is better).")
    updated_at: dt.datetime | None = None


class JobError(BaseModel):
    """Why a job failed."""

    code: JobErrorCode
    message: str


class ArtifactPublic(BaseModel):
    """A file the job wrote (PNG plot, JSON data...)."""

    name: str
    media_type: str
    size_bytes: int
    url: str


class JobPublic(BaseModel):
    """A design job as clients see it."""

    id: str
    kind: str
    owner: str
    status: JobStatus
    spec: JobSpecJSON
    attempt: int = Field(description="Number of times a worker has started this job.")
    max_attempts: int
    progress: JobProgress | None = None
    error: JobError | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    cancel_requested_at: dt.datetime | None = None
    artifacts: list[ArtifactPublic] = Field(default_factory=list)


class JobsPage(BaseModel):
    """One page of jobs, newest first. Pass ``next_page_token`` back as ``page_token``."""

    items: list[JobPublic]
    next_page_token: str | None = None


class JobResult(BaseModel):
    """The result document of a succeeded job."""

    job_id: str
    result: dict[str, Any]
    artifacts: list[ArtifactPublic]


class JobEventPublic(BaseModel):
    """One entry of a job's event log, as sent in the SSE ``data:`` field.

    ``type`` is ``status`` (data: status, attempt, error; ``reason`` when a job goes back to the
    queue; ``resumed_from_attempt`` when a running attempt continues from the checkpoint an
    earlier attempt saved) or ``progress`` (data: fraction, stage, best_fit). The SSE ``id:`` is
    ``seq``, monotonic per job.
    """

    seq: int
    type: str
    data: dict[str, Any]
    created_at: dt.datetime
