"""Browser sessions kept in the database: the cookie carries a random token, the table its hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from booking.db.models import User, WebSession
from booking.domain.users import active_user
from booking.lib.timeutil import utcnow

if TYPE_CHECKING:
    from booking.domain.context import Context

IDLE_DAYS = 14
# last_seen is written at most this often, so reading pages does not write on every request.
TOUCH_EVERY = timedelta(hours=1)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(ctx: Context, user_id: int) -> str:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with ctx.db.write() as session:
        session.execute(delete(WebSession).where(WebSession.expires_at < now))
        session.add(
            WebSession(
                token_hash=_hash(token),
                user_id=user_id,
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(days=IDLE_DAYS),
            )
        )
    return token


def session_user(ctx: Context, token: str) -> User | None:
    """The logged-in user, checked against the account's current state (DECISIONS 18)."""
    if not token or len(token) > 100:
        return None
    now = utcnow()
    with ctx.db.read() as session:
        row = session.scalar(select(WebSession).where(WebSession.token_hash == _hash(token)))
    if row is None or row.expires_at <= now:
        return None
    user = active_user(ctx, row.user_id)
    if user is not None and now - row.last_seen_at > TOUCH_EVERY:
        with ctx.db.write() as session:
            fresh = session.get(WebSession, row.token_hash)
            if fresh is not None:
                fresh.last_seen_at = now
                fresh.expires_at = now + timedelta(days=IDLE_DAYS)
    return user


def end_session(ctx: Context, token: str) -> None:
    with ctx.db.write() as session:
        session.execute(delete(WebSession).where(WebSession.token_hash == _hash(token)))


def end_all_sessions(ctx: Context, user_id: int) -> None:
    with ctx.db.write() as session:
        session.execute(delete(WebSession).where(WebSession.user_id == user_id))


def log_out_everywhere(ctx: Context, user: User, address: str | None = None) -> None:
    """The user's own "log out on all devices": every session ends, and the audit log says so."""
    from booking.domain import audit

    with ctx.db.write() as session:
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))
        audit.record(session, user.id, audit.LOGOUT_ALL, user.email, address)
