"""Pages: bookings. The list (cards, month calendar, compact table) with filters in the query
string, the booking form (new and edit; the date range picker in ``booking-form.js`` enhances it),
the detail page with its history tab, and the confirmation pages for cancel / accept / reject
(``confirm.js`` shows them as dialogs)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from booking.api.deps import CtxDep
from booking.db.models import User
from booking.domain import bookings, house_rules, places, users
from booking.domain.availability import (
    ACCEPTED,
    CANCELLED,
    COMPLETED,
    CONFIRMED,
    PENDING,
    REJECTED,
)
from booking.domain.bookings import MAX_NOTES, BookingIn, BookingItemIn
from booking.domain.calendar import month as calendar_month
from booking.domain.context import Context
from booking.domain.errors import (
    BusinessRuleViolation,
    Forbidden,
    NotFound,
    ValidationFailed,
)
from booking.http import Query
from booking.web.core import (
    PLACE_TYPES,
    STATUS_LABELS,
    FormData,
    PageAdmin,
    PageError,
    PageUser,
    check_csrf,
    flash,
    page_router,
    redirect,
    render,
    safe_next,
    translator,
)
from booking.web.i18n import MONTHS, N_, WEEKDAYS, WEEKDAYS_SHORT, Translator, translations

router = page_router()

# --- filters and views ------------------------------------------------------------------------

TIME_RANGES = [
    (bookings.FUTURE, N_("Aktuelle & Zukünftige")),
    (bookings.ALL, N_("Alle Buchungen")),
    (bookings.PAST, N_("Vergangene")),
    (bookings.LAST_30_DAYS, N_("Letzte 30 Tage")),
    (bookings.LAST_YEAR, N_("Letztes Jahr")),
]
STATUS_FILTERS = [PENDING, CONFIRMED, ACCEPTED, REJECTED, CANCELLED, COMPLETED]
VIEWS = [("list", N_("Liste")), ("calendar", N_("Kalender")), ("compact", N_("Kompakt"))]
CLOSED = (CANCELLED, COMPLETED)  # no edit, no cancel
CALENDAR_WEEKS = 6
# Bookings per page of the list and compact views: an administrator's future bookings (~900 in
# the benchmark data) took seconds to render on the Pi and were too long for a phone.
PAGE_SIZE = 50


def _int(value: str | None, allowed: range) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if number in allowed else None


def _page(value: str | None) -> int:
    """The 1-based page number; anything else is page 1 (too large ones are clamped later)."""
    try:
        return int(value or "1")
    except ValueError:
        return 1


def _month(value: str | None, today: date) -> date:
    """``YYYY-MM`` -> the first of that month; anything else -> this month."""
    try:
        year, month = (int(part) for part in (value or "").split("-"))
        return date(year, month, 1)
    except ValueError:
        return today.replace(day=1)


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


class Filters:
    """The list's state, all of it in the query string (bookmarkable)."""

    def __init__(self, time_range: int, status: int | None, view: str, month: date) -> None:
        self.time_range, self.status, self.view, self.month = time_range, status, view, month
        self.page = 1  # the list's page, once the total is known (list_page clamps it)

    def url(self, **changes: Any) -> str:
        """This list's URL with some of its state changed (``view``, ``month``, ``page``, ...).
        Any other change than the page starts again on page 1 (its rows are others)."""
        view = changes.get("view", self.view)
        query: dict[str, Any] = {
            "view": view,
            "timeRange": changes.get("time_range", self.time_range),
        }
        status = changes.get("status", self.status)
        if status is not None:
            query["status"] = status
        if view == "calendar":
            query["month"] = changes.get("month", self.month).strftime("%Y-%m")
        else:
            page = changes.get("page", 1 if changes else self.page)
            if page > 1:
                query["page"] = page
        return "/bookings?" + urlencode(query)


def _day(wire: str) -> date:
    return date.fromisoformat(wire[:10])


def _decorate(booking: dict[str, Any]) -> dict[str, Any]:
    booking["start"] = _day(booking["startDate"])
    booking["end"] = _day(booking["endDate"])
    booking["placeNames"] = [item["sleepingAccommodationName"] for item in booking["bookingItems"]]
    return booking


