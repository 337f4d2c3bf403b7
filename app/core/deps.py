"""Request dependencies as ``Annotated`` aliases (``UnitOfWorkDep``, ``PrincipalDep``...).

Latency rule of this module: a request makes at most one trip to the thread pool for its
database work. The dependencies here are ``async`` and do no I/O on the event loop (a cached
principal is a dictionary lookup); the endpoint hands one function to :class:`UnitOfWork`,
which opens a session, runs it, commits (for writes) and closes the session in the same worker
thread. A sync generator dependency holding a session would cost two more hops per request
(enter and exit each run in the pool) and, under load, can deadlock: threads waiting for a
pooled connection while the connections wait for a thread to run their teardown.
"""

from __future__ import annotations

from typing import Annotated, Any, Callable, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from app.auth.service import Principal, authenticate
from app.core.config import Settings
from app.core.db import Database

_bearer = HTTPBearer(auto_error=False, description="An API token from `designer users add NAME`.")

T = TypeVar("T")


class UnitOfWork:
    """Runs a service function with a session in one worker-thread hop.

    ``read`` uses a plain (deferred) session; ``write`` a transaction (``BEGIN IMMEDIATE`` on
    SQLite) committed when the function returns and rolled back if it raises. Services never
    commit: this does.
    """

    def __init__(self, database: Database):
        self.database = database

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(session, *args)`` in a read session, in the thread pool."""
        return await run_in_threadpool(self._read, fn, args)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(session, *args)`` in a write transaction, in the thread pool."""
        return await run_in_threadpool(self._write, fn, args)

    def _read(self, fn: Callable[..., T], args: tuple) -> T:
        with self.database.reading() as session:
            return fn(session, *args)

    def _write(self, fn: Callable[..., T], args: tuple) -> T:
        with self.database.transaction() as session:
            return fn(session, *args)


async def get_database(request: Request) -> Database:
    return request.app.state.database


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_unit_of_work(request: Request) -> UnitOfWork:
    return request.app.state.unit_of_work


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work)]


def _authenticate_uncached(request: Request, token: str | None) -> Principal:
    with request.app.state.database.reading() as session:
        return authenticate(session, token, request.app.state.user_mode)


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from its bearer token: the principal cache on the event loop, the database
    (own short read session, in the thread pool) only on a miss."""
    token = credentials.credentials if credentials else None
    cache = request.app.state.principal_cache
    hit = cache.get(token)
    if hit is not None:
        return hit
    principal = await run_in_threadpool(_authenticate_uncached, request, token)
    cache.put(token, principal)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
