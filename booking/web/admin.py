"""Pages: administration (dashboard, users, sleeping places, e-mail settings)."""

from __future__ import annotations

import functools
import uuid
from datetime import date, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from booking.api.deps import CtxDep
from booking.db.models import User
from booking.domain import bookings, calendar, email_settings, places, two_factor, users
from booking.domain.availability import PENDING
from booking.domain.email_settings import EmailSettingsIn
from booking.domain.errors import AuthFailed, DomainError, NotFound, ValidationFailed
from booking.domain.places import PlaceIn
from booking.lib.schema import ValidationError
from booking.web.core import (
    PLACE_TYPES,
    STATIC_NAMES,
    FormData,
    PageAdmin,
    PageError,
    check_csrf,
    flash,
    page_router,
    redirect,
    render,
    static_url,
    translator,
)
from booking.web.i18n import N_, Translator

router = page_router()
OCCUPANCY_DAYS = 30
PLACE_FIELDS = {"Name": "name", "Type": "type", "MaxCapacity": "capacity"}
EMAIL_FIELDS = {
    "SmtpHost": "smtp_host",
    "SmtpPort": "smtp_port",
    "SmtpUsername": "smtp_username",
    "SmtpPassword": "smtp_password",
    "FromName": "from_name",
    "FromEmail": "from_email",
}
# The domain keeps the predecessor's (English, framework-default) texts for the API; the pages
# show German ones. Only the wording changes here, never the rule.
FIELD_MESSAGES = {
    "The Name field is required.": N_("Name ist erforderlich"),
    "The field Name must be a string with a minimum length of 1 and a maximum length of 100.": N_(
        "Der Name darf höchstens 100 Zeichen lang sein"
    ),
    "The field MaxCapacity must be between 1 and 100.": N_(
        "Die Kapazität muss zwischen 1 und 100 liegen"
    ),
    "The SmtpHost field is required.": N_("SMTP Server ist erforderlich"),
    "The SmtpUsername field is required.": N_("Benutzername ist erforderlich"),
    "The SmtpPassword field is required.": N_("Passwort ist erforderlich"),
    "The FromName field is required.": N_("Absender-Name ist erforderlich"),
    "The FromEmail field is required.": N_("Absender-E-Mail ist erforderlich"),
}


def _render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    # confirm.js (another page's helper) turns the confirmation links into dialogs when present
    confirm_js = static_url("js/confirm.js") if "js/confirm.js" in STATIC_NAMES else None
    return render(request, template, status, confirm_js=confirm_js, **context)


def _errors(request: Request, errors: dict[str, str]) -> dict[str, str]:
    t = translator(request)
    return {key: t.gettext(FIELD_MESSAGES.get(text, text)) for key, text in errors.items()}


