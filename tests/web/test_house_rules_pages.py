"""The house rules on the pages: the administrators' page ``/admin/rules``, the rules named on the
booking form (German and English) and closed days in the month calendar."""

from __future__ import annotations

import json
from datetime import date, timedelta

from starlette.testclient import TestClient

from booking.db.models import SleepingAccommodation, User
from booking.domain import bookings, house_rules
from booking.domain.context import Context
from booking.domain.house_rules import ClosedPeriodIn, RulesIn
from tests import factories
from tests.factories import PASSWORD
from tests.web.html import Element, parse


def logged_in(client: TestClient, email: str) -> None:
    token = csrf(get(client, "/login"))
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": email, "password": PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 303


def get(client: TestClient, url: str, status: int = 200) -> Element:
    response = client.get(url, follow_redirects=False)
    assert response.status_code == status, response.text[:1000]
    return parse(response.text)


def csrf(doc: Element) -> str:
    return doc.find_all("input", name="csrf_token")[-1]["value"]


def flash_text(doc: Element) -> str:
    return doc.one("div", class_="flash").text


def post(client: TestClient, url: str, data: dict[str, str]) -> tuple[int, Element]:
    response = client.post(url, data=data, follow_redirects=True)
    return response.status_code, parse(response.text)


def test_only_administrators_see_the_rules_page(client, ctx, alice, bob):
    logged_in(client, bob.email)
    assert client.get("/admin/rules", follow_redirects=False).status_code == 403
    client.cookies.clear()
    logged_in(client, alice.email)
    doc = get(client, "/admin/rules")
    link = doc.one("nav", class_="admin-nav").one("a", href="/admin/rules")
    assert link.text == "Hausregeln" and link["aria-current"] == "page"
    assert doc.one("input", name="max_nights")["value"] == "30"
    assert "Keine bestehende Buchung verstößt gegen die aktuellen Regeln." in doc.text


def test_saving_the_rules_reports_conflicting_stays(client, ctx, alice, bob, room):
    stay = factories.make_booking(
        ctx, bob, [(room, 1)], start=ctx.today() + timedelta(days=5), nights=6
    )
    logged_in(client, alice.email)
    doc = get(client, "/admin/rules")
    values = {
        "csrf_token": csrf(doc),
        "booking_window_months": "12",
        "minimum_notice_days": "0",
        "min_nights": "1",
        "max_nights": "5",
        "yearly_quota_nights": "0",
    }
    status, page = post(client, "/admin/rules", values)
    assert status == 200
    assert flash_text(page) == (
        "Die Hausregeln wurden gespeichert. 1 bestehende Buchung verstößt gegen die neuen Regeln "
        "(sie bleibt gültig)."
    )
    conflict = page.one("li", data_booking=str(stay.id))
    assert "Die maximale Buchungsdauer beträgt 5 Tage" in conflict.text
    assert house_rules.current(ctx).booking_window_months == 12
    # a bad value stays in the form with its message
    status, page = post(client, "/admin/rules", {**values, "min_nights": "9", "max_nights": "x"})
    assert status == 400
    assert page.one("p", id="e-max_nights").text == "Bitte geben Sie eine ganze Zahl ein"
    status, page = post(client, "/admin/rules", {**values, "max_nights": "400"})
    assert status == 400
    assert page.one("p", id="e-max_nights").text == "Der Wert muss zwischen 1 und 365 liegen"


def test_closed_periods_are_added_and_deleted_on_the_page(client, ctx, alice):
    logged_in(client, alice.email)
    doc = get(client, "/admin/rules")
    first = ctx.today() + timedelta(days=20)
    status, page = post(
        client,
        "/admin/rules/closed-periods",
        {
            "csrf_token": csrf(doc),
            "first_night": first.isoformat(),
            "last_night": (first + timedelta(days=2)).isoformat(),
            "reason": "Winterpause",
        },
    )
    assert status == 200
    assert flash_text(page) == "Sperrzeit „Winterpause“ angelegt."
    row = page.one("table", class_="closed-periods").find_all("tr")[1]
    assert "Winterpause" in row.text
    status, page = post(
        client,
        "/admin/rules/closed-periods",
        {"csrf_token": csrf(page), "first_night": "x", "last_night": "", "reason": ""},
    )
    assert status == 400
    assert page.one("p", id="e-first_night").text.startswith("Bitte geben Sie ein gültiges Datum")
    [period] = house_rules.list_closed_periods(ctx)
    status, page = post(
        client,
        f"/admin/rules/closed-periods/{period['id']}/delete",
        {"csrf_token": csrf(page)},
    )
    assert flash_text(page) == "Sperrzeit gelöscht."
    assert house_rules.list_closed_periods(ctx) == []


