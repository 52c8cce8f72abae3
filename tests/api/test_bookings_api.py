"""Contract of the booking endpoints (reference §1.8, §2.4, §3.1–3.4; DECISIONS 2, 3, 4, 8, 9, 10)."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from booking.db.models import Booking, BookingHistory, BookingItem
from tests import factories
from tests.factories import auth_headers, booking_body

PENDING, CONFIRMED, CANCELLED, COMPLETED, ACCEPTED, REJECTED = 0, 1, 2, 3, 4, 5
WIRE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T00:00:00$")
WIRE_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$")
BOOKING_KEYS = {
    "id",
    "userId",
    "userName",
    "userEmail",
    "startDate",
    "endDate",
    "status",
    "notes",
    "bookingItems",
    "totalPersons",
    "numberOfNights",
    "createdAt",
    "changedAt",
}


def day(ctx: Any, offset: int) -> date:
    return ctx.today() + timedelta(days=offset)


def wire(value: date) -> str:
    return f"{value.isoformat()}T00:00:00"


def problem(response: Any, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 body whose ``status`` equals the HTTP status; return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert isinstance(body["type"], str) and isinstance(body["title"], str)
    return body


def rule_error(response: Any, status: int, key: str, message: str) -> dict[str, Any]:
    body = problem(response, status)
    assert body["errors"] == {key: [message]}
    assert body["message"] == message
    return body


def counts(ctx: Any) -> tuple[int, int, int]:
    with ctx.db.read() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model))
            for model in (Booking, BookingItem, BookingHistory)
        )


def post(client: Any, ctx: Any, user: Any, body: dict[str, Any]) -> Any:
    return client.post("/api/bookings", json=body, headers=auth_headers(ctx, user))


def status_of(client: Any, ctx: Any, admin: Any, booking_id: Any) -> int:
    response = client.get(f"/api/bookings/{booking_id}", headers=auth_headers(ctx, admin))
    assert response.status_code == 200, response.text
    return response.json()["status"]


def history_of(client: Any, ctx: Any, user: Any, booking_id: Any) -> list[dict[str, Any]]:
    response = client.get(f"/api/bookings/{booking_id}/history", headers=auth_headers(ctx, user))
    assert response.status_code == 200, response.text
    return response.json()


# --- create --------------------------------------------------------------------------------


def test_it_creates_a_booking_with_201_location_and_the_full_dto(client, ctx, bob, room):
    start = day(ctx, 5)
    response = post(client, ctx, bob, booking_body([(room, 2)], start, nights=3, notes="Hallo"))

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == BOOKING_KEYS
    uuid.UUID(body["id"])
    assert response.headers["location"] == f"http://testserver/api/bookings/{body['id']}"
    assert body["userId"] == bob.id
    assert body["userName"] == "Bob Person"
    assert body["userEmail"] == "bob@example.com"
    assert body["startDate"] == wire(start)
    assert body["endDate"] == wire(start + timedelta(days=3))
    assert body["status"] == PENDING
    assert body["notes"] == "Hallo"
    assert body["bookingItems"] == [
        {
            "sleepingAccommodationId": str(room.id),
            "sleepingAccommodationName": "Zimmer 1",
            "personCount": 2,
        }
    ]
    assert body["totalPersons"] == 2
    assert body["numberOfNights"] == 3
    assert WIRE_DATETIME.match(body["createdAt"])
    assert body["changedAt"] is None
    fetched = client.get(response.headers["location"], headers=auth_headers(ctx, bob))
    assert fetched.status_code == 200
    assert fetched.json() == body


@pytest.mark.parametrize("suffix", ["", "T00:00:00"])
def test_it_accepts_plain_and_midnight_dates(client, ctx, bob, room, suffix):
    start = day(ctx, 3)
    body = booking_body([(room, 1)], start)
    body["startDate"] += suffix
    body["endDate"] += suffix
    response = post(client, ctx, bob, body)
    assert response.status_code == 201, response.text
    assert response.json()["startDate"] == wire(start)
    assert response.json()["endDate"] == wire(start + timedelta(days=2))


def test_it_allows_today_as_arrival(client, ctx, bob, room):
    response = post(client, ctx, bob, booking_body([(room, 1)], ctx.today(), nights=1))
    assert response.status_code == 201, response.text


def test_it_refuses_an_arrival_in_the_past(client, ctx, bob, room):
    before = counts(ctx)
    response = post(client, ctx, bob, booking_body([(room, 1)], day(ctx, -1), nights=3))
    rule_error(response, 400, "StartDate", "Anreisedatum kann nicht vor heute liegen")
    assert counts(ctx) == before


@pytest.mark.parametrize(
    ("nights", "message"),
    [
        (0, "Das Abreisedatum muss nach dem Anreisedatum liegen"),
        (-1, "Das Abreisedatum muss nach dem Anreisedatum liegen"),
        (31, "Die maximale Buchungsdauer beträgt 30 Tage"),
    ],
    ids=["same-day", "end-before-start", "31-nights"],
)
def test_it_refuses_bad_date_ranges(client, ctx, bob, room, nights, message):
    before = counts(ctx)
    response = post(client, ctx, bob, booking_body([(room, 1)], day(ctx, 3), nights=nights))
    rule_error(response, 400, "DateRange", message)
    assert counts(ctx) == before


def test_it_allows_30_nights(client, ctx, bob, room):
    response = post(client, ctx, bob, booking_body([(room, 1)], day(ctx, 3), nights=30))
    assert response.status_code == 201, response.text
    assert response.json()["numberOfNights"] == 30


def test_it_requires_at_least_one_place(client, ctx, bob):
    response = post(client, ctx, bob, booking_body([], day(ctx, 3)))
    rule_error(
        response, 400, "BookingItems", "Mindestens eine Schlafmöglichkeit muss ausgewählt werden"
    )


@pytest.mark.parametrize(("persons", "expected"), [(0, 400), (20, 201), (21, 400)])
def test_it_limits_persons_per_place_to_1_to_20(client, ctx, bob, persons, expected):
    hall = factories.make_place(ctx, "Saal", capacity=40)
    response = post(client, ctx, bob, booking_body([(hall, persons)], day(ctx, 3)))
    if expected == 201:
        assert response.status_code == 201, response.text
    else:
        rule_error(
            response,
            400,
            "BookingItems[0].PersonCount",
            "Personenanzahl muss zwischen 1 und 20 liegen",
        )


@pytest.mark.parametrize(("length", "expected"), [(500, 201), (501, 400)])
def test_it_limits_notes_to_500_characters(client, ctx, bob, room, length, expected):
    response = post(client, ctx, bob, booking_body([(room, 1)], day(ctx, 3), notes="x" * length))
    if expected == 201:
        assert response.status_code == 201, response.text
        assert response.json()["notes"] == "x" * length
    else:
        rule_error(response, 400, "Notes", "Notizen dürfen maximal 500 Zeichen lang sein")


def test_it_refuses_the_same_place_twice_in_one_booking(client, ctx, bob, room):
    before = counts(ctx)
    response = post(client, ctx, bob, booking_body([(room, 1), (room, 1)], day(ctx, 3)))
    body = problem(response, 400)
    assert list(body["errors"]) == ["BookingItems"]
    assert body["message"] == body["errors"]["BookingItems"][0]
    assert counts(ctx) == before


@pytest.mark.parametrize("kind", ["unknown", "inactive"])
def test_it_reports_unknown_and_inactive_places_as_not_found(client, ctx, bob, kind):
    if kind == "unknown":
        place_id = uuid.uuid4()
    else:
        place_id = factories.make_place(ctx, "Alt", capacity=4, active=False).id
    body = booking_body([], day(ctx, 3))
    body["bookingItems"] = [{"sleepingAccommodationId": str(place_id), "personCount": 1}]
    response = post(client, ctx, bob, body)
    rule_error(response, 400, "Availability", f"Schlafmöglichkeit mit ID {place_id} nicht gefunden")


def test_it_refuses_a_full_place(client, ctx, bob, charlie, room):
    start = day(ctx, 5)
    factories.make_booking(ctx, charlie, [(room, 4)], start=start, nights=2)
    response = post(client, ctx, bob, booking_body([(room, 1)], start + timedelta(days=1)))
    rule_error(
        response,
        400,
        "Availability",
        "Schlafmöglichkeit 'Zimmer 1' ist für den gewählten Zeitraum nicht verfügbar",
    )


def test_it_refuses_more_persons_than_free_places(client, ctx, bob, charlie, room):
    start = day(ctx, 5)
    factories.make_booking(ctx, charlie, [(room, 3)], start=start, nights=2)
    response = post(client, ctx, bob, booking_body([(room, 2)], start))
    rule_error(
        response,
        400,
        "Availability",
        "Schlafmöglichkeit 'Zimmer 1' hat nur 1 freie Plätze, 2 wurden angefragt",
    )


def test_it_counts_capacity_per_night_not_per_range(client, ctx, bob, charlie, room):
    start = day(ctx, 5)
    factories.make_booking(ctx, charlie, [(room, 3)], start=start, nights=2)
    factories.make_booking(ctx, charlie, [(room, 3)], start=start + timedelta(days=2), nights=2)

    too_many = post(client, ctx, bob, booking_body([(room, 2)], start, nights=4))
    rule_error(
        too_many,
        400,
        "Availability",
        "Schlafmöglichkeit 'Zimmer 1' hat nur 1 freie Plätze, 2 wurden angefragt",
    )
    fits = post(client, ctx, bob, booking_body([(room, 1)], start, nights=4))
    assert fits.status_code == 201, fits.text


def test_it_lets_a_checkout_day_be_the_next_check_in_day(client, ctx, bob, charlie, room):
    start = day(ctx, 5)
    factories.make_booking(ctx, charlie, [(room, 4)], start=start, nights=2)
    after = post(client, ctx, bob, booking_body([(room, 4)], start + timedelta(days=2)))
    assert after.status_code == 201, after.text
    before = post(client, ctx, bob, booking_body([(room, 4)], start - timedelta(days=2)))
    assert before.status_code == 201, before.text


@pytest.mark.parametrize(
    ("status", "holds"),
    [(PENDING, True), (ACCEPTED, True), (CONFIRMED, True), (REJECTED, False), (CANCELLED, False)],
    ids=["pending", "accepted", "confirmed", "rejected", "cancelled"],
)
def test_it_holds_places_only_for_live_bookings(client, ctx, bob, charlie, room, status, holds):
    start = day(ctx, 5)
    factories.make_booking(ctx, charlie, [(room, 4)], start=start, nights=2, status=status)
    response = post(client, ctx, bob, booking_body([(room, 4)], start))
    if holds:
        rule_error(
            response,
            400,
            "Availability",
            "Schlafmöglichkeit 'Zimmer 1' ist für den gewählten Zeitraum nicht verfügbar",
        )
    else:
        assert response.status_code == 201, response.text


# --- availability --------------------------------------------------------------------------


def test_it_reports_availability_per_active_place(client, ctx, bob, charlie, room):
    start = day(ctx, 5)
    factories.make_place(ctx, "Geschlossen", capacity=4, active=False)
    tent = factories.make_place(ctx, "Aussenzelt", capacity=2, kind=2)
    a = factories.make_booking(ctx, charlie, [(room, 3)], start=start, nights=2)
    b = factories.make_booking(ctx, bob, [(room, 3)], start=start + timedelta(days=2), nights=2)
    end = start + timedelta(days=4)

    response = client.get(
        "/api/bookings/availability",
        params={"startDate": start.isoformat(), "endDate": end.isoformat()},
        headers=auth_headers(ctx, bob),
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"startDate", "endDate", "accommodations"}
    assert (body["startDate"], body["endDate"]) == (wire(start), wire(end))
    places = {place["name"]: place for place in body["accommodations"]}
    assert set(places) == {"Zimmer 1", "Aussenzelt"}
    assert places["Aussenzelt"] == {
        "id": str(tent.id),
        "name": "Aussenzelt",
        "maxCapacity": 2,
        "isAvailable": True,
        "availableCapacity": 2,
        "conflictingBookings": [],
    }
    zimmer = places["Zimmer 1"]
    assert {k: v for k, v in zimmer.items() if k != "conflictingBookings"} == {
        "id": str(room.id),
        "name": "Zimmer 1",
        "maxCapacity": 4,
        "isAvailable": True,
        "availableCapacity": 1,
    }
    conflicts = sorted(zimmer["conflictingBookings"], key=lambda c: c["startDate"])
    assert conflicts == [
        {
            "bookingId": str(a.id),
            "startDate": wire(start),
            "endDate": wire(start + timedelta(days=2)),
            "personCount": 3,
            "userName": "Charlie Person",
        },
        {
            "bookingId": str(b.id),
            "startDate": wire(start + timedelta(days=2)),
            "endDate": wire(end),
            "personCount": 3,
            "userName": "Bob Person",
        },
    ]


def test_it_marks_a_full_place_unavailable(client, ctx, bob, room):
    start = day(ctx, 5)
    factories.make_booking(ctx, bob, [(room, 4)], start=start, nights=2)
    response = client.get(
        "/api/bookings/availability",
        params={"startDate": wire(start), "endDate": wire(start + timedelta(days=1))},
        headers=auth_headers(ctx, bob),
    )
    assert response.status_code == 200, response.text
    [place] = response.json()["accommodations"]
    assert (place["isAvailable"], place["availableCapacity"]) == (False, 0)


def test_it_leaves_out_the_excluded_booking(client, ctx, bob, charlie, room):
    start = day(ctx, 5)
    mine = factories.make_booking(ctx, bob, [(room, 3)], start=start, nights=2)
    other = factories.make_booking(ctx, charlie, [(room, 1)], start=start, nights=2)
    response = client.get(
        "/api/bookings/availability",
        params={
            "startDate": start.isoformat(),
            "endDate": (start + timedelta(days=2)).isoformat(),
            "excludeBookingId": str(mine.id),
        },
        headers=auth_headers(ctx, bob),
    )
    assert response.status_code == 200, response.text
    [place] = response.json()["accommodations"]
    assert place["availableCapacity"] == 3
    assert [c["bookingId"] for c in place["conflictingBookings"]] == [str(other.id)]


@pytest.mark.parametrize(
    ("start_offset", "nights", "message"),
    [
        (-1, 2, "Das Anreisedatum kann nicht vor heute liegen"),
        (3, 0, "Das Abreisedatum muss nach dem Anreisedatum liegen"),
        (3, -2, "Das Abreisedatum muss nach dem Anreisedatum liegen"),
        (3, 31, "Die maximale Buchungsdauer beträgt 30 Tage"),
    ],
    ids=["past", "same-day", "end-before-start", "31-nights"],
)
def test_it_checks_the_availability_date_range(client, ctx, bob, start_offset, nights, message):
    start = day(ctx, start_offset)
    response = client.get(
        "/api/bookings/availability",
        params={
            "startDate": start.isoformat(),
            "endDate": (start + timedelta(days=nights)).isoformat(),
        },
        headers=auth_headers(ctx, bob),
    )
    body = rule_error(response, 400, "DateRange", message)
    assert body["title"] == "Date Range Validation Error"


def test_it_allows_today_in_availability(client, ctx, bob, room):
    response = client.get(
        "/api/bookings/availability",
        params={"startDate": ctx.today().isoformat(), "endDate": day(ctx, 1).isoformat()},
        headers=auth_headers(ctx, bob),
    )
    assert response.status_code == 200, response.text


# --- validate ------------------------------------------------------------------------------


def test_it_validates_a_request_without_writing(client, ctx, bob, room):
    hall = factories.make_place(ctx, "Saal", capacity=10)
    start = day(ctx, 4)
    before = counts(ctx)
    response = client.post(
        "/api/bookings/validate",
        json=booking_body([(room, 2), (hall, 3)], start, nights=3),
        headers=auth_headers(ctx, bob),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "isValid",
        "message",
        "validatedAt",
        "dateRange",
        "totalPersons",
        "accommodationCount",
    }
    assert body["isValid"] is True
    assert body["message"] == "Buchungsanfrage ist gültig"
    assert body["dateRange"] == {
        "startDate": wire(start),
        "endDate": wire(start + timedelta(days=3)),
        "nights": 3,
    }
    assert (body["totalPersons"], body["accommodationCount"]) == (5, 2)
    assert counts(ctx) == before


@pytest.mark.parametrize("case", ["availability", "date-range"])
def test_it_validates_with_the_create_rules(client, ctx, bob, charlie, room, case):
    start = day(ctx, 4)
    factories.make_booking(ctx, charlie, [(room, 3)], start=start, nights=2)
    expected = {
        "availability": (
            booking_body([(room, 2)], start),
            "Availability",
            "Schlafmöglichkeit 'Zimmer 1' hat nur 1 freie Plätze, 2 wurden angefragt",
        ),
        "date-range": (
            booking_body([(room, 1)], start, nights=0),
            "DateRange",
            "Das Abreisedatum muss nach dem Anreisedatum liegen",
        ),
    }
    body, key, message = expected[case]
    response = client.post("/api/bookings/validate", json=body, headers=auth_headers(ctx, bob))
    rule_error(response, 400, key, message)


# --- read ----------------------------------------------------------------------------------


def test_it_shows_a_booking_to_its_owner_and_admins_only(client, ctx, alice, bob, charlie, room):
    booking = factories.make_booking(ctx, bob, [(room, 2)])
    url = f"/api/bookings/{booking.id}"
    assert client.get(url, headers=auth_headers(ctx, bob)).json()["id"] == str(booking.id)
    assert client.get(url, headers=auth_headers(ctx, alice)).json()["userEmail"] == (
        "bob@example.com"
    )
    problem(client.get(url, headers=auth_headers(ctx, charlie)), 403)
    problem(client.get(f"/api/bookings/{uuid.uuid4()}", headers=auth_headers(ctx, bob)), 404)


def test_it_lists_own_bookings_for_members_and_all_for_admins(
    client, ctx, alice, bob, charlie, room
):
    mine = factories.make_booking(ctx, bob, [(room, 1)], start=day(ctx, 3))
    theirs = factories.make_booking(ctx, charlie, [(room, 1)], start=day(ctx, 6))

    def ids(user: Any) -> list[str]:
        response = client.get("/api/bookings", headers=auth_headers(ctx, user))
        assert response.status_code == 200, response.text
        return [b["id"] for b in response.json()]

    assert ids(bob) == [str(mine.id)]
    assert ids(charlie) == [str(theirs.id)]
    assert ids(alice) == [str(mine.id), str(theirs.id)]


def test_the_list_is_not_paged_like_the_page(client, ctx, alice, bob, charlie, room):
    """The web list shows 50 per page; the API answers every booking at once, as before."""
    hall = factories.make_place(ctx, "Saal", capacity=10)
    made = [str(i) for i in factories.make_stays(ctx, [bob, charlie], [room, hall], 130)]
    for params in ({}, {"page": "2"}, {"limit": "10", "offset": "5"}):
        response = client.get("/api/bookings", params=params, headers=auth_headers(ctx, alice))
        assert response.status_code == 200, response.text
        body = response.json()
        assert [b["id"] for b in body] == made
        assert all(len(b["bookingItems"]) == 2 and b["totalPersons"] == 2 for b in body)
    mine = client.get("/api/bookings", headers=auth_headers(ctx, bob)).json()
    assert [b["id"] for b in mine] == made[::2]


@pytest.mark.parametrize(
    ("time_range", "expected"),
    [
        (None, "DE"),
        ("0", "DE"),
        ("All", "ABCDE"),
        ("2", "ABC"),
        ("Last30Days", "CDE"),
        ("4", "BCDE"),
    ],
)
def test_it_filters_the_list_by_time_range(client, ctx, bob, room, time_range, expected):
    stays = {  # name: (start offset, nights); D ends today
        "E": (10, 2),
        "B": (-200, 2),
        "D": (-2, 2),
        "A": (-400, 2),
        "C": (-20, 2),
    }
    by_id = {
        str(factories.make_booking(ctx, bob, [(room, 1)], start=day(ctx, s), nights=n).id): name
        for name, (s, n) in stays.items()
    }
    params = {} if time_range is None else {"timeRange": time_range}
    response = client.get("/api/bookings", params=params, headers=auth_headers(ctx, bob))
    assert response.status_code == 200, response.text
    assert "".join(by_id[b["id"]] for b in response.json()) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Completed", {"done"}),
        ("4", {"accepted"}),
        ("Cancelled", {"cancelled"}),
    ],
)
def test_it_filters_the_list_by_status_including_completed(
    client, ctx, bob, room, status, expected
):
    made = {
        "done": factories.make_booking(ctx, bob, [(room, 1)], start=day(ctx, -10), status=4),
        "accepted": factories.make_booking(ctx, bob, [(room, 1)], start=day(ctx, 3), status=4),
        "pending": factories.make_booking(ctx, bob, [(room, 1)], start=day(ctx, 6)),
        "cancelled": factories.make_booking(ctx, bob, [(room, 1)], start=day(ctx, 9), status=2),
    }
    names = {str(b.id): name for name, b in made.items()}
    response = client.get(
        "/api/bookings",
        params={"timeRange": "All", "status": status},
        headers=auth_headers(ctx, bob),
    )
    assert response.status_code == 200, response.text
    assert {names[b["id"]] for b in response.json()} == expected
    wanted = {"done": COMPLETED, "accepted": ACCEPTED, "pending": PENDING, "cancelled": CANCELLED}
    assert {b["status"] for b in response.json()} == {wanted[n] for n in expected}


# --- update --------------------------------------------------------------------------------


def test_it_updates_a_booking_and_records_the_changes(client, ctx, bob, room):
    hall = factories.make_place(ctx, "Saal", capacity=10)
    booking = factories.make_booking(ctx, bob, [(room, 2)], start=day(ctx, 5), notes="alt")
    new_start = day(ctx, 6)
    response = client.put(
        f"/api/bookings/{booking.id}",
        json=booking_body([(hall, 3)], new_start, nights=3, notes="neu"),
        headers=auth_headers(ctx, bob),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == BOOKING_KEYS
    assert (body["startDate"], body["endDate"]) == (
        wire(new_start),
        wire(new_start + timedelta(days=3)),
    )
    assert body["notes"] == "neu"
    assert body["bookingItems"] == [
        {
            "sleepingAccommodationId": str(hall.id),
            "sleepingAccommodationName": "Saal",
            "personCount": 3,
        }
    ]
    assert (body["totalPersons"], body["numberOfNights"]) == (3, 3)
    assert (body["userName"], body["userEmail"]) == ("Bob Person", "bob@example.com")
    assert WIRE_DATETIME.match(body["changedAt"])

    [entry] = history_of(client, ctx, bob, booking.id)
    assert entry["eventType"] == "Updated"
    # a date change records the house rules it was checked against (house_rules.enforce)
    assert entry["details"].pop("rules")["maxNights"] == 30
    assert entry["details"] == {
        "startDate": {"from": day(ctx, 5).isoformat(), "to": new_start.isoformat()},
        "endDate": {
            "from": day(ctx, 7).isoformat(),
            "to": (new_start + timedelta(days=3)).isoformat(),
        },
        "notes": {"from": "alt", "to": "neu"},
        "bookingItems": {
            "from": [{"sleepingAccommodationId": str(room.id), "personCount": 2}],
            "to": [{"sleepingAccommodationId": str(hall.id), "personCount": 3}],
        },
    }


def test_it_excludes_the_booking_itself_from_the_capacity_on_update(client, ctx, bob, room):
    start = day(ctx, 5)
    created = post(client, ctx, bob, booking_body([(room, 2)], start))
    assert created.status_code == 201, created.text
    response = client.put(
        f"/api/bookings/{created.json()['id']}",
        json=booking_body([(room, 4)], start),
        headers=auth_headers(ctx, bob),
    )
    assert response.status_code == 200, response.text
    assert response.json()["totalPersons"] == 4


def test_it_checks_capacity_of_others_on_update(client, ctx, bob, charlie, room):
    start = day(ctx, 5)
    factories.make_booking(ctx, charlie, [(room, 2)], start=start)
    booking = factories.make_booking(ctx, bob, [(room, 2)], start=start)
    response = client.put(
        f"/api/bookings/{booking.id}",
        json=booking_body([(room, 3)], start),
        headers=auth_headers(ctx, bob),
    )
    rule_error(
        response,
        400,
        "Availability",
        "Schlafmöglichkeit 'Zimmer 1' hat nur 2 freie Plätze, 3 wurden angefragt",
    )


@pytest.mark.parametrize(
    ("status", "editor", "change", "expected"),
    [
        (ACCEPTED, "bob", "dates", PENDING),
        (ACCEPTED, "bob", "places", PENDING),
        (ACCEPTED, "bob", "persons", PENDING),
        (CONFIRMED, "bob", "dates", PENDING),
        (ACCEPTED, "bob", "notes", ACCEPTED),
        (ACCEPTED, "alice", "dates", ACCEPTED),
    ],
)
def test_it_sends_member_changes_of_accepted_stays_back_to_pending(
    client, ctx, alice, bob, room, status, editor, change, expected
):
    hall = factories.make_place(ctx, "Saal", capacity=10)
    start = day(ctx, 5)
    booking = factories.make_booking(ctx, bob, [(room, 2)], start=start, status=status)
    body = {
        "dates": booking_body([(room, 2)], start + timedelta(days=1)),
        "places": booking_body([(hall, 2)], start),
        "persons": booking_body([(room, 3)], start),
        "notes": booking_body([(room, 2)], start, notes="Wir kommen später"),
    }[change]
    user = {"bob": bob, "alice": alice}[editor]
    response = client.put(f"/api/bookings/{booking.id}", json=body, headers=auth_headers(ctx, user))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == expected
    assert status_of(client, ctx, alice, booking.id) == expected
    [entry] = history_of(client, ctx, user, booking.id)
    assert (entry["eventType"], entry["userId"]) == ("Updated", user.id)
    if expected != status:
        assert entry["details"]["status"] == {"from": status, "to": expected}
    else:
        assert "status" not in entry["details"]


def test_it_refuses_to_update_a_cancelled_booking(client, ctx, bob, room):
    booking = factories.make_booking(ctx, bob, [(room, 2)], status=CANCELLED)
    before = counts(ctx)
    response = client.put(
        f"/api/bookings/{booking.id}",
        json=booking_body([(room, 1)], day(ctx, 8)),
        headers=auth_headers(ctx, bob),
    )
    rule_error(response, 409, "Business", "Cannot update a cancelled booking")
    assert counts(ctx) == before


def test_it_adds_no_history_for_a_failed_update(client, ctx, bob, room):
    start = day(ctx, 5)
    created = post(client, ctx, bob, booking_body([(room, 2)], start, notes="alt"))
    booking_id = created.json()["id"]
    before = counts(ctx)
    response = client.put(
        f"/api/bookings/{booking_id}",
        json=booking_body([(room, 5)], start, notes="neu"),
        headers=auth_headers(ctx, bob),
    )
    assert response.status_code == 400, response.text
    assert counts(ctx) == before
    assert [e["eventType"] for e in history_of(client, ctx, bob, booking_id)] == ["Created"]
    unchanged = client.get(f"/api/bookings/{booking_id}", headers=auth_headers(ctx, bob)).json()
    assert unchanged == created.json()


def test_it_forbids_updating_someone_elses_booking(client, ctx, bob, charlie, room):
    booking = factories.make_booking(ctx, bob, [(room, 2)])
    response = client.put(
        f"/api/bookings/{booking.id}",
        json=booking_body([(room, 1)], day(ctx, 8)),
        headers=auth_headers(ctx, charlie),
    )
    problem(response, 403)


# --- status machine ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "expected"), [("accept", ACCEPTED), ("reject", REJECTED), ("confirm", CONFIRMED)]
)
def test_it_lets_admins_decide_pending_bookings(client, ctx, alice, bob, room, action, expected):
    booking = factories.make_booking(ctx, bob, [(room, 2)])
    response = client.post(f"/api/bookings/{booking.id}/{action}", headers=auth_headers(ctx, alice))
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert status_of(client, ctx, alice, booking.id) == expected


@pytest.mark.parametrize(
    ("action", "status", "past", "name"),
    [
        ("accept", ACCEPTED, False, "Accepted"),
        ("accept", CANCELLED, False, "Cancelled"),
        ("reject", REJECTED, False, "Rejected"),
        ("confirm", ACCEPTED, True, "Completed"),
    ],
)
def test_it_refuses_decisions_on_bookings_that_are_not_pending(
    client, ctx, alice, bob, room, action, status, past, name
):
    start = day(ctx, -10) if past else None
    booking = factories.make_booking(ctx, bob, [(room, 2)], start=start, status=status)
    before = counts(ctx)
    response = client.post(f"/api/bookings/{booking.id}/{action}", headers=auth_headers(ctx, alice))
    rule_error(response, 409, "Business", f"Cannot {action} booking with status {name}")
    assert counts(ctx) == before


@pytest.mark.parametrize(
    ("status", "canceller"),
    [
        (PENDING, "bob"),
        (ACCEPTED, "bob"),
        (REJECTED, "bob"),
        (ACCEPTED, "alice"),
    ],
)
def test_it_cancels_live_bookings_for_owner_and_admin(
    client, ctx, alice, bob, room, status, canceller
):
    booking = factories.make_booking(ctx, bob, [(room, 2)], status=status)
    user = {"bob": bob, "alice": alice}[canceller]
    response = client.post(f"/api/bookings/{booking.id}/cancel", headers=auth_headers(ctx, user))
    assert response.status_code == 204, response.text
    assert status_of(client, ctx, alice, booking.id) == CANCELLED
    again = client.post(f"/api/bookings/{booking.id}/cancel", headers=auth_headers(ctx, user))
    rule_error(again, 409, "Business", "Booking is already cancelled")


def test_it_reads_a_past_accepted_stay_as_completed_and_will_not_cancel_it(
    client, ctx, alice, bob, room
):
    booking = factories.make_booking(ctx, bob, [(room, 2)], start=day(ctx, -5), status=ACCEPTED)
    assert status_of(client, ctx, alice, booking.id) == COMPLETED
    before = counts(ctx)
    response = client.post(f"/api/bookings/{booking.id}/cancel", headers=auth_headers(ctx, bob))
    rule_error(response, 409, "Business", "Cannot cancel a completed booking")
    assert counts(ctx) == before
    assert status_of(client, ctx, alice, booking.id) == COMPLETED


def test_it_keeps_a_stay_ending_today_accepted(client, ctx, alice, bob, room):
    booking = factories.make_booking(ctx, bob, [(room, 2)], start=day(ctx, -2), status=ACCEPTED)
    assert status_of(client, ctx, alice, booking.id) == ACCEPTED


# --- history -------------------------------------------------------------------------------


def test_it_records_the_history_of_a_booking_in_order(client, ctx, alice, bob, room):
    start = day(ctx, 5)
    created = post(client, ctx, bob, booking_body([(room, 2)], start))
    booking_id = created.json()["id"]
    url = f"/api/bookings/{booking_id}"
    assert (
        client.put(
            url, json=booking_body([(room, 2)], start, notes="Spät"), headers=auth_headers(ctx, bob)
        ).status_code
        == 200
    )
    assert client.post(f"{url}/accept", headers=auth_headers(ctx, alice)).status_code == 204
    assert client.post(f"{url}/cancel", headers=auth_headers(ctx, bob)).status_code == 204

    entries = history_of(client, ctx, bob, booking_id)
    assert [(e["eventType"], e["userId"], e["userName"]) for e in entries] == [
        ("Created", bob.id, "Bob Person"),
        ("Updated", bob.id, "Bob Person"),
        ("Accepted", alice.id, "Alice Person"),
        ("Cancelled", bob.id, "Bob Person"),
    ]
    assert {e["bookingId"] for e in entries} == {booking_id}
    assert all(WIRE_DATETIME.match(e["occurredAt"]) for e in entries)
    assert entries[1]["details"] == {"notes": {"from": None, "to": "Spät"}}
    assert entries[2]["details"] == {"status": {"from": PENDING, "to": ACCEPTED}}
    assert entries[3]["details"] == {"status": {"from": ACCEPTED, "to": CANCELLED}}
    assert history_of(client, ctx, alice, booking_id) == entries


def test_it_records_rejections_in_the_history(client, ctx, alice, bob, room):
    created = post(client, ctx, bob, booking_body([(room, 2)], day(ctx, 5)))
    booking_id = created.json()["id"]
    response = client.post(f"/api/bookings/{booking_id}/reject", headers=auth_headers(ctx, alice))
    assert response.status_code == 204
    entries = history_of(client, ctx, alice, booking_id)
    assert [(e["eventType"], e["userId"]) for e in entries] == [
        ("Created", bob.id),
        ("Rejected", alice.id),
    ]
    assert entries[1]["details"] == {"status": {"from": PENDING, "to": REJECTED}}


def test_it_hides_the_history_from_other_members(client, ctx, bob, charlie, room):
    created = post(client, ctx, bob, booking_body([(room, 2)], day(ctx, 5)))
    url = f"/api/bookings/{created.json()['id']}/history"
    problem(client.get(url, headers=auth_headers(ctx, charlie)), 403)
    problem(
        client.get(f"/api/bookings/{uuid.uuid4()}/history", headers=auth_headers(ctx, bob)), 404
    )


# --- revoked members -----------------------------------------------------------------------


def test_it_stops_a_revoked_member_from_booking_but_not_from_cancelling(
    client, ctx, alice, bob, room
):
    start = day(ctx, 5)
    created = post(client, ctx, bob, booking_body([(room, 2)], start))
    booking_id = created.json()["id"]
    revoked = client.post(
        f"/api/admin/users/{bob.id}/revoke-booking", headers=auth_headers(ctx, alice)
    )
    assert revoked.status_code == 200, revoked.text
    before = counts(ctx)

    problem(post(client, ctx, bob, booking_body([(room, 1)], day(ctx, 10))), 403)
    problem(
        client.put(
            f"/api/bookings/{booking_id}",
            json=booking_body([(room, 1)], start),
            headers=auth_headers(ctx, bob),
        ),
        403,
    )
    assert counts(ctx) == before
    listed = client.get("/api/bookings", headers=auth_headers(ctx, bob))
    assert [b["id"] for b in listed.json()] == [booking_id]
    cancel = client.post(f"/api/bookings/{booking_id}/cancel", headers=auth_headers(ctx, bob))
    assert cancel.status_code == 204, cancel.text


# --- dropped predecessor endpoints ---------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/bookings/debug/events"),
        ("POST", "/api/bookings/projections/rebuild"),
        ("POST", "/api/admin/projections/sleeping-accommodations/rebuild-all"),
    ],
)
def test_it_answers_404_for_the_dropped_projection_endpoints(client, ctx, alice, method, path):
    response = client.request(method, path, headers=auth_headers(ctx, alice))
    problem(response, 404)