# --- the month calendar ---------------------------------------------------------------------


def month_grid(
    first: date, today: date, rows: list[dict[str, Any]], nights: list[dict[str, Any]]
) -> list[list[dict[str, Any]]]:
    """Six Monday-first weeks around ``first``. Each day lists its bookings in lanes, so a stay
    keeps its row across the days of a week; ``None`` is an empty lane."""
    grid_start = first - timedelta(days=first.weekday())
    by_date = {night["date"]: night for night in nights}
    weeks: list[list[dict[str, Any]]] = []
    for week in range(CALENDAR_WEEKS):
        week_start = grid_start + timedelta(days=7 * week)
        week_end = week_start + timedelta(days=7)
        days: list[dict[str, Any]] = []
        for offset in range(7):
            day = week_start + timedelta(days=offset)
            night = by_date.get(day.isoformat())
            days.append(
                {
                    "date": day,
                    "outside": day.month != first.month,
                    "today": day == today,
                    "past": day < today,
                    "free": night["freeBeds"] if night else None,
                    "full": bool(night and night["full"]),
                    "closed": night.get("closedReason") if night else None,
                    "slots": [],
                }
            )
        lanes: list[date] = []  # per lane: the day after its last stay
        for row in sorted(
            (r for r in rows if r["start"] < week_end and r["end"] > week_start),
            key=lambda r: (r["start"], -(r["end"] - r["start"]).days),
        ):
            begin, end = max(row["start"], week_start), min(row["end"], week_end)
            lane = next((i for i, free_from in enumerate(lanes) if free_from <= begin), len(lanes))
            if lane == len(lanes):
                lanes.append(end)
            lanes[lane] = end
            for offset in range((begin - week_start).days, (end - week_start).days):
                slots = days[offset]["slots"]
                slots.extend([None] * (lane + 1 - len(slots)))
                slots[lane] = {"booking": row, "first": week_start + timedelta(offset) == begin}
        weeks.append(days)
    return weeks


# --- list --------------------------------------------------------------------------------------


@router.get("/bookings")
def booking_list(
    request: Request,
    user: PageUser,
    ctx: CtxDep,
    time_range: Annotated[str, Query(alias="timeRange")] = "",
    status: str = "",
    view: str = "list",
    month: str = "",
    page: str = "",
) -> Response:
    today = ctx.today()
    range_value = _int(time_range, range(5))
    filters = Filters(
        bookings.FUTURE if range_value is None else range_value,
        _int(status, range(6)),
        view if view in dict(VIEWS) else "list",
        _month(month, today),
    )
    context: dict[str, Any] = {"filters": filters, "today": today}
    if filters.view == "calendar":
        grid_start = filters.month - timedelta(days=filters.month.weekday())
        grid_end = grid_start + timedelta(days=7 * CALENDAR_WEEKS)
        stays, nights = calendar_month(ctx, user, filters.status, grid_start, grid_end)
        rows = [_decorate(b) for b in stays]
        context.update(
            weeks=month_grid(filters.month, today, rows, nights),
            rows=rows,
            previous_month=_add_months(filters.month, -1),
            next_month=_add_months(filters.month, 1),
            this_month=today.replace(day=1),
        )
    else:
        found = bookings.list_page(
            ctx, user, filters.time_range, filters.status, _page(page), PAGE_SIZE
        )
        filters.page = found.number
        context.update(
            rows=[_decorate(b) for b in found.rows], total=found.total, pages=found.pages
        )
    return render(
        request,
        "bookings/list.html",
        time_ranges=TIME_RANGES,
        status_filters=STATUS_FILTERS,
        views=VIEWS,
        weekdays=list(zip(WEEKDAYS_SHORT, WEEKDAYS, strict=True)),
        confirm=CONFIRMATIONS,
        **context,
    )


# --- the booking form --------------------------------------------------------------------------


