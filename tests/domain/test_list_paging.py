"""The list in pages (the web list view): ``list_bookings(limit=, offset=)``, ``count_bookings``
and ``list_page``. The database pages: a page is a slice of the whole list in its order, the
total counts the same selection, and a page reads only its own bookings' items."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from booking.db.models import Booking, BookingItem, SleepingAccommodation, User
from booking.domain import bookings
from booking.domain.context import Context
from tests import factories

PENDING, CONFIRMED, CANCELLED, COMPLETED, ACCEPTED, REJECTED = 0, 1, 2, 3, 4, 5
CREATED = datetime(2026, 1, 5, 9, 30, tzinfo=UTC).replace(tzinfo=None)  # stored naive, in UTC


def insert(
    ctx: Context,
    user: User,
    places: list[SleepingAccommodation],
    start: date,
    *,
    status: int = PENDING,
    created: int = 0,
) -> uuid.UUID:
    """One two-night stay; ``created``: seconds after CREATED (equal values tie)."""
    booking_id = uuid.uuid4()
    with ctx.db.write() as session:
        session.add(
            Booking(
                id=booking_id,
                user_id=user.id,
                start_date=start,
                end_date=start + timedelta(days=2),
                status=status,
                created_at=CREATED + timedelta(seconds=created),
                items=[
                    BookingItem(sleeping_accommodation_id=place.id, person_count=1, position=n)
                    for n, place in enumerate(places)
                ],
            )
        )
    return booking_id


@pytest.fixture
def mixed(ctx: Context, bob: User, charlie: User, room: SleepingAccommodation) -> list[uuid.UUID]:
    """Past (some over a year ago) and future stays of two members in every status, and stays
    that tie on the list's order (same arrival, same creation time): only the id tells them
    apart."""
    tent = factories.make_place(ctx, "Zelt", capacity=4)
    today = ctx.today()
    made = []
    for n in range(36):
        made.append(
            insert(
                ctx,
                (bob, charlie)[n % 2],
                [room, tent][: 1 + n % 2],
                today + timedelta(days=(n - 20) * 21),
                status=(PENDING, ACCEPTED, CANCELLED, REJECTED, CONFIRMED)[n % 5],
                created=n,
            )
        )
    tie = today + timedelta(days=4)
    made += [insert(ctx, (bob, charlie)[n % 2], [room], tie, created=99) for n in range(7)]
    return made


def expected(rows: list[dict[str, Any]]) -> list[str]:
    """The ids in the paged order: arrival, creation, then the id (text order on both
    backends: SQLite stores the hex digits, PostgreSQL compares the bytes)."""
    return [
        b["id"]
        for b in sorted(
            rows, key=lambda b: (b["startDate"], b["createdAt"], uuid.UUID(b["id"]).hex)
        )
    ]


FILTERS = [
    (time_range, status)
    for time_range in (bookings.FUTURE, bookings.ALL, bookings.PAST, bookings.LAST_YEAR)
    for status in (None, PENDING, ACCEPTED, COMPLETED, CANCELLED)
] + [(bookings.LAST_30_DAYS, None)]


@pytest.mark.usefixtures("mixed")
def test_pages_are_slices_of_the_whole_list_and_the_count_its_length(
    ctx: Context, alice: User, bob: User
) -> None:
    for actor, user_id in ((alice, None), (bob, None), (alice, bob.id)):
        for time_range, status in FILTERS:
            whole = bookings.list_bookings(ctx, actor, time_range, status, user_id=user_id)
            case = (actor.email, user_id, time_range, status)
            count = bookings.count_bookings(ctx, actor, time_range, status, user_id=user_id)
            assert count == len(whole), case
            pages = []
            for offset in range(0, len(whole) + 5, 5):
                pages += bookings.list_bookings(
                    ctx, actor, time_range, status, user_id=user_id, limit=5, offset=offset
                )
            order = expected(whole)
            assert [b["id"] for b in pages] == order, case
            assert pages == sorted(whole, key=lambda b: order.index(b["id"])), case


def test_a_page_past_the_end_is_empty(ctx: Context, alice: User, mixed: list[uuid.UUID]) -> None:
    assert bookings.list_bookings(ctx, alice, bookings.ALL, limit=10, offset=len(mixed)) == []
    assert bookings.list_bookings(ctx, alice, bookings.ALL, limit=0) == []


def test_list_page_counts_and_clamps(ctx: Context, alice: User, mixed: list[uuid.UUID]) -> None:
    whole = [b["id"] for b in bookings.list_bookings(ctx, alice, bookings.ALL)]
    assert len(whole) == len(mixed) == 43
    for number, shown in ((1, 1), (3, 3), (5, 5), (0, 1), (-7, 1), (6, 5), (10**30, 5)):
        found = bookings.list_page(ctx, alice, bookings.ALL, None, number, 10)
        assert (found.number, found.pages, found.total) == (shown, 5, 43), number
        assert [b["id"] for b in found.rows] == expected(
            bookings.list_bookings(ctx, alice, bookings.ALL)
        )[(shown - 1) * 10 : shown * 10]
    assert len(bookings.list_page(ctx, alice, bookings.ALL, None, 5, 10).rows) == 3


def test_an_empty_list_is_one_empty_page(ctx: Context, bob: User) -> None:
    found = bookings.list_page(ctx, bob, bookings.FUTURE, None, 4, 50)
    assert (found.rows, found.total, found.number, found.pages) == ([], 0, 1, 1)


def test_a_page_reads_only_the_items_of_its_bookings(
    ctx: Context, alice: User, bob: User, room: SleepingAccommodation
) -> None:
    tent = factories.make_place(ctx, "Zelt", capacity=4)
    factories.make_stays(ctx, [bob], [room, tent], 60)
    statements: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "FROM booking_items" in statement:
            statements.append((statement, parameters))

    event.listen(ctx.db.engine, "before_cursor_execute", capture)
    try:
        page = bookings.list_bookings(ctx, alice, bookings.FUTURE, limit=10, offset=20)
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", capture)
    assert len(page) == 10 and all(len(b["bookingItems"]) == 2 for b in page)
    [(statement, parameters)] = statements
    with ctx.db.engine.connect() as connection:
        read = connection.exec_driver_sql(statement, parameters).all()
    assert len(read) == 20  # two items for each of the page's ten bookings, not all 120
    assert {uuid.UUID(str(row[0])) for row in read} == {uuid.UUID(b["id"]) for b in page}
