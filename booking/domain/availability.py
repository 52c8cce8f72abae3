"""Per-night capacity. A place's free capacity for a stay is its capacity minus the largest number
of persons booked on any single night of the stay (DECISIONS 2). Nights are half-open: a
departure day can be the next guest's arrival day."""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from itertools import accumulate
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Select, bindparam, select

from booking.db.models import Booking, BookingItem, SleepingAccommodation, User
from booking.domain.errors import Unavailable
from booking.lib.timeutil import wire_date

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

    # Reads run on an ORM session (write transactions) or a bare Core connection (hot reads).
    Reader = Session | Connection

PENDING, CONFIRMED, CANCELLED, COMPLETED, ACCEPTED, REJECTED = 0, 1, 2, 3, 4, 5
# Statuses that hold places; Rejected and Cancelled release them.
HOLDING = (PENDING, CONFIRMED, ACCEPTED)


class Stay(NamedTuple):
    """A holding booking's use of one place (a tuple: built by the hundred per calendar)."""

    booking_id: uuid.UUID
    start: date
    end: date
    persons: int
    user_name: str = ""


def peak_persons(stays: Iterable[Stay], start: date, end: date) -> int:
    """The most persons on any one night in [start, end)."""
    nights = (end - start).days
    per_night = [0] * max(nights, 0)
    for stay in stays:
        first = max((stay.start - start).days, 0)
        last = min((stay.end - start).days, nights)
        for night in range(first, last):
            per_night[night] += stay.persons
    return max(per_night, default=0)


@functools.cache
def _stays_query(with_names: bool, by_place: bool, excluding: bool) -> Select[Any]:
    """Built once per variant: constructing a Select costs more than running it on SQLite."""
    columns: list[Any] = [
        BookingItem.sleeping_accommodation_id,
        Booking.id,
        Booking.start_date,
        Booking.end_date,
        BookingItem.person_count,
    ]
    if with_names:
        columns += [User.first_name, User.last_name]
    query = (
        select(*columns)
        .join(Booking, Booking.id == BookingItem.booking_id)
        .where(
            Booking.status.in_(HOLDING),
            Booking.end_date > bindparam("start"),
            Booking.start_date < bindparam("end"),
        )
        .order_by(Booking.start_date, Booking.id)
    )
    if with_names:
        query = query.join(User, User.id == Booking.user_id)
    if by_place:
        query = query.where(
            BookingItem.sleeping_accommodation_id.in_(bindparam("places", expanding=True))
        )
    if excluding:
        query = query.where(Booking.id != bindparam("exclude"))
    return query


def stays_by_place(
    session: Reader,
    start: date,
    end: date,
    *,
    place_ids: Iterable[uuid.UUID] | None = None,
    exclude_booking: uuid.UUID | None = None,
    with_names: bool = False,
) -> dict[uuid.UUID, list[Stay]]:
    """Holding bookings that overlap [start, end), grouped by place (Core select, no ORM load)."""
    query = _stays_query(with_names, place_ids is not None, exclude_booking is not None)
    params: dict[str, Any] = {"start": start, "end": end}
    if place_ids is not None:
        params["places"] = list(place_ids)
    if exclude_booking is not None:
        params["exclude"] = exclude_booking
    grouped: dict[uuid.UUID, list[Stay]] = defaultdict(list)
    rows = session.execute(query, params).all()
    if with_names:
        for place_id, booking_id, first_night, departure, persons, first, last in rows:
            name = f"{first} {last}".strip()
            grouped[place_id].append(Stay(booking_id, first_night, departure, persons, name))
    else:
        for place_id, booking_id, first_night, departure, persons in rows:
            grouped[place_id].append(Stay(booking_id, first_night, departure, persons))
    return grouped


@functools.cache
def _nights_query(excluding: bool) -> Select[Any]:
    """Only what a per-night count needs: no booking ids, names or order."""
    columns: list[Any] = [
        BookingItem.sleeping_accommodation_id,
        Booking.start_date,
        Booking.end_date,
        BookingItem.person_count,
    ]
    query = (
        select(*columns)
        .join(Booking, Booking.id == BookingItem.booking_id)
        .where(
            Booking.status.in_(HOLDING),
            Booking.end_date > bindparam("start"),
            Booking.start_date < bindparam("end"),
        )
    )
    if excluding:
        query = query.where(Booking.id != bindparam("exclude"))
    return query


