"""Users and bearer tokens: creation, hashing, authentication, single-user mode."""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth import repository
from app.auth.exceptions import InvalidToken, InvalidUserName, MissingToken, UserExists

TOKEN_PREFIX = "dsg_"
_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user id and whether they may see every job."""

    user_id: int
    name: str
    is_admin: bool


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a token. Tokens carry 256 random bits, so no salt or KDF is needed."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh bearer token (``dsg_`` + 43 URL-safe characters, 256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_user(session: Session, name: str, *, is_admin: bool) -> str:
    """Create a user with one token; return the token (shown once, stored only hashed)."""
    if not _NAME_RE.match(name) or name == repository.LOCAL_USER_NAME:
        raise InvalidUserName(name)
    if repository.get_by_name(session, name) is not None:
        raise UserExists(name)
    token = new_token()
    try:
        user = repository.add_user(session, name, is_admin=is_admin)
        repository.add_token(session, user, hash_token(token))
    except IntegrityError as exc:  # a concurrent creation of the same name
        raise UserExists(name) from exc
    return token


def ensure_local_user(session: Session) -> None:
    """Create the owner of single-user-mode jobs if missing."""
    if repository.get_local_user(session) is None:
        repository.add_user(session, repository.LOCAL_USER_NAME, is_admin=True, is_local=True)


class UserModeCache:
    """Whether any users exist, re-read at most every ``ttl`` seconds.

    Adding a user with ``designer users add`` while the service runs ends single-user mode
    within ``ttl`` seconds.
    """

    def __init__(self, ttl: float = 1.0):
        self.ttl = ttl
        self._lock = threading.Lock()
        self._value: bool | None = None
        self._read_at = 0.0

    def peek(self) -> bool | None:
        """The cached answer if it is fresh, else None (no database access)."""
        with self._lock:
            if self._value is True or (self._value is not None and time.monotonic() - self._read_at < self.ttl):
                return self._value
        return None

    def has_users(self, session: Session) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._value is True or (self._value is not None and now - self._read_at < self.ttl):
                return self._value
        value = repository.count_real_users(session) > 0
        with self._lock:
            self._value, self._read_at = value, now
        return value


def authenticate(session: Session, token: str | None, user_mode: UserModeCache) -> Principal:
    """Map a bearer token (or its absence, in single-user mode) to a :class:`Principal`."""
    if token:
        user = repository.get_by_token_hash(session, hash_token(token))
        if user is None:
            raise InvalidToken()
        return Principal(user.id, user.name, user.is_admin)
    if user_mode.has_users(session):
        raise MissingToken()
    local = repository.get_local_user(session)
    if local is None:  # created at start; only missing if the database was swapped underneath
        raise MissingToken()
    return Principal(local.id, local.name, True)


class PrincipalCache:
    """Recently authenticated tokens (by hash), kept ``ttl`` seconds to spare a query per request.

    Only successes are cached; the single-user principal (token None) is cached too, so a new
    user ends single-user mode within ``ttl`` seconds.
    """

    def __init__(self, ttl: float = 2.0, size: int = 1024):
        self.ttl, self.size = ttl, size
        self._lock = threading.Lock()
        self._items: dict[str | None, tuple[float, Principal]] = {}

    def get(self, token: str | None) -> Principal | None:
        key = hash_token(token) if token else None
        with self._lock:
            item = self._items.get(key)
        if item is None or time.monotonic() - item[0] > self.ttl:
            return None
        return item[1]

    def put(self, token: str | None, principal: Principal) -> None:
        key = hash_token(token) if token else None
        with self._lock:
            if len(self._items) >= self.size:
                self._items.clear()
            self._items[key] = (time.monotonic(), principal)