def _field_errors(exc: ValidationFailed, mapping: dict[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, messages in exc.errors.items():
        found.setdefault(mapping.get(key, "_form"), messages[0])
    return found


def _back(request: Request, url: str, message: str, kind: str = "success") -> Response:
    response = redirect(url)
    flash(response, request.app.state.ctx, translator(request).gettext(message), kind)
    return response


def _confirm(request: Request, spec: dict[str, Any]) -> Response:
    """The no-JS confirmation page; confirm.js shows the same form in a dialog instead (the
    list pages put the same ``spec`` into the trigger's data attributes)."""
    return _render(request, "admin/confirm.html", spec=spec)


def _spec(
    title: str,
    message: str,
    action: str,
    confirm_label: str,
    *,
    fields: dict[str, str] | None = None,
    reason: bool = False,
    danger: bool = True,
    detail: str | None = None,
) -> dict[str, Any]:
    return {
        "title": title,
        "message": message,
        "action": action,
        "confirm_label": confirm_label,
        "fields": fields or {},
        "reason": reason,
        "danger": danger,
        "detail": detail,
        "cancel_url": action.rsplit("/", 2)[0],  # the list the action started from
    }


def user_confirmation(t: Translator, kind: str, target: User) -> dict[str, Any]:
    """What to ask before rejecting, revoking, promoting or demoting ``target``."""
    name = target.full_name
    base = f"/admin/users/{target.id}"
    if kind == "reject":
        return _spec(
            t.gettext("Benutzer ablehnen"),
            t.gettext(
                "Möchten Sie die Registrierung von {name} ({email}) ablehnen? Die Person wird "
                "per E-Mail informiert.",
                name=name,
                email=target.email,
            ),
            f"{base}/reject",
            t.gettext("Ablehnen"),
            reason=True,
        )
    if kind == "revoke":
        return _spec(
            t.gettext("Buchungsrecht entziehen"),
            t.gettext(
                "Möchten Sie {name} das Recht zu buchen wirklich entziehen? Die Person kann sich "
                "weiter anmelden, aber keine Buchungen mehr anlegen oder ändern.",
                name=name,
            ),
            f"{base}/revoke",
            t.gettext("Buchungsrecht entziehen"),
        )
    if kind == "two_factor_reset":
        return _spec(
            t.gettext("2FA zurücksetzen"),
            t.gettext(
                "Möchten Sie die Zwei-Faktor-Anmeldung von {name} zurücksetzen (zum Beispiel "
                "nach dem Verlust des Telefons)? Die Person meldet sich danach nur mit dem "
                "Passwort an und kann die Zwei-Faktor-Anmeldung neu einrichten.",
                name=name,
            ),
            f"{base}/two-factor-reset",
            t.gettext("2FA zurücksetzen"),
        )
    if kind == users.ADMIN:
        title = t.gettext("Zum Administrator machen")
        message = t.gettext(
            "Möchten Sie {name} zum Administrator machen? Administratoren verwalten Benutzer, "
            "Buchungen und Schlafmöglichkeiten.",
            name=name,
        )
        return _spec(title, message, f"{base}/role", title, fields={"role": kind}, danger=False)
    title = t.gettext("Zum Mitglied machen")
    message = t.gettext("Möchten Sie {name} die Administratorrechte wirklich entziehen?", name=name)
    return _spec(title, message, f"{base}/role", title, fields={"role": users.MEMBER})


def place_confirmation(t: Translator, place: dict[str, Any]) -> dict[str, Any]:
    return _spec(
        t.gettext("Schlafmöglichkeit deaktivieren"),
        t.gettext("Möchten Sie diese Schlafmöglichkeit wirklich deaktivieren?"),
        f"/admin/places/{place['id']}/deactivate",
        t.gettext("Deaktivieren"),
        detail=str(place["name"]),
    )


# --- dashboard ------------------------------------------------------------------------------


@router.get("/admin")
def dashboard(request: Request, admin: PageAdmin, ctx: CtxDep) -> Response:
    today = ctx.today()
    days = calendar.day_availability(ctx, today, today + timedelta(days=OCCUPANCY_DAYS))
    occupancy = [
        {
            "date": date.fromisoformat(day["date"]),
            "free": day["freeBeds"],
            "total": day["totalBeds"],
            "full": day["full"],
        }
        for day in days
    ]
    return _render(
        request,
        "admin/dashboard.html",
        pending_users=users.pending_users(ctx),
        pending_bookings=[
            {
                **booking,
                "start": date.fromisoformat(booking["startDate"][:10]),
                "end": date.fromisoformat(booking["endDate"][:10]),
            }
            for booking in bookings.list_bookings(ctx, admin, bookings.ALL, PENDING)
        ],
        occupancy=occupancy,
        today=today,
    )


# --- users ----------------------------------------------------------------------------------


def _user_id(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 12:
        raise PageError(404)
    return int(raw)


def _find_user(ctx: CtxDep, user_id: int) -> User:
    for user in users.all_users(ctx):
        if user.id == user_id:
            return user
    raise PageError(404, N_("Benutzer nicht gefunden."))


@router.get("/admin/users")
def users_page(request: Request, admin: PageAdmin, ctx: CtxDep) -> Response:
    return _render(
        request,
        "admin/users.html",
        pending=users.pending_users(ctx),
        everyone=users.all_users(ctx),
        can_book=users.can_book,
        confirmation=functools.partial(user_confirmation, translator(request)),
        two_factor_ids=two_factor.enabled_user_ids(ctx),
    )


@router.post("/admin/users/{user_id}/approve")
def approve_user(
    request: Request, user_id: str, admin: PageAdmin, form: FormData, ctx: CtxDep
) -> Response:
    check_csrf(request, form)
    try:
        message = users.approve(ctx, admin, _user_id(user_id))
    except DomainError as exc:
        return _back(request, "/admin/users", exc.message, "error")
    return _back(request, "/admin/users", message)


@router.get("/admin/users/{user_id}/reject")
def reject_user_confirm(request: Request, user_id: str, admin: PageAdmin, ctx: CtxDep) -> Response:
    target = _find_user(ctx, _user_id(user_id))
    return _confirm(request, user_confirmation(translator(request), "reject", target))


@router.post("/admin/users/{user_id}/reject")
def reject_user(
    request: Request, user_id: str, admin: PageAdmin, form: FormData, ctx: CtxDep
) -> Response:
    check_csrf(request, form)
    reason = form.get("reason", "").strip()[:1000] or None
    try:
        message = users.reject(ctx, admin, _user_id(user_id), reason)
    except DomainError as exc:
        return _back(request, "/admin/users", exc.message, "error")
    return _back(request, "/admin/users", message)


@router.get("/admin/users/{user_id}/revoke")
def revoke_confirm(request: Request, user_id: str, admin: PageAdmin, ctx: CtxDep) -> Response:
    target = _find_user(ctx, _user_id(user_id))
    return _confirm(request, user_confirmation(translator(request), "revoke", target))


def _booking_right(
    request: Request, user_id: str, admin: User, form: dict[str, str], ctx: CtxDep, allowed: bool
) -> Response:
    check_csrf(request, form)
    try:
        user = users.set_booking_right(ctx, admin, _user_id(user_id), allowed)
    except DomainError as exc:
        return _back(request, "/admin/users", exc.message, "error")
    t = translator(request)
    if allowed:
        message = t.gettext("{name} darf wieder buchen.", name=user.full_name)
    else:
        message = t.gettext("{name} wurde das Buchungsrecht entzogen.", name=user.full_name)
    return _back(request, "/admin/users", message)


@router.post("/admin/users/{user_id}/revoke")
def revoke(
    request: Request, user_id: str, admin: PageAdmin, form: FormData, ctx: CtxDep
) -> Response:
    return _booking_right(request, user_id, admin, form, ctx, allowed=False)


@router.post("/admin/users/{user_id}/restore")
def restore(
    request: Request, user_id: str, admin: PageAdmin, form: FormData, ctx: CtxDep
) -> Response:
    return _booking_right(request, user_id, admin, form, ctx, allowed=True)


@router.get("/admin/users/{user_id}/role")
def role_confirm(
    request: Request, user_id: str, admin: PageAdmin, ctx: CtxDep, to: str = ""
) -> Response:
    if to not in users.ROLES:
        raise PageError(404)
    target = _find_user(ctx, _user_id(user_id))
    return _confirm(request, user_confirmation(translator(request), to, target))


@router.post("/admin/users/{user_id}/role")
def set_role(
    request: Request, user_id: str, admin: PageAdmin, form: FormData, ctx: CtxDep
) -> Response:
    check_csrf(request, form)
    try:
        user = users.set_role(ctx, admin, _user_id(user_id), form.get("role", ""))
    except DomainError as exc:
        return _back(request, "/admin/users", exc.message, "error")
    t = translator(request)
    if user.role == users.ADMIN:
        message = t.gettext("{name} ist jetzt Administrator.", name=user.full_name)
    else:
        message = t.gettext("{name} ist jetzt Mitglied.", name=user.full_name)
    if user.id == admin.id and user.role != users.ADMIN:
        return _back(request, "/bookings", message)  # no longer allowed here
    return _back(request, "/admin/users", message)


@router.get("/admin/users/{user_id}/two-factor-reset")
def two_factor_reset_confirm(
    request: Request, user_id: str, admin: PageAdmin, ctx: CtxDep
) -> Response:
    target = _find_user(ctx, _user_id(user_id))
    return _confirm(request, user_confirmation(translator(request), "two_factor_reset", target))


@router.post("/admin/users/{user_id}/two-factor-reset")
def two_factor_reset(
    request: Request, user_id: str, admin: PageAdmin, form: FormData, ctx: CtxDep
) -> Response:
    """A member lost the phone and the recovery codes (audited)."""
    check_csrf(request, form)
    try:
        user = two_factor.admin_reset(ctx, admin, _user_id(user_id))
    except DomainError as exc:
        return _back(request, "/admin/users", exc.message, "error")
    message = translator(request).gettext(
        "Die Zwei-Faktor-Anmeldung von {name} wurde zurückgesetzt.", name=user.full_name
    )
    return _back(request, "/admin/users", message)


# --- sleeping places ------------------------------------------------------------------------


def _place_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise PageError(404) from exc


def _load_place(ctx: CtxDep, admin: User, place_id: uuid.UUID) -> dict[str, Any]:
    try:
        return places.get_place(ctx, admin, place_id)
    except NotFound as exc:
        raise PageError(404, exc.message) from exc


@router.get("/admin/places")
def places_page(request: Request, admin: PageAdmin, ctx: CtxDep, inactive: str = "") -> Response:
    show_inactive = inactive in ("1", "true", "on")
    return _render(
        request,
        "admin/places.html",
        places=places.list_places(ctx, admin, include_inactive=show_inactive),
        show_inactive=show_inactive,
        confirmation=functools.partial(place_confirmation, translator(request)),
    )


def _place_form(
    request: Request,
    status: int = 200,
    place: dict[str, Any] | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    if values is None:
        values = {
            "name": str(place["name"]) if place else "",
            "type": str(place["type"]) if place else "0",
            "capacity": str(place["maxCapacity"]) if place else "",
        }
    return _render(
        request,
        "admin/place_form.html",
        status,
        place=place,
        values=values,
        errors=_errors(request, errors or {}),
        place_types=PLACE_TYPES,
        confirmation=functools.partial(place_confirmation, translator(request)),
    )


def _place_input(form: dict[str, str]) -> tuple[dict[str, str], PlaceIn | None, dict[str, str]]:
    """Parse the form; the numbers must at least be numbers (the domain checks the rest)."""
    values = {key: form.get(key, "").strip() for key in ("name", "type", "capacity")}
    errors: dict[str, str] = {}
    kind = int(values["type"]) if values["type"].isdigit() else -1
    if kind not in PLACE_TYPES:
        errors["type"] = N_("Bitte wählen Sie einen Typ")
    capacity = int(values["capacity"]) if values["capacity"].isdigit() else None
    if capacity is None:
        errors["capacity"] = N_("Die Kapazität muss zwischen 1 und 100 liegen")
    if errors or capacity is None:
        return values, None, errors
    return values, PlaceIn(name=values["name"], type=kind, max_capacity=capacity), errors


@router.get("/admin/places/new")
def new_place_form(request: Request, admin: PageAdmin) -> Response:
    return _place_form(request)


@router.post("/admin/places/new")
def create_place(request: Request, admin: PageAdmin, form: FormData, ctx: CtxDep) -> Response:
    check_csrf(request, form)
    values, data, errors = _place_input(form)
    if data is not None:
        try:
            place = places.create_place(ctx, admin, data)
        except ValidationFailed as exc:
            errors = _field_errors(exc, PLACE_FIELDS)
        else:
            message = translator(request).gettext(
                "Die Schlafmöglichkeit {name} wurde angelegt.", name=place["name"]
            )
            return redirect("/admin/places", request, message)
    return _place_form(request, 400, values=values, errors=errors)


@router.get("/admin/places/{place_id}/edit")
def edit_place_form(request: Request, place_id: str, admin: PageAdmin, ctx: CtxDep) -> Response:
    return _place_form(request, place=_load_place(ctx, admin, _place_id(place_id)))


@router.post("/admin/places/{place_id}/edit")
def edit_place(
    request: Request, place_id: str, admin: PageAdmin, form: FormData, ctx: CtxDep
) -> Response:
    check_csrf(request, form)
    place = _load_place(ctx, admin, _place_id(place_id))
    values, data, errors = _place_input(form)
    if data is not None:
        try:
            saved = places.update_place(ctx, admin, _place_id(place_id), data)
        except ValidationFailed as exc:
            errors = _field_errors(exc, PLACE_FIELDS)
        except NotFound as exc:
            raise PageError(404, exc.message) from exc
        else:
            message = translator(request).gettext(
                "Die Schlafmöglichkeit {name} wurde gespeichert.", name=saved["name"]
            )
            return redirect("/admin/places", request, message)
    return _place_form(request, 400, place=place, values=values, errors=errors)


@router.get("/admin/places/{place_id}/deactivate")
def deactivate_confirm(request: Request, place_id: str, admin: PageAdmin, ctx: CtxDep) -> Response:
    place = _load_place(ctx, admin, _place_id(place_id))
    return _confirm(request, place_confirmation(translator(request), place))


@router.post("/admin/places/{place_id}/deactivate")
def deactivate(
    request: Request, place_id: str, admin: PageAdmin, form: FormData, ctx: CtxDep
) -> Response:
    check_csrf(request, form)
    try:
        places.deactivate_place(ctx, admin, _place_id(place_id))
    except NotFound as exc:
        raise PageError(404, exc.message) from exc
    return _back(request, "/admin/places", N_("Die Schlafmöglichkeit wurde deaktiviert."))


@router.post("/admin/places/{place_id}/reactivate")
def reactivate(
    request: Request, place_id: str, admin: PageAdmin, form: FormData, ctx: CtxDep
) -> Response:
    check_csrf(request, form)
    try:
        places.reactivate_place(ctx, admin, _place_id(place_id))
    except NotFound as exc:
        raise PageError(404, exc.message) from exc
    return _back(request, "/admin/places?inactive=1", N_("Die Schlafmöglichkeit ist wieder aktiv."))


# --- e-mail settings ------------------------------------------------------------------------


def _email_page(
    request: Request,
    ctx: CtxDep,
    status: int = 200,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    test_email: str = "",
    test_errors: dict[str, str] | None = None,
) -> Response:
    stored = email_settings.read_settings(ctx)
    if values is None:
        values = {
            "smtp_host": stored["smtpHost"],
            "smtp_port": str(stored["smtpPort"]),
            "smtp_username": stored["smtpUsername"],
            "from_name": stored["fromName"],
            "from_email": stored["fromEmail"],
            "use_tls": bool(stored["useTls"]),
        }
    return _render(
        request,
        "admin/email.html",
        status,
        values=values,
        errors=_errors(request, errors or {}),
        has_password=bool(stored["smtpPassword"]),
        configured=bool(stored["isConfigured"]),
        test_email=test_email,
        test_errors=_errors(request, test_errors or {}),
    )


@router.get("/admin/email")
def email_page(request: Request, admin: PageAdmin, ctx: CtxDep) -> Response:
    return _email_page(request, ctx)


@router.post("/admin/email")
def save_email(request: Request, admin: PageAdmin, form: FormData, ctx: CtxDep) -> Response:
    check_csrf(request, form)
    keys = ("smtp_host", "smtp_port", "smtp_username", "from_name", "from_email")
    values: dict[str, Any] = {key: form.get(key, "").strip() for key in keys}
    values["use_tls"] = form.get("use_tls") == "on"
    errors: dict[str, str] = {}
    port = values["smtp_port"]
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        errors["smtp_port"] = N_("Der Port muss eine Zahl zwischen 1 und 65535 sein")
    if values["from_email"] and not users.EMAIL_RE.match(values["from_email"]):
        errors["from_email"] = N_("Ungültige E-Mail-Adresse")
    password = form.get("smtp_password", "")
    stored_password = bool(email_settings.read_settings(ctx)["smtpPassword"])
    if stored_password and password in ("", email_settings.MASK):
        password = email_settings.MASK  # keeps the stored one
    if not errors:
        try:
            data = EmailSettingsIn(
                smtp_host=values["smtp_host"],
                smtp_port=int(port),
                smtp_username=values["smtp_username"],
                smtp_password=password,
                from_name=values["from_name"],
                from_email=values["from_email"],
                use_tls=values["use_tls"],
            )
            email_settings.save_settings(ctx, data, admin)
        except ValidationError as exc:
            for error in exc.errors():
                name = f"{error['loc'][0]}" if error["loc"] else "_form"
                errors.setdefault(name, N_("Der Wert ist zu lang"))
        except ValidationFailed as exc:
            errors = _field_errors(exc, EMAIL_FIELDS)
        else:
            message = N_("E-Mail-Einstellungen wurden erfolgreich gespeichert.")
            return _back(request, "/admin/email", message)
    return _email_page(request, ctx, 400, values=values, errors=errors)


@router.post("/admin/email/test")
def test_email(request: Request, admin: PageAdmin, form: FormData, ctx: CtxDep) -> Response:
    check_csrf(request, form)
    to = form.get("test_email", "").strip()
    error = None
    if not to:
        error = N_("Bitte geben Sie eine E-Mail-Adresse für den Test ein.")
    elif not users.EMAIL_RE.match(to):
        error = N_("Ungültige E-Mail-Adresse")
    if error is None:
        try:
            message = email_settings.send_test_mail(ctx, to, None, None)
        except AuthFailed as exc:
            return _email_page(request, ctx, 400, test_email=to, test_errors={"_form": exc.message})
        return _back(request, "/admin/email", message)
    return _email_page(request, ctx, 400, test_email=to, test_errors={"test_email": error})
