"""Database engine, sessions and migrations (SQLite by default, PostgreSQL by URL).

SQLite is configured the way a server needs it: WAL journal, a busy timeout, foreign keys,
and ``BEGIN IMMEDIATE`` for every transaction that writes, so two writers queue on the busy
timeout instead of failing with "database is locked" when a read lock cannot be upgraded.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from app.core.config import Settings

SQLITE_BUSY_TIMEOUT_MS = 30_000

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table; one metadata for the one Alembic tree."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator):
    """Timestamps stored as naive UTC and returned as aware UTC on every backend.

    SQLite has no time zones; storing naive UTC keeps comparisons (lease expiry) correct
    as plain string/time comparisons on both SQLite and PostgreSQL.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc)


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents owner-only (0700); existing ones keep their mode.

    Job data and token hashes live under the data directory: on a shared machine other users
    must not read them.
    """
    missing = []
    current = path.resolve()
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:  # created concurrently
            pass
        os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask
    return path


def private_sqlite_files(path: Path) -> None:
    """Make the SQLite database and its WAL and shared-memory files owner-only (0600)."""
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if name.stat().st_mode & 0o077:
                os.chmod(name, 0o600)
        except FileNotFoundError:
            pass


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.timezone.utc)


def locked_now(session: Session) -> dt.datetime:
    """The current time once the session's transaction has begun.

    A session begins lazily, at its first statement; on SQLite that ``BEGIN IMMEDIATE`` can wait
    seconds for the write lock (a worker at low priority holding it on a busy machine). A lease
    computed before that wait could already be over when it is written, so lease times are taken
    after the transaction has begun.
    """
    session.connection()
    return utcnow()


class Database:
    """An engine for reads and one for writes over the same connection pool.

    On SQLite the write engine opens ``BEGIN IMMEDIATE`` (takes the write lock up front);
    on PostgreSQL both are the same engine.
    """

    def __init__(self, settings: Settings):
        url = settings.resolved_database_url
        self.is_sqlite = url.startswith("sqlite")
        # One connection per API thread plus a few for the supervisor and readiness checks: a
        # thread never waits for a connection (it holds at most one, within one pool hop).
        pool_size = settings.api_threads + 4
        self.sqlite_path = Path(url.removeprefix("sqlite:///")) if self.is_sqlite else None
        if self.is_sqlite:
            private_dir(Path(settings.data_dir))
            self.engine = create_engine(
                url,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
                pool_size=pool_size,
                max_overflow=8,
            )
            _configure_sqlite(self.engine)
            self.write_engine = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        else:
            self.engine = create_engine(url, pool_size=pool_size, max_overflow=8, pool_pre_ping=True)
            self.write_engine = self.engine
        # Reads on PostgreSQL run in autocommit: each statement is its own transaction, which at
        # READ COMMITTED (the default) sees exactly what it would inside BEGIN ... ROLLBACK, since
        # every statement takes its own snapshot there; it spares the BEGIN and ROLLBACK round
        # trips (each a wake-up of the database server: on busy cores, the p99 of a GET).
        read_engine = self.engine if self.is_sqlite else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.read_sessions = sessionmaker(read_engine, expire_on_commit=False)
        self.write_sessions = sessionmaker(self.write_engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write unit of work: commits on success, rolls back on error."""
        with self.write_sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session (no write lock on SQLite; autocommit statements on PostgreSQL)."""
        with self.read_sessions() as session:
            yield session

    def ping(self) -> None:
        """Raise if the database cannot answer ``SELECT 1``."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" hook emit BEGIN itself (pysqlite would defer it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def run_migrations(database: Database) -> None:
    """Bring the schema to the head of the packaged Alembic tree (idempotent)."""
    import logging

    from alembic import command
    from alembic.config import Config

    logging.getLogger("alembic").setLevel(logging.WARNING)

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).resolve().parent.parent / "migrations"))
    with database.write_engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        connection.commit()
    if database.sqlite_path is not None:
        private_sqlite_files(database.sqlite_path)