def persons_per_night(
    session: Reader, start: date, end: date, exclude_booking: uuid.UUID | None = None
) -> dict[uuid.UUID, list[int]]:
    """Per place that has stays in [start, end): the persons booked on each night."""
    days = (end - start).days
    params: dict[str, Any] = {"start": start, "end": end}
    if exclude_booking is not None:
        params["exclude"] = exclude_booking
    # Changes per night (arrivals add, departures subtract), summed up once per place: a
    # calendar's hundreds of stays cost two additions each instead of one per night.
    changes: dict[uuid.UUID, list[int]] = {}
    rows = session.execute(_nights_query(exclude_booking is not None), params).all()
    for place_id, first_night, departure, persons in rows:
        per_night = changes.get(place_id)
        if per_night is None:
            per_night = changes[place_id] = [0] * (days + 1)
        per_night[max((first_night - start).days, 0)] += persons
        per_night[min((departure - start).days, days)] -= persons
    return {place_id: list(accumulate(per_night[:days])) for place_id, per_night in changes.items()}


def check_capacity(
    session: Session,
    items: list[tuple[uuid.UUID, int]],
    start: date,
    end: date,
    *,
    exclude_booking: uuid.UUID | None = None,
    lock: bool,
) -> None:
    """Raise Unavailable for the first requested item that does not fit.

    With ``lock`` the places' rows are locked first (PostgreSQL ``FOR UPDATE``, ordered by id so
    two writers never wait on each other crosswise); every writer that books, edits or changes a
    place takes the same lock, so the counts read next stay true until commit. SQLite writers
    already hold the database's write lock (``BEGIN IMMEDIATE``).
    """
    ids = sorted({place_id for place_id, _ in items})
    query = (
        select(
            SleepingAccommodation.id,
            SleepingAccommodation.name,
            SleepingAccommodation.max_capacity,
        )
        .where(SleepingAccommodation.id.in_(ids), SleepingAccommodation.is_active.is_(True))
        .order_by(SleepingAccommodation.id)
    )
    if lock:
        query = query.with_for_update()
    places = {row.id: row for row in session.execute(query)}
    stays = stays_by_place(session, start, end, place_ids=ids, exclude_booking=exclude_booking)
    for place_id, persons in items:
        place = places.get(place_id)
        if place is None:
            raise Unavailable(f"Schlafmöglichkeit mit ID {place_id} nicht gefunden")
        free = max(0, place.max_capacity - peak_persons(stays.get(place_id, []), start, end))
        if free <= 0:
            raise Unavailable(
                f"Schlafmöglichkeit '{place.name}' ist für den gewählten Zeitraum nicht verfügbar"
            )
        if persons > free:
            raise Unavailable(
                f"Schlafmöglichkeit '{place.name}' hat nur {free} freie Plätze, "
                f"{persons} wurden angefragt"
            )


_ACTIVE_PLACES = (
    select(SleepingAccommodation.id, SleepingAccommodation.name, SleepingAccommodation.max_capacity)
    .where(SleepingAccommodation.is_active.is_(True))
    .order_by(SleepingAccommodation.name)
)


def availability(
    session: Reader, start: date, end: date, exclude_booking: uuid.UUID | None = None
) -> dict[str, object]:
    """Every active place with its free capacity for [start, end) and the stays that use it."""
    places = session.execute(_ACTIVE_PLACES).all()
    stays = stays_by_place(session, start, end, exclude_booking=exclude_booking, with_names=True)
    result = []
    for place in places:
        place_stays = stays.get(place.id, [])
        free = max(0, place.max_capacity - peak_persons(place_stays, start, end))
        result.append(
            {
                "id": str(place.id),
                "name": place.name,
                "maxCapacity": place.max_capacity,
                "isAvailable": free > 0,
                "availableCapacity": free,
                "conflictingBookings": [
                    {
                        "bookingId": str(stay.booking_id),
                        "startDate": wire_date(stay.start),
                        "endDate": wire_date(stay.end),
                        "personCount": stay.persons,
                        "userName": stay.user_name,
                    }
                    for stay in place_stays
                ],
            }
        )
    return {"startDate": wire_date(start), "endDate": wire_date(end), "accommodations": result}
