"""``/api/calendar``: per-day free beds for calendars and the booking form's date picker."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from booking.api.deps import CtxDep, UserDep
from booking.domain.bookings import WireDate
from booking.domain.calendar import day_availability
from booking.http import Query, Router

router = Router(prefix="/api/calendar")


@router.get("/availability")
def availability_by_day(
    user: UserDep,
    ctx: CtxDep,
    start_date: Annotated[WireDate, Query(alias="startDate")],
    end_date: Annotated[WireDate, Query(alias="endDate")],
    exclude_booking_id: Annotated[uuid.UUID | None, Query(alias="excludeBookingId")] = None,
) -> list[dict[str, Any]]:
    """One entry per night in [startDate, endDate) (at most 62): free beds per active place."""
    return day_availability(ctx, start_date, end_date, exclude_booking_id)
