"""All SQL on jobs and their event log. Functions take a session and never commit."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Row, and_, bindparam, delete, or_, select, update
from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.models import Job, JobEvent, User

ACTIVE = ("running", "cancelling")


def insert_job(session: Session, job: Job) -> None:
    session.add(job)
    session.flush()


def get_with_owner(session: Session, job_id: str) -> tuple[Job, str] | None:
    row = session.execute(
        select(Job, User.name).join(User, User.id == Job.owner_id).where(Job.id == job_id)
    ).first()
    return (row[0], row[1]) if row else None


_JOBS, _USERS = Job.__table__, User.__table__

#: The job row and its owner's name, as plain columns: built once, so a GET pays neither for
#: building the statement nor for ORM identity-map loading (it only reads).
_ROW_WITH_OWNER = (
    select(_JOBS, _USERS.c.name.label("owner_name"))
    .join(_USERS, _USERS.c.id == _JOBS.c.owner_id)
    .where(_JOBS.c.id == bindparam("job_id"))
)


def get_row_with_owner(session: Session, job_id: str) -> Row | None:
    """The job's columns (attribute access like a :class:`Job`) plus ``owner_name``, read-only."""
    return session.connection().execute(_ROW_WITH_OWNER, {"job_id": job_id}).first()


def find_by_idempotency_key(session: Session, owner_id: int, key: str) -> Job | None:
    return session.execute(
        select(Job).where(Job.owner_id == owner_id, Job.idempotency_key == key)
    ).scalar_one_or_none()


def list_page(
    session: Session, *, owner_id: int | None, status: str | None,
    before: tuple[dt.datetime, str] | None, limit: int, kind: str | None = None,
) -> list[tuple[Job, str]]:
    """Jobs newest first, strictly after the cursor ``before`` = (created_at, id)."""
    stmt = select(Job, User.name).join(User, User.id == Job.owner_id)
    if owner_id is not None:
        stmt = stmt.where(Job.owner_id == owner_id)
    if status is not None:
        stmt = stmt.where(Job.status == status)
    if kind is not None:
        stmt = stmt.where(Job.kind == kind)
    if before is not None:
        created_at, job_id = before
        stmt = stmt.where(or_(Job.created_at < created_at, and_(Job.created_at == created_at, Job.id < job_id)))
    stmt = stmt.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
    return [(row[0], row[1]) for row in session.execute(stmt)]


def append_event(session: Session, job_id: str, type_: str, data: dict[str, Any]) -> int:
    """Append to the job's event log; the sequence number comes from the job row.

    Incrementing ``jobs.event_seq`` locks the job row until commit, so events of one job
    commit in sequence order and a reader resuming after ``seq`` never skips one.
    """
    seq = session.execute(
        update(Job).where(Job.id == job_id).values(event_seq=Job.event_seq + 1).returning(Job.event_seq)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    session.add(JobEvent(job_id=job_id, seq=seq, type=type_, data=data, created_at=utcnow()))
    session.flush()
    return seq


def events_after(session: Session, job_id: str, after_seq: int, limit: int = 200) -> list[JobEvent]:
    stmt = (
        select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.seq > after_seq)
        .order_by(JobEvent.seq).limit(limit)
    )
    return list(session.execute(stmt).scalars())


def status_of(session: Session, job_id: str) -> str | None:
    return session.execute(select(Job.status).where(Job.id == job_id)).scalar_one_or_none()


def lock_job(session: Session, job_id: str) -> Job | None:
    """The job row, locked for update (PostgreSQL; SQLite holds the write lock already)."""
    return session.execute(
        select(Job).where(Job.id == job_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()


def claim_next(session: Session, worker_id: str, now: dt.datetime, lease_until: dt.datetime) -> Job | None:
    """Take the oldest queued job: status running, a lease, one more attempt.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets workers claim in parallel; SQLite: the
    caller's ``BEGIN IMMEDIATE`` makes the select-then-update atomic.
    """
    job = session.execute(
        select(Job).where(Job.status == "queued").order_by(Job.created_at, Job.id).limit(1)
        .with_for_update(skip_locked=True).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if job is None:
        return None
    job.status = "running"
    job.attempt += 1
    job.lease_owner = worker_id
    job.lease_expires_at = lease_until
    job.started_at = now
    job.updated_at = now
    job.error_code = job.error_message = None
    session.flush()
    return job


def extend_lease(session: Session, job_id: str, worker_id: str, lease_until: dt.datetime) -> str | None:
    """Renew the lease if this worker still holds it; return the job's status, or None if lost."""
    return session.execute(
        update(Job).where(Job.id == job_id, Job.lease_owner == worker_id, Job.status.in_(ACTIVE))
        .values(lease_expires_at=lease_until).returning(Job.status)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()


def status_if_held(session: Session, job_id: str, worker_id: str) -> str | None:
    """The job's status if ``worker_id`` holds it and it is active, else None."""
    return session.execute(
        select(Job.status).where(Job.id == job_id, Job.lease_owner == worker_id, Job.status.in_(ACTIVE))
    ).scalar_one_or_none()


def set_progress(
    session: Session, job_id: str, worker_id: str, *, fraction: float | None, stage: str | None,
    best_fit: float | None, now: dt.datetime,
) -> bool:
    result = session.execute(
        update(Job).where(Job.id == job_id, Job.lease_owner == worker_id, Job.status.in_(ACTIVE))
        .values(progress_fraction=fraction, progress_stage=stage, progress_best_fit=best_fit,
                progress_updated_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def held_by(session: Session, job_id: str, worker_id: str) -> Job | None:
    """The job, locked, if ``worker_id`` still holds its lease and it is active."""
    return session.execute(
        select(Job).where(Job.id == job_id, Job.lease_owner == worker_id, Job.status.in_(ACTIVE))
        .with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()


def expired_leases(session: Session, now: dt.datetime, limit: int = 100) -> list[Job]:
    return list(session.execute(
        select(Job).where(Job.status.in_(ACTIVE), Job.lease_expires_at < now).limit(limit)
        .with_for_update(skip_locked=True).execution_options(populate_existing=True)
    ).scalars())


def renew_leases(session: Session, worker_ids: list[str], lease_until: dt.datetime) -> int:
    """Extend the leases of the active jobs of these (live) workers; return how many."""
    if not worker_ids:
        return 0
    return session.execute(
        update(Job).where(Job.status.in_(ACTIVE), Job.lease_owner.in_(worker_ids))
        .values(lease_expires_at=lease_until).execution_options(synchronize_session=False)
    ).rowcount


def held_jobs(session: Session, worker_id: str) -> list[Job]:
    """Active jobs whose lease ``worker_id`` holds, locked for update."""
    return list(session.execute(
        select(Job).where(Job.status.in_(ACTIVE), Job.lease_owner == worker_id)
        .with_for_update().execution_options(populate_existing=True)
    ).scalars())


def active_jobs_of(session: Session, worker_ids: list[str]) -> list[Job]:
    if not worker_ids:
        return []
    return list(session.execute(
        select(Job).where(Job.status.in_(ACTIVE), Job.lease_owner.in_(worker_ids))
    ).scalars())


def count_by_status(session: Session) -> dict[str, int]:
    from sqlalchemy import func

    rows = session.execute(select(Job.status, func.count()).group_by(Job.status))
    return {status: count for status, count in rows}


def delete_job(session: Session, job_id: str) -> None:
    session.execute(delete(JobEvent).where(JobEvent.job_id == job_id))
    session.execute(delete(Job).where(Job.id == job_id))
