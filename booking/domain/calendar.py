"""Per-day occupancy for calendars and the date picker."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from booking.db.models import SleepingAccommodation
from booking.domain.availability import stays_by_place
from booking.domain.errors import ValidationFailed
from booking.domain.house_rules import closed_nights

if TYPE_CHECKING:
    from booking.domain.context import Context

MAX_DAYS = 62


def day_availability(
    ctx: Context, start: date, end: date, exclude_booking: Any = None
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
    with ctx.db.read() as session:
        places = session.execute(
            select(SleepingAccommodation.id, SleepingAccommodation.max_capacity).where(
                SleepingAccommodation.is_active.is_(True)
            )
        ).all()
        stays = stays_by_place(session, start, end, exclude_booking=exclude_booking)
        closed = closed_nights(session, start, end)
    booked = {place.id: [0] * days for place in places}
    for place_id, place_stays in stays.items():
        if place_id not in booked:
            continue  # an inactive place
        for stay in place_stays:
            for night in range(
                max((stay.start - start).days, 0), min((stay.end - start).days, days)
            ):
                booked[place_id][night] += stay.persons
    total = sum(place.max_capacity for place in places)
    result = []
    for night in range(days):
        free = {
            str(place.id): max(0, place.max_capacity - booked[place.id][night]) for place in places
        }
        free_beds = sum(free.values())
        day = start + timedelta(days=night)
        result.append(
            {
                "date": day.isoformat(),
                "freeBeds": free_beds,
                "totalBeds": total,
                "full": free_beds == 0,
                "places": free,
                # a closed night (house rules) cannot be booked, whatever is free
                "closed": day in closed,
                "closedReason": closed.get(day),
            }
        )
    return result
