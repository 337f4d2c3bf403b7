"""Schemas of the operational endpoints."""

from pydantic import BaseModel


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    """Whether the service can take work, and each check's state."""

    status: str
    database: bool
    workers_alive: int
    workers_expected: int
    numerics_ready: bool


class Version(BaseModel):
    service: str
    api: str
    library: str
    python: str
    database: str
