"""No overbooking, ever: simultaneous requests against a real server process (DECISIONS 2).

Each test starts ``booking serve`` (or ``tests.live_runner``) on its own database, seeds members and
a place directly in the database, logs the members in, then releases one request per member at
the same moment (a ``threading.Barrier``, one connection per thread) and checks both the answers
and what the database holds afterwards.

The tests with ``--unsafe-no-lock`` run the same race against a server whose capacity check runs
outside the write transaction; they must see an overbooking, which proves the race is real enough
for the safe tests to catch a missing lock.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from booking.config import load_settings
from booking.db import Database
from booking.db.models import Booking, BookingItem, User
from booking.domain.availability import HOLDING
from booking.domain.context import Context
from tests.factories import PASSWORD, booking_body, make_booking, make_place, make_user
from tests.live import LiveServer, fresh_postgres_database, live_server

pytestmark = pytest.mark.slow

PG_ADMIN_URL = os.environ.get("BOOKING_TEST_POSTGRES_URL", "")
LIVE_BACKENDS = ["sqlite"] + (["postgresql"] if PG_ADMIN_URL else [])
UNSAFE_RUNNER = ("-m", "tests.live_runner", "--unsafe-no-lock")
HTTP_TIMEOUT = 10.0

# Create race: a place for 7, one person already booked on each night of the 2-night stay (by two
# one-night bookings, so only a per-night count leaves 6 places free), 12 members asking for 2.
MEMBERS = 12
CAPACITY = 7
PRE_EXISTING = 1  # persons on each night before the race
PERSONS = 2
NIGHTS = 2
EXPECTED_SUCCESSES = (CAPACITY - PRE_EXISTING) // PERSONS  # 3: fills the place exactly
ROUNDS = 3
UNSAFE_ROUNDS = 10

# Update race: a place for 6, four members with 1 person each, each grows to 3 at the same time.
UPDATERS = 4
UPDATE_CAPACITY = 6
UPDATE_FROM, UPDATE_TO = 1, 3

AVAILABILITY = re.compile(
    r"^Schlafmöglichkeit '(?P<name>[^']+)' "
    r"(?:hat nur (?P<free>\d+) freie Plätze, (?P<asked>\d+) wurden angefragt"
    r"|ist für den gewählten Zeitraum nicht verfügbar)$"
)


# --- fixtures and harness ------------------------------------------------------------------


@pytest.fixture(params=LIVE_BACKENDS)
def live_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own for the server process (not the session's shared one)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'live.sqlite3'}"
        return
    with fresh_postgres_database(PG_ADMIN_URL) as url:
        yield url


@dataclass
class Live:
    server: LiveServer
    ctx: Context  # the same database as the server, for seeding and for checking the result
    admin: User
    members: list[User]
    tokens: list[str]


@contextmanager
def started(
    database_url: str, tmp_path: Path, members: int, runner: Sequence[str] | None = None
) -> Iterator[Live]:
    with live_server(database_url, tmp_path, runner=runner) as server:
        ctx = Context(db=Database(database_url), settings=load_settings(server.booking_env))
        try:
            admin = make_user(ctx, "admin@example.com", admin=True, first_name="Admin")
            people = [
                make_user(ctx, f"member{i}@example.com", first_name=f"Member{i}")
                for i in range(members)
            ]
            tokens = [login(server, person.email) for person in people]
            yield Live(server, ctx, admin, people, tokens)
        finally:
            ctx.db.dispose()


def login(server: LiveServer, email: str) -> str:
    response = httpx.post(
        server.base_url + "/api/auth/login",
        json={"email": email, "password": PASSWORD},
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    token: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


def race(base_url: str, calls: list[Call]) -> list[Reply]:
    """Send all calls at the same moment, one thread and one open connection each."""
    barrier = threading.Barrier(len(calls))
    replies: list[Reply | None] = [None] * len(calls)
    problems: list[str] = []

    def send(index: int, call: Call) -> None:
        try:
            with httpx.Client(base_url=base_url, timeout=HTTP_TIMEOUT) as client:
                client.get("/health").raise_for_status()  # connect before the start signal
                barrier.wait(timeout=HTTP_TIMEOUT)
                response = client.request(
                    call.method,
                    call.path,
                    json=call.body,
                    headers={"Authorization": f"Bearer {call.token}"},
                )
            try:
                body = response.json()
            except ValueError:
                body = response.text
            replies[index] = Reply(response.status_code, body)
        except Exception as exc:  # reported below, with every other thread's outcome
            problems.append(f"{call.method} {call.path}: {exc!r}")
            barrier.abort()

    threads = [
        threading.Thread(target=send, args=(i, call), daemon=True) for i, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=3 * HTTP_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a request did not finish"
    assert not problems, problems
    return [reply for reply in replies if reply is not None]


def persons_per_night(ctx: Context, place_id: uuid.UUID, start: date, nights: int) -> list[int]:
    """What the database holds: persons of place-holding bookings on each night."""
    with ctx.db.read() as session:
        rows = session.execute(
            select(Booking.start_date, Booking.end_date, BookingItem.person_count)
            .join(Booking, Booking.id == BookingItem.booking_id)
            .where(
                BookingItem.sleeping_accommodation_id == place_id,
                Booking.status.in_(HOLDING),
            )
        ).all()
    nights_of_stay = [start + timedelta(days=i) for i in range(nights)]
    return [sum(n for first, end, n in rows if first <= night < end) for night in nights_of_stay]


def availability_message(reply: Reply) -> str:
    """The single Availability error of a 400 reply (fails on any other kind of answer)."""
    assert reply.status == 400, reply
    assert isinstance(reply.body, dict), reply
    assert reply.body["status"] == 400, reply
    messages = reply.body["errors"]["Availability"]
    assert len(messages) == 1, reply
    assert AVAILABILITY.match(messages[0]), messages[0]
    return str(messages[0])


@dataclass(frozen=True)
class Round:
    successes: int
    failures: list[str]  # the Availability messages
    per_night: list[int]  # persons per night in the database afterwards
    capacity: int

    @property
    def busiest(self) -> int:
        return max(self.per_night)

    @property
    def overbooked(self) -> bool:
        return self.busiest > self.capacity


def create_race_round(live: Live, number: int) -> Round:
    """One round: a fresh place, two one-night bookings, then MEMBERS simultaneous bookings."""
    ctx = live.ctx
    start = ctx.today() + timedelta(days=20 + 3 * number)
    place = make_place(ctx, f"Lager {number}", capacity=CAPACITY)
    make_booking(ctx, live.admin, [(place, PRE_EXISTING)], start=start, nights=1)
    make_booking(
        ctx, live.admin, [(place, PRE_EXISTING)], start=start + timedelta(days=1), nights=1
    )
    body = booking_body([(place, PERSONS)], start, nights=NIGHTS)
    replies = race(
        live.server.base_url, [Call("POST", "/api/bookings", token, body) for token in live.tokens]
    )

    assert len(replies) == MEMBERS
    assert all(reply.status in (201, 400) for reply in replies), [
        (reply.status, reply.body) for reply in replies if reply.status not in (201, 400)
    ]
    created = [reply.body for reply in replies if reply.status == 201]
    for booking in created:
        assert [
            (item["sleepingAccommodationId"], item["personCount"])
            for item in booking["bookingItems"]
        ] == [(str(place.id), PERSONS)]
    failures = [availability_message(reply) for reply in replies if reply.status == 400]
    per_night = persons_per_night(ctx, place.id, start, NIGHTS)
    # The answers and the database agree, whatever the server did.
    assert per_night == [PRE_EXISTING + len(created) * PERSONS] * NIGHTS
    return Round(len(created), failures, per_night, CAPACITY)


def create_race_rounds(
    database_url: str,
    tmp_path: Path,
    *,
    rounds: int,
    runner: Sequence[str] | None = None,
    until_overbooked: bool = False,
) -> list[Round]:
    """The test body shared by the safe server and the unsafe one."""
    results: list[Round] = []
    with started(database_url, tmp_path, MEMBERS, runner) as live:
        for number in range(rounds):
            results.append(create_race_round(live, number))
            if until_overbooked and results[-1].overbooked:
                break
    return results


def update_race_round(live: Live, number: int) -> Round:
    """One round: UPDATERS members with 1 person each in a fresh place; all grow to 3 at once."""
    ctx = live.ctx
    start = ctx.today() + timedelta(days=60 + 3 * number)
    place = make_place(ctx, f"Dachboden {number}", capacity=UPDATE_CAPACITY)
    members = live.members[:UPDATERS]
    bookings = [
        make_booking(ctx, member, [(place, UPDATE_FROM)], start=start, nights=NIGHTS)
        for member in members
    ]
    body = booking_body([(place, UPDATE_TO)], start, nights=NIGHTS)
    calls = [
        Call("PUT", f"/api/bookings/{booking.id}", token, body)
        for booking, token in zip(bookings, live.tokens[:UPDATERS], strict=True)
    ]
    replies = race(live.server.base_url, calls)

    assert all(reply.status in (200, 400) for reply in replies), [
        (reply.status, reply.body) for reply in replies if reply.status not in (200, 400)
    ]
    grown = [reply.body["id"] for reply in replies if reply.status == 200]
    failures = [availability_message(reply) for reply in replies if reply.status == 400]
    with ctx.db.read() as session:
        stored = dict(
            session.execute(
                select(BookingItem.booking_id, BookingItem.person_count).where(
                    BookingItem.sleeping_accommodation_id == place.id
                )
            ).all()
        )
    # Grown bookings hold 3, refused ones still hold 1: a refusal changes nothing.
    assert stored == {
        booking.id: UPDATE_TO if str(booking.id) in grown else UPDATE_FROM for booking in bookings
    }
    per_night = persons_per_night(ctx, place.id, start, NIGHTS)
    return Round(len(grown), failures, per_night, UPDATE_CAPACITY)


def update_race_rounds(
    database_url: str,
    tmp_path: Path,
    *,
    rounds: int,
    runner: Sequence[str] | None = None,
    until_overbooked: bool = False,
) -> list[Round]:
    results: list[Round] = []
    with started(database_url, tmp_path, UPDATERS, runner) as live:
        for number in range(rounds):
            results.append(update_race_round(live, number))
            if until_overbooked and results[-1].overbooked:
                break
    return results


# --- tests ---------------------------------------------------------------------------------


def test_it_never_overbooks_under_concurrent_requests(live_database_url, tmp_path):
    results = create_race_rounds(live_database_url, tmp_path, rounds=ROUNDS)

    for result in results:
        assert result.successes == EXPECTED_SUCCESSES, result
        assert result.per_night == [CAPACITY] * NIGHTS, result
        assert len(result.failures) == MEMBERS - EXPECTED_SUCCESSES
        # Every refusal saw the place full: nobody was refused while places were still free.
        for message in result.failures:
            assert message.endswith("ist für den gewählten Zeitraum nicht verfügbar"), message


def test_it_detects_the_race_when_the_lock_is_switched_off(live_database_url, tmp_path):
    results = create_race_rounds(
        live_database_url,
        tmp_path,
        rounds=UNSAFE_ROUNDS,
        runner=UNSAFE_RUNNER,
        until_overbooked=True,
    )

    assert any(result.overbooked for result in results), [r.per_night for r in results]


def test_it_never_overbooks_when_members_grow_their_bookings_at_once(live_database_url, tmp_path):
    results = update_race_rounds(live_database_url, tmp_path, rounds=ROUNDS)

    for result in results:
        assert result.successes == 1, result
        assert result.per_night == [UPDATE_CAPACITY] * NIGHTS, result
        # Each refused member keeps 1 of the 6 places; the others hold 3 + 1 + 1 = 5.
        expected = "hat nur 1 freie Plätze, 3 wurden angefragt"
        assert [m.split("' ", 1)[1] for m in result.failures] == [expected] * (UPDATERS - 1)


def test_it_detects_the_update_race_when_the_lock_is_switched_off(live_database_url, tmp_path):
    results = update_race_rounds(
        live_database_url,
        tmp_path,
        rounds=UNSAFE_ROUNDS,
        runner=UNSAFE_RUNNER,
        until_overbooked=True,
    )

    assert any(result.overbooked for result in results), [r.per_night for r in results]
