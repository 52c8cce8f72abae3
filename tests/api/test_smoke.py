from __future__ import annotations

from datetime import timedelta

from tests.factories import auth_headers, booking_body


def test_it_books_and_lists(client, ctx, bob, room):
    start = ctx.today() + timedelta(days=3)
    created = client.post(
        "/api/bookings", json=booking_body([(room, 2)], start), headers=auth_headers(ctx, bob)
    )
    assert created.status_code == 201, created.text
    listed = client.get("/api/bookings", headers=auth_headers(ctx, bob)).json()
    assert [b["id"] for b in listed] == [created.json()["id"]]
    assert listed[0]["bookingItems"][0]["sleepingAccommodationName"] == "Zimmer 1"
