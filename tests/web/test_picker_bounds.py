"""The booking window and minimum notice in the date picker's configuration (``bounds``): the
dates are the server's own (a member is refused exactly beyond them), administrators get none,
and an edit keeps its arrival and its departure as the server does."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from booking.db.models import SleepingAccommodation, User
from booking.domain import house_rules
from booking.domain.context import Context
from booking.domain.house_rules import BOOKING_WINDOW, MINIMUM_NOTICE, RulesIn
from tests import factories
from tests.web.test_house_rules_pages import get, logged_in

# 31 August + 6 months is 28 February (the shorter month's last day): the window's edge case.
TODAY = date(2030, 8, 31)
LAST_DEPARTURE = date(2031, 2, 28)
FIRST_ARRIVAL = date(2030, 9, 3)


@pytest.fixture
def house(ctx: Context, alice: User) -> Context:
    ctx.clock = lambda: TODAY
    house_rules.set_rules(ctx, alice, RulesIn(booking_window_months=6, minimum_notice_days=3))
    return ctx


def bounds(client: TestClient, url: str = "/bookings/new") -> dict[str, Any]:
    config = json.loads(get(client, url).one("script", id="booking-form-config").text)
    assert config["today"] == TODAY.isoformat()
    result: dict[str, Any] = config["bounds"]
    return result


def broken(ctx: Context, user: User, start: date, end: date) -> set[str]:
    """The rules the server refuses the stay for (the authority the picker follows)."""
    try:
        house_rules.validate(ctx, user, start, end)
    except house_rules.HouseRuleViolation as exc:
        return {v.rule for v in exc.violations}
    return set()


def test_a_member_gets_the_servers_first_arrival_and_last_departure(
    client: TestClient, house: Context, bob: User
) -> None:
    logged_in(client, bob.email)
    found = bounds(client)
    assert found == {
        "lastDeparture": LAST_DEPARTURE.isoformat(),
        "firstArrival": FIRST_ARRIVAL.isoformat(),
        "keepArrival": None,
        "tooFar": "Buchungen sind höchstens 6 Monate im Voraus möglich "
        "(Abreise spätestens am 28.02.2031)",
        "tooSoon": "Buchungen brauchen 3 Tage Vorlauf (Anreise frühestens am 03.09.2030)",
    }
    # the last night inside the window is allowed, the first outside is refused
    last_night = LAST_DEPARTURE - timedelta(days=1)
    assert broken(house, bob, last_night, LAST_DEPARTURE) == set()
    assert broken(house, bob, LAST_DEPARTURE, LAST_DEPARTURE + timedelta(days=1)) == {
        BOOKING_WINDOW
    }
    # the notice's edge: the first arrival is allowed, the day before is refused
    assert broken(house, bob, FIRST_ARRIVAL, FIRST_ARRIVAL + timedelta(days=1)) == set()
    day_before = FIRST_ARRIVAL - timedelta(days=1)
    assert broken(house, bob, day_before, FIRST_ARRIVAL) == {MINIMUM_NOTICE}


def test_the_bounds_follow_the_house_date(client: TestClient, house: Context, bob: User) -> None:
    house.clock = lambda: date(2031, 1, 31)  # + 6 months: 31 July; + 3 days: 3 February
    logged_in(client, bob.email)
    config = json.loads(get(client, "/bookings/new").one("script", id="booking-form-config").text)
    assert config["bounds"]["lastDeparture"] == "2031-07-31"
    assert config["bounds"]["firstArrival"] == "2031-02-03"


def test_the_bounds_are_in_english_with_the_legend(
    client: TestClient, house: Context, bob: User
) -> None:
    client.headers["Accept-Language"] = "en"
    logged_in(client, bob.email)
    config = json.loads(get(client, "/bookings/new").one("script", id="booking-form-config").text)
    assert config["bounds"]["tooFar"] == (
        "Bookings are possible at most 6 months ahead (departure on 28.02.2031 at the latest)"
    )
    assert config["bounds"]["tooSoon"] == (
        "Bookings need 3 days' notice (arrival on 03.09.2030 at the earliest)"
    )
    assert config["text"]["unbookable"] == "Not bookable (notice or booking window)"


def test_an_administrator_is_not_bound(client: TestClient, house: Context, alice: User) -> None:
    logged_in(client, alice.email)
    assert set(bounds(client).values()) == {None}
    assert broken(house, alice, TODAY, TODAY + timedelta(days=1)) == set()


def test_without_window_and_notice_a_member_is_not_bound(
    client: TestClient, house: Context, alice: User, bob: User
) -> None:
    house_rules.set_rules(house, alice, RulesIn())
    logged_in(client, bob.email)
    found = bounds(client)
    assert found["lastDeparture"] is None and found["firstArrival"] is None
    assert found["tooFar"] == found["tooSoon"] == ""


def test_an_edit_keeps_its_arrival_and_departure(
    client: TestClient, house: Context, bob: User, room: SleepingAccommodation
) -> None:
    """A stay booked before the rules: arriving tomorrow (inside the notice) and leaving after
    the window. The member may keep both, as the server allows (it refuses only a change)."""
    arrival = TODAY + timedelta(days=1)
    stay = factories.make_booking(house, bob, [(room, 1)], start=arrival, nights=200)
    departure = arrival + timedelta(days=200)
    assert departure > LAST_DEPARTURE
    logged_in(client, bob.email)
    found = bounds(client, f"/bookings/{stay.id}/edit")
    assert found["keepArrival"] == arrival.isoformat()
    assert found["firstArrival"] == FIRST_ARRIVAL.isoformat()
    assert found["lastDeparture"] == departure.isoformat()
    # the texts name the rule's own dates, not the stay's
    assert "28.02.2031" in found["tooFar"] and "03.09.2030" in found["tooSoon"]


def test_an_edit_inside_the_rules_gets_the_plain_bounds(
    client: TestClient, house: Context, bob: User, room: SleepingAccommodation
) -> None:
    stay = factories.make_booking(house, bob, [(room, 1)], start=TODAY + timedelta(days=10))
    logged_in(client, bob.email)
    found = bounds(client, f"/bookings/{stay.id}/edit")
    assert found["keepArrival"] is None
    assert found["lastDeparture"] == LAST_DEPARTURE.isoformat()
