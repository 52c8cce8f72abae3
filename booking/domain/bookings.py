"""Bookings: rules, the status machine (reference §1.8 with DECISIONS 8) and the history that is
written in the same transaction as every change."""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from sqlalchemy import Integer, Select, bindparam, func, select

from booking.db.models import Booking, BookingHistory, BookingItem, SleepingAccommodation, User
from booking.domain import availability as avail
from booking.domain import house_rules, notifications
from booking.domain.availability import (
    ACCEPTED,
    CANCELLED,
    COMPLETED,
    CONFIRMED,
    PENDING,
    REJECTED,
)
from booking.domain.errors import (
    BusinessRuleViolation,
    DateRangeInvalid,
    Forbidden,
    NotFound,
    ValidationFailed,
)
from booking.domain.users import require_admin, require_can_book
from booking.lib.schema import BeforeValidator, Field, Model
from booking.lib.timeutil import utcnow, wire_date, wire_datetime

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

    from booking.domain.context import Context

STATUS_NAMES = {
    PENDING: "Pending",
    CONFIRMED: "Confirmed",
    CANCELLED: "Cancelled",
    COMPLETED: "Completed",
    ACCEPTED: "Accepted",
    REJECTED: "Rejected",
}
MAX_NIGHTS = 30
MAX_PERSONS = 20
MAX_NOTES = 500
MAX_ITEMS = 50
# Off only in the concurrency test that proves it can see a race; never in the app.
LOCK_BOOKINGS = True

FUTURE, ALL, PAST, LAST_30_DAYS, LAST_YEAR = 0, 1, 2, 3, 4
TIME_RANGE_NAMES = {
    "Future": FUTURE,
    "All": ALL,
    "Past": PAST,
    "Last30Days": LAST_30_DAYS,
    "LastYear": LAST_YEAR,
}


def _date_only(value: Any) -> Any:
    """Accept ``2025-08-10`` and the predecessor's ``2025-08-10T00:00:00`` (date part counts)."""
    if isinstance(value, str) and "T" in value:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    return value


WireDate = Annotated[date, BeforeValidator(_date_only)]


class BookingItemIn(Model, camel=True):
    sleeping_accommodation_id: uuid.UUID
    person_count: int


class BookingIn(Model, camel=True):
    """Create, update and validate requests (the predecessor's CreateBookingDto)."""

    start_date: WireDate
    end_date: WireDate
    notes: str | None = None
    booking_items: list[BookingItemIn] = Field(default_factory=list)


# --- rules ---------------------------------------------------------------------------------


def field_errors(data: BookingIn, today: date, keep_start: date | None = None) -> None:
    """The per-field rules (reference §3.1–3.3), then the range rules; raise on the first group.

    ``keep_start``: an edit that leaves a stay's arrival date unchanged may keep a past arrival
    (the stay has begun), so notes of a running stay can still be edited.
    """
    errors: dict[str, list[str]] = {}
    if data.start_date < today and data.start_date != keep_start:
        errors["StartDate"] = ["Anreisedatum kann nicht vor heute liegen"]
    if data.end_date < today:
        errors["EndDate"] = ["Abreisedatum kann nicht vor heute liegen"]
    if data.notes is not None and len(data.notes) > MAX_NOTES:
        errors["Notes"] = ["Notizen dürfen maximal 500 Zeichen lang sein"]
    if not data.booking_items:
        errors["BookingItems"] = ["Mindestens eine Schlafmöglichkeit muss ausgewählt werden"]
    elif len(data.booking_items) > MAX_ITEMS:
        errors["BookingItems"] = [f"Höchstens {MAX_ITEMS} Schlafmöglichkeiten pro Buchung"]
    elif len({item.sleeping_accommodation_id for item in data.booking_items}) < len(
        data.booking_items
    ):
        errors["BookingItems"] = ["Jede Schlafmöglichkeit darf nur einmal gewählt werden"]
    for index, item in enumerate(data.booking_items[:MAX_ITEMS]):
        if not 1 <= item.person_count <= MAX_PERSONS:
            errors[f"BookingItems[{index}].PersonCount"] = [
                "Personenanzahl muss zwischen 1 und 20 liegen"
            ]
    if errors:
        raise ValidationFailed(errors)
    # the nights per stay are house rules (booking/domain/house_rules.py), checked with the others
    check_date_range(data.start_date, data.end_date, today, keep_start, max_nights=None)


