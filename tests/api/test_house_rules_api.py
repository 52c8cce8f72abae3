"""House rules through the JSON API: the administrators' endpoints, refusals keyed per rule (with
German and English texts) and closed nights in the picker's calendar data."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from booking.domain import house_rules
from tests.factories import auth_headers, booking_body


def day(ctx: Any, offset: int) -> date:
    return ctx.today() + timedelta(days=offset)


def put_rules(client: Any, ctx: Any, admin: Any, **rules: int) -> Any:
    return client.put("/api/admin/house-rules", json=rules, headers=auth_headers(ctx, admin))


def add_period(client: Any, ctx: Any, admin: Any, first: date, last: date, reason: str) -> Any:
    return client.post(
        "/api/admin/closed-periods",
        json={"firstNight": first.isoformat(), "lastNight": last.isoformat(), "reason": reason},
        headers=auth_headers(ctx, admin),
    )


def test_the_rules_start_as_before_and_can_be_changed(client, ctx, alice, bob):
    response = client.get("/api/admin/house-rules", headers=auth_headers(ctx, alice))
    assert response.status_code == 200
    assert response.json() == {
        "bookingWindowMonths": 0,
        "minimumNoticeDays": 0,
        "minNights": 1,
        "maxNights": 30,
        "yearlyQuotaNights": 0,
        "changedAt": None,
        "changedById": None,
    }
    response = put_rules(client, ctx, alice, bookingWindowMonths=12, yearlyQuotaNights=40)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["bookingWindowMonths"], body["yearlyQuotaNights"]) == (12, 40)
    assert body["changedById"] == alice.id and body["conflicts"] == []
    # members read the rules in force and the coming closures
    public = client.get("/api/house-rules", headers=auth_headers(ctx, bob)).json()
    assert public["bookingWindowMonths"] == 12 and public["closedPeriods"] == []


def test_invalid_settings_are_a_problem_per_field(client, ctx, alice):
    response = put_rules(client, ctx, alice, minNights=0, maxNights=400)
    assert response.status_code == 400
    body = response.json()
    assert body["errors"] == {
        "MinNights": ["Der Wert muss zwischen 1 und 365 liegen"],
        "MaxNights": ["Der Wert muss zwischen 1 und 365 liegen"],
    }


def test_a_refusal_names_every_rule_in_german_and_english(client, ctx, alice, bob, room):
    put_rules(client, ctx, alice, minimumNoticeDays=3, minNights=2)
    assert add_period(client, ctx, alice, day(ctx, 1), day(ctx, 1), "Putztag").status_code == 201
    response = client.post(
        "/api/bookings",
        json=booking_body([(room, 1)], day(ctx, 1), nights=1),
        headers=auth_headers(ctx, bob),
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    first = day(ctx, 1).strftime("%d.%m.%Y")
    earliest = day(ctx, 3).strftime("%d.%m.%Y")
    assert body["errors"] == {
        "closedPeriod": [f"Das Haus ist vom {first} bis {first} geschlossen: Putztag"],
        "minimumNotice": [f"Buchungen brauchen 3 Tage Vorlauf (Anreise frühestens am {earliest})"],
        "minNights": ["Eine Buchung muss mindestens 2 Nächte umfassen"],
    }
    assert body["message"] == body["errors"]["closedPeriod"][0]
    assert body["title"] == "House Rules"
    english = {rule["rule"]: rule["messageEn"] for rule in body["rules"]}
    assert english == {
        "closedPeriod": f"The house is closed from {first} to {first}: Putztag",
        "minimumNotice": f"Bookings need 3 days' notice (arrival on {earliest} at the earliest)",
        "minNights": "A stay must have at least 2 nights",
    }
    assert {rule["rule"]: rule["params"] for rule in body["rules"]}["minNights"] == {"n": 2}
    # validate says the same without writing
    response = client.post(
        "/api/bookings/validate",
        json=booking_body([(room, 1)], day(ctx, 1), nights=1),
        headers=auth_headers(ctx, bob),
    )
    assert response.status_code == 400
    assert sorted(response.json()["errors"]) == ["closedPeriod", "minNights", "minimumNotice"]


def test_the_quota_refusal_and_its_boundary(client, ctx, alice, bob, room):
    put_rules(client, ctx, alice, yearlyQuotaNights=3)
    start = date(ctx.today().year + 1, 6, 1)
    ok = client.post(
        "/api/bookings", json=booking_body([(room, 1)], start, 3), headers=auth_headers(ctx, bob)
    )
    assert ok.status_code == 201, ok.text
    over = client.post(
        "/api/bookings",
        json=booking_body([(room, 1)], start + timedelta(days=10), 1),
        headers=auth_headers(ctx, bob),
    )
    assert over.status_code == 400
    assert list(over.json()["errors"]) == ["yearlyQuota"]
    # the administrator grants one more night for that year, with a reason
    granted = client.post(
        "/api/admin/quota-exceptions",
        json={"userId": bob.id, "year": start.year, "extraNights": 1, "reason": "Hochzeit"},
        headers=auth_headers(ctx, alice),
    )
    assert granted.status_code == 201, granted.text
    again = client.post(
        "/api/bookings",
        json=booking_body([(room, 1)], start + timedelta(days=10), 1),
        headers=auth_headers(ctx, bob),
    )
    assert again.status_code == 201, again.text
    history = client.get(
        f"/api/bookings/{again.json()['id']}/history", headers=auth_headers(ctx, bob)
    ).json()
    assert history[0]["details"]["quotaException"][str(start.year)]["reasons"] == ["Hochzeit"]
    listed = client.get("/api/admin/quota-exceptions", headers=auth_headers(ctx, alice)).json()
    assert [(e["userId"], e["extraNights"], e["reason"]) for e in listed] == [
        (bob.id, 1, "Hochzeit")
    ]
    removed = client.delete(
        f"/api/admin/quota-exceptions/{listed[0]['id']}", headers=auth_headers(ctx, alice)
    )
    assert removed.status_code == 204
    # the existing stays remain; they are listed as conflicts now
    conflicts = client.get(
        "/api/admin/house-rules/conflicts", headers=auth_headers(ctx, alice)
    ).json()
    assert {c["rules"][0]["rule"] for c in conflicts} == {"yearlyQuota"}


def test_the_maximum_keeps_the_predecessors_key(client, ctx, alice, bob, room):
    put_rules(client, ctx, alice, maxNights=10)
    response = client.post(
        "/api/bookings",
        json=booking_body([(room, 1)], day(ctx, 3), nights=11),
        headers=auth_headers(ctx, bob),
    )
    assert response.json()["errors"] == {
        "DateRange": ["Die maximale Buchungsdauer beträgt 10 Tage"]
    }
    assert response.json()["title"] == "Date Range Validation Error"


def test_closed_periods_crud_and_in_the_calendar(client, ctx, alice, bob):
    response = add_period(client, ctx, alice, day(ctx, 4), day(ctx, 5), "Winterpause")
    assert response.status_code == 201
    period = response.json()
    assert (period["firstNight"], period["lastNight"]) == (
        day(ctx, 4).isoformat(),
        day(ctx, 5).isoformat(),
    )
    nights = client.get(
        "/api/calendar/availability",
        params={"startDate": day(ctx, 3).isoformat(), "endDate": day(ctx, 7).isoformat()},
        headers=auth_headers(ctx, bob),
    ).json()
    assert [(n["closed"], n["closedReason"]) for n in nights] == [
        (False, None),
        (True, "Winterpause"),
        (True, "Winterpause"),
        (False, None),
    ]
    bad = add_period(client, ctx, alice, day(ctx, 5), day(ctx, 4), " ")
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"Reason", "LastNight"}
    listed = client.get("/api/admin/closed-periods", headers=auth_headers(ctx, alice)).json()
    assert [p["reason"] for p in listed] == ["Winterpause"]
    gone = client.delete(
        f"/api/admin/closed-periods/{period['id']}", headers=auth_headers(ctx, alice)
    )
    assert gone.status_code == 204
    again = client.delete(
        f"/api/admin/closed-periods/{period['id']}", headers=auth_headers(ctx, alice)
    )
    assert again.status_code == 404
    assert house_rules.list_closed_periods(ctx, include_past=True) == []


def test_the_availability_query_follows_the_maximum(client, ctx, alice, bob):
    put_rules(client, ctx, alice, maxNights=40)
    response = client.get(
        "/api/bookings/availability",
        params={"startDate": day(ctx, 1).isoformat(), "endDate": day(ctx, 41).isoformat()},
        headers=auth_headers(ctx, bob),
    )
    assert response.status_code == 200, response.text
