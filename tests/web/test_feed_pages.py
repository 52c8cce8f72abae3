"""Calendar feed pages: the profile section, the house feed settings and the ``.ics`` download
(each calendar read by both parsers and the raw reader, see tests/ical.py)."""

from __future__ import annotations

from sqlalchemy import select, update
from starlette.testclient import TestClient

from booking.db.models import AuditEvent, User
from booking.domain import audit
from booking.domain.availability import ACCEPTED, PENDING
from tests import factories
from tests.ical import read_feed
from tests.web.test_account_pages import flash_text, get, logged_in, submit


def path(url: str) -> str:
    return url.removeprefix("http://testserver")


def profile_feed_url(client: TestClient) -> str | None:
    field = get(client, "/profile").find("input", id="f-calendar-feed-url")
    return None if field is None else field["value"]


def audit_events(ctx, event: str) -> list[str | None]:
    with ctx.db.read() as session:
        return list(
            session.scalars(select(AuditEvent.subject).where(AuditEvent.event == event)).all()
        )


def test_profile_creates_shows_renews_and_ends_the_feed(ctx, client, bob, charlie, room):
    mine = factories.make_booking(ctx, bob, [(room, 2)], status=ACCEPTED)
    factories.make_booking(ctx, charlie, [(room, 1)], status=ACCEPTED)
    logged_in(client, "bob@example.com")
    assert profile_feed_url(client) is None
    doc = get(client, "/profile")
    assert doc.one("section", id="calendar-feed").find("button", type="submit") is not None

    response = submit(client, "/profile", "/profile/calendar-feed", {})
    assert response.status_code == 303
    assert "erzeugt" in flash_text(client, "/profile")
    url = profile_feed_url(client)
    assert url and url.startswith("http://testserver/feeds/") and url.endswith(".ics")
    assert profile_feed_url(client) == url  # shown again, for a second device
    webcal = get(client, "/profile").one("a", href=url.replace("http://", "webcal://"))
    assert webcal.text

    anonymous = TestClient(client.app)
    found = read_feed(anonymous.get(path(url)).content)
    assert list(found) == [f"booking-{mine.id}@testserver"]

    submit(client, "/profile", "/profile/calendar-feed", {})
    renewed = profile_feed_url(client)
    assert renewed and renewed != url
    assert anonymous.get(path(url)).status_code == 404
    assert anonymous.get(path(renewed)).status_code == 200

    submit(client, "/profile", "/profile/calendar-feed/delete", {})
    assert profile_feed_url(client) is None
    assert anonymous.get(path(renewed)).status_code == 404
    assert audit_events(ctx, audit.CALENDAR_FEED_RENEWED) == ["bob@example.com"] * 2
    assert audit_events(ctx, audit.CALENDAR_FEED_DELETED) == ["bob@example.com"]


def test_feed_forms_need_the_csrf_token_and_a_login(ctx, client, bob):
    assert client.post("/profile/calendar-feed", follow_redirects=False).status_code == 303
    logged_in(client, "bob@example.com")
    response = client.post("/profile/calendar-feed", data={"csrf_token": "x"})
    assert response.status_code == 403
    assert profile_feed_url(client) is None


def test_ics_download_for_owner_and_admin_only(ctx, client, alice, bob, charlie, room):
    booking = factories.make_booking(ctx, bob, [(room, 2)], status=PENDING, notes="Hallo")
    url = f"/bookings/{booking.id}.ics"
    anonymous = client.get(url, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")

    logged_in(client, "bob@example.com")
    detail = get(client, f"/bookings/{booking.id}")
    assert detail.one("a", href=url).text == "Als Kalenderdatei (.ics)"
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="aufenthalt-{booking.start_date}.ics"'
    event = read_feed(response.content)[f"booking-{booking.id}@testserver"]
    assert (event.start, event.end, event.status) == (
        booking.start_date,
        booking.end_date,
        "TENTATIVE",
    )
    assert "Notizen: Hallo" in event.description

    client.cookies.clear()
    logged_in(client, "charlie@example.com")
    assert client.get(url).status_code == 404
    assert (
        client.get(f"/bookings/{booking.id.hex[:8]}-0000-0000-0000-000000000000.ics").status_code
        == 404
    )

    client.cookies.clear()
    logged_in(client, "alice@example.com")
    event = read_feed(client.get(url).content)[f"booking-{booking.id}@testserver"]
    assert event.summary.startswith("Bob Person: Zimmer 1 (2 Pers.)")


def test_house_feed_settings_page(ctx, client, alice, bob, room):
    stay = factories.make_booking(ctx, bob, [(room, 2)], status=ACCEPTED)
    pending = factories.make_booking(ctx, bob, [(room, 1)], status=PENDING, nights=1)
    logged_in(client, "bob@example.com")
    assert client.get("/admin/calendar").status_code == 403
    client.cookies.clear()

    logged_in(client, "alice@example.com")
    doc = get(client, "/admin/calendar")
    assert doc.find("input", id="f-house-feed-url") is None
    assert doc.one("a", href="/admin/calendar").get("aria-current") == "page"

    submit(client, "/admin/calendar", "/admin/calendar", {"enabled": "on"})
    url = get(client, "/admin/calendar").one("input", id="f-house-feed-url")["value"]
    anonymous = TestClient(client.app)
    assert set(read_feed(anonymous.get(path(url)).content)) == {f"booking-{stay.id}@testserver"}

    submit(client, "/admin/calendar", "/admin/calendar", {"enabled": "on", "include_pending": "on"})
    found = read_feed(anonymous.get(path(url)).content)
    assert found[f"booking-{pending.id}@testserver"].status == "TENTATIVE"

    submit(
        client,
        "/admin/calendar",
        "/admin/calendar",
        {"enabled": "on", "include_pending": "on", "renew": "1"},
    )
    renewed = get(client, "/admin/calendar").one("input", id="f-house-feed-url")["value"]
    assert renewed != url
    assert anonymous.get(path(url)).status_code == 404
    assert len(read_feed(anonymous.get(path(renewed)).content)) == 2

    submit(client, "/admin/calendar", "/admin/calendar", {})
    assert anonymous.get(path(renewed)).status_code == 404
    assert len(audit_events(ctx, audit.HOUSE_FEED_CHANGED)) == 4


def test_feed_section_in_english(ctx, client):
    erin = factories.make_user(ctx, "erin@example.com", first_name="Erin")
    with ctx.db.write() as session:
        session.execute(update(User).where(User.id == erin.id).values(language="en"))
    logged_in(client, "erin@example.com")
    section = get(client, "/profile").one("section", id="calendar-feed")
    assert "Calendar subscription" in section.text
    assert "Create calendar address" in section.text
