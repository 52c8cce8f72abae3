"""Changing one's e-mail address: the new address is confirmed before it replaces the old one.

1. ``request_change`` (current password required): the new address gets a single-use link valid
   for 24 hours, the old address a notice. When the new address already belongs to an account,
   nothing is stored and the new address gets an "already registered" mail instead; the
   requester sees the same answer and the old address the same notice either way, so the form
   reveals nothing about which addresses are registered.
2. ``confirm_change`` (the link's token): the address changes, every session of the account ends
   (the browser that confirms continues with a new one, see the front doors) and the audit log
   records it.

Only the token's SHA-256 is stored (``email_change_requests``); a newer request replaces an
older one, and a used link is deleted, so it works once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from booking.db.models import EmailChangeRequest, User
from booking.domain import audit, notifications, throttle
from booking.domain.errors import AuthFailed, NotFound, ValidationFailed
from booking.domain.users import EMAIL_RE, normalise_email
from booking.lib import passwords
from booking.lib.timeutil import utcnow

if TYPE_CHECKING:
    from booking.domain.context import Context

CONFIRM_HOURS = 24
WRONG_PASSWORD = "Das aktuelle Passwort ist falsch."  # noqa: S105 - a message
INVALID_LINK = "Ungültiger oder abgelaufener Link zur Änderung der E-Mail-Adresse."
SAME_ADDRESS = "Das ist bereits Ihre E-Mail-Adresse."
INVALID_ADDRESS = "Ungültige E-Mail-Adresse"
ANSWER = (
    "Wir haben einen Bestätigungslink an die neue Adresse gesendet. Ihre E-Mail-Adresse ändert "
    "sich, sobald Sie den Link öffnen und bestätigen. Der Link ist 24 Stunden gültig."
)
CHANGED = "Ihre E-Mail-Adresse wurde geändert."


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_change(
    ctx: Context, actor: User, new_email: str, password: str, address: str | None = None
) -> str:
    """Start a change of ``actor``'s address; returns the answer to show (always the same)."""
    new_email = normalise_email(new_email)
    if not EMAIL_RE.match(new_email) or len(new_email) > 256:
        raise ValidationFailed.one("NewEmail", INVALID_ADDRESS)
    # Wrong passwords count like failed logins of this account: the form must not become a
    # way around the login throttle.
    throttle.check(ctx, throttle.LOGIN, actor.email, address)
    with ctx.db.read() as session:
        stored = session.scalar(select(User.password_hash).where(User.id == actor.id))
    if not passwords.verify_password(stored, password):
        throttle.record(ctx, throttle.LOGIN, actor.email, address)
        raise AuthFailed(WRONG_PASSWORD)
    if new_email == normalise_email(actor.email):
        raise ValidationFailed.one("NewEmail", SAME_ADDRESS)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with ctx.db.write() as session:
        user = session.get(User, actor.id)
        if user is None or not user.is_active:
            raise NotFound("Benutzer nicht gefunden.")
        session.execute(delete(EmailChangeRequest).where(EmailChangeRequest.user_id == user.id))
        taken = session.scalar(select(User.id).where(User.email == new_email)) is not None
        if taken:
            notifications.email_taken(session, ctx, user, new_email)
        else:
            session.add(
                EmailChangeRequest(
                    token_hash=_hash(token),
                    user_id=user.id,
                    new_email=new_email,
                    created_at=now,
                    expires_at=now + timedelta(hours=CONFIRM_HOURS),
                )
            )
            notifications.email_change_confirm(session, ctx, user, new_email, token, CONFIRM_HOURS)
        notifications.email_change_notice(session, ctx, user, new_email)
        # The same event either way: the audit log is for administrators, who may know.
        audit.record(
            session,
            user.id,
            audit.EMAIL_CHANGE_REQUESTED,
            user.email,
            address,
            {"to": new_email, "addressTaken": taken},
        )
    return ANSWER


def confirm_change(ctx: Context, token: str, address: str | None = None) -> User:
    """Apply the change the link stands for; returns the user with the new address."""
    throttle.check(ctx, throttle.VERIFY, None, address)
    now = utcnow()
    with ctx.db.write() as session:
        pending = session.get(EmailChangeRequest, _hash(token.strip()), with_for_update=True)
        user = session.get(User, pending.user_id) if pending else None
        valid = pending is not None and user is not None and user.is_active
        if pending is not None and user is not None and valid:
            session.delete(pending)  # single use, also when the change fails below
            taken = session.scalar(
                select(User.id).where(User.email == pending.new_email, User.id != user.id)
            )
            if pending.expires_at <= now or taken is not None:
                valid = False
            else:
                old = user.email
                user.email = pending.new_email
                user.changed_at = now
                # a pending password reset or verification was mailed to the old address
                user.reset_token_hash = None
                user.reset_token_expires_at = None
                audit.record(
                    session,
                    user.id,
                    audit.EMAIL_CHANGED,
                    user.email,
                    address,
                    {"from": old, "to": user.email},
                )
                from booking.domain.sessions import end_sessions_in

                end_sessions_in(session, user.id)
    if not valid or user is None:
        throttle.record(ctx, throttle.VERIFY, None, address)
        raise AuthFailed(INVALID_LINK)
    return user
