"""SMTP settings: the environment gives the defaults, an administrator may override them.

A password stored in the database is encrypted (Fernet) with a key derived from the app's secret
key, and it is never returned: reads show ``********``.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from booking.db.models import EmailSettings
from booking.domain import audit
from booking.domain.errors import AuthFailed
from booking.lib import mail
from booking.lib.schema import Field, Model
from booking.lib.timeutil import utcnow

if TYPE_CHECKING:
    from booking.db.models import User
    from booking.domain.context import Context

MASK = "********"


class EmailSettingsIn(Model, camel=True):
    smtp_host: str = Field(max_length=255)
    smtp_port: int = Field(ge=1, le=65535)
    smtp_username: str = Field(max_length=255)
    smtp_password: str = Field(max_length=500)
    from_name: str = Field(max_length=100)
    from_email: str = Field(max_length=255)
    use_tls: bool = True


def _fernet(ctx: Context):  # type: ignore[no-untyped-def]
    from cryptography.fernet import Fernet  # imported here: only admins ever need it

    return Fernet(base64.urlsafe_b64encode(ctx.derived_key("smtp-password")))


def _load(ctx: Context) -> EmailSettings | None:
    with ctx.db.read() as session:
        return session.get(EmailSettings, 1)


def read_settings(ctx: Context) -> dict[str, object]:
    row = _load(ctx)
    if row is None:
        return {
            "smtpHost": "",
            "smtpPort": 587,
            "smtpUsername": "",
            "smtpPassword": "",
            "fromName": "Booking System",
            "fromEmail": "",
            "useTls": True,
            "isConfigured": False,
        }
    return _out(row)


def _out(row: EmailSettings) -> dict[str, object]:
    return {
        "smtpHost": row.smtp_host,
        "smtpPort": row.smtp_port,
        "smtpUsername": row.smtp_username,
        "smtpPassword": MASK if row.smtp_password_encrypted else "",
        "fromName": row.from_name,
        "fromEmail": row.from_email,
        "useTls": row.use_tls,
        "isConfigured": row.is_configured,
    }


def save_settings(
    ctx: Context, data: EmailSettingsIn, actor: User | None = None
) -> dict[str, object]:
    _require_filled(data)
    with ctx.db.write() as session:
        row = session.get(EmailSettings, 1)
        if row is None:
            row = EmailSettings(id=1, created_at=utcnow())
            session.add(row)
        row.smtp_host = data.smtp_host.strip()
        row.smtp_port = data.smtp_port
        row.smtp_username = data.smtp_username.strip()
        row.from_name = data.from_name.strip()
        row.from_email = data.from_email.strip()
        row.use_tls = data.use_tls
        if data.smtp_password and data.smtp_password != MASK:
            row.smtp_password_encrypted = _fernet(ctx).encrypt(data.smtp_password.encode()).decode()
        row.is_configured = True
        row.updated_at = utcnow()
        audit.record(
            session,
            actor.id if actor else None,
            audit.EMAIL_SETTINGS_CHANGED,
            row.smtp_host,
            details={
                "smtpHost": row.smtp_host,
                "smtpPort": row.smtp_port,
                "smtpUsername": row.smtp_username,
                "fromEmail": row.from_email,
                "useTls": row.use_tls,
                "passwordChanged": bool(data.smtp_password and data.smtp_password != MASK),
            },
        )
        out = _out(row)
    out["smtpPassword"] = MASK
    return out


def _require_filled(data: EmailSettingsIn) -> None:
    # The predecessor's DTO made every string required; the messages are its defaults.
    for field, label in (
        ("smtp_host", "SmtpHost"),
        ("smtp_username", "SmtpUsername"),
        ("smtp_password", "SmtpPassword"),
        ("from_name", "FromName"),
        ("from_email", "FromEmail"),
    ):
        if not str(getattr(data, field)).strip():
            from booking.domain.errors import ValidationFailed

            raise ValidationFailed.one(label, f"The {label} field is required.")


def smtp_config(ctx: Context) -> mail.SmtpConfig:
    """The database row when an administrator configured one, else the environment."""
    settings = ctx.settings
    row = _load(ctx)
    if row is not None and row.is_configured:
        password = ""
        if row.smtp_password_encrypted:
            password = _fernet(ctx).decrypt(row.smtp_password_encrypted.encode()).decode()
        return mail.SmtpConfig(
            host=row.smtp_host,
            port=row.smtp_port,
            username=row.smtp_username,
            password=password,
            security=("tls" if row.smtp_port == 465 else "starttls") if row.use_tls else "none",
            from_email=row.from_email,
            from_name=row.from_name,
        )
    return mail.SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value(),
        security=settings.smtp_security,
        from_email=settings.mail_from,
    )


def send_test_mail(ctx: Context, to: str, subject: str | None, body: str | None) -> str:
    row = _load(ctx)
    if row is None or not row.is_configured:
        raise AuthFailed("E-Mail-Einstellungen müssen erst konfiguriert werden.")
    try:
        mail.send(
            smtp_config(ctx),
            to,
            subject or "Test E-Mail vom Booking System",
            body or "Dies ist eine Test-E-Mail zur Überprüfung der E-Mail-Konfiguration.",
        )
    except Exception as exc:  # any SMTP/socket error is reported to the administrator
        raise AuthFailed(f"Fehler beim Senden der Test-E-Mail: {exc}") from exc
    return f"Test-E-Mail wurde erfolgreich an {to} gesendet."