def check_date_range(
    start: date,
    end: date,
    today: date,
    keep_start: date | None = None,
    max_nights: int | None = MAX_NIGHTS,
) -> None:
    if start < today and start != keep_start:
        raise DateRangeInvalid("Das Anreisedatum kann nicht vor heute liegen")
    if end <= start:
        raise DateRangeInvalid("Das Abreisedatum muss nach dem Anreisedatum liegen")
    if max_nights is not None and (end - start).days > max_nights:
        raise DateRangeInvalid(f"Die maximale Buchungsdauer beträgt {max_nights} Tage")


def _claims(data: BookingIn) -> list[tuple[uuid.UUID, int]]:
    return [(item.sleeping_accommodation_id, item.person_count) for item in data.booking_items]


def effective_status(status: int, end: date, today: date) -> int:
    """Accepted or Confirmed stays whose departure has passed read as Completed."""
    if status in (ACCEPTED, CONFIRMED) and end < today:
        return COMPLETED
    return status


def _reserve(session: Session, data: BookingIn, exclude: uuid.UUID | None) -> None:
    """Check capacity inside the write transaction, under the lock (see check_capacity)."""
    if LOCK_BOOKINGS:
        avail.check_capacity(
            session, _claims(data), data.start_date, data.end_date,
            exclude_booking=exclude, lock=True,
        )  # fmt: skip


def _reserve_unlocked(ctx: Context, data: BookingIn, exclude: uuid.UUID | None) -> None:
    """The unsafe variant for the concurrency test: checked in a read transaction before the
    write transaction begins, so two writers can both pass (on SQLite too)."""
    if not LOCK_BOOKINGS:
        with ctx.db.read() as unlocked:
            avail.check_capacity(
                unlocked, _claims(data), data.start_date, data.end_date,
                exclude_booking=exclude, lock=False,
            )  # fmt: skip


# --- history -------------------------------------------------------------------------------


def _record(session: Session, booking_id: uuid.UUID, actor: User, kind: str, details: Any) -> None:
    session.add(
        BookingHistory(
            booking_id=booking_id,
            occurred_at=utcnow(),
            actor_id=actor.id,
            event_type=kind,
            details=json.dumps(details, ensure_ascii=False, sort_keys=True),
        )
    )


def snapshot(booking: Booking) -> dict[str, Any]:
    return {
        "startDate": booking.start_date.isoformat(),
        "endDate": booking.end_date.isoformat(),
        "notes": booking.notes,
        "status": booking.status,
        "bookingItems": [
            {
                "sleepingAccommodationId": str(i.sleeping_accommodation_id),
                "personCount": i.person_count,
            }
            for i in booking.items
        ],
    }


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {
        key: {"from": before[key], "to": after[key]} for key in after if before[key] != after[key]
    }


# --- reading -------------------------------------------------------------------------------


def _load_for_change(session: Session, actor: User, booking_id: uuid.UUID) -> Booking:
    booking = session.get(Booking, booking_id, with_for_update=True)
    if booking is None:
        raise NotFound("Buchung nicht gefunden.")
    if booking.user_id != actor.id and not actor.is_admin:
        raise Forbidden("Sie dürfen nur Ihre eigenen Buchungen ändern.")
    return booking


def list_bookings(
    ctx: Context,
    actor: User,
    time_range: int = FUTURE,
    status: int | None = None,
    *,
    user_id: int | None = None,
    overlapping: tuple[date, date] | None = None,
    limit: int | None = None,
    offset: int = 0,
    connection: Connection | None = None,
) -> list[dict[str, Any]]:
    """Members see their own bookings, administrators everyone's (optionally one user's).

    ``overlapping=(start, end)``: only stays that overlap [start, end) — a calendar page must
    not load (and scale with) the whole history; the index on (end_date, start_date) serves it.
    ``limit``/``offset``: one page of the list (the database pages; the items are read for that
    page's bookings only); without ``limit`` all of them (the API).
    ``connection``: the caller's read transaction (else one of its own).
    """
    if connection is None:
        with ctx.db.connect() as own:
            return list_bookings(
                ctx, actor, time_range, status, user_id=user_id, overlapping=overlapping,
                limit=limit, offset=offset, connection=own,
            )  # fmt: skip
    today = ctx.today()
    by_user, shape, params = _list_params(actor, time_range, status, user_id, today)
    rows_query, items_query = _list_statements(
        by_user, shape, _status_shape(status), overlapping is not None, limit is not None
    )
    if overlapping is not None:
        params["start"], params["end"] = overlapping
    if limit is not None:
        params["limit"], params["offset"] = limit, offset
    rows = connection.execute(rows_query, params).all()
    if limit is not None:
        if not rows:
            return []
        params["ids"] = [row.id for row in rows]
    items = _items_by_booking(connection.execute(items_query, params))
    return [_booking_out(row, items.get(row.id, []), today) for row in rows]


