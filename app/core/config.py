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
    allowed_hosts: str = Field(
        default="", description="comma-separated Host header names accepted once users exist (empty: any); "
                                "single-user mode accepts loopback names only")
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=0, le=64)

    lease_seconds: float = Field(default=30.0, gt=0)
    heartbeat_seconds: float = Field(default=5.0, gt=0)
    reaper_interval_seconds: float = Field(default=1.0, gt=0)
    worker_poll_seconds: float = Field(default=0.5, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=100)
    job_time_limit_seconds: float = Field(default=3600.0, gt=0)
    cancel_grace_seconds: float = Field(
        default=10.0, ge=0, description="the supervisor terminates a worker whose job ignored a cancel this long")
    cancel_stop_seconds: float = Field(
        default=0.5, ge=0, description="a job that has not stopped at a step this long after a cancel request "
                                       "(XLA compiling) is stopped by ending its worker process")
    progress_min_interval_seconds: float = Field(default=0.2, ge=0)

    api_threads: int = Field(default=16, ge=1, le=256, description="threads for blocking work of the API (database)")
    worker_nice: int = Field(default=19, ge=0, le=19, description="niceness added to worker processes (batch work yields to requests)")
    worker_own_sched_group: bool = Field(
        default=False, description="workers start their own session, so that on Linux with autogroup "
        "scheduling their niceness also ranks them below other sessions (a PostgreSQL server on the same "
        "host), not only below the API process; they then leave the server's process group")
    worker_single_threaded: bool = Field(
        default=True, description="one compute thread per worker (XLA Eigen and BLAS), so jobs leave cores to the API")

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    bias_timeout_seconds: float = Field(default=120.0, gt=0)
    bias_processes: int = Field(default=1, ge=1, le=16)
    sse_poll_seconds: float = Field(default=0.25, gt=0)
    sse_keepalive_seconds: float = Field(default=15.0, gt=0)

    executor: Literal["local", "ray"] = Field(
        default="local", description="where jobs run: local worker processes, or Ray tasks on a Ray cluster")
    ray_address: str | None = Field(
        default=None, validation_alias=AliasChoices("RAY_ADDRESS", "DESIGNER_RAY_ADDRESS", "ray_address"),
        description="address of the Ray cluster (head:6379, or ray://head:10001) for executor=ray")
    ray_num_cpus: float = Field(default=1.0, gt=0, description="CPUs a job's Ray task asks for")
    ray_num_gpus: float = Field(default=0.0, ge=0, description="GPUs a job's Ray task asks for (0: JAX on CPU)")

    @model_validator(mode="after")
    def _check_timing(self) -> "Settings":
        if self.heartbeat_seconds >= self.lease_seconds:
            raise ValueError(
                f"heartbeat_seconds ({self.heartbeat_seconds}) must be below "
                f"lease_seconds ({self.lease_seconds})"
            )
        if self.executor == "ray" and not self.ray_address:
            raise ValueError("executor 'ray' needs the address of a Ray cluster: set RAY_ADDRESS "
                             "(e.g. RAY_ADDRESS=head-node:6379, from `ray start --head`)")
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
    def allowed_host_names(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip())

    @property
    def jobs_dir(self) -> Path:
        """Where job results and artifacts live (``<data_dir>/jobs/<job id>/``)."""
        return self.data_dir.resolve() / "jobs"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")
