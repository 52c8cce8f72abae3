"""Per-day occupancy for calendars and the date picker."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from booking.db.models import SleepingAccommodation
from booking.domain.availability import persons_per_night
from booking.domain.bookings import ALL, list_bookings
from booking.domain.errors import ValidationFailed
from booking.domain.house_rules import closed_nights

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from booking.db.models import User
    from booking.domain.context import Context

MAX_DAYS = 62
_ACTIVE_CAPACITY = select(SleepingAccommodation.id, SleepingAccommodation.max_capacity).where(
    SleepingAccommodation.is_active.is_(True)
)


def month(
    ctx: Context, actor: User, status: int | None, start: date, end: date
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The calendar page's stays of ``actor`` (all, for an administrator) and its nights over
    [start, end), read in one transaction."""
    with ctx.db.connect() as connection:
        rows = list_bookings(
            ctx, actor, ALL, status, overlapping=(start, end), connection=connection
        )
        return rows, day_availability(ctx, start, end, connection=connection)


def day_availability(
    ctx: Context,
    start: date,
    end: date,
    exclude_booking: Any = None,
    *,
    connection: Connection | None = None,
) -> list[dict[str, Any]]:
    """For each night in [start, end): free beds per active place, and whether any is left.

    A night with no free bed anywhere cannot be booked; the picker shows it struck through.
    Nor can a closed night (``closed``, with ``closedReason``); the picker shows it as closed.
    """
    days = (end - start).days
    if days <= 0 or days > MAX_DAYS:
        raise ValidationFailed.one(
            "DateRange", f"Der Zeitraum muss 1 bis {MAX_DAYS} Tage umfassen."
        )
    if connection is None:
        with ctx.db.connect() as own:
            return day_availability(ctx, start, end, exclude_booking, connection=own)
    places = connection.execute(_ACTIVE_CAPACITY).all()
    booked = persons_per_night(connection, start, end, exclude_booking)
    closed = closed_nights(connection, start, end)
    # Per place once (not per night): its id as text, its capacity, its nights.
    ids = [str(place.id) for place in places]
    capacities = [place.max_capacity for place in places]
    no_stays = [0] * days
    nights = [booked.get(place.id, no_stays) for place in places]
    total = sum(capacities)
    result = []
    for night in range(days):
        free_per_place = [
            max(0, capacity - per_night[night])
            for capacity, per_night in zip(capacities, nights, strict=True)
        ]
        free_beds = sum(free_per_place)
        day = start + timedelta(days=night)
        result.append(
            {
                "date": day.isoformat(),
                "freeBeds": free_beds,
                "totalBeds": total,
                "full": free_beds == 0,
                "places": dict(zip(ids, free_per_place, strict=True)),
                # a closed night (house rules) cannot be booked, whatever is free
                "closed": day in closed,
                "closedReason": closed.get(day),
            }
        )
    return result