def test_a_quota_exception_is_granted_on_the_page(client, ctx, alice, bob):
    logged_in(client, alice.email)
    doc = get(client, "/admin/rules")
    year = str(ctx.today().year)
    status, page = post(
        client,
        "/admin/rules/quota-exceptions",
        {
            "csrf_token": csrf(doc),
            "user_id": str(bob.id),
            "year": year,
            "extra_nights": "4",
            "reason": "Gartenarbeit",
        },
    )
    assert status == 200
    assert flash_text(page) == f"Bob Person darf {year} 4 Nächte mehr buchen."
    assert "Gartenarbeit" in page.one("table", class_="quota-exceptions").text
    status, page = post(
        client,
        "/admin/rules/quota-exceptions",
        {"csrf_token": csrf(page), "user_id": "", "year": year, "extra_nights": "1", "reason": ""},
    )
    assert status == 400
    assert page.one("p", id="e-user_id").text == "Bitte wählen Sie ein Mitglied"


def _form(client: TestClient, place: SleepingAccommodation, start: date, end: date) -> Element:
    doc = get(client, "/bookings/new")
    response = client.post(
        "/bookings/new",
        data={
            "csrf_token": csrf(doc),
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "notes": "",
            f"place_{place.id}": "1",
        },
    )
    assert response.status_code == 400
    return parse(response.text)


def _rules_for_form(ctx: Context, alice: User) -> tuple[date, str]:
    house_rules.set_rules(ctx, alice, RulesIn(min_nights=2))
    first = ctx.today() + timedelta(days=10)
    house_rules.add_closed_period(
        ctx, alice, ClosedPeriodIn(first_night=first, last_night=first, reason="Renovierung")
    )
    return first, first.strftime("%d.%m.%Y")


def test_the_booking_form_names_each_broken_rule(client, ctx, alice, bob, room):
    first, shown = _rules_for_form(ctx, alice)
    logged_in(client, bob.email)
    doc = _form(client, room, first, first + timedelta(days=1))
    rules = [li.text for li in doc.one("ul", id="e-rules").find_all("li")]
    assert rules == [
        f"Das Haus ist vom {shown} bis {shown} geschlossen: Renovierung",
        "Eine Buchung muss mindestens 2 Nächte umfassen",
    ]
    assert bookings.list_bookings(ctx, bob) == []


def test_the_booking_form_names_the_rules_in_english(client, ctx, alice, bob, room):
    first, shown = _rules_for_form(ctx, alice)
    client.headers["Accept-Language"] = "en"
    logged_in(client, bob.email)
    doc = _form(client, room, first, first + timedelta(days=1))
    rules = [li.text for li in doc.one("ul", id="e-rules").find_all("li")]
    assert rules == [
        f"The house is closed from {shown} to {shown}: Renovierung",
        "A stay must have at least 2 nights",
    ]


def test_the_month_calendar_marks_closed_days(client, ctx, alice, bob):
    first = date(2031, 3, 10)
    house_rules.add_closed_period(
        ctx, alice, ClosedPeriodIn(first_night=first, last_night=first, reason="Wasserschaden")
    )
    logged_in(client, bob.email)
    doc = get(client, "/bookings?view=calendar&month=2031-03")
    cell = doc.one("td", data_date="2031-03-10")
    assert "closed" in cell["class"].split()
    assert cell["title"] == "Geschlossen: Wasserschaden"
    assert cell.one("span", class_="closed-reason").text == "Geschlossen: Wasserschaden"
    assert "closed" not in doc.one("td", data_date="2031-03-11").get("class", "").split()
    assert "Geschlossen (Sperrzeit)" in doc.one("ul", class_="legend").text


def test_the_picker_gets_the_maximum_from_the_rules(client, ctx, alice, bob):
    house_rules.set_rules(ctx, alice, RulesIn(max_nights=14))
    logged_in(client, bob.email)
    doc = get(client, "/bookings/new")
    config = json.loads(doc.one("script", id="booking-form-config").text)
    assert config["maxNights"] == 14
    assert config["text"]["tooLong"] == "Die maximale Buchungsdauer beträgt 14 Tage"
    assert config["text"]["closed"] == "Geschlossen"


def test_the_history_tab_shows_a_used_quota_exception(client, ctx, alice, bob, room):
    house_rules.set_rules(ctx, alice, RulesIn(yearly_quota_nights=1))
    start = date(ctx.today().year + 1, 5, 4)
    house_rules.grant_quota_exception(
        ctx,
        alice,
        house_rules.QuotaExceptionIn(
            user_id=bob.id, year=start.year, extra_nights=2, reason="Familienfest"
        ),
    )
    data = bookings.BookingIn(
        start_date=start,
        end_date=start + timedelta(days=3),
        booking_items=[bookings.BookingItemIn(sleeping_accommodation_id=room.id, person_count=1)],
    )
    created = bookings.create_booking(ctx, bob, data)
    logged_in(client, bob.email)
    doc = get(client, f"/bookings/{created['id']}?tab=history")
    assert f"Kontingent-Ausnahme {start.year}: +2 (Familienfest)" in doc.text
