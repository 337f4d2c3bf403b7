"""Browser sessions of the web pages: a signed cookie, its CSRF token, and the caller it names.

The cookie holds ``{"c": csrf token, "h": SHA-256 of the API token (or None in single-user
mode), "s": signed in, "e": expiry}``, signed with HMAC-SHA256 under a secret kept in the data
directory (or ``DESIGNER_UI_SECRET``). It never holds the token itself; every request looks the
hash up again, so a user removed from the database is signed out at once. The cookie is
HttpOnly, SameSite=Strict, and Secure when the request came over HTTPS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from app.auth import repository as auth_repository
from app.auth.service import Principal, UserModeCache
from app.core.config import Settings
from app.core.errors import AppError

COOKIE = "designer_session"
#: A session lasts this long after sign-in.
SESSION_SECONDS = 12 * 3600
SECRET_FILE = "ui-secret"


class SignInRequired(Exception):
    """The page needs a signed-in session; answered with a redirect to the sign-in page."""


class CsrfRefused(AppError):
    status_code, code, title = 403, "csrf", "Forbidden"

    def __init__(self):
        super().__init__("the form's CSRF token is missing or does not match this session; reload the page and try again")


@dataclass(frozen=True)
class UiSession:
    csrf: str
    token_hash: str | None
    signed_in: bool
    expires: float

    def to_json(self) -> dict:
        return {"c": self.csrf, "h": self.token_hash, "s": self.signed_in, "e": self.expires}


_secret_lock = threading.Lock()


def secret(settings: Settings) -> bytes:
    """The signing key: ``DESIGNER_UI_SECRET``, else a random key created once in the data directory."""
    env = os.environ.get("DESIGNER_UI_SECRET")
    if env:
        return env.encode()
    path = Path(settings.data_dir).resolve() / SECRET_FILE
    with _secret_lock:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            key = secrets.token_hex(32).encode()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(key)
            return key


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(key: bytes, session: UiSession) -> str:
    body = _b64(json.dumps(session.to_json(), separators=(",", ":")).encode())
    sig = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    return f"{body}.{sig}"


def decode(key: bytes, value: str | None) -> UiSession | None:
    """The session in a cookie value, or None if it is absent, forged or expired."""
    if not value or value.count(".") != 1 or len(value) > 1024:
        return None
    body, sig = value.split(".")
    expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(sig, expected):
        return None
    try:
        data = json.loads(_unb64(body))
        session = UiSession(csrf=str(data["c"]), token_hash=data["h"], signed_in=bool(data["s"]), expires=float(data["e"]))
    except (ValueError, KeyError, TypeError):
        return None
    return session if session.expires > time.time() else None


def new_session(token_hash: str | None = None, signed_in: bool = False) -> UiSession:
    """A fresh session (a new CSRF token each time: signing in never keeps the old one)."""
    return UiSession(secrets.token_urlsafe(24), token_hash, signed_in, time.time() + SESSION_SECONDS)


def current(request: Request) -> UiSession | None:
    return decode(secret(request.app.state.settings), request.cookies.get(COOKIE))


def set_cookie(request: Request, response: Response, session: UiSession) -> None:
    response.set_cookie(
        COOKIE, encode(secret(request.app.state.settings), session), max_age=SESSION_SECONDS, path="/ui",
        httponly=True, samesite="strict", secure=request.url.scheme == "https",
    )


def clear_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict", secure=request.url.scheme == "https")


def check_csrf(session: UiSession | None, submitted: str | None) -> None:
    """Refuse a form whose CSRF token is missing or is not this session's."""
    if session is None or not submitted or not hmac.compare_digest(session.csrf, submitted):
        raise CsrfRefused()


def principal_of(db: Session, session: UiSession | None, user_mode: UserModeCache) -> Principal:
    """The caller a session names (same rules as the API's bearer tokens), or :class:`SignInRequired`.

    Single-user mode needs no sign-in: any browser is the local owner, until a user exists.
    """
    if session is not None and session.signed_in and session.token_hash:
        user = auth_repository.get_by_token_hash(db, session.token_hash)
        if user is not None:
            return Principal(user.id, user.name, user.is_admin)
        raise SignInRequired()
    if user_mode.has_users(db):
        raise SignInRequired()
    local = auth_repository.get_local_user(db)
    if local is None:
        raise SignInRequired()
    return Principal(local.id, local.name, True)
