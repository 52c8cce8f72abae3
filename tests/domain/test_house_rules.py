"""House rules at their edges, through the domain functions the API and the pages call."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from booking.db.models import AuditEvent, SleepingAccommodation, User
from booking.domain import bookings, house_rules
from booking.domain.availability import ACCEPTED, CANCELLED, PENDING, REJECTED
from booking.domain.bookings import BookingIn, BookingItemIn
from booking.domain.context import Context
from booking.domain.errors import ValidationFailed
from booking.domain.house_rules import (
    ClosedPeriodIn,
    HouseRuleViolation,
    QuotaExceptionIn,
    RulesIn,
)
from tests import factories

TODAY = date(2027, 3, 1)


@pytest.fixture
def house(ctx: Context, room: SleepingAccommodation) -> Context:
    """The house on a fixed day (the clock is the house's date)."""
    ctx.clock = lambda: TODAY
    return ctx


def stay(room: SleepingAccommodation, start: date, nights: int) -> BookingIn:
    return BookingIn(
        start_date=start,
        end_date=start + timedelta(days=nights),
        booking_items=[BookingItemIn(sleeping_accommodation_id=room.id, person_count=1)],
    )


def rules(ctx: Context, admin: User, **values: Any) -> None:
    house_rules.set_rules(ctx, admin, RulesIn(**values))


def close(ctx: Context, admin: User, first: date, last: date, reason: str = "Winterpause") -> None:
    house_rules.add_closed_period(
        ctx, admin, ClosedPeriodIn(first_night=first, last_night=last, reason=reason)
    )


def refused(call: Any, *args: Any) -> dict[str, list[str]]:
    with pytest.raises(HouseRuleViolation) as caught:
        call(*args)
    return caught.value.errors


def day(offset: int) -> date:
    return TODAY + timedelta(days=offset)


# --- closed periods ------------------------------------------------------------------------------


def test_a_stay_may_end_on_the_first_closed_night_but_not_include_it(house, alice, bob, room):
    close(house, alice, day(10), day(12), "Renovierung")
    # last allowed night before the closure: the night of day 9, departure on day 10
    bookings.create_booking(house, bob, stay(room, day(7), 3))
    # the first closed night
    errors = refused(bookings.create_booking, house, bob, stay(room, day(8), 3))
    assert errors == {
        "closedPeriod": ["Das Haus ist vom 11.03.2027 bis 13.03.2027 geschlossen: Renovierung"]
    }
    # the last closed night, and the first night after the closure
    refused(bookings.create_booking, house, bob, stay(room, day(12), 1))
    bookings.create_booking(house, bob, stay(room, day(13), 1))


def test_closed_nights_bind_administrators_too(house, alice, room):
    close(house, alice, day(10), day(10))
    refused(bookings.create_booking, house, alice, stay(room, day(9), 2))


def test_the_calendar_marks_closed_nights_with_the_reason(house, alice, room):
    from booking.domain.calendar import day_availability

    close(house, alice, day(2), day(3), "Wasserschaden")
    nights = day_availability(house, day(1), day(5))
    assert [(n["date"], n["closed"], n["closedReason"]) for n in nights] == [
        (day(1).isoformat(), False, None),
        (day(2).isoformat(), True, "Wasserschaden"),
        (day(3).isoformat(), True, "Wasserschaden"),
        (day(4).isoformat(), False, None),
    ]


# --- minimum notice and booking window ------------------------------------------------------------


def test_minimum_notice_counts_from_the_house_date(house, alice, bob, room):
    rules(house, alice, minimum_notice_days=3)
    bookings.create_booking(house, bob, stay(room, day(3), 1))
    errors = refused(bookings.create_booking, house, bob, stay(room, day(2), 1))
    assert errors == {
        "minimumNotice": ["Buchungen brauchen 3 Tage Vorlauf (Anreise frühestens am 04.03.2027)"]
    }
    # administrators run the house: notice and window do not bind them
    bookings.create_booking(house, alice, stay(room, day(1), 1))


def test_the_window_edge_is_in_the_house_time_zone(ctx, alice, bob, room):
    # 23:30 UTC on New Year's Eve is already 1 January in Berlin: the window starts there
    instant = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert ctx.settings.timezone == "Europe/Berlin"
    ctx.clock = lambda: instant.astimezone(ctx.settings.zone).date()
    rules(ctx, alice, booking_window_months=12)
    # the last allowed departure is 1 January 2028 (the night of 31 December is the last)
    bookings.create_booking(ctx, bob, stay(room, date(2027, 12, 31), 1))
    errors = refused(bookings.create_booking, ctx, bob, stay(room, date(2028, 1, 1), 1))
    assert errors == {
        "bookingWindow": [
            "Buchungen sind höchstens 12 Monate im Voraus möglich (Abreise spätestens am 01.01.2028)"
        ]
    }
    bookings.create_booking(ctx, alice, stay(room, date(2028, 1, 1), 1))


def test_the_window_of_a_short_month_ends_on_its_last_day():
    assert house_rules.add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert house_rules.add_months(date(2027, 12, 15), 2) == date(2028, 2, 15)


# --- nights per stay ---------------------------------------------------------------------------


def test_minimum_and_maximum_nights(house, alice, bob, room):
    rules(house, alice, min_nights=2, max_nights=5)
    assert refused(bookings.create_booking, house, bob, stay(room, day(1), 1)) == {
        "minNights": ["Eine Buchung muss mindestens 2 Nächte umfassen"]
    }
    bookings.create_booking(house, bob, stay(room, day(1), 2))
    bookings.create_booking(house, bob, stay(room, day(10), 5))
    # the predecessor's key and text for the maximum
    assert refused(bookings.create_booking, house, bob, stay(room, day(20), 6)) == {
        "DateRange": ["Die maximale Buchungsdauer beträgt 5 Tage"]
    }


def test_a_longer_maximum_than_30_nights_is_possible(house, alice, bob, room):
    with pytest.raises(ValidationFailed):
        bookings.create_booking(house, bob, stay(room, day(1), 31))
    rules(house, alice, max_nights=45)
    bookings.create_booking(house, bob, stay(room, day(1), 45))
    availability = bookings.check_availability(house, day(100), day(145))
    assert availability["accommodations"]


def test_every_broken_rule_is_named(house, alice, bob, room):
    rules(house, alice, minimum_notice_days=5, min_nights=3, yearly_quota_nights=1)
    close(house, alice, day(1), day(1))
    with pytest.raises(HouseRuleViolation) as caught:
        bookings.create_booking(house, bob, stay(room, day(1), 2))
    assert sorted(caught.value.errors) == [
        "closedPeriod",
        "minNights",
        "minimumNotice",
        "yearlyQuota",
    ]
    english = {r["rule"]: r["messageEn"] for r in caught.value.extensions["rules"]}
    assert english["minNights"] == "A stay must have at least 3 nights"


def test_settings_out_of_range_are_refused(house, alice):
    with pytest.raises(ValidationFailed) as caught:
        rules(house, alice, min_nights=5, max_nights=4)
    assert "MinNights" in caught.value.errors
    with pytest.raises(ValidationFailed):
        rules(house, alice, yearly_quota_nights=-1)


# --- the fair-use quota ----------------------------------------------------------------------------


def test_quota_reached_exactly_is_allowed_one_more_is_not(house, alice, bob, room):
    rules(house, alice, yearly_quota_nights=10)
    factories.make_booking(house, bob, [(room, 1)], start=day(1), nights=4, status=ACCEPTED)
    factories.make_booking(house, bob, [(room, 1)], start=day(5), nights=2, status=PENDING)
    # rejected and cancelled stays do not count
    factories.make_booking(house, bob, [(room, 1)], start=day(7), nights=5, status=REJECTED)
    factories.make_booking(house, bob, [(room, 1)], start=day(7), nights=5, status=CANCELLED)
    errors = refused(bookings.create_booking, house, bob, stay(room, day(20), 5))
    assert errors == {
        "yearlyQuota": [
            "Das Kontingent von 10 Nächten im Jahr 2027 ist überschritten "
            "(6 bereits gebucht, 5 angefragt)"
        ]
    }
    bookings.create_booking(house, bob, stay(room, day(20), 4))
    # another member has a quota of their own
    factories.make_user(house, "dora@example.com")


def test_a_stay_over_new_year_counts_nights_in_each_year(house, alice, bob, room):
    rules(house, alice, yearly_quota_nights=3)
    factories.make_booking(house, bob, [(room, 1)], start=date(2028, 1, 5), nights=1)
    # 29, 30, 31 December 2027 and 1, 2 January 2028: 3 + 2 nights
    bookings.create_booking(house, bob, stay(room, date(2027, 12, 29), 5))
    # 2027 is full now, 2028 has one night left
    refused(bookings.create_booking, house, bob, stay(room, date(2027, 12, 1), 1))
    errors = refused(bookings.create_booking, house, bob, stay(room, date(2028, 2, 1), 1))
    assert "(3 bereits gebucht, 1 angefragt)" in errors["yearlyQuota"][0]
    assert house_rules.nights_per_year(date(2027, 12, 29), date(2028, 1, 3)) == {2027: 3, 2028: 2}


def test_an_edit_does_not_count_the_booking_against_itself(house, alice, bob, room):
    rules(house, alice, yearly_quota_nights=4)
    created = bookings.create_booking(house, bob, stay(room, day(10), 4))
    booking_id = created["id"]
    # the same four nights a week later
    bookings.update_booking(house, bob, uuid.UUID(booking_id), stay(room, day(17), 4))
    # one night more is over the quota
    errors = refused(
        bookings.update_booking, house, bob, uuid.UUID(booking_id), stay(room, day(17), 5)
    )
    assert "(0 bereits gebucht, 5 angefragt)" in errors["yearlyQuota"][0]


def test_an_administrator_grants_extra_nights_with_a_logged_reason(house, alice, bob, room):
    rules(house, alice, yearly_quota_nights=3)
    refused(bookings.create_booking, house, bob, stay(room, day(1), 5))
    granted = house_rules.grant_quota_exception(
        house,
        alice,
        QuotaExceptionIn(user_id=bob.id, year=2027, extra_nights=2, reason="Pflege der Mutter"),
    )
    assert granted["extraNights"] == 2
    created = bookings.create_booking(house, bob, stay(room, day(1), 5))
    [entry] = bookings.history(house, bob, uuid.UUID(created["id"]))
    assert entry["details"]["quotaException"] == {
        "2027": {"extraNights": 2, "reasons": ["Pflege der Mutter"], "nightsInYear": 5}
    }
    with house.db.read() as session:
        events = {row.event: json.loads(row.details) for row in session.scalars(select(AuditEvent))}
    assert events["quota_exception_granted"]["reason"] == "Pflege der Mutter"
    assert events["quota_exception_used"]["userId"] == bob.id
    # beyond quota + extra still refused
    errors = refused(bookings.create_booking, house, bob, stay(room, day(20), 1))
    assert errors["yearlyQuota"][0].startswith("Das Kontingent von 5 Nächten")


# --- rules in force, later changes --------------------------------------------------------------


def test_the_rules_in_force_are_recorded_in_the_history(house, alice, bob, room):
    rules(house, alice, max_nights=20, yearly_quota_nights=50)
    created = bookings.create_booking(house, bob, stay(room, day(1), 2))
    [entry] = bookings.history(house, bob, uuid.UUID(created["id"]))
    assert entry["details"]["rules"] == {
        "bookingWindowMonths": 0,
        "minimumNoticeDays": 0,
        "minNights": 1,
        "maxNights": 20,
        "yearlyQuotaNights": 50,
        "checkedOn": TODAY.isoformat(),
    }


def test_a_rule_change_keeps_existing_stays_and_lists_them(house, alice, bob, room):
    created = bookings.create_booking(house, bob, stay(room, day(10), 4))
    booking_id = uuid.UUID(created["id"])
    other = bookings.create_booking(house, bob, stay(room, day(30), 2))
    close(house, alice, day(12), day(12), "Hochzeit")
    rules(house, alice, max_nights=3)
    # the stay is still there, and still Pending
    assert bookings.get_booking(house, bob, booking_id)["status"] == PENDING
    # the administrator sees it with the rules it breaks now
    [conflict] = house_rules.conflicts(house, alice)
    assert conflict["bookingId"] == str(booking_id)
    assert [r["rule"] for r in conflict["rules"]] == ["closedPeriod", "maxNights"]
    assert other["id"] not in {c["bookingId"] for c in house_rules.conflicts(house, alice)}
    # notes and places can still be edited, and accepting it works
    data = stay(room, day(10), 4)
    data.notes = "Wir bringen Kuchen mit"
    bookings.update_booking(house, bob, booking_id, data)
    bookings.decide_booking(house, alice, booking_id, "accept")
    # a move by one day keeps the closed night 12 it already had and its length (4 > 3 now):
    # neither is made worse, so it is allowed
    bookings.update_booking(house, bob, booking_id, stay(room, day(9), 4))
    # a new night in a closure is refused, naming only that closure
    close(house, alice, day(14), day(14), "Putztag")
    errors = refused(bookings.update_booking, house, bob, booking_id, stay(room, day(11), 4))
    assert errors == {
        "closedPeriod": ["Das Haus ist vom 15.03.2027 bis 15.03.2027 geschlossen: Putztag"]
    }
    # and a longer stay than the new maximum is refused as well
    errors = refused(bookings.update_booking, house, bob, booking_id, stay(room, day(9), 5))
    assert list(errors) == ["DateRange"]


def test_validate_names_the_rules_without_writing(house, alice, bob, room):
    close(house, alice, day(5), day(6))
    with pytest.raises(HouseRuleViolation):
        bookings.validate_request(house, bob, stay(room, day(4), 2))
    assert bookings.list_bookings(house, bob) == []


def test_closed_periods_are_listed_and_removed(house, alice):
    close(house, alice, day(-10), day(-5), "Vorbei")
    close(house, alice, day(5), day(6), "Bald")
    assert [p["reason"] for p in house_rules.list_closed_periods(house)] == ["Bald"]
    every = house_rules.list_closed_periods(house, include_past=True)
    assert [p["reason"] for p in every] == ["Vorbei", "Bald"]
    for period in every:
        house_rules.remove_closed_period(house, alice, uuid.UUID(period["id"]))
    assert house_rules.list_closed_periods(house, include_past=True) == []


def test_conflicts_name_the_window_for_members_only(house, alice, bob, room):
    far = day(200)
    member_stay = factories.make_booking(house, bob, [(room, 1)], start=far, nights=2)
    factories.make_booking(house, alice, [(room, 1)], start=far + timedelta(days=5), nights=2)
    factories.make_booking(house, bob, [(room, 1)], start=far, nights=2, status=CANCELLED)
    rules(house, alice, booking_window_months=3)
    [conflict] = house_rules.conflicts(house, alice)
    assert conflict["bookingId"] == str(member_stay.id)
    assert [r["rule"] for r in conflict["rules"]] == ["bookingWindow"]
    assert conflict["rules"][0]["messageEn"] == (
        "Bookings are possible at most 3 months ahead (departure on 01.06.2027 at the latest)"
    )
