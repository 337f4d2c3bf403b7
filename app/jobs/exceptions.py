"""Errors of the jobs domain."""

from app.core.errors import Conflict, InvalidInput, NotFound


class JobNotFound(NotFound):
    def __init__(self, job_id: str):
        super().__init__(f"no job {job_id!r}", field="job_id")


class ArtifactNotFound(NotFound):
    def __init__(self, job_id: str, name: str):
        super().__init__(f"job {job_id!r} has no artifact {name!r}", field="name")


class IdempotencyConflict(Conflict):
    def __init__(self, key: str, job_id: str):
        super().__init__(
            f"Idempotency-Key {key!r} was already used for job {job_id!r} with a different body",
            field="Idempotency-Key",
        )


class ResultNotReady(Conflict):
    def __init__(self, job_id: str, status: str):
        super().__init__(f"job {job_id!r} is {status}; the result exists once it has succeeded", field="job_id")


class JobNotFinished(Conflict):
    def __init__(self, job_id: str, status: str):
        super().__init__(f"job {job_id!r} is {status}; only finished jobs can be deleted (cancel it first)", field="job_id")


class InvalidPageToken(InvalidInput):
    def __init__(self):
        super().__init__("page_token is not a token returned by this endpoint", field="page_token")


class InvalidIdempotencyKey(InvalidInput):
    def __init__(self, limit: int):
        super().__init__(f"Idempotency-Key must be 1 to {limit} printable ASCII characters", field="Idempotency-Key")
