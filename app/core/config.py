"""Service settings (pydantic-settings): one object, read from the environment and the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class Settings(BaseSettings):
    """Everything the API process and its workers need to know.

    Environment variables use the prefix ``DESIGNER_`` (``DESIGNER_DATA_DIR``...), except
    ``DATABASE_URL`` which selects PostgreSQL (``postgresql+psycopg://...``); without it the
    service uses a SQLite file under ``data_dir``.
    """

    model_config = SettingsConfigDict(env_prefix="DESIGNER_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path("./data")
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "DESIGNER_DATABASE_URL", "database_url")
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=0, le=64)

    lease_seconds: float = Field(default=30.0, gt=0)
    heartbeat_seconds: float = Field(default=5.0, gt=0)
    reaper_interval_seconds: float = Field(default=1.0, gt=0)
    worker_poll_seconds: float = Field(default=0.5, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=100)
    job_time_limit_seconds: float = Field(default=3600.0, gt=0)
    cancel_grace_seconds: float = Field(default=10.0, ge=0)
    progress_min_interval_seconds: float = Field(default=0.2, ge=0)

    api_threads: int = Field(default=16, ge=1, le=256, description="threads for blocking work of the API (database)")
    worker_nice: int = Field(default=19, ge=0, le=19, description="niceness added to worker processes (batch work yields to requests)")
    worker_single_threaded: bool = Field(
        default=True, description="one compute thread per worker (XLA Eigen and BLAS), so jobs leave cores to the API")

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    bias_timeout_seconds: float = Field(default=120.0, gt=0)
    bias_processes: int = Field(default=1, ge=1, le=16)
    sse_poll_seconds: float = Field(default=0.25, gt=0)
    sse_keepalive_seconds: float = Field(default=15.0, gt=0)

    @model_validator(mode="after")
    def _check_timing(self) -> "Settings":
        if self.heartbeat_seconds >= self.lease_seconds:
            raise ValueError(
                f"heartbeat_seconds ({self.heartbeat_seconds}) must be below "
                f"lease_seconds ({self.lease_seconds})"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL: ``database_url`` or a SQLite file under ``data_dir``."""
        if self.database_url:
            url = self.database_url
            # Plain postgres URLs select psycopg 3, the only PostgreSQL driver we ship.
            for prefix in ("postgresql://", "postgres://"):
                if url.startswith(prefix):
                    return "postgresql+psycopg://" + url[len(prefix):]
            return url
        return f"sqlite:///{(self.data_dir / 'designer.sqlite3').resolve()}"

    @property
    def jobs_dir(self) -> Path:
        """Where job results and artifacts live (``<data_dir>/jobs/<job id>/``)."""
        return self.data_dir.resolve() / "jobs"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")
