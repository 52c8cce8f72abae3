"""Page: the house rules for administrators (``/admin/rules``): the rules form, closed periods,
quota exceptions and the existing stays that conflict with the rules in force."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from booking.api.deps import CtxDep
from booking.domain import house_rules, users
from booking.domain.errors import NotFound, ValidationFailed
from booking.domain.house_rules import ClosedPeriodIn, QuotaExceptionIn, RulesIn
from booking.lib.schema import ValidationError, to_camel
from booking.web.core import (
    FormData,
    PageAdmin,
    PageError,
    check_csrf,
    page_router,
    redirect,
    render,
    translator,
)
from booking.web.i18n import N_

router = page_router()
CHOOSE_MEMBER = N_("Bitte wählen Sie ein Mitglied")
WHOLE_NUMBER = N_("Bitte geben Sie eine ganze Zahl ein")
RULE_FIELDS = {
    "booking_window_months": N_("Buchungsfenster (Monate im Voraus, 0 = unbegrenzt)"),
    "minimum_notice_days": N_("Mindestvorlauf (Tage vor der Anreise)"),
    "min_nights": N_("Mindestanzahl Nächte pro Buchung"),
    "max_nights": N_("Höchstanzahl Nächte pro Buchung"),
    "yearly_quota_nights": N_("Nächte pro Mitglied und Kalenderjahr (0 = unbegrenzt)"),
}
# The domain's keys -> the form's fields
DOMAIN_FIELDS = {
    "BookingWindowMonths": "booking_window_months",
    "MinimumNoticeDays": "minimum_notice_days",
    "MinNights": "min_nights",
    "MaxNights": "max_nights",
    "YearlyQuotaNights": "yearly_quota_nights",
    "Reason": "reason",
    "LastNight": "last_night",
    "ExtraNights": "extra_nights",
    "Year": "year",
}


def _iso(value: str) -> date:
    return date.fromisoformat(value[:10])


def _errors(request: Request, exc: ValidationFailed) -> dict[str, str]:
    t = translator(request)
    found: dict[str, str] = {}
    for key, messages in exc.errors.items():
        found.setdefault(DOMAIN_FIELDS.get(key, "_form"), t.gettext(messages[0]))
    return found


def _page(
    request: Request,
    ctx: CtxDep,
    admin: Any,
    status: int = 200,
    *,
    rule_values: dict[str, str] | None = None,
    errors: dict[str, dict[str, str]] | None = None,
    period_values: dict[str, str] | None = None,
    exception_values: dict[str, str] | None = None,
) -> Response:
    current = house_rules.get_rules(ctx, admin)
    if rule_values is None:
        rule_values = {field: str(current[to_camel(field)]) for field in RULE_FIELDS}
    members = [u for u in users.all_users(ctx) if u.is_active]
    t = translator(request)
    return render(
        request,
        "admin/rules.html",
        status,
        rule_fields=RULE_FIELDS,
        rule_values=rule_values,
        changed_at=current["changedAt"],
        errors=errors or {},
        periods=[
            {
                **p,
                "first": t.short_date(_iso(p["firstNight"])),
                "last": t.short_date(_iso(p["lastNight"])),
            }
            for p in house_rules.list_closed_periods(ctx, include_past=False)
        ],
        period_values=period_values or {"first_night": "", "last_night": "", "reason": ""},
        exceptions=house_rules.list_quota_exceptions(ctx, admin),
        exception_values=exception_values
        or {"user_id": "", "year": str(ctx.today().year), "extra_nights": "", "reason": ""},
        members=members,
        conflicts=[
            {
                **c,
                "start": t.short_date(_iso(c["startDate"])),
                "end": t.short_date(_iso(c["endDate"])),
            }
            for c in house_rules.conflicts(ctx, admin)
        ],
    )


@router.get("/admin/rules")
def rules_page(request: Request, admin: PageAdmin, ctx: CtxDep) -> Response:
    return _page(request, ctx, admin)


def _number(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.lstrip("-").isdigit() else None


@router.post("/admin/rules")
def save_rules(request: Request, admin: PageAdmin, ctx: CtxDep, form: FormData) -> Response:
    check_csrf(request, form)
    t = translator(request)
    values = {field: form.get(field, "").strip() for field in RULE_FIELDS}
    errors: dict[str, str] = {}
    numbers: dict[str, int] = {}
    for field, raw in values.items():
        number = _number(raw)
        if number is None:
            errors[field] = t.gettext(WHOLE_NUMBER)
        else:
            numbers[field] = number
    if not errors:
        try:
            house_rules.set_rules(ctx, admin, RulesIn(**numbers))
        except ValidationFailed as exc:
            errors = _errors(request, exc)
        else:
            found = len(house_rules.conflicts(ctx, admin))
            message = t.gettext("Die Hausregeln wurden gespeichert.")
            if found:
                message += " " + t.ngettext(
                    "{n} bestehende Buchung verstößt gegen die neuen Regeln (sie bleibt gültig).",
                    "{n} bestehende Buchungen verstoßen gegen die neuen Regeln (sie bleiben gültig).",
                    found,
                )
            return redirect("/admin/rules", request, message)
    return _page(request, ctx, admin, 400, rule_values=values, errors={"rules": errors})


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


@router.post("/admin/rules/closed-periods")
def add_period(request: Request, admin: PageAdmin, ctx: CtxDep, form: FormData) -> Response:
    check_csrf(request, form)
    t = translator(request)
    values = {key: form.get(key, "") for key in ("first_night", "last_night", "reason")}
    errors: dict[str, str] = {}
    first, last = _date(values["first_night"]), _date(values["last_night"])
    for key, parsed in (("first_night", first), ("last_night", last)):
        if parsed is None:
            errors[key] = t.gettext("Bitte geben Sie ein gültiges Datum ein (JJJJ-MM-TT)")
    if first is not None and last is not None:
        try:
            period = house_rules.add_closed_period(
                ctx,
                admin,
                ClosedPeriodIn(first_night=first, last_night=last, reason=values["reason"]),
            )
        except ValidationFailed as exc:
            errors = _errors(request, exc)
        else:
            return redirect(
                "/admin/rules#closed-periods",
                request,
                t.gettext("Sperrzeit „{reason}“ angelegt.", reason=period["reason"]),
            )
    return _page(request, ctx, admin, 400, period_values=values, errors={"period": errors})


@router.post("/admin/rules/closed-periods/{period_id}/delete")
def remove_period(
    request: Request, period_id: str, admin: PageAdmin, ctx: CtxDep, form: FormData
) -> Response:
    check_csrf(request, form)
    try:
        house_rules.remove_closed_period(ctx, admin, uuid.UUID(period_id))
    except (ValueError, NotFound) as exc:
        raise PageError(404, N_("Sperrzeit nicht gefunden.")) from exc
    message = translator(request).gettext("Sperrzeit gelöscht.")
    return redirect("/admin/rules#closed-periods", request, message)


@router.post("/admin/rules/quota-exceptions")
def grant_exception(request: Request, admin: PageAdmin, ctx: CtxDep, form: FormData) -> Response:
    check_csrf(request, form)
    t = translator(request)
    values = {key: form.get(key, "") for key in ("user_id", "year", "extra_nights", "reason")}
    errors: dict[str, str] = {}
    numbers = {key: _number(values[key]) for key in ("user_id", "year", "extra_nights")}
    for key, number in numbers.items():
        if number is None:
            message = CHOOSE_MEMBER if key == "user_id" else WHOLE_NUMBER
            errors[key] = t.gettext(message)
    if not errors:
        try:
            granted = house_rules.grant_quota_exception(
                ctx, admin, QuotaExceptionIn.model_validate({**numbers, "reason": values["reason"]})
            )
        except (ValidationFailed, ValidationError) as exc:
            errors = _errors(request, exc) if isinstance(exc, ValidationFailed) else {}
        except NotFound:
            errors = {"user_id": t.gettext(CHOOSE_MEMBER)}
        else:
            return redirect(
                "/admin/rules#quota-exceptions",
                request,
                t.gettext(
                    "{name} darf {year} {n} Nächte mehr buchen.",
                    name=granted["userName"],
                    year=granted["year"],
                    n=granted["extraNights"],
                ),
            )
    return _page(request, ctx, admin, 400, exception_values=values, errors={"exception": errors})


@router.post("/admin/rules/quota-exceptions/{exception_id}/delete")
def remove_exception(
    request: Request, exception_id: str, admin: PageAdmin, ctx: CtxDep, form: FormData
) -> Response:
    check_csrf(request, form)
    number = _number(exception_id)
    try:
        if number is None:
            raise NotFound("")
        house_rules.remove_quota_exception(ctx, admin, number)
    except NotFound as exc:
        raise PageError(404, N_("Ausnahme nicht gefunden.")) from exc
    message = translator(request).gettext("Ausnahme gelöscht.")
    return redirect("/admin/rules#quota-exceptions", request, message)