def count_bookings(
    ctx: Context,
    actor: User,
    time_range: int = FUTURE,
    status: int | None = None,
    *,
    user_id: int | None = None,
    connection: Connection | None = None,
) -> int:
    """How many bookings ``list_bookings`` with the same filters returns (all pages)."""
    by_user, shape, params = _list_params(actor, time_range, status, user_id, ctx.today())
    statement = _count_statement(by_user, shape, _status_shape(status))
    if connection is None:
        with ctx.db.connect() as own:
            return int(own.execute(statement, params).scalar_one())
    return int(connection.execute(statement, params).scalar_one())


@dataclass(frozen=True)
class ListPage:
    """One page of the list: its bookings, the total of all pages, its number (1-based)."""

    rows: list[dict[str, Any]]
    total: int
    number: int
    pages: int


def list_page(
    ctx: Context, actor: User, time_range: int, status: int | None, number: int, size: int
) -> ListPage:
    """Page ``number`` of ``size`` bookings, count and page read in one transaction. A number
    outside 1..pages is clamped (a stale link after cancellations shows the last page)."""
    with ctx.db.connect() as connection:
        total = count_bookings(ctx, actor, time_range, status, connection=connection)
        pages = max(1, -(-total // size))
        number = min(max(number, 1), pages)
        rows = list_bookings(
            ctx, actor, time_range, status,
            limit=size, offset=(number - 1) * size, connection=connection,
        )  # fmt: skip
    return ListPage(rows, total, number, pages)


def _list_params(
    actor: User, time_range: int, status: int | None, user_id: int | None, today: date
) -> tuple[bool, int, dict[str, Any]]:
    """(by user?, the time range's shape, the bound values) of a list or count query."""
    by_user = not actor.is_admin or user_id is not None
    shape = time_range if time_range in (FUTURE, PAST, LAST_30_DAYS, LAST_YEAR) else ALL
    params: dict[str, Any] = {"today": today, "status": status}
    if by_user:
        params["user_id"] = actor.id if not actor.is_admin else user_id
    if shape == LAST_30_DAYS:
        params["since"] = today - timedelta(days=30)
    elif shape == LAST_YEAR:
        params["since"] = _one_year_before(today)
    return by_user, shape, params


def _status_shape(status: int | None) -> str:
    if status is None:
        return "any"
    if status == COMPLETED:
        return "completed"
    if status in (ACCEPTED, CONFIRMED):
        return "current"
    return "exact"


@functools.cache
def _list_statements(
    by_user: bool, time_range: int, status_shape: str, overlapping: bool, paged: bool = False
) -> tuple[Select[Any], Select[Any]]:
    """The list's two selects, built once per shape (building a select costs more than running
    it on SQLite): the user, the dates, the status and a page's limit and offset are bound per
    call."""
    query = select(
        Booking.id, Booking.user_id, Booking.start_date, Booking.end_date, Booking.status,
        Booking.notes, Booking.created_at, Booking.changed_at,
        User.first_name, User.last_name, User.email,
    ).join(User, User.id == Booking.user_id)  # fmt: skip
    query = _filters(query, by_user, time_range, status_shape, overlapping)
    if paged:
        # The id breaks ties, so that consecutive pages neither repeat nor skip a booking
        # (PostgreSQL's top-N sort may order equal keys differently for each LIMIT).
        page = query.order_by(Booking.start_date, Booking.created_at, Booking.id)
        page = page.limit(bindparam("limit", type_=Integer))
        page = page.offset(bindparam("offset", type_=Integer))
        # The page's items by the ids read with it: ~50 index lookups, not the whole range.
        return page, _items_query(BookingItem.booking_id.in_(bindparam("ids", expanding=True)))
    # Items of the same selection in one query, however many bookings match.
    ids = query.with_only_columns(Booking.id).scalar_subquery()
    return (
        query.order_by(Booking.start_date, Booking.created_at),
        _items_query(BookingItem.booking_id.in_(ids)),
    )


@functools.cache
def _count_statement(by_user: bool, time_range: int, status_shape: str) -> Select[Any]:
    """The list's total; without the join (every booking has its user)."""
    query: Select[Any] = _filters(
        select(func.count()).select_from(Booking), by_user, time_range, status_shape
    )
    return query


def _filters(
    query: Any, by_user: bool, time_range: int, status_shape: str, overlapping: bool = False
) -> Any:
    if by_user:
        query = query.where(Booking.user_id == bindparam("user_id"))
    query = _time_filter(query, time_range)
    if overlapping:
        query = query.where(
            Booking.end_date > bindparam("start"), Booking.start_date < bindparam("end")
        )
    return _status_filter(query, status_shape)


def _time_filter(query: Any, time_range: int) -> Any:
    # The predecessor's semantics, kept for its clients: the "last" ranges have no upper bound.
    if time_range == FUTURE:
        return query.where(Booking.end_date >= bindparam("today"))
    if time_range == PAST:
        return query.where(Booking.end_date < bindparam("today"))
    # end_date > start_date, so "starts on or after X" implies "ends after X": the redundant
    # condition lets the (end_date, start_date) index skip the history (migration 0008).
    if time_range in (LAST_30_DAYS, LAST_YEAR):
        since: Any = bindparam("since")
        return query.where(Booking.start_date >= since, Booking.end_date > since)
    return query


def _one_year_before(today: date) -> date:
    try:
        return today.replace(year=today.year - 1)
    except ValueError:  # 29 February
        return today.replace(year=today.year - 1, day=28)


def _status_filter(query: Any, status_shape: str) -> Any:
    today: Any = bindparam("today")
    status: Any = bindparam("status")
    if status_shape == "completed":
        return query.where(Booking.status.in_((ACCEPTED, CONFIRMED)), Booking.end_date < today)
    if status_shape == "current":
        return query.where(Booking.status == status, Booking.end_date >= today)
    if status_shape == "exact":
        return query.where(Booking.status == status)
    return query


def _items_query(condition: Any) -> Select[Any]:
    columns: list[Any] = [
        BookingItem.booking_id,
        BookingItem.sleeping_accommodation_id,
        SleepingAccommodation.name,
        BookingItem.person_count,
    ]
    return (
        select(*columns)
        .join(SleepingAccommodation)
        .where(condition)
        .order_by(BookingItem.booking_id, BookingItem.position)
    )


def _items_by_booking(rows: Any) -> dict[uuid.UUID, list[Any]]:
    found: dict[uuid.UUID, list[Any]] = {}
    for row in rows:
        found.setdefault(row[0], []).append(row)
    return found


def _items_for(connection: Connection, condition: Any) -> dict[uuid.UUID, list[Any]]:
    return _items_by_booking(connection.execute(_items_query(condition)))


def _booking_out(row: Any, items: list[Any], today: date) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "userId": row.user_id,
        "userName": f"{row.first_name} {row.last_name}".strip(),
        "userEmail": row.email,
        "startDate": wire_date(row.start_date),
        "endDate": wire_date(row.end_date),
        "status": effective_status(row.status, row.end_date, today),
        "notes": row.notes,
        "bookingItems": [
            {
                "sleepingAccommodationId": str(item[1]),
                "sleepingAccommodationName": item[2],
                "personCount": item[3],
            }
            for item in items
        ],
        "totalPersons": sum(item[3] for item in items),
        "numberOfNights": (row.end_date - row.start_date).days,
        "createdAt": wire_datetime(row.created_at),
        "changedAt": wire_datetime(row.changed_at),
    }


def get_booking(ctx: Context, actor: User, booking_id: uuid.UUID) -> dict[str, Any]:
    query = (
        select(
            Booking.id,
            Booking.user_id,
            Booking.start_date,
            Booking.end_date,
            Booking.status,
            Booking.notes,
            Booking.created_at,
            Booking.changed_at,
            User.first_name,
            User.last_name,
            User.email,
        )  # fmt: skip
        .join(User, User.id == Booking.user_id)
        .where(Booking.id == booking_id)
    )
    with ctx.db.read() as session:
        row = session.execute(query).first()
        if row is None:
            raise NotFound("Buchung nicht gefunden.")
        if row.user_id != actor.id and not actor.is_admin:
            raise Forbidden("Sie dürfen nur Ihre eigenen Buchungen sehen.")
        items = _items_for(session.connection(), BookingItem.booking_id == row.id)
    return _booking_out(row, items.get(row.id, []), ctx.today())


def history(ctx: Context, actor: User, booking_id: uuid.UUID) -> list[dict[str, Any]]:
    with ctx.db.read() as session:
        owner = session.scalar(select(Booking.user_id).where(Booking.id == booking_id))
        if owner is None:
            raise NotFound("Buchung nicht gefunden.")
        if owner != actor.id and not actor.is_admin:
            raise Forbidden("Sie dürfen nur Ihre eigenen Buchungen sehen.")
        rows = session.execute(
            select(BookingHistory, User.first_name, User.last_name)
            .outerjoin(User, User.id == BookingHistory.actor_id)
            .where(BookingHistory.booking_id == booking_id)
            .order_by(BookingHistory.id)
        ).all()
    return [
        {
            "id": entry.id,
            "bookingId": str(entry.booking_id),
            "eventType": entry.event_type,
            "occurredAt": wire_datetime(entry.occurred_at),
            "userId": entry.actor_id,
            "userName": f"{first or ''} {last or ''}".strip(),
            "details": json.loads(entry.details),
        }
        for entry, first, last in rows
    ]


def check_availability(
    ctx: Context, start: date, end: date, exclude: uuid.UUID | None = None
) -> dict[str, object]:
    # One Core transaction for the rules and the stays (a display path: the write paths check
    # the rules again inside their write transaction).
    with ctx.db.connect() as connection:
        rules = house_rules.rules_read(connection)
        check_date_range(start, end, ctx.today(), max_nights=rules.max_nights)
        return avail.availability(connection, start, end, exclude)


def validate_request(ctx: Context, actor: User, data: BookingIn) -> dict[str, Any]:
    """Everything create would check, without writing (``POST /api/bookings/validate``)."""
    field_errors(data, ctx.today())
    house_rules.validate(ctx, actor, data.start_date, data.end_date)
    with ctx.db.read() as session:
        avail.check_capacity(session, _claims(data), data.start_date, data.end_date, lock=False)
    return {
        "isValid": True,
        "message": "Buchungsanfrage ist gültig",
        "validatedAt": utcnow().isoformat(timespec="microseconds") + "Z",
        "dateRange": {
            "startDate": wire_date(data.start_date),
            "endDate": wire_date(data.end_date),
            "nights": (data.end_date - data.start_date).days,
        },
        "totalPersons": sum(item.person_count for item in data.booking_items),
        "accommodationCount": len(data.booking_items),
    }


# --- changes -------------------------------------------------------------------------------


def _set_items(session: Session, booking: Booking, data: BookingIn) -> None:
    if booking.items:  # delete first: the new rows may reuse a (booking, place) pair
        booking.items.clear()
        session.flush()
    booking.items = [
        BookingItem(
            sleeping_accommodation_id=item.sleeping_accommodation_id,
            person_count=item.person_count,
            position=position,
        )
        for position, item in enumerate(data.booking_items)
    ]


def create_booking(ctx: Context, actor: User, data: BookingIn) -> dict[str, Any]:
    require_can_book(actor)
    field_errors(data, ctx.today())
    notes = (data.notes or "").strip() or None
    _reserve_unlocked(ctx, data, None)
    with ctx.db.write() as session:
        new_id = uuid.uuid4()
        in_force = house_rules.enforce(
            session, ctx, actor, start=data.start_date, end=data.end_date, owner_id=actor.id,
            booking_id=new_id,
        )  # fmt: skip
        _reserve(session, data, None)
        booking = Booking(
            id=new_id,
            user_id=actor.id,
            start_date=data.start_date,
            end_date=data.end_date,
            status=PENDING,
            notes=notes,
            created_at=utcnow(),
        )
        _set_items(session, booking, data)
        session.add(booking)
        session.flush()
        _record(session, booking.id, actor, "Created", {**snapshot(booking), **in_force})
        notifications.booking_requested(session, ctx, booking, actor)
        booking_id = booking.id
    return get_booking(ctx, actor, booking_id)


def update_booking(
    ctx: Context, actor: User, booking_id: uuid.UUID, data: BookingIn
) -> dict[str, Any]:
    """Replace dates, places and notes. A member's change of dates or places on an accepted
    stay sends it back to Pending; notes-only edits and administrators' edits keep the status."""
    require_can_book(actor)
    today = ctx.today()
    _reserve_unlocked(ctx, data, booking_id)
    with ctx.db.write() as session:
        booking = _load_for_change(session, actor, booking_id)
        status = effective_status(booking.status, booking.end_date, today)
        if status == CANCELLED:
            raise BusinessRuleViolation("Cannot update a cancelled booking")
        if status == COMPLETED:
            raise BusinessRuleViolation("Cannot update a completed booking")
        field_errors(data, today, keep_start=booking.start_date)
        before = snapshot(booking)
        new_claims = sorted((str(i), n) for i, n in _claims(data))
        old_claims = sorted(
            (i["sleepingAccommodationId"], i["personCount"]) for i in before["bookingItems"]
        )
        claims_changed = (data.start_date, data.end_date) != (
            booking.start_date,
            booking.end_date,
        ) or new_claims != old_claims
        in_force: dict[str, Any] = {}
        if (data.start_date, data.end_date) != (booking.start_date, booking.end_date):
            in_force = house_rules.enforce(
                session, ctx, actor, start=data.start_date, end=data.end_date,
                owner_id=booking.user_id, booking_id=booking.id,
                previous=house_rules.Previous(booking.start_date, booking.end_date),
            )  # fmt: skip
        if claims_changed and booking.status in avail.HOLDING:
            _reserve(session, data, booking.id)
        booking.start_date, booking.end_date = data.start_date, data.end_date
        booking.notes = (data.notes or "").strip() or None
        if claims_changed:
            _set_items(session, booking, data)
            if booking.status in (ACCEPTED, CONFIRMED) and not actor.is_admin:
                booking.status = PENDING
        after = snapshot(booking)
        changes = _diff(before, after)
        if changes:
            booking.changed_at = utcnow()
            _record(session, booking.id, actor, "Updated", {**changes, **in_force})
            notifications.booking_changed(session, ctx, booking, actor, before, claims_changed)
    return get_booking(ctx, actor, booking_id)


def cancel_booking(ctx: Context, actor: User, booking_id: uuid.UUID) -> None:
    with ctx.db.write() as session:
        booking = _load_for_change(session, actor, booking_id)
        status = effective_status(booking.status, booking.end_date, ctx.today())
        if status == CANCELLED:
            raise BusinessRuleViolation("Booking is already cancelled")
        if status == COMPLETED:
            raise BusinessRuleViolation("Cannot cancel a completed booking")
        _transition(session, actor, booking, CANCELLED, "Cancelled")
        notifications.booking_cancelled(session, ctx, booking, actor, status)


def decide_booking(ctx: Context, actor: User, booking_id: uuid.UUID, action: str) -> None:
    """accept | reject | confirm: administrators only, from Pending only."""
    require_admin(actor)
    target = {"accept": ACCEPTED, "reject": REJECTED, "confirm": CONFIRMED}[action]
    with ctx.db.write() as session:
        booking = session.get(Booking, booking_id, with_for_update=True)
        if booking is None:
            raise NotFound("Buchung nicht gefunden.")
        status = effective_status(booking.status, booking.end_date, ctx.today())
        if status != PENDING:
            raise BusinessRuleViolation(
                f"Cannot {action} booking with status {STATUS_NAMES[status]}"
            )
        _transition(session, actor, booking, target, STATUS_NAMES[target])
        notifications.booking_decided(session, ctx, booking, actor)


def _transition(session: Session, actor: User, booking: Booking, status: int, kind: str) -> None:
    before = booking.status
    booking.status = status
    booking.changed_at = utcnow()
    _record(session, booking.id, actor, kind, {"status": {"from": before, "to": status}})
