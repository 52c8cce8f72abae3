"""Pages: changing one's e-mail address (a section of the profile) and confirming the new
address from the mailed link (booking/domain/email_change.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from booking.api.deps import SESSION_COOKIE, CtxDep, client_address
from booking.domain import email_change
from booking.domain.errors import AuthFailed, Throttled, ValidationFailed
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
from booking.web.i18n import N_

router = page_router()

# The domain's German texts, marked here for the catalog (the API sends them as they are).
N_("Wir haben einen Bestätigungslink an die neue Adresse gesendet. Ihre E-Mail-Adresse ändert "
   "sich, sobald Sie den Link öffnen und bestätigen. Der Link ist 24 Stunden gültig.")  # fmt: skip
N_("Das aktuelle Passwort ist falsch.")
N_("Das ist bereits Ihre E-Mail-Adresse.")
N_("Ungültiger oder abgelaufener Link zur Änderung der E-Mail-Adresse.")
N_("Ihre E-Mail-Adresse wurde geändert.")
# audit log labels (booking/domain/audit.py)
N_("E-Mail-Änderung angefordert")
N_("E-Mail-Adresse geändert")


def _form_page(request: Request, status: int, new_email: str, errors: dict[str, str]) -> Response:
    t = translator(request)
    shown = {key: t.gettext(message) for key, message in errors.items()}
    return render(
        request, "account/email_change.html", status, new_email=new_email, email_errors=shown
    )


@router.get("/profile/email")
def email_form(request: Request, user: PageUser) -> Response:
    return _form_page(request, 200, "", {})


@router.post("/profile/email")
def request_change(request: Request, user: PageUser, form: FormData, ctx: CtxDep) -> Response:
    check_csrf(request, form)
    new_email = form.get("new_email", "").strip()
    errors: dict[str, str] = {}
    if not new_email:
        errors["new_email"] = N_("E-Mail-Adresse ist erforderlich")
    if not form.get("password"):
        errors["password"] = N_("Das aktuelle Passwort ist erforderlich")
    if not errors:
        try:
            answer = email_change.request_change(
                ctx, user, new_email, form["password"], client_address(request)
            )
        except ValidationFailed as exc:
            errors["new_email"] = exc.message
        except AuthFailed as exc:
            errors["password"] = exc.message
        except Throttled as exc:
            page = _form_page(request, 429, new_email, {"_form": exc.message})
            page.headers["Retry-After"] = str(exc.retry_after)
            return page
        else:
            return redirect("/profile", request, translator(request).gettext(answer))
    return _form_page(request, 400, new_email, errors)


@router.get("/confirm-email-change")
def confirm_form(request: Request, token: str = "") -> Response:
    # A click, not the GET: mail scanners that open links must not use up the token.
    if not token.strip():
        return render(request, "account/confirm_email_change.html", 400, state="missing")
    return render(request, "account/confirm_email_change.html", state="confirm", token=token)


@router.post("/confirm-email-change")
def confirm(request: Request, user: MaybeUser, form: FormData, ctx: CtxDep) -> Response:
    check_csrf(request, form)
    token = form.get("token", "").strip()
    if not token:
        return render(request, "account/confirm_email_change.html", 400, state="missing")
    try:
        changed = email_change.confirm_change(ctx, token, client_address(request))
    except AuthFailed as exc:
        return render(
            request, "account/confirm_email_change.html", 400, state="failed", message=exc.message
        )
    t = translator(request)
    if user is not None and user.id == changed.id:
        # this browser was logged in as the owner: it continues with a new session
        message = t.gettext("Ihre E-Mail-Adresse wurde geändert.")
        return renewed_session(redirect("/profile", request, message), ctx, changed)
    message = t.gettext(
        "Ihre E-Mail-Adresse wurde geändert. Bitte melden Sie sich mit der neuen Adresse an."
    )
    response = redirect("/login", request, message)
    if user is None:
        response.delete_cookie(SESSION_COOKIE, path="/")  # a session of the owner has ended
    return response
