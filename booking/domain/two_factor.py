"""Two-factor authentication: a TOTP app (RFC 6238) plus ten one-time recovery codes.

- The secret is stored encrypted (Fernet, key derived from the app's secret key, as for the SMTP
  password); recovery codes only as SHA-256 hashes (they are random, so no salt is needed).
- A code is accepted once only: accepting it moves ``last_used_step`` forward with a conditional
  UPDATE (``... WHERE last_used_step < step``), so of two requests with the same code, even at
  the same moment, exactly one wins. Recovery codes are used up the same way (``used_at IS NULL``).
- Wrong codes count towards the ``two_factor`` throttle (limits of the login throttle) per
  account and per client address, and are audited.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from booking.db.models import RecoveryCode, TwoFactor, User
from booking.domain import audit, throttle, users
from booking.domain.errors import AuthFailed, DomainError, Forbidden, NotFound, Throttled
from booking.lib import passwords, totp
from booking.lib.timeutil import utcnow

if TYPE_CHECKING:
    from booking.domain.context import Context

ISSUER = "Booking"
RECOVERY_CODES = 10
# No 0/o, 1/l/i: codes are read from paper and typed by hand.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_CODE_LENGTH = 10  # about 49 bits each

ADMIN_REQUIRED = (
    "Two-factor authentication is required for administrators. Set it up on the page "
    "/profile/two-factor before using administrator functions."
)
WRONG_CODE = "Der Code ist ungültig oder wurde bereits verwendet."
UNREADABLE = (
    "Der Zwei-Faktor-Schlüssel kann nicht mehr gelesen werden (der geheime Schlüssel der App "
    "wurde geändert). Bitte lassen Sie die Zwei-Faktor-Anmeldung von einem Administrator "
    "zurücksetzen."
)
ALREADY_ENABLED = "Die Zwei-Faktor-Anmeldung ist bereits eingerichtet."
NOT_ENABLED = "Die Zwei-Faktor-Anmeldung ist nicht eingerichtet."
ADMINS_MUST_KEEP = (
    "Administratoren müssen die Zwei-Faktor-Anmeldung verwenden; sie kann nicht ausgeschaltet "
    "werden."
)


class InvalidCode(AuthFailed):
    """A wrong, expired or already used code (TOTP or recovery code)."""

    def __init__(self) -> None:
        super().__init__(WRONG_CODE)


class CodeRequired(DomainError):
    """The account uses two-factor authentication and no code was given."""

    def __init__(self) -> None:
        super().__init__("Bitte geben Sie den Code aus Ihrer Authenticator-App ein.")


# --- secrets and codes ------------------------------------------------------------------------


def _fernet(ctx: Context):  # type: ignore[no-untyped-def]
    from cryptography.fernet import Fernet  # imported here: only 2FA users need it

    return Fernet(base64.urlsafe_b64encode(ctx.derived_key("two-factor-secret")))


def _encrypt(ctx: Context, secret: str) -> str:
    return str(_fernet(ctx).encrypt(secret.encode()).decode())


def _decrypt(ctx: Context, token: str) -> str:
    from cryptography.fernet import InvalidToken

    try:
        return str(_fernet(ctx).decrypt(token.encode()).decode())
    except InvalidToken:  # BOOKING_SECRET_KEY changed since the setup
        raise AuthFailed(UNREADABLE) from None


def normalise_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _code_hash(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(_CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def _is_totp(code: str) -> bool:
    cleaned = normalise_code(code)
    return len(cleaned) == totp.DIGITS and cleaned.isdigit()


# --- reading ----------------------------------------------------------------------------------


def is_enabled(ctx: Context, user_id: int) -> bool:
    """One indexed read on a bare connection (it runs for administrators on every page)."""
    with ctx.db.connect() as connection:
        enabled = connection.execute(
            select(TwoFactor.enabled_at).where(TwoFactor.user_id == user_id)
        ).scalar()
    return enabled is not None


def remaining_recovery_codes(ctx: Context, user_id: int) -> int:
    with ctx.db.read() as session:
        return _remaining(session, user_id)


def _remaining(session: Session, user_id: int) -> int:
    return (
        session.scalar(
            select(func.count(RecoveryCode.id)).where(
                RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
            )
        )
        or 0
    )


def login_count(ctx: Context, user_id: int) -> int | None:
    """Successful second steps so far; None when 2FA is not enabled."""
    with ctx.db.read() as session:
        row = session.get(TwoFactor, user_id)
        return row.login_count if row is not None and row.enabled_at is not None else None


def enabled_user_ids(ctx: Context) -> set[int]:
    """Who has 2FA switched on (for the administrators' user list)."""
    with ctx.db.read() as session:
        return set(
            session.scalars(select(TwoFactor.user_id).where(TwoFactor.enabled_at.is_not(None)))
        )


def admins_without_two_factor(ctx: Context) -> list[User]:
    """Active administrators who have not (yet) enabled two-factor authentication."""
    with ctx.db.read() as session:
        return list(
            session.scalars(
                select(User)
                .outerjoin(TwoFactor, TwoFactor.user_id == User.id)
                .where(
                    User.role == users.ADMIN,
                    User.is_active.is_(True),
                    TwoFactor.enabled_at.is_(None),
                )
                .order_by(func.lower(User.last_name), User.id)
            )
        )


def setup_required(ctx: Context, user: User) -> bool:
    """An administrator who must set up 2FA first (``BOOKING_REQUIRE_ADMIN_2FA``)."""
    return user.is_admin and ctx.settings.admin_2fa_required and not is_enabled(ctx, user.id)


def require_for_admin(ctx: Context, user: User) -> None:
    if setup_required(ctx, user):
        raise Forbidden(ADMIN_REQUIRED)


# --- setup ------------------------------------------------------------------------------------


def begin_setup(ctx: Context, user: User) -> str:
    """The secret of an unconfirmed setup: kept while unconfirmed, so reloading the page shows
    the same QR code the app may already have scanned."""
    with ctx.db.write() as session:
        row = session.get(TwoFactor, user.id, with_for_update=True)
        if row is not None and row.enabled_at is not None:
            raise AuthFailed(ALREADY_ENABLED)
        if row is None:
            secret = totp.new_secret()
            session.add(
                TwoFactor(
                    user_id=user.id,
                    secret_encrypted=_encrypt(ctx, secret),
                    created_at=utcnow(),
                    login_count=0,
                )
            )
            return secret
        return _decrypt(ctx, row.secret_encrypted)


def provisioning_uri(user: User, secret: str) -> str:
    return totp.provisioning_uri(secret, user.email, ISSUER)


def confirm_setup(ctx: Context, user: User, code: str, address: str | None = None) -> list[str]:
    """Enable 2FA when ``code`` matches the pending secret; returns the recovery codes (shown
    once, stored hashed)."""
    _check_throttle(ctx, user, address)
    with ctx.db.read() as session:
        row = session.get(TwoFactor, user.id)
        if row is None or row.enabled_at is not None:
            raise AuthFailed(ALREADY_ENABLED if row else NOT_ENABLED)
        secret = _decrypt(ctx, row.secret_encrypted)
    step = totp.matching_step(secret, code)
    if step is None:
        _failed(ctx, user, address, "setup")
        raise InvalidCode()
    now = utcnow()
    with ctx.db.write() as session:
        done = session.execute(
            update(TwoFactor)
            .where(TwoFactor.user_id == user.id, TwoFactor.enabled_at.is_(None))
            .values(enabled_at=now, last_used_step=step)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise AuthFailed(ALREADY_ENABLED)
        codes = _replace_codes(session, user.id)
        audit.record(session, user.id, audit.TWO_FACTOR_ENABLED, user.email, address)
    return codes


def _replace_codes(session: Session, user_id: int) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    now = utcnow()
    session.add_all(
        RecoveryCode(user_id=user_id, code_hash=_code_hash(code), created_at=now) for code in codes
    )
    return codes


def regenerate_recovery_codes(
    ctx: Context, user: User, code: str, address: str | None = None
) -> list[str]:
    """New codes (the old ones stop working); needs a current code from the app."""
    verify(ctx, user, code, address, allow_recovery=False)
    with ctx.db.write() as session:
        codes = _replace_codes(session, user.id)
        audit.record(session, user.id, audit.RECOVERY_CODES_REGENERATED, user.email, address)
    return codes


def disable(ctx: Context, user: User, password: str, code: str, address: str | None = None) -> None:
    """Switch 2FA off; needs the current password and a code (app or recovery code)."""
    if user.is_admin and ctx.settings.admin_2fa_required:
        raise AuthFailed(ADMINS_MUST_KEEP)
    with ctx.db.read() as session:
        stored = session.scalar(select(User.password_hash).where(User.id == user.id))
    if not passwords.verify_password(stored, password):
        raise AuthFailed("Das aktuelle Passwort ist falsch.")
    verify(ctx, user, code, address)
    with ctx.db.write() as session:
        _remove(session, user.id)
        audit.record(session, user.id, audit.TWO_FACTOR_DISABLED, user.email, address)


def admin_reset(ctx: Context, admin: User, user_id: int) -> User:
    """An administrator switches a member's 2FA off (lost phone); the member can set it up
    again after logging in with the password."""
    users.require_admin(admin)
    with ctx.db.write() as session:
        target = session.get(User, user_id)
        if target is None or not target.is_active:
            raise NotFound("Benutzer nicht gefunden.")
        if session.get(TwoFactor, user_id) is None:
            raise AuthFailed(NOT_ENABLED)
        _remove(session, user_id)
        audit.record(
            session, admin.id, audit.TWO_FACTOR_RESET, target.email, details={"userId": user_id}
        )
    return target


def _remove(session: Session, user_id: int) -> None:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    session.execute(delete(TwoFactor).where(TwoFactor.user_id == user_id))


# --- verifying codes --------------------------------------------------------------------------


def verify(
    ctx: Context,
    user: User,
    code: str,
    address: str | None = None,
    *,
    allow_recovery: bool = True,
    pending_login: int | None = None,
    login: bool = False,
) -> None:
    """Accept ``code`` (6 digits from the app, or a recovery code) once, or raise.

    ``pending_login``: the ``login_count`` a pending browser login was issued for; the code is
    then only accepted while it is unchanged, so a pending login works once. ``login`` (implied
    by ``pending_login``): the code is a login's second step, so a refusal also writes the
    failed-login line for fail2ban (docs/security.md)."""
    _check_throttle(ctx, user, address)
    with ctx.db.read() as session:
        row = session.get(TwoFactor, user.id)
        secret = _decrypt(ctx, row.secret_encrypted) if row and row.enabled_at else None
    if secret is None:
        raise AuthFailed(NOT_ENABLED)
    if _is_totp(code):
        step = totp.matching_step(secret, normalise_code(code))
        accepted = step is not None and _use_step(ctx, user, step, pending_login)
    elif allow_recovery and code.strip():
        accepted = _use_recovery_code(ctx, user, code, address, pending_login)
    else:
        accepted = False
    if not accepted:
        login = login or pending_login is not None
        _failed(ctx, user, address, "login" if login else "code")
        if login:  # wrong, expired or replayed: someone may be guessing with a known password
            audit.log_login_failure(user.email, address, "invalid_two_factor_code")
        raise InvalidCode()
    with ctx.db.write() as session:
        throttle.clear(session, throttle.TWO_FACTOR, user.email)


def _login_guard(pending_login: int | None) -> list[object]:
    return [] if pending_login is None else [TwoFactor.login_count == pending_login]


def _use_step(ctx: Context, user: User, step: int, pending_login: int | None) -> bool:
    """The compare-and-set that makes a code single-use, even under concurrency."""
    with ctx.db.write() as session:
        done = session.execute(
            update(TwoFactor)
            .where(
                TwoFactor.user_id == user.id,
                TwoFactor.enabled_at.is_not(None),
                or_(TwoFactor.last_used_step.is_(None), TwoFactor.last_used_step < step),
                *_login_guard(pending_login),  # type: ignore[arg-type]
            )
            .values(last_used_step=step, login_count=TwoFactor.login_count + 1)
        )
        return bool(done.rowcount == 1)  # type: ignore[attr-defined]


class _Rollback(Exception):
    pass


def _use_recovery_code(
    ctx: Context, user: User, code: str, address: str | None, pending_login: int | None
) -> bool:
    now = utcnow()
    try:
        with ctx.db.write() as session:
            counted = session.execute(
                update(TwoFactor)
                .where(TwoFactor.user_id == user.id, *_login_guard(pending_login))  # type: ignore[arg-type]
                .values(login_count=TwoFactor.login_count + 1)
            )
            used = session.execute(
                update(RecoveryCode)
                .where(
                    RecoveryCode.user_id == user.id,
                    RecoveryCode.code_hash == _code_hash(code),
                    RecoveryCode.used_at.is_(None),
                )
                .values(used_at=now)
            )
            if counted.rowcount != 1 or used.rowcount != 1:  # type: ignore[attr-defined]
                raise _Rollback()
            audit.record(
                session,
                user.id,
                audit.RECOVERY_CODE_USED,
                user.email,
                address,
                {"remaining": _remaining(session, user.id)},
            )
    except _Rollback:
        return False
    return True


def _check_throttle(ctx: Context, user: User, address: str | None) -> None:
    try:
        throttle.check(ctx, throttle.TWO_FACTOR, user.email, address)
    except Throttled:
        audit.log_login_failure(user.email, address, "throttled")
        raise


def _failed(ctx: Context, user: User, address: str | None, during: str) -> None:
    with ctx.db.write() as session:
        throttle.record_in(session, ctx.settings, throttle.TWO_FACTOR, user.email, address)
        audit.record(
            session, user.id, audit.TWO_FACTOR_FAILED, user.email, address, {"during": during}
        )
