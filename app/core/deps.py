"""Request dependencies as ``Annotated`` aliases (``SessionDep``, ``PrincipalDep``...)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.auth.service import Principal, authenticate
from app.core.config import Settings
from app.core.db import Database

_bearer = HTTPBearer(auto_error=False, description="An API token from `designer users add NAME`.")


def get_database(request: Request) -> Database:
    return request.app.state.database


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """One unit of work per request: reads use a plain session, writes commit at the end.

    Services never commit; this dependency does, after the endpoint returned.
    """
    database: Database = request.app.state.database
    if request.method in ("GET", "HEAD"):
        with database.read_sessions() as session:
            yield session
    else:
        with database.write_sessions() as session, session.begin():
            yield session


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from its bearer token (own short read session: no write lock held)."""
    token = credentials.credentials if credentials else None
    cache = request.app.state.principal_cache
    hit = cache.get(token)
    if hit is not None:
        return hit
    with request.app.state.database.reading() as session:
        principal = authenticate(session, token, request.app.state.user_mode)
    cache.put(token, principal)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
