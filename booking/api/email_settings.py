"""``/api/admin/email-settings``: SMTP settings stored in the database (admins only)."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from booking.api.deps import AdminDep, CtxDep
from booking.domain import email_settings
from booking.domain.email_settings import EmailSettingsIn
from booking.domain.errors import AuthFailed, ValidationFailed
from booking.http import Router
from booking.lib.schema import Field, Model

router = Router(prefix="/api/admin/email-settings")


class TestMailIn(Model, camel=True):
    to_email: str = Field(max_length=255)
    subject: str | None = Field(default=None, max_length=200)
    body: str | None = Field(default=None, max_length=5000)


@router.get("")
def read(admin: AdminDep, ctx: CtxDep) -> dict[str, Any]:
    return email_settings.read_settings(ctx)


@router.put("")
def save(body: EmailSettingsIn, admin: AdminDep, ctx: CtxDep) -> dict[str, Any]:
    saved = email_settings.save_settings(ctx, body, admin)
    return {"message": "E-Mail-Einstellungen wurden erfolgreich gespeichert.", "settings": saved}


@router.post("/test")
def test_mail(body: TestMailIn, admin: AdminDep, ctx: CtxDep) -> JSONResponse:
    if not body.to_email.strip():
        raise ValidationFailed.one("ToEmail", "The ToEmail field is required.")
    try:
        text = email_settings.send_test_mail(ctx, body.to_email.strip(), body.subject, body.body)
    except AuthFailed as exc:
        return JSONResponse({"message": exc.message, "success": False}, status_code=400)
    return JSONResponse({"message": text, "success": True})
