"""SQL for users and tokens."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.models import ApiToken, User

LOCAL_USER_NAME = "local"


def get_by_token_hash(session: Session, token_hash: str) -> User | None:
    stmt = select(User).join(ApiToken, ApiToken.user_id == User.id).where(ApiToken.token_hash == token_hash)
    return session.execute(stmt).scalar_one_or_none()


def get_by_name(session: Session, name: str) -> User | None:
    return session.execute(select(User).where(User.name == name)).scalar_one_or_none()


def count_real_users(session: Session) -> int:
    """Users other than the built-in single-user-mode owner."""
    return session.execute(select(func.count()).select_from(User).where(User.is_local.is_(False))).scalar_one()


def get_local_user(session: Session) -> User | None:
    return session.execute(select(User).where(User.is_local.is_(True))).scalar_one_or_none()


def add_user(session: Session, name: str, *, is_admin: bool, is_local: bool = False) -> User:
    user = User(name=name, is_admin=is_admin, is_local=is_local, created_at=utcnow())
    session.add(user)
    session.flush()
    return user


def add_token(session: Session, user: User, token_hash: str) -> None:
    session.add(ApiToken(user_id=user.id, token_hash=token_hash, created_at=utcnow()))
    session.flush()
