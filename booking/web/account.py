"""Pages: registration, e-mail verification, password reset and the profile."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from booking.api.deps import SESSION_COOKIE, CtxDep, client_address
from booking.domain import oidc, sessions, users
from booking.domain.errors import AuthFailed, NotFound, ValidationFailed
from booking.web.core import (
    FormData,
    MaybeUser,
    PageUser,
    check_csrf,
    page_router,
    redirect,
    render,
    renewed_session,
    translator,
)
from booking.web.feeds import profile_feed
from booking.web.i18n import N_, Translator, negotiate

router = page_router()

# domain error keys -> form field names
REGISTER_FIELDS = {
    "Email": "email",
    "FirstName": "first_name",
    "LastName": "last_name",
    "Password": "password",
}
PROFILE_FIELDS = {"FirstName": "first_name", "LastName": "last_name", "Language": "language"}
LANGUAGE_CHOICES = ("de", "en", "")  # "" = the browser's choice

RESEND_ANSWER = N_(
    "Falls ein unbestätigtes Konto mit dieser Adresse existiert, haben wir eine neue "
    "Bestätigungs-E-Mail gesendet. Bitte prüfen Sie Ihr Postfach."
)
FORGOT_ANSWER = N_(
    "Falls ein Konto mit dieser Adresse existiert, haben wir Ihnen einen Link zum Zurücksetzen "
    "des Passworts gesendet. Der Link ist 60 Minuten gültig."
)


def _translated(request: Request, errors: dict[str, str]) -> dict[str, str]:
    """Error texts are German message ids; show them in the page's language."""
    t = translator(request)
    return {key: t.gettext(message) for key, message in errors.items()}


