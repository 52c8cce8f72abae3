"""``/api/auth``: login, registration, verification, password change."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from booking.api.deps import (
    CtxDep,
    UserDep,
    client_address,
    issue_token,
    renew_cookie_session,
)
from booking.api.errors import problem
from booking.domain import email_change, two_factor, users
from booking.domain.errors import ValidationFailed
from booking.http import Router
from booking.lib.schema import Field, Model

router = Router(prefix="/api/auth")
CODE_NEEDED = "This account uses two-factor authentication: send totpCode."
CODE_WRONG = "The two-factor code is wrong or was already used."
_TEXT = Field(max_length=1000)


class _In(Model, camel=True):
    """camelCase on the wire (``firstName``), snake_case in Python."""


class LoginIn(_In):
    email: str = _TEXT
    password: str = _TEXT
    # Accounts with two-factor authentication: the app's 6 digits or a recovery code.
    totp_code: str | None = Field(default=None, max_length=100)


class RegisterIn(_In):
    email: str = _TEXT
    password: str = _TEXT
    first_name: str = _TEXT
    last_name: str = _TEXT


class TokenIn(_In):
    token: str = _TEXT


class EmailIn(_In):
    email: str = _TEXT


class ResetIn(_In):
    token: str = _TEXT
    new_password: str = _TEXT


class ProfileIn(_In):
    first_name: str = _TEXT
    last_name: str = _TEXT
    language: str | None = Field(default=None, max_length=5)


class PasswordChangeIn(_In):
    current_password: str = _TEXT
    new_password: str = _TEXT


class EmailChangeIn(_In):
    new_email: str = _TEXT
    password: str = _TEXT


def _required(**fields: str) -> None:
    """The predecessor treated every string in these bodies as required and non-blank."""
    errors = {
        name: [f"The {name} field is required."]
        for name, value in fields.items()
        if not value.strip()
    }
    if errors:
        raise ValidationFailed(errors)


def user_out(user: Any) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "role": users.ROLES.index(user.role),
    }


@router.post("/login")
def login(body: LoginIn, request: Request, ctx: CtxDep) -> dict[str, Any] | JSONResponse:
    _required(Email=body.email, Password=body.password)
    address = client_address(request)
    user = users.authenticate(ctx, body.email, body.password, address)
    if two_factor.is_enabled(ctx, user.id):
        if not (body.totp_code or "").strip():
            return problem(401, "Two-factor code required.", errors={"TotpCode": [CODE_NEEDED]})
        try:
            two_factor.verify(ctx, user, body.totp_code or "", address, login=True)
        except two_factor.InvalidCode:
            return problem(401, "Invalid two-factor code.", errors={"TotpCode": [CODE_WRONG]})
    return {"token": issue_token(ctx, user), "message": "Login successful", "user": user_out(user)}


@router.post("/register")
def register(body: RegisterIn, request: Request, ctx: CtxDep) -> dict[str, Any]:
    _required(
        Email=body.email, Password=body.password, FirstName=body.first_name, LastName=body.last_name
    )
    user_id = users.register(
        ctx,
        body.email,
        body.password,
        body.first_name,
        body.last_name,
        client_address(request),
    )
    return {
        "message": "Registrierung erfolgreich. Bitte überprüfen Sie Ihre E-Mails zur Verifizierung.",
        "userId": user_id,
    }


@router.post("/verify-email")
def verify_email(body: TokenIn, request: Request, ctx: CtxDep) -> dict[str, Any]:
    _required(Token=body.token)
    users.verify_email(ctx, body.token.strip(), client_address(request))
    return {
        "message": "E-Mail-Adresse erfolgreich verifiziert. "
        "Ihr Konto wartet auf Administrator-Freigabe für Buchungen.",
        "requiresApproval": True,
    }


@router.post("/resend-verification")
def resend_verification(body: EmailIn, request: Request, ctx: CtxDep) -> dict[str, str]:
    _required(Email=body.email)
    users.resend_verification(ctx, body.email, client_address(request))
    return {"message": "Neuer Verifizierungslink wurde an Ihre E-Mail-Adresse gesendet."}


@router.get("/me")
def me(user: UserDep) -> dict[str, Any]:
    return {**user_out(user), "canBook": users.can_book(user)}


@router.get("/two-factor")
def two_factor_status(user: UserDep, ctx: CtxDep) -> dict[str, Any]:
    """Whether the caller uses two-factor authentication (set up on the profile page)."""
    enabled = two_factor.is_enabled(ctx, user.id)
    return {
        "enabled": enabled,
        "recoveryCodesLeft": two_factor.remaining_recovery_codes(ctx, user.id) if enabled else 0,
        "required": user.is_admin and ctx.settings.admin_2fa_required,
    }


@router.post("/change-password")
def change_password(
    body: PasswordChangeIn, user: UserDep, ctx: CtxDep, request: Request, response: Response
) -> dict[str, str]:
    _required(CurrentPassword=body.current_password, NewPassword=body.new_password)
    users.change_password(ctx, user, body.current_password, body.new_password)
    renew_cookie_session(request, response, ctx, user)  # other sessions have ended
    return {"message": "Ihr Passwort wurde geändert."}


@router.post("/change-email")
def change_email(
    body: EmailChangeIn, user: UserDep, ctx: CtxDep, request: Request
) -> dict[str, str]:
    """The same answer whether or not the new address is registered (no enumeration)."""
    _required(NewEmail=body.new_email, Password=body.password)
    answer = email_change.request_change(
        ctx, user, body.new_email, body.password, client_address(request)
    )
    return {"message": answer}


@router.post("/confirm-email-change")
def confirm_email_change(body: TokenIn, request: Request, ctx: CtxDep) -> dict[str, Any]:
    _required(Token=body.token)
    user = email_change.confirm_change(ctx, body.token.strip(), client_address(request))
    return {"message": email_change.CHANGED, "email": user.email}


@router.post("/forgot-password")
def forgot_password(body: EmailIn, request: Request, ctx: CtxDep) -> dict[str, str]:
    _required(Email=body.email)
    users.request_password_reset(ctx, body.email, client_address(request))
    return {
        "message": "Wenn ein Konto mit dieser E-Mail-Adresse existiert, haben wir einen Link "
        "zum Zurücksetzen des Passworts gesendet."
    }


@router.post("/reset-password")
def reset_password(body: ResetIn, request: Request, ctx: CtxDep) -> dict[str, str]:
    _required(Token=body.token, NewPassword=body.new_password)
    users.reset_password(ctx, body.token.strip(), body.new_password, client_address(request))
    return {"message": "Ihr Passwort wurde geändert. Sie können sich jetzt anmelden."}


@router.put("/profile")
def update_profile(body: ProfileIn, user: UserDep, ctx: CtxDep) -> dict[str, Any]:
    updated = users.update_profile(ctx, user, body.first_name, body.last_name, body.language)
    return {**user_out(updated), "language": updated.language}
