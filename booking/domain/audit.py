"""Audit log of security-relevant events, and the failed-login log line for fail2ban.

``record`` adds a row inside the caller's transaction, so an event is stored exactly when the
change it describes is committed. The app only ever inserts (append-only from its point of view);
administrators read the log at ``/admin/audit`` and ``GET /api/admin/audit``.

Never put secrets into ``details``: ``record`` refuses keys that name passwords, tokens or
secrets, and callers store facts ("the SMTP password was changed"), not values.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from booking.db.models import AuditEvent, User
from booking.lib.timeutil import utcnow, wire_datetime

if TYPE_CHECKING:
    from booking.domain.context import Context

# The calling client's address for events whose domain function is not told it (admin actions);
# set per request by the app's outer middleware (booking/app.py).
REQUEST_ADDRESS: ContextVar[str | None] = ContextVar("booking_client_address", default=None)

LOGIN = "login"
LOGIN_FAILED = "login_failed"
LOGOUT_ALL = "logout_all"
USER_APPROVED = "user_approved"
USER_REJECTED = "user_rejected"
BOOKING_REVOKED = "booking_revoked"
BOOKING_RESTORED = "booking_restored"
ROLE_CHANGED = "role_changed"
EMAIL_SETTINGS_CHANGED = "email_settings_changed"
PASSWORD_CHANGED = "password_changed"  # noqa: S105 - an event name
PASSWORD_RESET = "password_reset"  # noqa: S105 - an event name
PLACE_CREATED = "place_created"
PLACE_UPDATED = "place_updated"
PLACE_DEACTIVATED = "place_deactivated"
PLACE_REACTIVATED = "place_reactivated"
HOUSE_RULES_CHANGED = "house_rules_changed"
CLOSED_PERIOD_ADDED = "closed_period_added"
CLOSED_PERIOD_REMOVED = "closed_period_removed"
QUOTA_EXCEPTION_GRANTED = "quota_exception_granted"
QUOTA_EXCEPTION_REMOVED = "quota_exception_removed"
QUOTA_EXCEPTION_USED = "quota_exception_used"
EMAIL_CHANGE_REQUESTED = "email_change_requested"
EMAIL_CHANGED = "email_changed"
TWO_FACTOR_ENABLED = "two_factor_enabled"
TWO_FACTOR_DISABLED = "two_factor_disabled"
TWO_FACTOR_RESET = "two_factor_reset"
TWO_FACTOR_FAILED = "two_factor_failed"
RECOVERY_CODE_USED = "recovery_code_used"
RECOVERY_CODES_REGENERATED = "recovery_codes_regenerated"
OIDC_LINKED = "oidc_linked"
OIDC_REGISTERED = "oidc_registered"
CALENDAR_FEED_RENEWED = "calendar_feed_renewed"
CALENDAR_FEED_DELETED = "calendar_feed_deleted"
HOUSE_FEED_CHANGED = "house_feed_changed"

LABELS = {
    LOGIN: "Anmeldung",
    LOGIN_FAILED: "Fehlgeschlagene Anmeldung",
    LOGOUT_ALL: "Auf allen Geräten abgemeldet",
    USER_APPROVED: "Benutzer freigegeben",
    USER_REJECTED: "Registrierung abgelehnt",
    BOOKING_REVOKED: "Buchungsberechtigung entzogen",
    BOOKING_RESTORED: "Buchungsberechtigung wiederhergestellt",
    ROLE_CHANGED: "Rolle geändert",
    EMAIL_SETTINGS_CHANGED: "E-Mail-Einstellungen geändert",
    PASSWORD_CHANGED: "Passwort geändert",
    PASSWORD_RESET: "Passwort zurückgesetzt",
    PLACE_CREATED: "Schlafmöglichkeit angelegt",
    PLACE_UPDATED: "Schlafmöglichkeit geändert",
    PLACE_DEACTIVATED: "Schlafmöglichkeit deaktiviert",
    PLACE_REACTIVATED: "Schlafmöglichkeit aktiviert",
    HOUSE_RULES_CHANGED: "Hausregeln geändert",
    CLOSED_PERIOD_ADDED: "Sperrzeit angelegt",
    CLOSED_PERIOD_REMOVED: "Sperrzeit gelöscht",
    QUOTA_EXCEPTION_GRANTED: "Kontingent-Ausnahme gewährt",
    QUOTA_EXCEPTION_REMOVED: "Kontingent-Ausnahme gelöscht",
    QUOTA_EXCEPTION_USED: "Kontingent-Ausnahme genutzt",
    EMAIL_CHANGE_REQUESTED: "E-Mail-Änderung angefordert",
    EMAIL_CHANGED: "E-Mail-Adresse geändert",
    TWO_FACTOR_ENABLED: "Zwei-Faktor-Anmeldung eingerichtet",
    TWO_FACTOR_DISABLED: "Zwei-Faktor-Anmeldung ausgeschaltet",
    TWO_FACTOR_RESET: "Zwei-Faktor-Anmeldung zurückgesetzt",
    TWO_FACTOR_FAILED: "Falscher Zwei-Faktor-Code",
    RECOVERY_CODE_USED: "Wiederherstellungscode benutzt",
    RECOVERY_CODES_REGENERATED: "Wiederherstellungscodes neu erzeugt",
    OIDC_LINKED: "Anmeldung über Anbieter verknüpft",
    OIDC_REGISTERED: "Registrierung über Anbieter",
    CALENDAR_FEED_RENEWED: "Kalender-Adresse neu erzeugt",
    CALENDAR_FEED_DELETED: "Kalender-Adresse gelöscht",
    HOUSE_FEED_CHANGED: "Hauskalender geändert",
}
# Keys that would hold a secret; details describe changes, they never carry values like these.
_SECRET_WORDS = ("password", "token", "secret", "code", "hash", "key")
MAX_LIMIT = 500

security_log = logging.getLogger("booking.security")
# fail2ban depends on these lines: they are written even when BOOKING_LOG_LEVEL is `error`.
security_log.setLevel(logging.WARNING)

# The failed-login line (docs/security.md, deploy/fail2ban/filter.d/booking.conf). The address
# comes first and the user is JSON-quoted last, so nothing typed can forge another address.
LOGIN_FAILED_FORMAT = "login failed: address=%s reason=%s user=%s"
REASONS = (
    "invalid_credentials",
    "throttled",
    "unverified",
    "unapproved",
    "invalid_two_factor_code",
    "oidc_refused",
    "oidc_unavailable",
)


def log_login_failure(email: str, address: str | None, reason: str) -> None:
    """The one line each refused or failed login writes (logger ``booking.security``)."""
    if reason not in REASONS:
        raise ValueError(f"unknown login failure reason {reason!r}")
    user = json.dumps(email.strip()[:200])  # escapes newlines and quotes: one line, always
    security_log.warning(LOGIN_FAILED_FORMAT, address or "-", reason, user)


def _check_details(details: dict[str, Any]) -> None:
    for key in details:
        lowered = key.lower()
        if any(lowered == word or lowered.endswith(word) for word in _SECRET_WORDS):
            raise ValueError(f"audit details must not carry secrets ({key!r})")


def record(
    session: Session,
    actor_id: int | None,
    event: str,
    subject: str | None = None,
    client_address: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Add one event to the caller's transaction."""
    if event not in LABELS:
        raise ValueError(f"unknown audit event {event!r}")
    details = details or {}
    _check_details(details)
    address = client_address or REQUEST_ADDRESS.get()
    session.add(
        AuditEvent(
            occurred_at=utcnow(),
            actor_id=actor_id,
            event=event,
            subject=subject[:300] if subject else None,
            client_address=address[:64] if address else None,
            details=json.dumps(details, ensure_ascii=False, sort_keys=True, default=str),
        )
    )


def recent(ctx: Context, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """Newest first."""
    limit = max(1, min(limit, MAX_LIMIT))
    actor = aliased(User)
    with ctx.db.read() as session:
        rows = session.execute(
            select(AuditEvent, actor.email)
            .outerjoin(actor, actor.id == AuditEvent.actor_id)
            .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
            .limit(limit)
            .offset(max(0, offset))
        ).all()
    return [
        {
            "id": row.id,
            "occurredAt": wire_datetime(row.occurred_at),
            "event": row.event,
            "label": LABELS.get(row.event, row.event),
            "actorId": row.actor_id,
            "actorEmail": email,
            "subject": row.subject,
            "clientAddress": row.client_address,
            "details": json.loads(row.details or "{}"),
        }
        for row, email in rows
    ]


def count(ctx: Context) -> int:
    with ctx.db.read() as session:
        return session.scalar(select(func.count(AuditEvent.id))) or 0