def _place_rows(ctx: Context, user: User, booking: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every active place; on edit also a booked place that was deactivated since (so the
    member sees it and can set it to 0 instead of losing it silently)."""
    rows = [
        {
            "id": str(place["id"]),
            "name": place["name"],
            "type": PLACE_TYPES.get(int(str(place["type"])), PLACE_TYPES[3]),
            "capacity": place["maxCapacity"],
            "active": True,
        }
        for place in places.list_places(ctx, user)
    ]
    known = {row["id"] for row in rows}
    for item in (booking or {}).get("bookingItems", []):
        if item["sleepingAccommodationId"] not in known:
            rows.append(
                {
                    "id": item["sleepingAccommodationId"],
                    "name": item["sleepingAccommodationName"],
                    "type": "",
                    "capacity": bookings.MAX_PERSONS,
                    "active": False,
                }
            )
    return rows


def _forms(pick: Callable[[int], str]) -> list[str]:
    """One/other plural templates (``{n}`` kept) for the page's script; ``pick`` calls the raw
    catalog's ``ngettext`` with literal texts, so the extractor finds them."""
    return [pick(1), pick(2)]


def _bounds(
    t: Translator, rules: house_rules.Rules, today: date, previous: house_rules.Previous | None
) -> dict[str, Any]:
    """The booking window and minimum notice for a member's picker, from the domain's own
    dates (the house's today), with the rule texts as the greyed days' tooltips. As on the
    server, an edit keeps its arrival and may depart as late as before."""
    window = house_rules.last_departure(rules, today)
    first = house_rules.first_arrival(rules, today)
    last, keep = window, None
    if previous is not None:
        last = max(window, previous.end) if window is not None else None
        keep = previous.start if first is not None and previous.start < first else None
    return {
        "lastDeparture": last.isoformat() if last else None,
        "firstArrival": first.isoformat() if first else None,
        "keepArrival": keep.isoformat() if keep else None,
        "tooFar": _rule_text(t, house_rules.window_violation(rules, window)) if window else "",
        "tooSoon": _rule_text(t, house_rules.notice_violation(rules, first)) if first else "",
    }


def _rule_text(t: Translator, violation: house_rules.Violation) -> str:
    """The domain's text of a rule (the one the server refuses with), in the page's language."""
    return t.gettext(house_rules.TEXTS[violation.rule][0], **violation.params)


def picker_config(
    t: Translator,
    today: date,
    exclude: str | None,
    rules: house_rules.Rules = house_rules.DEFAULTS,
    *,
    bound: bool = True,
    previous: house_rules.Previous | None = None,
) -> dict[str, Any]:
    """Everything ``booking-form.js`` needs, translated (the JSON block on the form page).
    ``bound``: window and notice apply (members; administrators are not bound by them)."""
    raw = translations(t.language)
    free = dict.fromkeys(("lastDeparture", "firstArrival", "keepArrival", "tooFar", "tooSoon"))
    max_nights = rules.max_nights
    return {
        "today": today.isoformat(),
        "bounds": _bounds(t, rules, today, previous) if bound else free,
        "maxNights": max_nights,
        "maxNotes": MAX_NOTES,
        "excludeBookingId": exclude,
        "months": [t.gettext(name) for name in MONTHS],
        "weekdays": [t.gettext(name) for name in WEEKDAYS],
        "weekdaysShort": [t.gettext(name) for name in WEEKDAYS_SHORT],
        "dateFormat": t.gettext("{d}. {month} {y}"),
        "text": {
            "previous": t.gettext("Vorheriger Monat"),
            "next": t.gettext("Nächster Monat"),
            "today": t.gettext("Heute"),
            "clear": t.gettext("Löschen"),
            "pickStart": t.gettext("Wählen Sie das Anreisedatum"),
            "pickEnd": t.gettext("Wählen Sie das Abreisedatum"),
            "past": t.gettext("Vergangen"),
            "full": t.gettext("Ausgebucht"),
            "selected": t.gettext("Ausgewählt"),
            "departureOnly": t.gettext("nur Abreise möglich"),
            "blocked": t.gettext("Der Zeitraum darf keine ausgebuchte Nacht enthalten"),
            "restart": t.gettext("Die Auswahl beginnt mit diesem Tag neu."),
            "tooLong": t.gettext("Die maximale Buchungsdauer beträgt {n} Tage", n=max_nights),
            "closed": t.gettext("Geschlossen"),
            "unbookable": t.gettext("Nicht buchbar (Vorlauf oder Buchungsfenster)"),
            "blockedClosed": t.gettext("Der Zeitraum darf keine geschlossene Nacht enthalten"),
            "arrival": t.gettext("Anreise"),
            "departure": t.gettext("Abreise"),
            "free": t.gettext("{n} frei"),
            "available": t.gettext("Verfügbar"),
            "occupied": t.gettext("Belegt"),
            "checking": t.gettext("Verfügbarkeit wird geprüft..."),
            "checkFailed": t.gettext(
                "Verfügbarkeitsprüfung nicht möglich - alle Schlafplätze werden als verfügbar angezeigt"
            ),
            "pickDatesFirst": t.gettext("Wählen Sie zuerst Ihre Reisedaten"),
            "decrease": t.gettext("Verringern"),
            "increase": t.gettext("Erhöhen"),
            "calendar": t.gettext("Kalender für die Reisedaten"),
            "notesCount": t.gettext("{n}/{max} Zeichen"),
        },
        "plural": {
            "nights": _forms(lambda n: raw.ngettext("{n} Nacht", "{n} Nächte", n)),
            "persons": _forms(lambda n: raw.ngettext("{n} Person", "{n} Personen", n)),
            "places": _forms(
                lambda n: raw.ngettext("{n} Schlafmöglichkeit", "{n} Schlafmöglichkeiten", n)
            ),
            "preview": _forms(
                lambda n: raw.ngettext(
                    "{n} Nacht - Klicken Sie um zu bestätigen",
                    "{n} Nächte - Klicken Sie um zu bestätigen",
                    n,
                )
            ),
            "chosen": _forms(
                lambda n: raw.ngettext(
                    "{n} Nacht ausgewählt - Klicken Sie für neue Auswahl",
                    "{n} Nächte ausgewählt - Klicken Sie für neue Auswahl",
                    n,
                )
            ),
        },
    }


def _values_from(booking: dict[str, Any] | None) -> dict[str, Any]:
    if booking is None:
        return {"start_date": "", "end_date": "", "notes": "", "persons": {}}
    return {
        "start_date": booking["startDate"][:10],
        "end_date": booking["endDate"][:10],
        "notes": booking["notes"] or "",
        "persons": {
            item["sleepingAccommodationId"]: str(item["personCount"])
            for item in booking["bookingItems"]
        },
    }


def _render_form(
    request: Request,
    ctx: CtxDep,
    user: User,
    values: dict[str, Any],
    errors: dict[str, str],
    booking: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    t = translator(request)
    exclude = booking["id"] if booking else None
    previous = None
    if booking is not None:
        previous = house_rules.Previous(
            date.fromisoformat(booking["startDate"][:10]),
            date.fromisoformat(booking["endDate"][:10]),
        )
    return render(
        request,
        "bookings/form.html",
        status,
        booking=booking,
        values=values,
        errors=errors,
        place_rows=_place_rows(ctx, user, booking),
        can_book=users.can_book(user),
        today=ctx.today(),
        max_notes=MAX_NOTES,
        config=picker_config(
            t,
            ctx.today(),
            exclude,
            house_rules.current(ctx),
            bound=not user.is_admin,
            previous=previous,
        ),
    )


def _parse_form(
    form: dict[str, str], place_rows: list[dict[str, Any]], t: Translator
) -> tuple[dict[str, Any], dict[str, str], BookingIn | None, list[str]]:
    """The form's fields -> (values to re-show, local errors, the request, place id per item)."""
    values: dict[str, Any] = {
        "start_date": form.get("start_date", "").strip(),
        "end_date": form.get("end_date", "").strip(),
        "notes": form.get("notes", ""),
        "persons": {},
    }
    errors: dict[str, str] = {}
    dates: dict[str, date] = {}
    for key, missing in (
        ("start_date", N_("Bitte wählen Sie das Anreisedatum")),
        ("end_date", N_("Bitte wählen Sie das Abreisedatum")),
    ):
        if not values[key]:
            errors[key] = t.gettext(missing)
            continue
        try:
            dates[key] = date.fromisoformat(values[key])
        except ValueError:
            errors[key] = t.gettext("Bitte geben Sie ein gültiges Datum ein (JJJJ-MM-TT)")
    items: list[BookingItemIn] = []
    item_places: list[str] = []
    for row in place_rows:
        raw = form.get(f"place_{row['id']}", "").strip()
        values["persons"][row["id"]] = raw
        if raw in ("", "0"):
            continue
        try:
            count = int(raw)
        except ValueError:
            errors[f"place_{row['id']}"] = t.gettext("Bitte geben Sie eine ganze Zahl ein")
            continue
        if count < 0:
            errors[f"place_{row['id']}"] = t.gettext("Personenanzahl muss zwischen 1 und 20 liegen")
            continue
        if count:
            items.append(
                BookingItemIn(sleeping_accommodation_id=uuid.UUID(row["id"]), person_count=count)
            )
            item_places.append(row["id"])
    if errors:
        return values, errors, None, item_places
    data = BookingIn(
        start_date=dates["start_date"],
        end_date=dates["end_date"],
        notes=values["notes"],
        booking_items=items,
    )
    return values, errors, data, item_places


def _form_errors(exc: ValidationFailed, item_places: list[str], t: Translator) -> dict[str, str]:
    """The domain's keys (the API's) -> the form's field names."""
    errors: dict[str, str] = {}
    simple = {"StartDate": "start_date", "EndDate": "end_date", "DateRange": "dates"}
    simple.update({"Availability": "places", "BookingItems": "places", "Notes": "notes"})
    for key, messages in exc.errors.items():
        field = simple.get(key, "_form")
        if key.startswith("BookingItems["):
            index = _int(key[len("BookingItems[") :].split("]")[0], range(len(item_places)))
            field = "places" if index is None else f"place_{item_places[index]}"
        if key in HOUSE_RULE_KEYS:  # every broken house rule, one line each, with the dates
            lines = [errors["rules"]] if "rules" in errors else []
            errors["rules"] = "\n".join(lines + [t.gettext(m) for m in messages])
            continue
        errors.setdefault(field, t.gettext(messages[0]))
    return errors


HOUSE_RULE_KEYS = {
    house_rules.CLOSED_PERIOD,
    house_rules.BOOKING_WINDOW,
    house_rules.MINIMUM_NOTICE,
    house_rules.MIN_NIGHTS,
    house_rules.YEARLY_QUOTA,
}


def _load(ctx: Context, user: User, booking_id: uuid.UUID) -> dict[str, Any]:
    """Someone else's booking does not exist for a member (no hint that the id is taken)."""
    try:
        return _decorate(bookings.get_booking(ctx, user, booking_id))
    except (NotFound, Forbidden) as exc:
        raise PageError(404, N_("Buchung nicht gefunden.")) from exc


def _error_redirect(request: Request, url: str, message: str) -> Response:
    response = redirect(url)
    flash(response, request.app.state.ctx, message, "error")
    return response


RULE_MESSAGES = {
    "Cannot update a cancelled booking": N_("Eine stornierte Buchung kann nicht geändert werden."),
    "Cannot update a completed booking": N_(
        "Eine abgeschlossene Buchung kann nicht geändert werden."
    ),
    "Booking is already cancelled": N_("Die Buchung ist bereits storniert."),
    "Cannot cancel a completed booking": N_(
        "Eine abgeschlossene Buchung kann nicht storniert werden."
    ),
    "Cannot accept": N_("Nur ausstehende Buchungen können angenommen werden."),
    "Cannot reject": N_("Nur ausstehende Buchungen können abgelehnt werden."),
}


def rule_message(exc: BusinessRuleViolation, t: Translator) -> str:
    """The domain's English conflict texts (kept for the API's clients) in the user's language."""
    for prefix, message in RULE_MESSAGES.items():
        if exc.message.startswith(prefix):
            return t.gettext(message)
    return t.gettext("Diese Aktion ist im aktuellen Status der Buchung nicht möglich.")


@router.get("/bookings/new")
def new_form(request: Request, user: PageUser, ctx: CtxDep) -> Response:
    return _render_form(request, ctx, user, _values_from(None), {})


@router.post("/bookings/new")
def create(request: Request, user: PageUser, ctx: CtxDep, form: FormData) -> Response:
    check_csrf(request, form)
    t = translator(request)
    place_rows = _place_rows(ctx, user, None)
    values, errors, data, item_places = _parse_form(form, place_rows, t)
    status = 400
    if data is not None:
        try:
            created = bookings.create_booking(ctx, user, data)
        except ValidationFailed as exc:
            errors = _form_errors(exc, item_places, t)
        except Forbidden as exc:
            errors, status = {"_form": t.gettext(exc.message)}, 403
        else:
            return redirect(
                f"/bookings/{created['id']}",
                request,
                t.gettext(
                    "Buchung erstellt. Sie wartet auf die Freigabe durch einen Administrator."
                ),
            )
    return _render_form(request, ctx, user, values, errors, status=status)


@router.get("/bookings/{booking_id:uuid}/edit")
def edit_form(request: Request, booking_id: uuid.UUID, user: PageUser, ctx: CtxDep) -> Response:
    booking = _load(ctx, user, booking_id)
    if booking["status"] in CLOSED:
        t = translator(request)
        message = RULE_MESSAGES[
            "Cannot update a cancelled booking"
            if booking["status"] == CANCELLED
            else "Cannot update a completed booking"
        ]
        return _error_redirect(request, f"/bookings/{booking_id}", t.gettext(message))
    return _render_form(request, ctx, user, _values_from(booking), {}, booking)


@router.post("/bookings/{booking_id:uuid}/edit")
def update(
    request: Request, booking_id: uuid.UUID, user: PageUser, ctx: CtxDep, form: FormData
) -> Response:
    check_csrf(request, form)
    t = translator(request)
    booking = _load(ctx, user, booking_id)
    values, errors, data, item_places = _parse_form(form, _place_rows(ctx, user, booking), t)
    status = 400
    if data is not None:
        try:
            updated = bookings.update_booking(ctx, user, booking_id, data)
        except ValidationFailed as exc:
            errors = _form_errors(exc, item_places, t)
        except BusinessRuleViolation as exc:
            errors, status = {"_form": rule_message(exc, t)}, 409
        except Forbidden as exc:
            errors, status = {"_form": t.gettext(exc.message)}, 403
        except NotFound as exc:
            raise PageError(404, N_("Buchung nicht gefunden.")) from exc
        else:
            message = N_("Buchung gespeichert.")
            if updated["status"] == PENDING and booking["status"] in (ACCEPTED, CONFIRMED):
                message = N_(
                    "Buchung gespeichert. Sie wartet erneut auf die Freigabe durch einen Administrator."
                )
            return redirect(f"/bookings/{booking_id}", request, t.gettext(message))
    return _render_form(request, ctx, user, values, errors, booking, status=status)


# --- detail and history ------------------------------------------------------------------------

EVENT_LABELS = {
    "Created": N_("Erstellt"),
    "Updated": N_("Geändert"),
    "Cancelled": N_("Storniert"),
    "Accepted": N_("Angenommen"),
    "Rejected": N_("Abgelehnt"),
    "Confirmed": N_("Bestätigt"),
}


class HistoryText:
    """Turns the history's JSON details into readable lines in the user's language."""

    def __init__(self, t: Translator, place_names: dict[str, str]) -> None:
        self.t, self.place_names = t, place_names

    def date(self, value: Any) -> str:
        try:
            return self.t.short_date(_day(str(value)))
        except ValueError:
            return str(value)

    def status(self, value: Any) -> str:
        label = STATUS_LABELS.get(value) if isinstance(value, int) else None
        return self.t.gettext(label) if label else self.t.gettext("Unbekannt")

    def notes(self, value: Any) -> str:
        return f"„{value}“" if value else self.t.gettext("(keine)")

    def items(self, value: Any) -> str:
        parts = []
        for item in value or []:
            name = self.place_names.get(str(item.get("sleepingAccommodationId")))
            persons = self.t.ngettext("{n} Person", "{n} Personen", int(item.get("personCount", 0)))
            name = name or self.t.gettext("Unbekannte Schlafmöglichkeit")
            parts.append(f"{name} ({persons})")
        return ", ".join(parts) or self.t.gettext("(keine)")

    def value(self, key: str, value: Any) -> str:
        formatter = {
            "startDate": self.date,
            "endDate": self.date,
            "status": self.status,
            "notes": self.notes,
            "bookingItems": self.items,
        }.get(key)
        return formatter(value) if formatter else str(value)

    LABELS = {
        "startDate": N_("Anreise"),
        "endDate": N_("Abreise"),
        "status": N_("Status"),
        "notes": N_("Notizen"),
        "bookingItems": N_("Schlafmöglichkeiten"),
    }

    def lines(self, kind: str, details: dict[str, Any]) -> list[tuple[str, str]]:
        lines = []
        for key in ("startDate", "endDate", "bookingItems", "notes", "status"):
            if key not in details:
                continue
            label = self.t.gettext(self.LABELS[key])
            change = details[key]
            if kind != "Created" and isinstance(change, dict) and "to" in change:
                text = f"{self.value(key, change.get('from'))} → {self.value(key, change['to'])}"
            else:
                if kind == "Created" and key == "notes" and not change:
                    continue
                text = self.value(key, change)
            lines.append((label, text))
        exception = details.get("quotaException")  # house rules: the logged quota override
        if isinstance(exception, dict):
            text = "; ".join(
                f"{year}: +{info.get('extraNights')} ({', '.join(info.get('reasons', []))})"
                for year, info in sorted(exception.items())
            )
            lines.append((self.t.gettext("Kontingent-Ausnahme"), text))
        return lines


def _history(
    ctx: Context, user: User, booking: dict[str, Any], t: Translator
) -> list[dict[str, Any]]:
    names = {str(p["id"]): str(p["name"]) for p in places.list_places(ctx, user)}
    names.update(
        {
            i["sleepingAccommodationId"]: i["sleepingAccommodationName"]
            for i in booking["bookingItems"]
        }
    )
    text = HistoryText(t, names)
    entries = []
    for entry in reversed(bookings.history(ctx, user, uuid.UUID(booking["id"]))):
        when = datetime.fromisoformat(entry["occurredAt"]).replace(tzinfo=UTC)
        local = when.astimezone(ctx.settings.zone)
        entries.append(
            {
                "label": t.gettext(EVENT_LABELS.get(entry["eventType"], entry["eventType"])),
                "who": entry["userName"] or t.gettext("Unbekannt"),
                "when": f"{t.short_date(local.date())} {local:%H:%M}",
                "iso": local.isoformat(timespec="minutes"),
                "lines": text.lines(entry["eventType"], entry["details"] or {}),
            }
        )
    return entries


def _actions(user: User, booking: dict[str, Any]) -> dict[str, bool]:
    status = booking["status"]
    return {
        "edit": status not in CLOSED,
        "cancel": status not in CLOSED,
        "decide": user.is_admin and status == PENDING,
    }


@router.get("/bookings/{booking_id:uuid}")
def detail(
    request: Request, booking_id: uuid.UUID, user: PageUser, ctx: CtxDep, tab: str = "details"
) -> Response:
    booking = _load(ctx, user, booking_id)
    t = translator(request)
    types = {
        str(p["id"]): PLACE_TYPES.get(int(str(p["type"])), "")
        for p in places.list_places(ctx, user)
    }
    tab = "history" if tab == "history" else "details"
    return render(
        request,
        "bookings/detail.html",
        booking=booking,
        tab=tab,
        types=types,
        history=_history(ctx, user, booking, t) if tab == "history" else [],
        actions=_actions(user, booking),
        confirm=CONFIRMATIONS,
    )


# --- cancel / accept / reject ------------------------------------------------------------------

CONFIRMATIONS: dict[str, dict[str, str]] = {
    "cancel": {
        "title": N_("Buchung stornieren"),
        "message": N_(
            "Möchten Sie diese Buchung wirklich stornieren? Diese Aktion kann nicht rückgängig gemacht werden."
        ),
        "button": N_("Stornieren"),
        "variant": "danger solid",
        "done": N_("Buchung storniert."),
    },
    "accept": {
        "title": N_("Buchung annehmen"),
        "message": N_(
            "Möchten Sie diese Buchung annehmen? Die Buchung wird dadurch bestätigt und für den Gast freigegeben."
        ),
        "button": N_("Annehmen"),
        "variant": "primary",
        "done": N_("Buchung angenommen."),
    },
    "reject": {
        "title": N_("Buchung ablehnen"),
        "message": N_(
            "Möchten Sie diese Buchung ablehnen? Der Gast wird über die Ablehnung informiert."
        ),
        "button": N_("Ablehnen"),
        "variant": "danger solid",
        "done": N_("Buchung abgelehnt."),
    },
}


def _confirm_page(
    request: Request, ctx: Context, user: User, booking_id: uuid.UUID, action: str, next_url: str
) -> Response:
    booking = _load(ctx, user, booking_id)
    allowed = _actions(user, booking)["cancel" if action == "cancel" else "decide"]
    if not allowed:
        t = translator(request)
        message = (
            N_("Diese Buchung kann nicht mehr storniert werden.")
            if action == "cancel"
            else N_("Nur ausstehende Buchungen können angenommen oder abgelehnt werden.")
        )
        return _error_redirect(request, f"/bookings/{booking_id}", t.gettext(message))
    return render(
        request,
        "bookings/confirm.html",
        booking=booking,
        action=action,
        texts=CONFIRMATIONS[action],
        next=safe_next(next_url) if next_url else f"/bookings/{booking_id}",
    )


def _do(
    request: Request,
    ctx: Context,
    user: User,
    booking_id: uuid.UUID,
    action: str,
    form: dict[str, str],
) -> Response:
    check_csrf(request, form)
    t = translator(request)
    target = safe_next(form.get("next")) if form.get("next") else f"/bookings/{booking_id}"
    try:
        if action == "cancel":
            bookings.cancel_booking(ctx, user, booking_id)
        else:
            bookings.decide_booking(ctx, user, booking_id, action)
    except (NotFound, Forbidden) as exc:
        raise PageError(404, N_("Buchung nicht gefunden.")) from exc
    except BusinessRuleViolation as exc:
        return _error_redirect(request, f"/bookings/{booking_id}", rule_message(exc, t))
    done = CONFIRMATIONS[action]["done"]
    return redirect(target, request, t.gettext(done))


@router.get("/bookings/{booking_id:uuid}/cancel")
def cancel_page(
    request: Request,
    booking_id: uuid.UUID,
    user: PageUser,
    ctx: CtxDep,
    next: str = "",  # noqa: A002
) -> Response:
    return _confirm_page(request, ctx, user, booking_id, "cancel", next)


@router.post("/bookings/{booking_id:uuid}/cancel")
def cancel(
    request: Request, booking_id: uuid.UUID, user: PageUser, ctx: CtxDep, form: FormData
) -> Response:
    return _do(request, ctx, user, booking_id, "cancel", form)


@router.get("/bookings/{booking_id:uuid}/accept")
def accept_page(
    request: Request,
    booking_id: uuid.UUID,
    user: PageAdmin,
    ctx: CtxDep,
    next: str = "",  # noqa: A002
) -> Response:
    return _confirm_page(request, ctx, user, booking_id, "accept", next)


@router.post("/bookings/{booking_id:uuid}/accept")
def accept(
    request: Request, booking_id: uuid.UUID, user: PageAdmin, ctx: CtxDep, form: FormData
) -> Response:
    return _do(request, ctx, user, booking_id, "accept", form)


@router.get("/bookings/{booking_id:uuid}/reject")
def reject_page(
    request: Request,
    booking_id: uuid.UUID,
    user: PageAdmin,
    ctx: CtxDep,
    next: str = "",  # noqa: A002
) -> Response:
    return _confirm_page(request, ctx, user, booking_id, "reject", next)


@router.post("/bookings/{booking_id:uuid}/reject")
def reject(
    request: Request, booking_id: uuid.UUID, user: PageAdmin, ctx: CtxDep, form: FormData
) -> Response:
    return _do(request, ctx, user, booking_id, "reject", form)
