"""Malformed and hostile input: always a 4xx JSON answer, never a 500, never a partial write."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from booking.db.models import Booking, BookingHistory, BookingItem
from tests import factories
from tests.factories import auth_headers, booking_body


def counts(ctx: Any) -> tuple[int, int, int]:
    with ctx.db.read() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model))
            for model in (Booking, BookingItem, BookingHistory)
        )


def json_error(response: Any, status: int) -> dict[str, Any]:
    """A 4xx with a JSON body; problem details carry the same ``status``."""
    assert response.status_code == status, response.text
    content_type = response.headers["content-type"]
    assert content_type.startswith(("application/json", "application/problem+json"))
    body = response.json()
    assert isinstance(body, dict)
    if content_type.startswith("application/problem+json") or "status" in body:
        assert body["status"] == status
    assert isinstance(body["message"], str) and body["message"]
    return body


def good_body(ctx: Any, place: Any) -> dict[str, Any]:
    return booking_body([(place, 1)], ctx.today() + timedelta(days=5))


def _with(ctx: Any, place: Any, **changes: Any) -> dict[str, Any]:
    body = good_body(ctx, place)
    body.update(changes)
    return body


def _item(place: Any, persons: Any) -> list[dict[str, Any]]:
    return [{"sleepingAccommodationId": str(place.id), "personCount": persons}]


BAD_BODIES: dict[str, Any] = {
    "malformed-json": lambda ctx, p: b'{"startDate": "2030-01-01", ',
    "array-body": lambda ctx, p: b"[]",
    "missing-body": lambda ctx, p: None,
    "empty-object": lambda ctx, p: {},
    "person-count-string": lambda ctx, p: _with(ctx, p, bookingItems=_item(p, "zwei")),
    "person-count-zero": lambda ctx, p: _with(ctx, p, bookingItems=_item(p, 0)),
    "person-count-negative": lambda ctx, p: _with(ctx, p, bookingItems=_item(p, -3)),
    "person-count-enormous": lambda ctx, p: _with(ctx, p, bookingItems=_item(p, 10**30)),
    "start-date-number": lambda ctx, p: _with(ctx, p, startDate=20300101),
    "start-date-30-february": lambda ctx, p: _with(
        ctx, p, startDate=f"{ctx.today().year + 1}-02-30"
    ),
    "items-object": lambda ctx, p: _with(
        ctx, p, bookingItems={"sleepingAccommodationId": str(p.id), "personCount": 1}
    ),
    "place-id-not-guid": lambda ctx, p: _with(
        ctx, p, bookingItems=[{"sleepingAccommodationId": "zimmer-1", "personCount": 1}]
    ),
    "unknown-place": lambda ctx, p: _with(
        ctx, p, bookingItems=[{"sleepingAccommodationId": str(uuid.uuid4()), "personCount": 1}]
    ),
    "duplicate-place": lambda ctx, p: _with(ctx, p, bookingItems=_item(p, 1) + _item(p, 1)),
    "notes-10k": lambda ctx, p: _with(ctx, p, notes="x" * 10_000),
    "notes-number": lambda ctx, p: _with(ctx, p, notes=42),
}


def _send(client: Any, method: str, url: str, body: Any, headers: dict[str, Any]) -> Any:
    if body is None:
        return client.request(method, url, headers=headers)
    if isinstance(body, bytes):
        headers = {**headers, "Content-Type": "application/json"}
        return client.request(method, url, content=body, headers=headers)
    return client.request(method, url, json=body, headers=headers)


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_it_refuses_a_bad_create_body_without_writing(client, ctx, bob, room, case):
    factories.make_booking(ctx, bob, [(room, 1)])  # something to keep
    before = counts(ctx)
    body = BAD_BODIES[case](ctx, room)
    response = _send(client, "POST", "/api/bookings", body, auth_headers(ctx, bob))
    json_error(response, 400)
    assert counts(ctx) == before


@pytest.mark.parametrize(
    "case",
    [
        "malformed-json",
        "person-count-enormous",
        "start-date-30-february",
        "duplicate-place",
        "notes-10k",
    ],
)
def test_it_refuses_a_bad_update_body_without_writing(client, ctx, alice, bob, room, case):
    booking = factories.make_booking(ctx, bob, [(room, 2)], notes="vorher")
    url = f"/api/bookings/{booking.id}"
    original = client.get(url, headers=auth_headers(ctx, alice)).json()
    before = counts(ctx)
    body = BAD_BODIES[case](ctx, room)
    response = _send(client, "PUT", url, body, auth_headers(ctx, bob))
    json_error(response, 400)
    assert counts(ctx) == before
    assert client.get(url, headers=auth_headers(ctx, alice)).json() == original


@pytest.mark.parametrize("case", ["person-count-string", "start-date-number", "missing-body"])
def test_it_refuses_a_bad_validate_body(client, ctx, bob, room, case):
    response = _send(
        client,
        "POST",
        "/api/bookings/validate",
        BAD_BODIES[case](ctx, room),
        auth_headers(ctx, bob),
    )
    json_error(response, 400)


def test_it_reports_the_offending_field_in_the_problem(client, ctx, bob, room):
    body = _with(ctx, room, bookingItems=_item(room, "zwei"))
    response = client.post("/api/bookings", json=body, headers=auth_headers(ctx, bob))
    problem = json_error(response, 400)
    assert list(problem["errors"]) == ["BookingItems[0].PersonCount"]
    assert problem["message"] == problem["errors"]["BookingItems[0].PersonCount"][0]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_it_refuses_a_300_kb_body_with_413_json(client, ctx, bob, room, chunked):
    before = counts(ctx)
    payload = json.dumps(_with(ctx, room, notes="x" * 300_000)).encode()
    headers = {**auth_headers(ctx, bob), "Content-Type": "application/json"}
    content: Any = payload
    if chunked:
        content = iter([payload[i : i + 65536] for i in range(0, len(payload), 65536)])
    response = client.post("/api/bookings", content=content, headers=headers)
    body = json_error(response, 413)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert body["title"] == "Content Too Large"
    assert counts(ctx) == before


@pytest.mark.parametrize(
    "query",
    [
        {"timeRange": "9"},
        {"timeRange": "Tomorrow"},
        {"status": "Foo"},
        {"status": "99"},
        {"timeRange": "x" * 500},
    ],
)
def test_it_refuses_unknown_enum_values_in_the_list_query(client, ctx, bob, query):
    response = client.get("/api/bookings", params=query, headers=auth_headers(ctx, bob))
    json_error(response, 400)


@pytest.mark.parametrize(
    "query",
    [
        {"startDate": "2030-02-30", "endDate": "2030-03-02"},
        {"startDate": "2030-03-01"},
        {},
        {"startDate": "2030-03-01", "endDate": "2030-03-02", "excludeBookingId": "abc"},
    ],
    ids=["30-february", "no-end", "no-dates", "bad-exclude"],
)
def test_it_refuses_bad_availability_queries(client, ctx, bob, query):
    response = client.get(
        "/api/bookings/availability", params=query, headers=auth_headers(ctx, bob)
    )
    json_error(response, 400)


BOOKING_ACTIONS = [
    ("GET", ""),
    ("GET", "/history"),
    ("PUT", ""),
    ("POST", "/cancel"),
    ("POST", "/accept"),
    ("POST", "/reject"),
    ("POST", "/confirm"),
]


@pytest.mark.parametrize(("method", "suffix"), BOOKING_ACTIONS)
def test_it_answers_404_json_for_unknown_ids(client, ctx, alice, room, method, suffix):
    before = counts(ctx)
    body = good_body(ctx, room) if method == "PUT" else None
    response = _send(
        client, method, f"/api/bookings/{uuid.uuid4()}{suffix}", body, auth_headers(ctx, alice)
    )
    json_error(response, 404)
    assert counts(ctx) == before


def test_it_answers_404_json_for_ids_that_are_not_guids(client, ctx, alice, room):
    before = counts(ctx)
    for method, suffix in BOOKING_ACTIONS:
        for identifier in ("not-a-guid", "123", "%00"):
            body = good_body(ctx, room) if method == "PUT" else None
            url = f"/api/bookings/{identifier}{suffix}"
            response = _send(client, method, url, body, auth_headers(ctx, alice))
            json_error(response, 404)
    assert counts(ctx) == before


@pytest.mark.parametrize(
    ("method", "suffix", "expected"),
    [
        ("GET", "", 403),
        ("PUT", "", 403),
        ("POST", "/cancel", 403),
    ],
)
def test_it_refuses_other_members_bookings_without_writing(
    client, ctx, alice, bob, charlie, room, method, suffix, expected
):
    booking = factories.make_booking(ctx, bob, [(room, 2)])
    url = f"/api/bookings/{booking.id}"
    original = client.get(url, headers=auth_headers(ctx, alice)).json()
    before = counts(ctx)
    body = good_body(ctx, room) if method == "PUT" else None
    response = _send(client, method, f"{url}{suffix}", body, auth_headers(ctx, charlie))
    json_error(response, expected)
    assert counts(ctx) == before
    assert client.get(url, headers=auth_headers(ctx, alice)).json() == original


def test_it_refuses_a_body_that_is_not_declared_as_json(client, ctx, bob, room):
    before = counts(ctx)
    response = client.post(
        "/api/bookings",
        content=json.dumps(good_body(ctx, room)).encode(),
        headers={**auth_headers(ctx, bob), "Content-Type": "text/plain"},
    )
    assert 400 <= response.status_code < 500, response.text
    json_error(response, response.status_code)
    assert counts(ctx) == before


@pytest.mark.parametrize(
    "header",
    ["Bearer not-a-token", "Basic Ym9iOnNlY3JldA=="],
)
def test_it_refuses_bad_tokens_with_401_json(client, ctx, header):
    response = client.get("/api/bookings", headers={"Authorization": header})
    json_error(response, 401)
