"""Demo data: the predecessor's demo accounts, four sleeping places and a year of bookings
(half a year back, half ahead), all within capacity. Only for an empty database."""

from __future__ import annotations

import json
import random
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from booking.db.models import Booking, BookingHistory, BookingItem, SleepingAccommodation, User
from booking.domain.availability import (
    ACCEPTED,
    CANCELLED,
    HOLDING,
    PENDING,
    REJECTED,
)
from booking.domain.bookings import snapshot
from booking.domain.context import Context
from booking.domain.users import ADMIN, MEMBER, _new_trusted_user
from booking.lib import passwords
from booking.lib.timeutil import utcnow

ACCOUNTS = [
    ("admin@booking.com", "admin123", "Admin", "User", ADMIN),
    ("member@booking.com", "member123", "Familie", "Mitglied", MEMBER),
    ("oma.erika@example.com", "member123", "Erika", "Sommer", MEMBER),
    ("jonas@example.com", "member123", "Jonas", "Sommer", MEMBER),
    ("lena@example.com", "member123", "Lena", "Winter", MEMBER),
]
PLACES = [
    ("Hauptzimmer", 0, 2),
    ("Gästezimmer", 0, 3),
    ("Kinderzimmer", 0, 4),
    ("Zeltwiese", 1, 6),
]
NOTES = [None, None, "Wir bringen den Hund mit.", "Ankunft erst abends.", "Mit Enkeln."]


def database_is_empty(ctx: Context) -> bool:
    with ctx.db.read() as session:
        users = session.scalar(select(func.count(User.id))) or 0
        places = session.scalar(select(func.count(SleepingAccommodation.id))) or 0
    return users == 0 and places == 0


def seed(ctx: Context, *, days_back: int = 182, days_ahead: int = 182) -> str:
    rng = random.Random(2026)  # noqa: S311 - demo data, not security
    now = utcnow()
    hashes = {pw: passwords.hash_password(pw) for pw in {acc[1] for acc in ACCOUNTS}}
    with ctx.db.write() as session:
        users = [
            _new_trusted_user(email, hashes[pw], first, last, role, now)
            for email, pw, first, last, role in ACCOUNTS
        ]
        session.add_all(users)
        places = [
            SleepingAccommodation(
                id=uuid.uuid4(), name=name, type=kind, max_capacity=cap, created_at=now
            )
            for name, kind, cap in PLACES
        ]
        session.add_all(places)
        session.flush()
        count = _seed_bookings(session, rng, users, places, ctx, days_back, days_ahead)
    return (
        f"Demo-Daten angelegt: {len(users)} Konten (admin@booking.com / admin123, "
        f"member@booking.com / member123), {len(places)} Schlafplätze, {count} Buchungen."
    )


def _seed_bookings(session, rng, users, places, ctx, days_back, days_ahead) -> int:  # type: ignore[no-untyped-def]
    today = ctx.today()
    occupied: dict[tuple[uuid.UUID, int], int] = {}
    admin = users[0]
    count = 0
    day = -days_back
    while day < days_ahead:
        day += rng.randint(1, 4)
        nights = rng.choice([1, 2, 2, 3, 3, 4, 5, 7])
        start = today + timedelta(days=day)
        chosen = rng.sample(places, rng.randint(1, 2))
        items = []
        for place in chosen:
            free = min(
                place.max_capacity - occupied.get((place.id, day + n), 0) for n in range(nights)
            )
            if free > 0:
                items.append((place, rng.randint(1, free)))
        if not items:
            continue
        status = _status_for(rng, day)
        if status in HOLDING:
            for place, persons in items:
                for n in range(nights):
                    key = (place.id, day + n)
                    occupied[key] = occupied.get(key, 0) + persons
        owner = rng.choice(users[1:])
        booking = Booking(
            id=uuid.uuid4(),
            user_id=owner.id,
            start_date=start,
            end_date=start + timedelta(days=nights),
            status=status,
            notes=rng.choice(NOTES),
            created_at=utcnow() - timedelta(days=max(0, -day) + 14),
            items=[
                BookingItem(sleeping_accommodation_id=p.id, person_count=n, position=i)
                for i, (p, n) in enumerate(items)
            ],
        )
        session.add(booking)
        _history(session, booking, owner, admin, status)
        count += 1
    return count


def _status_for(rng: random.Random, day: int) -> int:
    roll = rng.random()
    if roll < 0.08:
        return CANCELLED
    if roll < 0.13:
        return REJECTED
    if day > 14 and roll < 0.45:
        return PENDING
    return ACCEPTED


def _history(session, booking: Booking, owner: User, admin: User, status: int) -> None:  # type: ignore[no-untyped-def]
    created = snapshot(booking) | {"status": PENDING}
    entries: list[tuple[User, str, dict[str, Any]]] = [(owner, "Created", created)]
    names = {ACCEPTED: "Accepted", REJECTED: "Rejected", CANCELLED: "Cancelled"}
    if status in names:
        actor = owner if status == CANCELLED else admin
        entries.append((actor, names[status], {"status": {"from": PENDING, "to": status}}))
    for actor, kind, details in entries:
        session.add(
            BookingHistory(
                booking_id=booking.id,
                occurred_at=booking.created_at,
                actor_id=actor.id,
                event_type=kind,
                details=json.dumps(details, ensure_ascii=False, sort_keys=True),
            )
        )
