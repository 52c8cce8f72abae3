"""Realistic benchmark data: a busy family house with years of history.

    uv run python bench/generate.py --database-url sqlite:////tmp/b/booking.db --bookings 20000

The database must be migrated (``booking migrate``) and empty. Deterministic (seed 2026).

- ~20 sleeping places (rooms, bunks, a tent meadow), 300 users (2 administrators, a few
  unapproved registrations), every user with the same Argon2 hash of ``PASSWORD`` (hashing
  300 passwords would cost minutes; the workload logs in with ``ADMIN`` and ``member<n>``).
- The future is the same at every size: bookings up to ``DAYS_AHEAD`` days ahead at the same
  density. The size only stretches the past (20,000 bookings ~ 10 years), so a scaling run
  shows whether a page's latency depends on history it does not display.
- Within capacity per night, like ``booking demo``; statuses: past mostly accepted, some
  cancelled/rejected; future partly pending. History: Created + the decision, some edits.
- Bulk Core inserts (executemany) in chunks: 100,000 bookings take well under a minute.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text

from booking.db import make_engine
from booking.db.models import Booking, BookingHistory, BookingItem, SleepingAccommodation, User
from booking.domain.availability import ACCEPTED, CANCELLED, HOLDING, PENDING, REJECTED

PASSWORD = "bench-Passwort-2026"  # noqa: S105 - throw-away benchmark accounts
ADMIN = "admin@bench.example"
WORKLOAD_MEMBERS = 10  # member1@bench.example .. member10@bench.example
USERS = 300
DAYS_AHEAD = 180
STARTS_PER_DAY = 7.0  # booking attempts per day; with the full nights skipped: 20,000 ~ 10 years
CHUNK = 5000
SEED = 2026

PLACES = [
    ("Elternzimmer", 0, 2), ("Gästezimmer Nord", 0, 2), ("Gästezimmer Süd", 0, 3),
    ("Kinderzimmer", 0, 4), ("Dachkammer", 0, 2), ("Turmzimmer", 0, 2),
    ("Bibliothek (Schlafsofa)", 2, 2), ("Wohnzimmer (Schlafsofa)", 2, 2),
    ("Stockbetten I", 0, 4), ("Stockbetten II", 0, 4), ("Gartenhaus", 0, 3),
    ("Scheune", 3, 6), ("Zeltwiese", 1, 8), ("Wohnwagen", 3, 4), ("Einliegerwohnung", 0, 4),
    ("Atelier", 2, 1), ("Hängematten", 3, 2), ("Bootshaus", 3, 2), ("Remise", 0, 3),
    ("Alte Küche", 2, 2),
]  # fmt: skip
FIRST = ["Anna", "Ben", "Clara", "David", "Erika", "Felix", "Greta", "Hanna", "Ida", "Jonas",
         "Karl", "Lena", "Mia", "Noah", "Oskar", "Paula", "Quirin", "Rosa", "Sophie", "Theo"]  # fmt: skip
LAST = ["Sommer", "Winter", "Berg", "Seemann", "Wald", "Fischer", "Brandt", "Kühn", "Lang",
        "Roth", "Vogel", "Hahn", "Frank", "Busch", "Stein"]  # fmt: skip
NOTES = [None, None, None, "Wir bringen den Hund mit.", "Ankunft erst abends.", "Mit Enkeln.",
         "Bitte Bettwäsche bereitlegen.", "Wir reisen mit dem Zug an."]  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _users(now: datetime, password_hash: str, rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for n in range(1, USERS + 1):
        if n <= 2:
            email, role = (ADMIN if n == 1 else "admin2@bench.example"), "Administrator"
        elif n <= 2 + WORKLOAD_MEMBERS:
            email, role = f"member{n - 2}@bench.example", "Member"
        else:
            email, role = f"user{n}@bench.example", "Member"
        approved = n <= 2 + WORKLOAD_MEMBERS or rng.random() > 0.05
        joined = now - timedelta(days=rng.randint(0, 3650))
        rows.append(
            {
                "id": n,
                "email": email,
                "password_hash": password_hash,
                "first_name": rng.choice(FIRST),
                "last_name": rng.choice(LAST),
                "role": role,
                "is_active": True,
                "email_verified": True,
                "email_verified_at": joined,
                "registration_date": joined,
                "is_approved_for_booking": approved,
                "approved_for_booking_at": joined if approved else None,
                "created_at": joined,
                "language": rng.choice([None, "de", "de", "en"]),
            }
        )
    return rows


def _status(rng: random.Random, day: int) -> int:
    roll = rng.random()
    if roll < 0.07:
        return CANCELLED
    if roll < 0.10:
        return REJECTED
    if day > 7 and roll < 0.40:
        return PENDING
    return ACCEPTED


def _bookings(
    count: int, today: date, places: list[dict[str, Any]], rng: random.Random
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Walk back from today + DAYS_AHEAD, day by day, until ``count`` bookings exist."""
    bookings: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    occupied: dict[tuple[int, int], int] = {}
    members = list(range(3, USERS + 1))
    day = DAYS_AHEAD
    while len(bookings) < count:
        day -= 1
        starts = int(STARTS_PER_DAY) + (rng.random() < STARTS_PER_DAY % 1)
        for _ in range(starts):
            if len(bookings) >= count:
                break
            nights = rng.choice([1, 2, 2, 3, 3, 3, 4, 5, 7, 10, 14])
            chosen = rng.sample(range(len(places)), rng.choice([1, 1, 1, 2, 2, 3]))
            stay: list[tuple[int, int]] = []
            for index in chosen:
                free = min(
                    places[index]["max_capacity"] - occupied.get((index, day + n), 0)
                    for n in range(nights)
                )
                if free > 0:
                    stay.append((index, rng.randint(1, min(free, 4))))
            if not stay:
                continue
            status = _status(rng, day)
            if status in HOLDING:
                for index, persons in stay:
                    for n in range(nights):
                        occupied[(index, day + n)] = occupied.get((index, day + n), 0) + persons
            start = today + timedelta(days=day)
            created = datetime.combine(start, datetime.min.time()) - timedelta(
                days=rng.randint(3, 120), minutes=rng.randint(0, 1439)
            )
            booking_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            owner = rng.choice(members)
            bookings.append(
                {
                    "id": booking_id,
                    "user_id": owner,
                    "start_date": start,
                    "end_date": start + timedelta(days=nights),
                    "status": status,
                    "notes": rng.choice(NOTES),
                    "created_at": created,
                    "changed_at": None if status == PENDING else created + timedelta(days=1),
                }
            )
            for position, (index, persons) in enumerate(stay):
                items.append(
                    {
                        "booking_id": booking_id,
                        "sleeping_accommodation_id": places[index]["id"],
                        "person_count": persons,
                        "position": position,
                    }
                )
            snapshot = {
                "startDate": start.isoformat(),
                "endDate": (start + timedelta(days=nights)).isoformat(),
                "status": PENDING,
                "items": [[str(places[i]["id"]), p] for i, p in stay],
            }
            events: list[tuple[int, str, Any]] = [(owner, "Created", snapshot)]
            if rng.random() < 0.15:
                events.append((owner, "Updated", {"notes": {"from": None, "to": "geändert"}}))
            decision = {ACCEPTED: "Accepted", REJECTED: "Rejected", CANCELLED: "Cancelled"}
            if status in decision:
                actor = owner if status == CANCELLED else 1
                events.append(
                    (actor, decision[status], {"status": {"from": PENDING, "to": status}})
                )
            for offset, (actor, kind, details) in enumerate(events):
                history.append(
                    {
                        "booking_id": booking_id,
                        "occurred_at": created + timedelta(hours=offset),
                        "actor_id": actor,
                        "event_type": kind,
                        "details": json.dumps(details, ensure_ascii=False, sort_keys=True),
                    }
                )
    return bookings, items, history


