"""Browser sessions kept in the database: the cookie carries a random token, the table its hash.

A session ends after ``session_idle_hours`` without a request and, whatever the activity,
``session_absolute_days`` after the login (docs/security.md). It is replaced by a new token at
login and when the owner changes their password or e-mail address; it ends when an
administrator changes the owner's role or right to book, so new rights start with a new login.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, delete, or_, select
from sqlalchemy.orm import Session

from booking.db.models import User, WebSession
from booking.domain.users import active_user
from booking.lib.timeutil import utcnow

if TYPE_CHECKING:
    from booking.config import Settings
    from booking.domain.context import Context

# last_seen is written at most this often, so reading pages does not write on every request.
TOUCH_EVERY = timedelta(hours=1)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def idle_limit(settings: Settings) -> timedelta:
    return timedelta(hours=settings.session_idle_hours)


def absolute_limit(settings: Settings) -> timedelta:
    return timedelta(days=settings.session_absolute_days)


def cookie_max_age(ctx: Context) -> int:
    """The browser may keep the cookie as long as the session can live at all; the server
    enforces the idle limit."""
    return int(absolute_limit(ctx.settings).total_seconds())


def _expiry(settings: Settings, created_at: datetime, now: datetime) -> datetime:
    return min(now + idle_limit(settings), created_at + absolute_limit(settings))


def csrf_token_for(ctx: Context, session_token: str) -> str:
    """The CSRF token of the pages of this session (``booking.web.core.csrf_token``); the API
    compares the ``X-CSRF-Token`` header of cookie-authenticated changes with it."""
    return hmac.new(ctx.derived_key("web-csrf"), session_token.encode(), hashlib.sha256).hexdigest()


def _new_row(session: Session, settings: Settings, user_id: int, now: datetime) -> str:
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=_hash(token),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            expires_at=_expiry(settings, now, now),
        )
    )
    return token


def remove_expired(session: Session, settings: Settings, now: datetime) -> None:
    """Expired rows (idle or absolute) go whenever someone logs in."""
    session.execute(
        delete(WebSession).where(
            or_(
                WebSession.expires_at < now,
                WebSession.created_at < now - absolute_limit(settings),
            )
        )
    )


def start_session(ctx: Context, user_id: int) -> str:
    now = utcnow()
    with ctx.db.write() as session:
        remove_expired(session, ctx.settings, now)
        return _new_row(session, ctx.settings, user_id, now)


_SESSION_ROW = select(
    WebSession.user_id, WebSession.created_at, WebSession.last_seen_at, WebSession.expires_at
).where(WebSession.token_hash == bindparam("token_hash"))


def session_user(ctx: Context, token: str) -> User | None:
    """The logged-in user, checked against the account's current state (DECISIONS 18)."""
    if not token or len(token) > 100:
        return None
    now = utcnow()
    settings = ctx.settings
    # Every page request: Core selects in one transaction, no ORM session.
    with ctx.db.connect() as connection:
        row = connection.execute(_SESSION_ROW, {"token_hash": _hash(token)}).first()
        if row is None or row.expires_at <= now:
            return None
        if row.created_at + absolute_limit(settings) <= now:
            return None
        if now - row.last_seen_at > idle_limit(settings):
            return None  # also when the idle limit was shortened after the row was written
        user = active_user(ctx, row.user_id, connection)
    touch_every = min(TOUCH_EVERY, idle_limit(settings) / 10)
    if user is not None and now - row.last_seen_at > touch_every:
        with ctx.db.write() as session:
            fresh = session.get(WebSession, _hash(token))
            if fresh is not None:
                fresh.last_seen_at = now
                fresh.expires_at = _expiry(settings, fresh.created_at, now)
    return user


def end_session(ctx: Context, token: str) -> None:
    with ctx.db.write() as session:
        session.execute(delete(WebSession).where(WebSession.token_hash == _hash(token)))


def end_sessions_in(session: Session, user_id: int) -> None:
    """Every session of the user ends, inside the caller's transaction (role or right changed,
    password or e-mail address changed)."""
    session.execute(delete(WebSession).where(WebSession.user_id == user_id))


def end_all_sessions(ctx: Context, user_id: int) -> None:
    with ctx.db.write() as session:
        end_sessions_in(session, user_id)


def renew_session(ctx: Context, user_id: int) -> str:
    """After the owner changed their password or e-mail address: every other session has ended
    (the domain function did that); this browser continues with a new token."""
    now = utcnow()
    with ctx.db.write() as session:
        end_sessions_in(session, user_id)
        return _new_row(session, ctx.settings, user_id, now)


def log_out_everywhere(ctx: Context, user: User, address: str | None = None) -> None:
    """The user's own "log out on all devices": every session ends, and the audit log says so."""
    from booking.domain import audit

    with ctx.db.write() as session:
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))
        audit.record(session, user.id, audit.LOGOUT_ALL, user.email, address)
