"""Calendar feeds: every feed is read by icalendar, recurring-ical-events and an independent
content-line reader (tests/ical.py), and its events are compared with the database."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import event, select, update
from starlette.testclient import TestClient

from booking.db.models import AuditEvent, Booking, SleepingAccommodation, User
from booking.domain import audit, bookings, feeds
from booking.domain.availability import ACCEPTED, CANCELLED, CONFIRMED, PENDING, REJECTED
from booking.domain.bookings import BookingIn, BookingItemIn
from booking.domain.context import Context
from booking.domain.errors import Forbidden
from booking.lib.schema import SecretStr
from booking.lib.timeutil import utcnow
from tests import factories
from tests.ical import FeedEvent, calendar_name, read_feed

NASTY = 'Bitte "leise";\r\nkein Lärm, danke\nEND:VEVENT\nEND:VCALENDAR\nBEGIN:VCALENDAR\\n'


def path(url: str) -> str:
    return url.removeprefix("http://testserver")


def fetch(client: TestClient, url: str, status: int = 200) -> bytes:
    response = client.get(path(url))
    assert response.status_code == status, (url, response.status_code, response.text[:300])
    if status == 200:
        assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    return response.content


def member_url(ctx: Context, user: User) -> str:
    return feeds.member_feed_url(ctx, feeds.renew_member_feed(ctx, user))


def house_url(ctx: Context, admin: User, *, pending: bool = False) -> str:
    url = feeds.update_house_feed(ctx, admin, enabled=True, include_pending=pending)["url"]
    assert url
    return str(url)


def uid(ctx: Context, booking_id: uuid.UUID) -> str:
    return f"booking-{booking_id}@testserver"


def assert_matches(ctx: Context, found: FeedEvent, booking_id: uuid.UUID) -> None:
    """The event says what the database says."""
    with ctx.db.read() as session:
        booking = session.get(Booking, booking_id)
        assert booking is not None
        expected_status = feeds.ICAL_STATUS[booking.status]
        places = [
            (session.get(SleepingAccommodation, i.sleeping_accommodation_id), i.person_count)
            for i in booking.items
        ]
        lines = [f"{place.name}: {n} Person" for place, n in places if place is not None]
        persons = sum(item.person_count for item in booking.items)
        start, end = booking.start_date, booking.end_date
    assert found.uid == uid(ctx, booking_id)
    assert (found.start, found.end) == (start, end)  # DTEND: the departure day, exclusive
    assert found.status == expected_status
    assert f"({persons} Pers.)" in found.summary
    assert found.url == f"http://testserver/bookings/{booking_id}"
    assert all(line in found.description for line in lines) and len(lines) == len(places)


def edit_notes(ctx: Context, actor: User, booking_id: uuid.UUID, notes: str) -> None:
    current = bookings.get_booking(ctx, actor, booking_id)
    items = [
        BookingItemIn(
            sleeping_accommodation_id=uuid.UUID(i["sleepingAccommodationId"]),
            person_count=i["personCount"],
        )
        for i in current["bookingItems"]
    ]
    start = current["startDate"][:10]
    end = current["endDate"][:10]
    data = BookingIn.model_validate(
        {"startDate": start, "endDate": end, "notes": notes, "bookingItems": []}
    )
    data.booking_items = items
    bookings.update_booking(ctx, actor, booking_id, data)


def request(ctx: Context, user: User, place_id: uuid.UUID, days_ahead: int = 10) -> uuid.UUID:
    start = ctx.today() + timedelta(days=days_ahead)
    data = BookingIn(
        start_date=start,
        end_date=start + timedelta(days=3),
        notes="Erste Notiz",
        booking_items=[BookingItemIn(sleeping_accommodation_id=place_id, person_count=2)],
    )
    return uuid.UUID(bookings.create_booking(ctx, user, data)["id"])


# --- member feeds ------------------------------------------------------------------------------


def test_member_feed_has_exactly_the_members_stays(ctx, client, alice, bob, charlie, room):
    tent = factories.make_place(ctx, "Zelt", capacity=3, kind=1)
    accepted = factories.make_booking(ctx, bob, [(room, 2), (tent, 1)], status=ACCEPTED)
    pending = factories.make_booking(ctx, bob, [(tent, 2)], status=PENDING, nights=1)
    confirmed = factories.make_booking(ctx, bob, [(room, 1)], status=CONFIRMED, nights=5)
    others = factories.make_booking(ctx, charlie, [(room, 1)], status=ACCEPTED)

    body = fetch(client, member_url(ctx, bob))
    found = read_feed(body)

    assert set(found) == {uid(ctx, b.id) for b in (accepted, pending, confirmed)}
    assert uid(ctx, others.id) not in found
    for booking in (accepted, pending, confirmed):
        assert_matches(ctx, found[uid(ctx, booking.id)], booking.id)
    assert found[uid(ctx, pending.id)].status == "TENTATIVE"
    assert found[uid(ctx, accepted.id)].summary == "Aufenthalt: Zimmer 1, Zelt (3 Pers.)"
    assert calendar_name(body) == "Meine Aufenthalte"


def test_uid_stays_and_sequence_grows_with_each_change(ctx, client, alice, bob, room):
    booking_id = request(ctx, bob, room.id)
    url = member_url(ctx, bob)

    first = read_feed(fetch(client, url))[uid(ctx, booking_id)]
    assert (first.sequence, first.status) == (0, "TENTATIVE")
    assert read_feed(fetch(client, url))[uid(ctx, booking_id)] == first  # stable across requests

    edit_notes(ctx, bob, booking_id, "Zweite Notiz")
    second = read_feed(fetch(client, url))[uid(ctx, booking_id)]
    assert second.sequence == 1
    assert "Notizen: Zweite Notiz" in second.description

    bookings.decide_booking(ctx, alice, booking_id, "accept")
    third = read_feed(fetch(client, url))[uid(ctx, booking_id)]
    assert (third.sequence, third.status) == (2, "CONFIRMED")
    assert_matches(ctx, third, booking_id)


def test_cancelled_and_rejected_stays_are_cancelled_events(ctx, client, alice, bob, room):
    cancelled = request(ctx, bob, room.id, days_ahead=5)
    rejected = request(ctx, bob, room.id, days_ahead=20)
    bookings.decide_booking(ctx, alice, cancelled, "accept")
    url = member_url(ctx, bob)
    assert read_feed(fetch(client, url))[uid(ctx, cancelled)].status == "CONFIRMED"

    bookings.cancel_booking(ctx, bob, cancelled)
    bookings.decide_booking(ctx, alice, rejected, "reject")
    found = read_feed(fetch(client, url))
    assert found[uid(ctx, cancelled)].status == "CANCELLED"
    assert found[uid(ctx, cancelled)].sequence == 2
    assert found[uid(ctx, rejected)].status == "CANCELLED"

    # The house feed shows the cancellation too, so house calendars drop the stay.
    house = read_feed(fetch(client, house_url(ctx, alice)))
    assert house[uid(ctx, cancelled)].status == "CANCELLED"
    assert uid(ctx, rejected) not in house  # it was never shown there (pending is off)


def test_feeds_stay_small(ctx, client, alice, bob, room):
    today = ctx.today()
    old = factories.make_booking(
        ctx, bob, [(room, 1)], status=ACCEPTED, start=today - timedelta(days=400)
    )
    recent = factories.make_booking(
        ctx, bob, [(room, 1)], status=ACCEPTED, start=today - timedelta(days=300)
    )
    long_cancelled = factories.make_booking(ctx, bob, [(room, 1)], status=CANCELLED)
    with ctx.db.write() as session:
        session.execute(
            update(Booking)
            .where(Booking.id == long_cancelled.id)
            .values(changed_at=utcnow() - timedelta(days=feeds.CANCELLED_KEPT_DAYS + 1))
        )
    found = read_feed(fetch(client, member_url(ctx, bob)))
    assert set(found) == {uid(ctx, recent.id)}
    assert uid(ctx, old.id) not in found


def test_notes_and_names_cannot_break_the_format(ctx, client, alice, room):
    # A literal backslash survives; icalendar reads an upper-case "\N" typed by someone as a
    # line break (its escaping treats it as one), which is harmless and not tested here.
    guest = factories.make_user(
        ctx, "nasty@example.com", first_name="Ann;a, \\n", last_name="END:VCALENDAR\nX"
    )
    place = factories.make_place(ctx, 'Blau; Grün, "Zimmer"\nBEGIN:VEVENT', capacity=3)
    booking = factories.make_booking(
        ctx, guest, [(place, 2), (room, 1)], status=ACCEPTED, notes=NASTY
    )
    member = read_feed(fetch(client, member_url(ctx, guest)))
    assert list(member) == [uid(ctx, booking.id)]
    event_ = member[uid(ctx, booking.id)]
    # CR LF is one line break in iCalendar text (RFC 5545 §3.3.11 knows only "\n")
    assert f"Notizen: {NASTY.replace(chr(13), '')}" in event_.description
    assert event_.summary.startswith('Aufenthalt: Blau; Grün, "Zimmer"\nBEGIN:VEVENT, Zimmer 1')

    house = read_feed(fetch(client, house_url(ctx, alice)))
    assert list(house) == [uid(ctx, booking.id)]
    assert house[uid(ctx, booking.id)].summary.startswith("Ann;a, \\n END:VCALENDAR\nX: Blau")
    assert NASTY not in house[uid(ctx, booking.id)].description  # notes stay private


def test_unknown_and_forged_tokens_find_nothing(ctx, client, alice, bob, room):
    factories.make_booking(ctx, bob, [(room, 1)], status=ACCEPTED)
    token = feeds.renew_member_feed(ctx, bob)
    forged = token[: feeds.KEY_LENGTH] + "A" * feeds.MAC_LENGTH
    for bad in (forged, "x", token + "x", token[:-1], "A" * len(token)):
        fetch(client, f"/feeds/{bad}.ics", 404)
    # a house token is not a member token, nor the other way round
    house = house_url(ctx, alice)
    house_token = house.rsplit("/", 1)[1].removesuffix(".ics")
    fetch(client, f"/feeds/{house_token}.ics", 404)
    fetch(client, f"/feeds/house/{token}.ics", 404)


def test_a_new_address_ends_the_old_one(ctx, client, bob, room):
    factories.make_booking(ctx, bob, [(room, 1)], status=ACCEPTED)
    old = member_url(ctx, bob)
    fetch(client, old)
    new = member_url(ctx, bob)
    assert new != old
    fetch(client, old, 404)
    assert len(read_feed(fetch(client, new))) == 1
    assert feeds.member_feed_token(ctx, bob) == path(new).rsplit("/", 1)[1][:-4]
    feeds.delete_member_feed(ctx, bob)
    fetch(client, new, 404)
    assert feeds.member_feed_token(ctx, bob) is None
    with ctx.db.read() as session:
        events = session.scalars(
            select(AuditEvent.event).where(AuditEvent.actor_id == bob.id)
        ).all()
    assert events.count(audit.CALENDAR_FEED_RENEWED) == 2
    assert events.count(audit.CALENDAR_FEED_DELETED) == 1


def test_a_new_application_secret_ends_every_address(ctx, client, bob, room, tmp_path):
    url = member_url(ctx, bob)
    other = Context(
        db=ctx.db, settings=ctx.settings.model_copy(update={"secret_key": SecretStr("y" * 40)})
    )
    assert feeds.member_feed(other, path(url).rsplit("/", 1)[1][:-4]) is None


def test_deactivated_accounts_lose_their_feed(ctx, client, bob, room):
    factories.make_booking(ctx, bob, [(room, 1)], status=ACCEPTED)
    url = member_url(ctx, bob)
    fetch(client, url)
    with ctx.db.write() as session:
        session.execute(update(User).where(User.id == bob.id).values(is_active=False))
    fetch(client, url, 404)


# --- the house feed ------------------------------------------------------------------------------


def test_house_feed_is_off_until_enabled(ctx, client, alice, bob, room):
    off = feeds.update_house_feed(ctx, alice, enabled=False, include_pending=False)
    assert off["url"] is None
    url = house_url(ctx, alice)
    fetch(client, url)
    feeds.update_house_feed(ctx, alice, enabled=False, include_pending=False)
    fetch(client, url, 404)
    assert feeds.update_house_feed(ctx, alice, enabled=True, include_pending=False)["url"] == url
    with pytest.raises(Forbidden):
        feeds.update_house_feed(ctx, bob, enabled=True, include_pending=True)
    with pytest.raises(Forbidden):
        feeds.house_feed_settings(ctx, bob)


def test_house_feed_shows_accepted_stays_and_pending_ones_only_when_asked(
    ctx, client, alice, bob, charlie, room
):
    accepted = factories.make_booking(ctx, bob, [(room, 2)], status=ACCEPTED)
    confirmed = factories.make_booking(ctx, charlie, [(room, 1)], status=CONFIRMED, nights=4)
    pending = factories.make_booking(ctx, charlie, [(room, 1)], status=PENDING, nights=1)
    rejected = factories.make_booking(ctx, bob, [(room, 1)], status=REJECTED)

    url = house_url(ctx, alice)
    body = fetch(client, url)
    found = read_feed(body)
    assert set(found) == {uid(ctx, accepted.id), uid(ctx, confirmed.id)}
    for booking in (accepted, confirmed):
        assert_matches(ctx, found[uid(ctx, booking.id)], booking.id)
    assert found[uid(ctx, accepted.id)].summary == "Bob Person: Zimmer 1 (2 Pers.)"
    assert calendar_name(body) == "Belegung des Hauses"

    assert house_url(ctx, alice, pending=True) == url  # the same address
    found = read_feed(fetch(client, url))
    assert set(found) == {uid(ctx, b.id) for b in (accepted, confirmed, pending, rejected)}
    assert found[uid(ctx, pending.id)].status == "TENTATIVE"
    assert found[uid(ctx, rejected.id)].status == "CANCELLED"


def test_house_feed_address_can_be_renewed(ctx, client, alice):
    old = house_url(ctx, alice)
    new = feeds.update_house_feed(ctx, alice, enabled=True, include_pending=False, renew=True)[
        "url"
    ]
    assert new and new != old
    fetch(client, old, 404)
    fetch(client, new)
    with ctx.db.read() as session:
        details = session.scalars(
            select(AuditEvent.details).where(AuditEvent.event == audit.HOUSE_FEED_CHANGED)
        ).all()
    assert details == ['{"enabled": true}', '{"newAddress": true}']


# --- one booking, HTTP details -------------------------------------------------------------------


def test_one_booking_as_ics(ctx, alice, bob, charlie, room):
    booking = factories.make_booking(ctx, bob, [(room, 2)], status=CANCELLED, notes="Hallo")
    body, name = feeds.booking_ics(ctx, bob, booking.id)
    found = read_feed(body)
    assert list(found) == [uid(ctx, booking.id)]
    assert_matches(ctx, found[uid(ctx, booking.id)], booking.id)
    assert name == f"aufenthalt-{booking.start_date.isoformat()}.ics"
    admin_view = read_feed(feeds.booking_ics(ctx, alice, booking.id)[0])[uid(ctx, booking.id)]
    assert admin_view.summary.startswith("Bob Person: ")
    with pytest.raises(Forbidden):
        feeds.booking_ics(ctx, charlie, booking.id)


def test_feed_responses_are_cacheable_and_cheap(ctx, client, bob, room):
    for days in (3, 10, 20):
        factories.make_booking(
            ctx, bob, [(room, 1)], status=ACCEPTED, start=ctx.today() + timedelta(days=days)
        )
    url = path(member_url(ctx, bob))
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(ctx.db.engine, "before_cursor_execute", count)
    try:
        response = client.get(url)
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", count)
    assert response.status_code == 200
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 2
    assert response.headers["cache-control"] == "private, max-age=300"
    etag = response.headers["etag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    head = client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(response.content))