def generate(database_url: str, bookings: int, seed: int = SEED) -> dict[str, Any]:
    from booking.lib import passwords

    started = time.perf_counter()
    rng = random.Random(seed)  # noqa: S311 - benchmark data, not security
    now = _now()
    engine = make_engine(database_url)
    with engine.connect() as connection:
        if connection.scalar(select(func.count()).select_from(User)):
            raise SystemExit("the database is not empty")
    password_hash = passwords.hash_password(PASSWORD)
    users = _users(now, password_hash, rng)
    places = [
        {
            "id": uuid.UUID(int=rng.getrandbits(128), version=4),
            "name": name,
            "type": kind,
            "max_capacity": capacity,
            "is_active": True,
            "created_at": now - timedelta(days=3650),
        }
        for name, kind, capacity in PLACES
    ]
    booking_rows, item_rows, history_rows = _bookings(bookings, now.date(), places, rng)
    with engine.begin() as connection:
        connection.execute(insert(User), users)
        connection.execute(insert(SleepingAccommodation), places)
        for table, rows in (
            (Booking, booking_rows),
            (BookingItem, item_rows),
            (BookingHistory, history_rows),
        ):
            for first in range(0, len(rows), CHUNK):
                connection.execute(insert(table), rows[first : first + CHUNK])
        if engine.dialect.name == "postgresql":
            # Explicit user ids: move the sequence past them, or the next registration fails.
            connection.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users))"
                )
            )
    if engine.dialect.name == "postgresql":
        # Production PostgreSQL has statistics (autovacuum analyses). A production SQLite file has
        # none (the app never runs ANALYZE), so the SQLite data stays without them too.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))
    engine.dispose()
    return {
        "users": len(users),
        "places": len(places),
        "bookings": len(booking_rows),
        "booking_items": len(item_rows),
        "history": len(history_rows),
        "first_day": min(row["start_date"] for row in booking_rows).isoformat(),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--bookings", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    print(json.dumps(generate(args.database_url, args.bookings, args.seed)))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
