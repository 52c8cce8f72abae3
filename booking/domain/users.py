"""Accounts: registration, verification, approval, login, roles and the right to book."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from booking.db.models import User
from booking.domain import audit, notifications, throttle
from booking.domain.errors import AuthFailed, Forbidden, NotFound, Throttled, ValidationFailed
from booking.lib import passwords
from booking.lib.timeutil import utcnow

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from booking.domain.context import Context

MEMBER = "Member"
ADMIN = "Administrator"
ROLES = (MEMBER, ADMIN)  # index = the wire enum value
VERIFICATION_HOURS = 24
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
EMAIL_RE = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")

INVALID_LOGIN = "Ungültige E-Mail-Adresse oder Passwort."
NOT_VERIFIED = (
    "Bitte bestätigen Sie zuerst Ihre E-Mail-Adresse. Überprüfen Sie Ihr E-Mail-Postfach "
    "oder fordern Sie eine neue Bestätigungs-E-Mail an."
)
NOT_APPROVED = (
    "Ihr Konto wartet noch auf die Freigabe durch einen Administrator. Sie werden per E-Mail "
    "benachrichtigt, sobald Ihr Konto freigeschaltet wurde."
)
BOOKING_REVOKED = "Ihre Berechtigung zum Buchen wurde von einem Administrator entzogen."


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# Our own list (German and app-specific passwords) and zxcvbn's (MIT; the entries of at least 8
# characters among its 30,000 most frequent passwords); sources and licence in booking/data.
COMMON_PASSWORD_FILES = ("common-passwords.txt", "common-passwords-zxcvbn.txt")


@functools.cache
def _common_passwords() -> frozenset[str]:
    """Read on the first password set or changed, not at import: about 1.2 MB RSS once loaded."""
    data = Path(__file__).resolve().parent.parent / "data"
    words: set[str] = set()
    for name in COMMON_PASSWORD_FILES:
        with (data / name).open(encoding="utf-8") as lines:  # line by line: a smaller peak
            words.update(line.strip().lower() for line in lines if not line.startswith("#"))
    words.discard("")
    return frozenset(words)


def check_password_rules(password: str, key: str = "Password") -> None:
    if password.lower() in _common_passwords():
        raise ValidationFailed.one(
            key,
            "Dieses Passwort ist zu verbreitet und leicht zu erraten. Bitte wählen Sie ein anderes.",
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed.one(key, "Passwort muss mindestens 8 Zeichen lang sein")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationFailed.one(key, "Passwort darf höchstens 256 Zeichen lang sein")


def _check_profile(email: str, first_name: str, last_name: str) -> None:
    errors: dict[str, list[str]] = {}
    if not EMAIL_RE.match(email) or len(email) > 256:
        errors["Email"] = ["Ungültige E-Mail-Adresse"]
    if not first_name.strip():
        errors["FirstName"] = ["Vorname ist erforderlich"]
    elif len(first_name) > 100:
        errors["FirstName"] = ["Vorname darf höchstens 100 Zeichen lang sein"]
    if not last_name.strip():
        errors["LastName"] = ["Nachname ist erforderlich"]
    elif len(last_name) > 100:
        errors["LastName"] = ["Nachname darf höchstens 100 Zeichen lang sein"]
    if errors:
        raise ValidationFailed(errors)


# --- reading the actor ---------------------------------------------------------------------


# What callers of active_user read; fewer columns, fewer conversions on a hot path.
_ACTOR_COLUMNS = (
    User.id,
    User.email,
    User.first_name,
    User.last_name,
    User.role,
    User.language,
    User.is_active,
    User.email_verified,
    User.is_approved_for_booking,
    User.booking_revoked_at,
)


# Built once: constructing a Select costs more than running it on SQLite.
_ACTOR = select(*_ACTOR_COLUMNS).where(User.id == bindparam("user_id"))


def active_user(ctx: Context, user_id: int, connection: Connection | None = None) -> User | None:
    """The account behind a token or session, read fresh so revocations apply at once.

    Runs on every authenticated request, so it is one Core select on a bare connection (the
    caller's, if it has one: a session lookup and this read share one transaction) and a
    detached User built from the row (an ORM session costs several times more)."""
    if connection is None:
        with ctx.db.connect() as own:
            return active_user(ctx, user_id, own)
    row = connection.execute(_ACTOR, {"user_id": user_id}).first()
    if row is None:
        return None
    user = User(**row._mapping)
    if not user.is_active or not user.email_verified or not user.is_approved_for_booking:
        return None
    return user


def can_book(user: User) -> bool:
    return user.is_approved_for_booking and user.booking_revoked_at is None and user.is_active


def require_can_book(user: User) -> None:
    if not can_book(user):
        raise Forbidden(BOOKING_REVOKED)


def require_admin(user: User) -> None:
    if not user.is_admin:
        raise Forbidden("Diese Aktion ist Administratoren vorbehalten.")


# --- registration and login ----------------------------------------------------------------


def register(
    ctx: Context,
    email: str,
    password: str,
    first_name: str,
    last_name: str,
    address: str | None = None,
) -> int:
    email = normalise_email(email)
    _check_profile(email, first_name, last_name)
    check_password_rules(password)
    throttle.attempt(ctx, throttle.REGISTER, email, address)
    password_hash = passwords.hash_password(password)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with ctx.db.write() as session:
        if session.scalar(select(User.id).where(User.email == email)) is not None:
            raise AuthFailed("E-Mail-Adresse ist bereits registriert.")
        user = User(
            email=email,
            password_hash=password_hash,
            first_name=first_name.strip(),
            last_name=last_name.strip(),
            role=MEMBER,
            verification_token_hash=_token_hash(token),
            verification_token_expires_at=now + timedelta(hours=VERIFICATION_HOURS),
            registration_date=now,
            created_at=now,
        )
        session.add(user)
        session.flush()
        user_id = user.id
        # Queued in this transaction: no account without its mails, no mails without it.
        notifications.verification(session, ctx, user, token, VERIFICATION_HOURS)
        notifications.registration(session, ctx, user)
    return user_id


def verify_email(ctx: Context, token: str, address: str | None = None) -> None:
    throttle.check(ctx, throttle.VERIFY, None, address)
    now = utcnow()
    with ctx.db.write() as session:
        user = session.scalar(
            select(User).where(User.verification_token_hash == _token_hash(token))
        )
        expires = user.verification_token_expires_at if user else None
        valid = user is not None and not user.email_verified and expires and expires > now
        if user is not None and valid:
            user.email_verified = True
            user.email_verified_at = now
            user.verification_token_hash = None
            user.verification_token_expires_at = None
            user.changed_at = now
    if not valid:
        throttle.record(ctx, throttle.VERIFY, None, address)
        raise AuthFailed("Ungültiger oder abgelaufener Verifizierungstoken.")


def resend_verification(ctx: Context, email: str, address: str | None = None) -> None:
    """Same outcome for unknown, verified and unverified addresses: no account enumeration."""
    email = normalise_email(email)
    throttle.attempt(ctx, throttle.VERIFY, email, address)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with ctx.db.write() as session:
        user = session.scalar(select(User).where(User.email == email, User.is_active.is_(True)))
        if user is None or user.email_verified:
            return
        user.verification_token_hash = _token_hash(token)
        user.verification_token_expires_at = now + timedelta(hours=VERIFICATION_HOURS)
        user.changed_at = now
        notifications.verification(session, ctx, user, token, VERIFICATION_HOURS)


def authenticate(ctx: Context, email: str, password: str, address: str | None = None) -> User:
    """Check the credentials and the account state, in the predecessor's order.

    ``address`` is the client's; failures count towards both throttles (docs/security.md) and
    each refused or failed login writes one ``booking.security`` line."""
    email = normalise_email(email)
    try:
        throttle.check(ctx, throttle.LOGIN, email, address)
    except Throttled:
        audit.log_login_failure(email, address, "throttled")
        raise
    with ctx.db.read() as session:
        user = session.scalar(select(User).where(User.email == email, User.is_active.is_(True)))
    if not passwords.verify_password(user.password_hash if user else None, password) or not user:
        _login_failed(ctx, email, address, "invalid_credentials", user.id if user else None)
        raise AuthFailed(INVALID_LOGIN)
    if not user.email_verified:
        _login_failed(ctx, email, address, "unverified", user.id)
        raise AuthFailed(NOT_VERIFIED)
    if not user.is_approved_for_booking:
        _login_failed(ctx, email, address, "unapproved", user.id)
        raise AuthFailed(NOT_APPROVED)
    rehash = passwords.needs_rehash(user.password_hash)
    new_hash = passwords.hash_password(password) if rehash else None
    with ctx.db.write() as session:
        row = session.get(User, user.id)
        if row is None:  # deleted between the two transactions
            raise AuthFailed(INVALID_LOGIN)
        row.last_login_at = utcnow()
        if new_hash:
            row.password_hash = new_hash
        throttle.clear(session, throttle.LOGIN, email)
        audit.record(session, user.id, audit.LOGIN, email, address, {"rehashed": bool(new_hash)})
    return user


def _login_failed(
    ctx: Context, email: str, address: str | None, reason: str, user_id: int | None
) -> None:
    """Audit and log a refused login; a wrong password also counts towards the throttles (the
    other reasons come after a correct password)."""
    with ctx.db.write() as session:
        if reason == "invalid_credentials":
            throttle.record_in(session, ctx.settings, throttle.LOGIN, email, address)
        audit.record(session, None, audit.LOGIN_FAILED, email, address, {"reason": reason})
    audit.log_login_failure(email, address, reason)


def change_password(ctx: Context, actor: User, current: str, new: str) -> None:
    check_password_rules(new, "NewPassword")
    with ctx.db.read() as session:
        stored = session.scalar(select(User.password_hash).where(User.id == actor.id))
    if not passwords.verify_password(stored, current):
        raise AuthFailed("Das aktuelle Passwort ist falsch.")
    new_hash = passwords.hash_password(new)
    with ctx.db.write() as session:
        row = session.get(User, actor.id)
        if row is None:
            raise NotFound("Benutzer nicht gefunden.")
        row.password_hash = new_hash
        row.changed_at = utcnow()
        audit.record(session, actor.id, audit.PASSWORD_CHANGED, actor.email)
        # Every session ends; the browser that changed it continues with a new one
        # (sessions.renew_session), any other device has to log in with the new password.
        _end_sessions(session, actor.id)


RESET_MINUTES = 60
LANGUAGES = ("de", "en")


def request_password_reset(ctx: Context, email: str, address: str | None = None) -> None:
    """Mail a single-use link valid for an hour; the same outcome whether or not the address
    exists, so the answer reveals nothing (DECISIONS 7)."""
    email = normalise_email(email)
    throttle.attempt(ctx, throttle.RESET, email, address)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with ctx.db.write() as session:
        user = session.scalar(select(User).where(User.email == email, User.is_active.is_(True)))
        if user is None:
            return
        user.reset_token_hash = _token_hash(token)
        user.reset_token_expires_at = now + timedelta(minutes=RESET_MINUTES)
        notifications.password_reset(session, ctx, user, token, RESET_MINUTES)


def reset_password(ctx: Context, token: str, new_password: str, address: str | None = None) -> None:
    throttle.check(ctx, throttle.RESET, None, address)
    check_password_rules(new_password, "NewPassword")
    now = utcnow()
    with ctx.db.read() as session:
        user = session.scalar(select(User).where(User.reset_token_hash == _token_hash(token)))
        expires = user.reset_token_expires_at if user else None
        invalid = user is None or not user.is_active or expires is None or expires <= now
    if invalid:
        throttle.record(ctx, throttle.RESET, None, address)
        raise AuthFailed("Ungültiger oder abgelaufener Link zum Zurücksetzen des Passworts.")
    new_hash = passwords.hash_password(new_password)
    with ctx.db.write() as session:
        user = session.scalar(select(User).where(User.reset_token_hash == _token_hash(token)))
        if user is None:  # used by a parallel request in the meantime
            raise AuthFailed("Ungültiger oder abgelaufener Link zum Zurücksetzen des Passworts.")
        user.password_hash = new_hash
        user.reset_token_hash = None
        user.reset_token_expires_at = None
        user.changed_at = now
        user_id = user.id
        throttle.clear(session, throttle.LOGIN, user.email)  # the owner may log in again
        audit.record(session, user_id, audit.PASSWORD_RESET, user.email, address)
    from booking.domain.sessions import end_all_sessions

    end_all_sessions(ctx, user_id)


def update_profile(
    ctx: Context, actor: User, first_name: str, last_name: str, language: str | None
) -> User:
    _check_profile(actor.email, first_name, last_name)
    if language is not None and language not in LANGUAGES:
        raise ValidationFailed.one("Language", "Unbekannte Sprache.")
    with ctx.db.write() as session:
        user = session.get(User, actor.id)
        if user is None:
            raise NotFound("Benutzer nicht gefunden.")
        user.first_name, user.last_name = first_name.strip(), last_name.strip()
        user.language = language
        user.changed_at = utcnow()
    return user


# --- administration ------------------------------------------------------------------------


def pending_users(ctx: Context) -> list[User]:
    with ctx.db.read() as session:
        return list(
            session.scalars(
                select(User)
                .where(
                    User.is_active.is_(True),
                    User.email_verified.is_(True),
                    User.is_approved_for_booking.is_(False),
                )
                .order_by(User.registration_date, User.id)
            )
        )


def all_users(ctx: Context) -> list[User]:
    with ctx.db.read() as session:
        return list(session.scalars(select(User).order_by(func.lower(User.last_name), User.id)))


def _pending_target(session: Session, user_id: int) -> User | None:
    user = session.get(User, user_id, with_for_update=True)
    if user is None or not user.is_active or not user.email_verified:
        return None
    return None if user.is_approved_for_booking else user


def approve(ctx: Context, admin: User, user_id: int) -> str:
    require_admin(admin)
    now = utcnow()
    with ctx.db.write() as session:
        user = _pending_target(session, user_id)
        if user is None:
            raise AuthFailed("Benutzer nicht gefunden oder bereits freigegeben.")
        user.is_approved_for_booking = True
        user.approved_for_booking_at = now
        user.approved_by_id = admin.id
        user.changed_at = now
        name, email = user.full_name, user.email
        audit.record(session, admin.id, audit.USER_APPROVED, email, details={"userId": user_id})
        notifications.approved(session, ctx, user)
    return f"Benutzer {name} wurde erfolgreich für Buchungen freigeschaltet."


def reject(ctx: Context, admin: User, user_id: int, reason: str | None) -> str:
    require_admin(admin)
    now = utcnow()
    with ctx.db.write() as session:
        user = _pending_target(session, user_id)
        if user is None:
            raise AuthFailed("Benutzer nicht gefunden oder bereits verarbeitet.")
        user.is_active = False
        user.changed_at = now
        name, email = user.full_name, user.email
        audit.record(
            session,
            admin.id,
            audit.USER_REJECTED,
            email,
            details={"userId": user_id, "reason": (reason or "").strip()[:500]},
        )
        notifications.rejected(session, ctx, user, reason)
    return f"Benutzer {name} wurde abgelehnt."


def _managed_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id, with_for_update=True)
    if user is None or not user.is_active:
        raise NotFound("Benutzer nicht gefunden.")
    return user


def _other_active_admins(session: Session, user_id: int) -> int:
    return (
        session.scalar(
            select(func.count(User.id)).where(
                User.role == ADMIN, User.is_active.is_(True), User.id != user_id
            )
        )
        or 0
    )


def set_booking_right(ctx: Context, admin: User, user_id: int, allowed: bool) -> User:
    """Revoke or restore a member's right to book; takes effect on their next request."""
    require_admin(admin)
    with ctx.db.write() as session:
        user = _managed_user(session, user_id)
        if not user.is_approved_for_booking:
            raise AuthFailed("Der Benutzer ist noch nicht freigegeben.")
        if not allowed and user.id == admin.id:
            raise AuthFailed("Sie können sich die Buchungsberechtigung nicht selbst entziehen.")
        user.booking_revoked_at = None if allowed else (user.booking_revoked_at or utcnow())
        user.changed_at = utcnow()
        event = audit.BOOKING_RESTORED if allowed else audit.BOOKING_REVOKED
        audit.record(session, admin.id, event, user.email, details={"userId": user.id})
        _end_sessions(session, user.id)  # privileges changed: a new login, a new session
    return user


def set_role(ctx: Context, admin: User, user_id: int, role: str) -> User:
    require_admin(admin)
    if role not in ROLES:
        raise ValidationFailed.one("Role", "Unbekannte Rolle.")
    with ctx.db.write() as session:
        user = _managed_user(session, user_id)
        if role == MEMBER and user.role == ADMIN and _other_active_admins(session, user.id) == 0:
            raise AuthFailed("Der letzte Administrator kann nicht herabgestuft werden.")
        audit.record(
            session,
            admin.id,
            audit.ROLE_CHANGED,
            user.email,
            details={"userId": user.id, "from": user.role, "to": role},
        )
        user.role = role
        user.changed_at = utcnow()
        _end_sessions(session, user.id)  # privileges changed: a new login, a new session
    return user


def _end_sessions(session: Session, user_id: int) -> None:
    from booking.domain.sessions import end_sessions_in  # sessions imports this module

    end_sessions_in(session, user_id)


def create_admin(ctx: Context, email: str, first_name: str, last_name: str, password: str) -> int:
    """The first administrator (CLI): verified and approved from the start."""
    email = normalise_email(email)
    _check_profile(email, first_name, last_name)
    check_password_rules(password)
    now = utcnow()
    password_hash = passwords.hash_password(password)
    with ctx.db.write() as session:
        if session.scalar(select(User.id).where(User.email == email)) is not None:
            raise AuthFailed("E-Mail-Adresse ist bereits registriert.")
        user = _new_trusted_user(email, password_hash, first_name, last_name, ADMIN, now)
        session.add(user)
        session.flush()
        return user.id


def _new_trusted_user(
    email: str, password_hash: str, first_name: str, last_name: str, role: str, now: datetime
) -> User:
    return User(
        email=email,
        password_hash=password_hash,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        role=role,
        email_verified=True,
        email_verified_at=now,
        registration_date=now,
        is_approved_for_booking=True,
        approved_for_booking_at=now,
        created_at=now,
    )