def _field_errors(exc: ValidationFailed, mapping: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for key, messages in exc.errors.items():
        errors.setdefault(mapping.get(key, "_form"), messages[0])
    return errors


def _new_password_errors(form: dict[str, str], name: str, confirm: str) -> dict[str, str]:
    """What the form itself checks: both fields present and equal (the rules are the domain's)."""
    errors: dict[str, str] = {}
    if not form.get(name):
        errors[name] = N_("Passwort ist erforderlich")
    if not form.get(confirm):
        errors[confirm] = N_("Passwort-Bestätigung ist erforderlich")
    elif form.get(name) and form[name] != form[confirm]:
        errors[confirm] = N_("Passwörter stimmen nicht überein")
    return errors


def _email_error(email: str) -> str | None:
    if not email:
        return N_("E-Mail-Adresse ist erforderlich")
    if not users.EMAIL_RE.match(email):
        return N_("Ungültige E-Mail-Adresse")
    return None


# --- registration ---------------------------------------------------------------------------


@router.get("/register")
def register_form(request: Request, user: MaybeUser) -> Response:
    if user is not None:
        return redirect("/bookings")
    return render(request, "auth/register.html", values={}, errors={})


@router.post("/register")
def register(request: Request, form: FormData, ctx: CtxDep) -> Response:
    check_csrf(request, form)
    values = {key: form.get(key, "").strip() for key in ("first_name", "last_name", "email")}
    errors: dict[str, str] = {}
    if not values["first_name"]:
        errors["first_name"] = N_("Vorname ist erforderlich")
    if not values["last_name"]:
        errors["last_name"] = N_("Nachname ist erforderlich")
    email_error = _email_error(values["email"])
    if email_error:
        errors["email"] = email_error
    errors.update(_new_password_errors(form, "password", "password_confirm"))
    if not errors:
        try:
            users.register(
                ctx,
                values["email"],
                form["password"],
                values["first_name"],
                values["last_name"],
                client_address(request),
            )
        except ValidationFailed as exc:
            errors = _field_errors(exc, REGISTER_FIELDS)
        except AuthFailed as exc:
            errors["email"] = exc.message
        else:
            return redirect("/register/success")
    return render(
        request, "auth/register.html", 400, values=values, errors=_translated(request, errors)
    )


@router.get("/register/success")
def register_success(request: Request) -> Response:
    return render(request, "auth/register_success.html", email="", errors={})


# --- e-mail verification --------------------------------------------------------------------


@router.get("/verify-email")
def verify_form(request: Request, token: str = "") -> Response:
    # Verifying needs a click: mail scanners that open links must not use up the token.
    if not token.strip():
        return render(request, "auth/verify_email.html", 400, state="missing", errors={})
    return render(request, "auth/verify_email.html", state="confirm", token=token.strip())


@router.post("/verify-email")
def verify(request: Request, form: FormData, ctx: CtxDep) -> Response:
    check_csrf(request, form)
    token = form.get("token", "").strip()
    if not token:
        return render(request, "auth/verify_email.html", 400, state="missing", errors={})
    try:
        users.verify_email(ctx, token, client_address(request))
    except AuthFailed as exc:
        return render(
            request,
            "auth/verify_email.html",
            400,
            state="failed",
            message=exc.message,
            email="",
            errors={},
        )
    return redirect("/verify-email/done")


@router.get("/verify-email/done")
def verify_done(request: Request) -> Response:
    return render(request, "auth/verify_email.html", state="done", errors={})


@router.get("/resend-verification")
def resend_form(request: Request) -> Response:
    return render(request, "auth/resend_verification.html", email="", errors={})


@router.post("/resend-verification")
def resend(request: Request, form: FormData, ctx: CtxDep) -> Response:
    check_csrf(request, form)
    email = form.get("email", "").strip()
    error = _email_error(email)
    if error:
        errors = {"email": error}
        return render(
            request,
            "auth/resend_verification.html",
            400,
            email=email,
            errors=_translated(request, errors),
        )
    users.resend_verification(ctx, email, client_address(request))
    return redirect("/resend-verification", request, translator(request).gettext(RESEND_ANSWER))


# --- forgotten password ---------------------------------------------------------------------


@router.get("/forgot-password")
def forgot_form(request: Request) -> Response:
    return render(request, "auth/forgot_password.html", email="", errors={})


@router.post("/forgot-password")
def forgot(request: Request, form: FormData, ctx: CtxDep) -> Response:
    check_csrf(request, form)
    email = form.get("email", "").strip()
    error = _email_error(email)
    if error:
        errors = {"email": error}
        return render(
            request,
            "auth/forgot_password.html",
            400,
            email=email,
            errors=_translated(request, errors),
        )
    users.request_password_reset(
        ctx, email, client_address(request)
    )  # the same answer whether the account exists
    return redirect("/forgot-password", request, translator(request).gettext(FORGOT_ANSWER))


@router.get("/reset-password")
def reset_form(request: Request, token: str = "") -> Response:
    if not token.strip():
        return render(request, "auth/reset_password.html", 400, token="", errors={})
    return render(request, "auth/reset_password.html", token=token.strip(), errors={})


@router.post("/reset-password")
def reset(request: Request, form: FormData, ctx: CtxDep) -> Response:
    check_csrf(request, form)
    token = form.get("token", "").strip()
    if not token:
        return render(request, "auth/reset_password.html", 400, token="", errors={})
    errors = _new_password_errors(form, "password", "password_confirm")
    if not errors:
        try:
            users.reset_password(ctx, token, form["password"], client_address(request))
        except ValidationFailed as exc:
            errors = _field_errors(exc, {"NewPassword": "password"})
        except AuthFailed as exc:
            errors["_form"] = exc.message
        else:
            message = translator(request).gettext(
                "Ihr Passwort wurde geändert. Bitte melden Sie sich mit dem neuen Passwort an."
            )
            response = redirect("/login", request, message)
            response.delete_cookie(SESSION_COOKIE, path="/")  # every session has ended
            return response
    return render(
        request, "auth/reset_password.html", 400, token=token, errors=_translated(request, errors)
    )


# --- profile --------------------------------------------------------------------------------


def _profile_page(
    request: Request,
    user: PageUser,
    status: int = 200,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    password_errors: dict[str, str] | None = None,
) -> Response:
    if values is None:
        values = {
            "first_name": user.first_name,
            "last_name": user.last_name,
            "language": user.language or "",
        }
    return render(
        request,
        "account/profile.html",
        status,
        values=values,
        errors=_translated(request, errors or {}),
        password_errors=_translated(request, password_errors or {}),
        calendar_feed=profile_feed(request.app.state.ctx, user),
        oidc_identities=oidc.identities(request.app.state.ctx, user.id),
    )


@router.get("/profile")
def profile(request: Request, user: PageUser) -> Response:
    return _profile_page(request, user)


@router.post("/profile")
def save_profile(request: Request, user: PageUser, form: FormData, ctx: CtxDep) -> Response:
    check_csrf(request, form)
    values = {key: form.get(key, "").strip() for key in ("first_name", "last_name", "language")}
    errors: dict[str, str] = {}
    if not values["first_name"]:
        errors["first_name"] = N_("Vorname ist erforderlich")
    if not values["last_name"]:
        errors["last_name"] = N_("Nachname ist erforderlich")
    if values["language"] not in LANGUAGE_CHOICES:
        errors["language"] = N_("Bitte wählen Sie eine Sprache aus der Liste.")
    if not errors:
        language = values["language"] or None
        try:
            users.update_profile(ctx, user, values["first_name"], values["last_name"], language)
        except ValidationFailed as exc:
            errors = _field_errors(exc, PROFILE_FIELDS)
        except NotFound as exc:
            errors["_form"] = exc.message
        else:
            # the message in the language just chosen
            t = Translator(language or negotiate(request.headers.get("accept-language")))
            return redirect("/profile", request, t.gettext("Ihr Profil wurde gespeichert."))
    return _profile_page(request, user, 400, values=values, errors=errors)


@router.post("/profile/password")
def change_password(request: Request, user: PageUser, form: FormData, ctx: CtxDep) -> Response:
    check_csrf(request, form)
    errors: dict[str, str] = {}
    if not form.get("current_password"):
        errors["current_password"] = N_("Das aktuelle Passwort ist erforderlich")
    errors.update(_new_password_errors(form, "new_password", "new_password_confirm"))
    if not errors:
        try:
            users.change_password(ctx, user, form["current_password"], form["new_password"])
        except ValidationFailed as exc:
            errors = _field_errors(exc, {"NewPassword": "new_password"})
        except AuthFailed as exc:
            errors["current_password"] = exc.message
        else:
            message = translator(request).gettext("Ihr Passwort wurde geändert.")
            return renewed_session(redirect("/profile", request, message), ctx, user)
    return _profile_page(request, user, 400, password_errors=errors)


@router.post("/profile/logout-all")
def logout_everywhere(request: Request, user: PageUser, form: FormData, ctx: CtxDep) -> Response:
    check_csrf(request, form)
    sessions.log_out_everywhere(ctx, user, client_address(request))
    message = translator(request).gettext("Sie wurden auf allen Geräten abgemeldet.")
    response = redirect("/login", request, message)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
