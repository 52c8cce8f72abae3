"""Availability, calendar and "last year" queries read bookings through the (end_date, start_date)
index, so their cost follows the future, not the history (issue 7; bench/README.md, "Scaling").

SQLite only: it plans without statistics (the app never runs ANALYZE), which is where an index on
start_date alone made it read every stay since the first booking. PostgreSQL plans from the
statistics autovacuum keeps; the benchmark's scaling run covers it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from booking.db.models import SleepingAccommodation, User
from booking.domain import bookings, calendar
from booking.domain.context import Context
from tests import factories


def _plans(ctx: Context, action: Any, table: str = "bookings") -> list[str]:
    """EXPLAIN QUERY PLAN of every statement on ``table`` that ``action`` runs."""
    captured: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if f"FROM {table}" in statement or f"JOIN {table}" in statement:
            captured.append((statement, parameters))

    event.listen(ctx.db.engine, "before_cursor_execute", capture)
    try:
        action()
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", capture)
    plans = []
    with ctx.db.engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        for statement, parameters in captured:
            rows = raw.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
            plans.append(" | ".join(str(row[-1]) for row in rows))
    assert plans, f"no statement on {table} was run"
    return plans


def _reads_bookings_by_end_date(plan: str) -> bool:
    return "ix_bookings_end_start" in plan and "start_date<" not in plan.replace(" ", "")


@pytest.fixture
def sqlite_only(ctx: Context) -> None:
    if ctx.db.dialect != "sqlite":
        pytest.skip("SQLite plans without statistics; PostgreSQL uses its own")


@pytest.mark.usefixtures("sqlite_only")
def test_availability_reads_only_stays_that_end_after_the_period_starts(ctx: Context) -> None:
    start = ctx.today() + timedelta(days=10)
    plans = _plans(ctx, lambda: bookings.check_availability(ctx, start, start + timedelta(days=3)))
    assert all(_reads_bookings_by_end_date(plan) for plan in plans), plans


@pytest.mark.usefixtures("sqlite_only")
def test_the_calendar_reads_only_the_weeks_it_shows(ctx: Context, alice: User) -> None:
    first = ctx.today().replace(day=1)
    last = first + timedelta(days=42)

    def calendar_page() -> None:
        bookings.list_bookings(ctx, alice, bookings.ALL, overlapping=(first, last))
        calendar.day_availability(ctx, first, last)

    plans = _plans(ctx, calendar_page)
    assert all("SCAN bookings" not in plan for plan in plans), plans
    assert any(_reads_bookings_by_end_date(plan) for plan in plans), plans


@pytest.mark.usefixtures("sqlite_only")
def test_the_last_year_list_of_an_administrator_skips_older_history(
    ctx: Context, alice: User
) -> None:
    plans = _plans(ctx, lambda: bookings.list_bookings(ctx, alice, bookings.LAST_YEAR))
    assert all("SCAN bookings" not in plan for plan in plans), plans


@pytest.mark.usefixtures("sqlite_only")
def test_a_page_of_the_administrators_list_reads_the_future_and_its_own_items(
    ctx: Context, alice: User, bob: User, room: SleepingAccommodation
) -> None:
    factories.make_stays(ctx, [bob], [room], 3, first_day=-1)

    def second_page() -> None:
        bookings.list_page(ctx, alice, bookings.FUTURE, None, 2, 2)

    count, rows = _plans(ctx, second_page)
    assert "COVERING INDEX ix_bookings_end_start" in count, count  # the total, from the index
    assert _reads_bookings_by_end_date(rows), rows
    [items] = _plans(ctx, second_page, table="booking_items")
    assert "SCAN booking_items" not in items and "(booking_id=?)" in items, items
    assert "bookings" not in items.replace("booking_items", ""), items  # by id, no second sort
