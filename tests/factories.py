"""Small builders for test data; each test creates what it needs."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from booking.api.deps import issue_token
from booking.db.models import Booking, BookingItem, SleepingAccommodation, User
from booking.domain.context import Context
from booking.domain.users import ADMIN, MEMBER
from booking.lib.timeutil import utcnow

PASSWORD = "correct-horse-battery"
_HASH: dict[str, str] = {}


def _hash(password: str) -> str:
    if password not in _HASH:  # Argon2 is deliberately slow; hash each test password once
        from booking.lib.passwords import hash_password

        _HASH[password] = hash_password(password)
    return _HASH[password]


def make_user(
    ctx: Context,
    email: str,
    *,
    admin: bool = False,
    first_name: str = "Test",
    last_name: str = "Person",
    password: str = PASSWORD,
    verified: bool = True,
    approved: bool = True,
    active: bool = True,
) -> User:
    now = utcnow()
    with ctx.db.write() as session:
        user = User(
            email=email.lower(),
            password_hash=_hash(password),
            first_name=first_name,
            last_name=last_name,
            role=ADMIN if admin else MEMBER,
            is_active=active,
            email_verified=verified,
            email_verified_at=now if verified else None,
            registration_date=now,
            is_approved_for_booking=approved,
            approved_for_booking_at=now if approved else None,
            created_at=now,
        )
        session.add(user)
    return user


def make_place(
    ctx: Context, name: str = "Zimmer", *, capacity: int = 2, kind: int = 0, active: bool = True
) -> SleepingAccommodation:
    with ctx.db.write() as session:
        place = SleepingAccommodation(
            id=uuid.uuid4(),
            name=name,
            type=kind,
            max_capacity=capacity,
            is_active=active,
            created_at=utcnow(),
        )
        session.add(place)
    return place


def make_booking(
    ctx: Context,
    user: User,
    items: list[tuple[SleepingAccommodation, int]],
    *,
    start: date | None = None,
    nights: int = 2,
    status: int = 0,
    notes: str | None = None,
) -> Booking:
    """Insert directly (no rules), e.g. for stays in the past."""
    start = start or ctx.today() + timedelta(days=7)
    with ctx.db.write() as session:
        booking = Booking(
            id=uuid.uuid4(),
            user_id=user.id,
            start_date=start,
            end_date=start + timedelta(days=nights),
            status=status,
            notes=notes,
            created_at=utcnow(),
            items=[
                BookingItem(sleeping_accommodation_id=place.id, person_count=n, position=i)
                for i, (place, n) in enumerate(items)
            ],
        )
        session.add(booking)
    return booking


def make_stays(
    ctx: Context,
    users: list[User],
    places: list[SleepingAccommodation],
    count: int,
    *,
    first_day: int = 7,
    status: int = 0,
) -> list[uuid.UUID]:
    """``count`` one-night stays on consecutive days from ``first_day`` days ahead, the users
    taking turns, each with one person in every place; in one transaction (lists of hundreds).
    The ids in date order."""
    ids = []
    with ctx.db.write() as session:
        for n in range(count):
            start = ctx.today() + timedelta(days=first_day + n)
            ids.append(uuid.uuid4())
            session.add(
                Booking(
                    id=ids[-1],
                    user_id=users[n % len(users)].id,
                    start_date=start,
                    end_date=start + timedelta(days=1),
                    status=status,
                    created_at=utcnow(),
                    items=[
                        BookingItem(sleeping_accommodation_id=place.id, person_count=1, position=i)
                        for i, place in enumerate(places)
                    ],
                )
            )
    return ids


def auth_headers(ctx: Context, user: User) -> dict[str, Any]:
    return {"Authorization": f"Bearer {issue_token(ctx, user)}"}


def booking_body(
    items: list[tuple[Any, int]], start: date, nights: int = 2, notes: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "startDate": start.isoformat(),
        "endDate": (start + timedelta(days=nights)).isoformat(),
        "bookingItems": [
            {"sleepingAccommodationId": str(place.id), "personCount": n} for place, n in items
        ],
    }
    if notes is not None:
        body["notes"] = notes
    return body
