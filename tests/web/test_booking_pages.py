"""Booking pages with the in-process client: list filters and views, the month calendar, the
booking form without JavaScript, detail, history and the cancel / accept / reject flows."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from booking.db.models import Booking, SleepingAccommodation, User
from booking.domain import bookings, users
from booking.domain.context import Context
from booking.web.bookings import PAGE_SIZE
from tests import factories
from tests.web.html import Element, parse

PENDING, CONFIRMED, CANCELLED, COMPLETED, ACCEPTED, REJECTED = 0, 1, 2, 3, 4, 5


# --- helpers ---------------------------------------------------------------------------------


def login(client: TestClient, user: User) -> None:
    token = parse(client.get("/login").text).one("input", name="csrf_token")["value"]
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": user.email, "password": factories.PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 303


def page(client: TestClient, url: str, status: int = 200) -> Element:
    response = client.get(url, follow_redirects=False)
    assert response.status_code == status, response.text[:2000]
    return parse(response.text)


def csrf(doc: Element) -> str:
    return doc.find_all("input", name="csrf_token")[-1]["value"]


def booked_ids(doc: Element) -> set[str]:
    return {el["data-booking"] for el in doc.find_all(data_booking=True)}


def status_of(ctx: Context, booking_id: Any) -> int:
    with ctx.db.read() as session:
        booking = session.get(Booking, uuid.UUID(str(booking_id)))
        assert booking is not None
        return booking.status


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def form_body(
    doc: Element, start: date | str, end: date | str, persons: dict[Any, Any], notes: str = ""
) -> dict[str, str]:
    return {
        "csrf_token": csrf(doc),
        "start_date": str(start),
        "end_date": str(end),
        "notes": notes,
        **{f"place_{place.id}": str(n) for place, n in persons.items()},
    }


def flash_text(doc: Element) -> str:
    return doc.one("div", class_="flash").text


# --- list, filters and views --------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client: TestClient) -> None:
    for url in ("/bookings?view=compact", "/bookings/new", f"/bookings/{uuid.uuid4()}"):
        response = client.get(url, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=/bookings")


def test_titles_and_empty_state(client: TestClient, bob: User, alice: User) -> None:
    login(client, bob)
    doc = page(client, "/bookings")
    assert doc.one("h1").text == "Meine Buchungen"
    assert (
        doc.one("section", class_="empty-state").find_all("h2")[0].text
        == "Keine Buchungen gefunden"
    )
    login(client, alice)
    assert page(client, "/bookings").one("h1").text == "Alle Buchungen"


def test_list_card_shows_dates_status_nights_persons_places(
    client: TestClient, ctx: Context, bob: User, room: SleepingAccommodation
) -> None:
    tent = factories.make_place(ctx, "Zelt am Teich", capacity=3, kind=1)
    start = ctx.today() + timedelta(days=5)
    booking = factories.make_booking(ctx, bob, [(room, 2), (tent, 1)], start=start, nights=1)
    login(client, bob)
    card = page(client, "/bookings").one("li", data_booking=str(booking.id))
    expected = f"{start:%d.%m.%Y} – {start + timedelta(days=1):%d.%m.%Y}"
    assert card.one("h2").text == expected
    assert card.one("h2").one("a")["href"] == f"/bookings/{booking.id}"
    assert card.one("span", class_="badge").text == "Ausstehend"
    assert "status-pending" in card.one("span", class_="badge")["class"]
    assert card.one("p", class_="facts").text == "1 Nacht · 3 Personen"
    assert card.one("p", class_="places").text == "Zimmer 1, Zelt am Teich"
    assert card.find("p", class_="guest") is None  # members do not see a guest line
    assert not card.find_all("a", data_confirm_dialog=True)


@pytest.fixture
def spread(ctx: Context, bob: User, room: SleepingAccommodation) -> dict[str, Booking]:
    """Bookings at different times and in different states (inserted directly)."""
    today = ctx.today()
    return {
        "future": factories.make_booking(ctx, bob, [(room, 1)], start=today + timedelta(days=3)),
        "running": factories.make_booking(ctx, bob, [(room, 1)], start=today - timedelta(days=1)),
        "recent": factories.make_booking(
            ctx, bob, [(room, 1)], start=today - timedelta(days=20), status=ACCEPTED
        ),
        "months": factories.make_booking(
            ctx, bob, [(room, 1)], start=today - timedelta(days=200), status=CANCELLED
        ),
        "old": factories.make_booking(
            ctx, bob, [(room, 1)], start=today - timedelta(days=500), status=REJECTED
        ),
        "accepted": factories.make_booking(
            ctx, bob, [(room, 1)], start=today + timedelta(days=40), status=ACCEPTED
        ),
    }


@pytest.mark.parametrize(
    ("time_range", "expected"),
    [
        ("0", {"future", "running", "accepted"}),
        ("1", {"future", "running", "recent", "months", "old", "accepted"}),
        ("2", {"recent", "months", "old"}),
        ("3", {"future", "running", "recent", "accepted"}),
        ("4", {"future", "running", "recent", "months", "accepted"}),
        ("", {"future", "running", "accepted"}),  # the default: current and future
        ("9", {"future", "running", "accepted"}),  # nonsense falls back to the default
    ],
)
def test_time_range_filter(
    client: TestClient, bob: User, spread: dict[str, Booking], time_range: str, expected: set[str]
) -> None:
    login(client, bob)
    doc = page(client, f"/bookings?timeRange={time_range}")
    assert booked_ids(doc) == {str(spread[name].id) for name in expected}
    selected = doc.one("select", name="timeRange").one("option", selected=True)
    assert selected["value"] == (time_range if time_range in "01234" and time_range else "0")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("", {"future", "running", "recent", "months", "old", "accepted"}),
        ("0", {"future", "running"}),
        ("1", set()),
        ("2", {"months"}),
        ("3", {"recent"}),  # accepted and departed reads as Completed
        ("4", {"accepted"}),
        ("5", {"old"}),
    ],
)
def test_status_filter(
    client: TestClient, bob: User, spread: dict[str, Booking], status: str, expected: set[str]
) -> None:
    login(client, bob)
    doc = page(client, f"/bookings?timeRange=1&status={status}&view=compact")
    assert booked_ids(doc) == {str(spread[name].id) for name in expected}
    assert doc.one("select", name="status").one("option", selected=True)["value"] == status
    if not expected:
        assert doc.one("section", class_="empty-state")


def test_compact_view_is_a_table(
    client: TestClient, ctx: Context, alice: User, bob: User, room: SleepingAccommodation
) -> None:
    booking = factories.make_booking(ctx, bob, [(room, 3)], nights=4)
    login(client, alice)
    doc = page(client, "/bookings?view=compact")
    table = doc.one("table", class_="compact-list")
    assert table.one("caption").text == "Buchungen (1)"
    row = table.one("tr", data_booking=str(booking.id))
    cells = {td["data-label"]: td.text for td in row.find_all("td")}
    assert cells["Gast"] == "Bob Person"
    assert cells["Status"] == "Ausstehend"
    assert cells["Nächte"] == "4"
    assert cells["Personen"] == "3"
    assert cells["Schlafmöglichkeiten"] == "Zimmer 1"


def test_view_switch_keeps_filters(client: TestClient, bob: User) -> None:
    login(client, bob)
    doc = page(client, "/bookings?timeRange=2&status=5&view=compact")
    links = {a.text: a["href"] for a in doc.one("nav", class_="view-switch").find_all("a")}
    assert set(links) == {"Liste", "Kalender", "Kompakt"}
    for name, view in (("Liste", "list"), ("Kalender", "calendar"), ("Kompakt", "compact")):
        params = query(links[name])
        assert params["view"] == [view]
        assert params["timeRange"] == ["2"]
        assert params["status"] == ["5"]
    current = doc.one("nav", class_="view-switch").one("a", aria_current="page")
    assert current.text == "Kompakt"
    # the filter form submits the current view along
    form = doc.one("form", role="search")
    assert form["method"] == "get"
    assert form.one("input", name="view")["value"] == "compact"
    # and the calendar keeps the time range for the way back
    calendar = page(client, links["Kalender"])
    assert calendar.one("input", name="timeRange", type="hidden")["value"] == "2"
    back = calendar.one("nav", class_="view-switch").find("a", aria_current=False)
    assert back is not None
    assert query(back["href"])["timeRange"] == ["2"]
    assert query(back["href"])["status"] == ["5"]


def test_admin_list_has_guest_and_decisions(
    client: TestClient, ctx: Context, alice: User, bob: User, room: SleepingAccommodation
) -> None:
    pending = factories.make_booking(ctx, bob, [(room, 1)])
    accepted = factories.make_booking(ctx, bob, [(room, 1)], status=ACCEPTED, nights=1)
    login(client, alice)
    doc = page(client, "/bookings?timeRange=0")
    card = doc.one("li", data_booking=str(pending.id))
    assert card.one("p", class_="guest").text == "Gast: Bob Person"
    actions = card.find_all("a", data_confirm_dialog=True)
    assert [a["data-confirm-title"] for a in actions] == ["Buchung annehmen", "Buchung ablehnen"]
    assert actions[0]["href"].startswith(f"/bookings/{pending.id}/accept?next=")
    assert json.loads(actions[0]["data-confirm-fields"]) == {
        "next": "/bookings?view=list&timeRange=0"
    }
    other = doc.one("li", data_booking=str(accepted.id))
    assert not other.find_all("a", data_confirm_dialog=True)


# --- paging of the list and compact views ------------------------------------------------------


def pager(doc: Element) -> Element | None:
    return doc.find("nav", class_="list-pager")


def pager_links(doc: Element) -> dict[str, str]:
    """rel (prev / next) -> href of the pager's links."""
    nav = pager(doc)
    assert nav is not None
    return {a["rel"]: a["href"] for a in nav.find_all("a")}


def listed(doc: Element) -> list[str]:
    return [el["data-booking"] for el in doc.find_all(data_booking=True)]


def test_the_list_is_paged_by_fifty_in_date_order(
    client: TestClient, ctx: Context, alice: User, bob: User, charlie: User
) -> None:
    rooms = [factories.make_place(ctx, "Zimmer A"), factories.make_place(ctx, "Zimmer B")]
    stays = [str(i) for i in factories.make_stays(ctx, [bob, charlie], rooms, 2 * PAGE_SIZE + 7)]
    login(client, alice)

    first = page(client, "/bookings")
    assert listed(first) == stays[:PAGE_SIZE]
    assert first.one("p", class_="list-count").text == f"{len(stays)} Buchungen"
    nav = pager(first)
    assert nav is not None and nav["aria-label"] == "Seiten"
    assert nav.one("span", class_="pager-status").text == "Seite 1 von 3"
    assert set(pager_links(first)) == {"next"}  # no way back from the first page
    assert query(pager_links(first)["next"])["page"] == ["2"]
    # each card shows its own places (the page's items, not another page's)
    card = first.one("li", data_booking=stays[0])
    assert card.one("p", class_="places").text == "Zimmer A, Zimmer B"

    second = page(client, pager_links(first)["next"])
    assert listed(second) == stays[PAGE_SIZE : 2 * PAGE_SIZE]
    assert pager_links(second).keys() == {"prev", "next"}
    assert "page" not in query(pager_links(second)["prev"])  # page 1 is the plain list
    assert listed(page(client, pager_links(second)["prev"])) == stays[:PAGE_SIZE]

    last = page(client, pager_links(second)["next"])
    assert listed(last) == stays[2 * PAGE_SIZE :]  # the partial last page
    assert last.one("span", class_="pager-status").text == "Seite 3 von 3"
    assert set(pager_links(last)) == {"prev"}
    assert last.one("p", class_="list-count").text == f"{len(stays)} Buchungen"


def test_a_bad_page_number_shows_a_valid_page(
    client: TestClient, ctx: Context, bob: User, room: SleepingAccommodation
) -> None:
    stays = [str(i) for i in factories.make_stays(ctx, [bob], [room], PAGE_SIZE + 3)]
    login(client, bob)
    for value, shown in (
        ("1", 1), ("2", 2), ("0", 1), ("-4", 1), ("3", 2), ("999999", 2), ("9" * 40, 2),
        ("9" * 5000, 1),  # more digits than int() reads: not a number
        ("", 1), ("zwei", 1), ("1.5", 1), ("1e3", 1), ("%00", 1), ("²", 1),
    ):  # fmt: skip
        doc = page(client, f"/bookings?page={value}")
        expected = stays[:PAGE_SIZE] if shown == 1 else stays[PAGE_SIZE:]
        assert listed(doc) == expected, value[:50]
        status = doc.one("span", class_="pager-status").text
        assert status == f"Seite {shown} von 2", value[:50]
    # the compact view pages the same way
    doc = page(client, "/bookings?view=compact&page=7")
    assert listed(doc) == stays[PAGE_SIZE:]
    assert doc.one("caption").text == f"Buchungen ({len(stays)})"


def test_page_links_keep_the_filters_and_filter_links_start_on_page_one(
    client: TestClient, ctx: Context, alice: User, bob: User, room: SleepingAccommodation
) -> None:
    pending = factories.make_stays(ctx, [bob], [room], PAGE_SIZE + 5, first_day=-900)
    factories.make_stays(ctx, [bob], [room], 20, first_day=-300, status=REJECTED)
    wanted = [str(i) for i in pending]
    login(client, alice)
    url = "/bookings?view=compact&timeRange=1&status=0"
    doc = page(client, url)
    assert listed(doc) == wanted[:PAGE_SIZE]
    assert doc.one("caption").text == f"Buchungen ({len(wanted)})"
    following = query(pager_links(doc)["next"])
    assert following == {"view": ["compact"], "timeRange": ["1"], "status": ["0"], "page": ["2"]}

    second = page(client, pager_links(doc)["next"])
    assert listed(second) == wanted[PAGE_SIZE:]
    assert query(pager_links(second)["prev"]) == {
        "view": ["compact"], "timeRange": ["1"], "status": ["0"],
    }  # fmt: skip
    # switching the view keeps the filters and starts on page 1
    for link in second.one("nav", class_="view-switch").find_all("a"):
        assert "page" not in query(link["href"]), link["href"]
        assert query(link["href"])["status"] == ["0"]
    # the filter form has no page field: applying a filter starts on page 1
    assert not second.one("form", role="search").find_all("input", name="page")

    # a decision returns to the page it was taken on (the list view's confirm links)
    cards = page(client, "/bookings?timeRange=1&status=0&page=2")
    accept = cards.one("li", data_booking=wanted[-1]).find_all("a", data_confirm_dialog=True)[0]
    assert json.loads(accept["data-confirm-fields"]) == {
        "next": "/bookings?view=list&timeRange=1&status=0&page=2"
    }


def test_a_member_sees_only_own_bookings_on_every_page(
    client: TestClient, ctx: Context, bob: User, charlie: User, room: SleepingAccommodation
) -> None:
    made = factories.make_stays(ctx, [bob, charlie], [room], 4 * PAGE_SIZE + 2)
    bobs, charlies = [str(i) for i in made[::2]], [str(i) for i in made[1::2]]
    login(client, bob)
    seen: list[str] = []
    url: str | None = "/bookings"
    while url:
        doc = page(client, url)
        seen += listed(doc)
        assert doc.one("p", class_="list-count").text == f"{len(bobs)} Buchungen"
        url = pager_links(doc).get("next")
    assert seen == bobs
    assert not set(seen) & set(charlies)
    assert listed(page(client, "/bookings?page=9")) == bobs[2 * PAGE_SIZE :]  # bob's last


def test_a_short_list_has_no_pager(
    client: TestClient, ctx: Context, bob: User, room: SleepingAccommodation
) -> None:
    factories.make_stays(ctx, [bob], [room], PAGE_SIZE)
    login(client, bob)
    doc = page(client, "/bookings")
    assert len(listed(doc)) == PAGE_SIZE
    assert pager(doc) is None
    assert doc.one("p", class_="list-count").text == f"{PAGE_SIZE} Buchungen"
    assert pager(page(client, "/bookings?view=compact")) is None


# --- the month calendar ---------------------------------------------------------------------------


def test_calendar_grid_and_month_navigation(client: TestClient, ctx: Context, bob: User) -> None:
    login(client, bob)
    doc = page(client, "/bookings?view=calendar&month=2030-01&status=4")
    assert doc.one("h2", id="cal-title").text == "Januar 2030"
    headers = [th.text for th in doc.one("table", class_="calendar").find_all("th")]
    assert headers == ["Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"]
    cells = doc.one("table", class_="calendar").find_all("td")
    assert len(cells) == 42
    first = date.fromisoformat(cells[0]["data-date"])
    assert first.weekday() == 0 and first <= date(2030, 1, 1) < first + timedelta(days=7)
    assert "outside" in cells[0]["class"].split()  # 31 December 2029
    nav = {
        a.text.strip("‹› "): a["href"] for a in doc.one("div", class_="calendar-nav").find_all("a")
    }
    assert query(nav["Vorheriger Monat"])["month"] == ["2029-12"]
    assert query(nav["Nächster Monat"])["month"] == ["2030-02"]
    assert query(nav["Heute"])["month"] == [ctx.today().strftime("%Y-%m")]
    for href in nav.values():
        assert query(href)["status"] == ["4"] and query(href)["view"] == ["calendar"]
    december = page(client, nav["Vorheriger Monat"])
    assert december.one("h2", id="cal-title").text == "Dezember 2029"
    # no month, or a broken one: this month, with today marked
    for url in ("/bookings?view=calendar", "/bookings?view=calendar&month=2030-13"):
        today_cell = page(client, url).one("td", aria_current="date")
        assert today_cell["data-date"] == ctx.today().isoformat()
        assert "today" in today_cell["class"].split()


def test_calendar_shows_a_booking_on_its_nights(
    client: TestClient, ctx: Context, bob: User, charlie: User, room: SleepingAccommodation
) -> None:
    start = ctx.today() + timedelta(days=10)
    booking = factories.make_booking(ctx, bob, [(room, 2)], start=start, nights=3)
    month = start.strftime("%Y-%m")
    login(client, bob)
    doc = page(client, f"/bookings?view=calendar&month={month}")
    days = {
        td["data-date"]
        for td in doc.one("table", class_="calendar").find_all("td")
        if td.find(data_booking=str(booking.id))
    }
    assert days == {(start + timedelta(days=n)).isoformat() for n in range(3)}
    link = doc.find_all("a", class_="event", data_booking=str(booking.id))[0]  # one per week
    assert link["href"] == f"/bookings/{booking.id}"
    assert "status-pending" in link["class"].split()
    assert link.text.startswith("2 Personen")
    arrival = doc.one("td", data_date=start.isoformat())
    assert arrival.one("span", class_="occupancy").text == "2 frei"
    # the status filter applies in the calendar, the time range does not
    assert not booked_ids(page(client, f"/bookings?view=calendar&month={month}&status=4"))
    assert booked_ids(page(client, f"/bookings?view=calendar&month={month}&timeRange=2"))
    # another member sees the occupancy but not bob's booking
    login(client, charlie)
    other = page(client, f"/bookings?view=calendar&month={month}")
    assert not booked_ids(other)
    assert (
        other.one("td", data_date=start.isoformat()).one("span", class_="occupancy").text
        == "2 frei"
    )


def test_admin_calendar_labels_guests_and_lanes(
    client: TestClient, ctx: Context, alice: User, bob: User, charlie: User
) -> None:
    place = factories.make_place(ctx, "Scheune", capacity=10)
    start = ctx.today() + timedelta(days=30)
    first = factories.make_booking(ctx, bob, [(place, 1)], start=start, nights=4, status=ACCEPTED)
    second = factories.make_booking(
        ctx, charlie, [(place, 1)], start=start + timedelta(days=1), nights=1
    )
    login(client, alice)
    doc = page(client, f"/bookings?view=calendar&month={start:%Y-%m}")
    label = doc.find_all("a", data_booking=str(first.id))[0]
    assert label.text.startswith("Bob Person")
    assert "status-accepted" in label["class"].split()
    cell = doc.one("td", data_date=(start + timedelta(days=1)).isoformat())
    events = cell.find_all(class_="event")
    if start.weekday() != 6:  # both in one week: bob keeps lane 0, charlie gets lane 1
        assert [e.get("data-booking") for e in events] == [str(first.id), str(second.id)]
    # the day after charlie's night: an empty lane keeps bob's bar in its row
    later = doc.one("td", data_date=(start + timedelta(days=2)).isoformat())
    assert later.find(data_booking=str(first.id)) is not None


def test_fully_booked_night_is_marked(
    client: TestClient, ctx: Context, alice: User, bob: User, room: SleepingAccommodation
) -> None:
    start = ctx.today() + timedelta(days=3)
    factories.make_booking(ctx, alice, [(room, 4)], start=start, nights=1)
    login(client, bob)
    doc = page(client, f"/bookings?view=calendar&month={start:%Y-%m}")
    full = doc.one("td", data_date=start.isoformat())
    assert "full" in full["class"].split()
    assert full.one("span", class_="occupancy").text == "0 frei"
    after = doc.find("td", data_date=(start + timedelta(days=1)).isoformat())
    if after is not None:
        assert "full" not in after["class"].split()
    # the picker's data (the page's script reads it with the session cookie)
    nights = client.get(
        "/api/calendar/availability",
        params={"startDate": start.isoformat(), "endDate": (start + timedelta(days=2)).isoformat()},
    ).json()
    assert [n["full"] for n in nights] == [True, False]


# --- the booking form ---------------------------------------------------------------------------


def test_new_form_without_js(
    client: TestClient, ctx: Context, bob: User, room: SleepingAccommodation
) -> None:
    tent = factories.make_place(ctx, "Zelt", capacity=2, kind=1)
    factories.make_place(ctx, "Alt", capacity=2, active=False)
    login(client, bob)
    doc = page(client, "/bookings/new")
    assert doc.one("h1").text == "Neue Buchung erstellen"
    form = doc.one("form", data_booking_form=True)
    assert form["method"] == "post" and form["action"] == "/bookings/new"
    assert form.one("input", name="csrf_token")["type"] == "hidden"
    start = form.one("input", name="start_date")
    assert start["type"] == "date" and start["min"] == ctx.today().isoformat()
    assert doc.one("label", for_="f-start_date").text == "Anreise"
    assert doc.one("label", for_="f-end_date").text == "Abreise"
    assert form.one("input", name="end_date")["type"] == "date"
    places = form.find_all("div", class_="place-row")
    assert [p.one("label").text for p in places] == ["Zelt", "Zimmer 1"]  # active only, by name
    persons = form.one("input", name=f"place_{room.id}")
    assert (persons["type"], persons["min"], persons["max"], persons["value"]) == (
        "number", "0", "4", "0",
    )  # fmt: skip
    assert form.one("p", id=f"h-place_{tent.id}").text == "Zelt • max. 2 Personen"
    assert form.one("p", id=f"h-place_{room.id}").text == "Zimmer • max. 4 Personen"
    notes = form.one("textarea", name="notes")
    assert notes["maxlength"] == "500"
    assert form.one("p", id="notes-count").text == "0/500 Zeichen"
    assert form.one("button", type="submit").text == "Buchung erstellen"
    # the script's data: German names, today, nothing to exclude
    config = json.loads(doc.one("script", id="booking-form-config").text)
    assert config["months"][0] == "Januar" and config["weekdaysShort"][0] == "Mo"
    assert config["today"] == ctx.today().isoformat()
    assert config["excludeBookingId"] is None
    assert config["plural"]["preview"] == [
        "{n} Nacht - Klicken Sie um zu bestätigen",
        "{n} Nächte - Klicken Sie um zu bestätigen",
    ]
    scripts = [s["src"] for s in doc.find_all("script", src=True)]
    assert any("/js/booking-form." in src for src in scripts)


def test_create_booking_with_plain_form(
    client: TestClient, ctx: Context, bob: User, room: SleepingAccommodation
) -> None:
    tent = factories.make_place(ctx, "Zelt", capacity=2, kind=1)
    login(client, bob)
    doc = page(client, "/bookings/new")
    start = ctx.today() + timedelta(days=4)
    body = form_body(
        doc, start, start + timedelta(days=2), {room: 2, tent: 1}, "Wir bringen Kuchen"
    )
    response = client.post("/bookings/new", data=body, follow_redirects=False)
    assert response.status_code == 303
    location = response.headers["location"]
    [created] = bookings.list_bookings(ctx, bob)
    assert location == f"/bookings/{created['id']}"
    assert created["startDate"][:10] == start.isoformat()
    assert created["notes"] == "Wir bringen Kuchen"
    assert {
        (i["sleepingAccommodationName"], i["personCount"]) for i in created["bookingItems"]
    } == {
        ("Zimmer 1", 2),
        ("Zelt", 1),
    }
    detail = page(client, location)
    assert (
        flash_text(detail)
        == "Buchung erstellt. Sie wartet auf die Freigabe durch einen Administrator."
    )
    assert detail.one("span", class_="badge", data_status="0").text == "Ausstehend"
    assert detail.one("p", class_="facts").text == "3 Personen für 2 Nächte"
    # the flash is shown once
    assert page(client, location).find("div", class_="flash") is None


def test_validation_errors_keep_input_next_to_fields(
    client: TestClient, ctx: Context, bob: User, room: SleepingAccommodation
) -> None:
    login(client, bob)
    doc = page(client, "/bookings/new")
    start = ctx.today() + timedelta(days=2)
    end = start + timedelta(days=3)

    def post(body: dict[str, str]) -> Element:
        response = client.post("/bookings/new", data=body)
        assert response.status_code == 400, response.text[:500]
        return parse(response.text)

    # no place chosen: the message sits with the places, everything else is kept
    result = post(form_body(doc, start, end, {room: 0}, "Bitte Bettwäsche"))
    assert result.one("p", id="e-places").text == (
        "Mindestens eine Schlafmöglichkeit muss ausgewählt werden"
    )
    assert result.one("fieldset", id="places").one("p", id="e-places")
    assert result.one("input", name="start_date")["value"] == start.isoformat()
    assert result.one("input", name="end_date")["value"] == end.isoformat()
    assert result.one("textarea", name="notes").text == "Bitte Bettwäsche"
    assert not bookings.list_bookings(ctx, bob)

    # missing dates: one message per field, the persons are kept
    result = post(form_body(doc, "", "", {room: 3}))
    assert result.one("p", id="e-start_date").text == "Bitte wählen Sie das Anreisedatum"
    assert result.one("p", id="e-end_date").text == "Bitte wählen Sie das Abreisedatum"
    assert result.one("input", name="start_date")["aria-invalid"] == "true"
    assert result.one("input", name=f"place_{room.id}")["value"] == "3"

    # a date in the past (the domain's key StartDate)
    past = ctx.today() - timedelta(days=1)
    result = post(form_body(doc, past, end, {room: 1}))
    assert result.one("p", id="e-start_date").text == "Anreisedatum kann nicht vor heute liegen"
    assert "e-start_date" in result.one("input", name="start_date")["aria-describedby"]

    # departure before arrival (DateRange) sits with the dates
    result = post(form_body(doc, end, start, {room: 1}))
    assert result.one("fieldset", id="dates").one("p", id="e-dates").text == (
        "Das Abreisedatum muss nach dem Anreisedatum liegen"
    )
    result = post(form_body(doc, start, start + timedelta(days=31), {room: 1}))
    assert result.one("p", id="e-dates").text == "Die maximale Buchungsdauer beträgt 30 Tage"

    # more persons than beds (Availability) sits with the places
    result = post(form_body(doc, start, end, {room: 5}))
    assert result.one("p", id="e-places").text == (
        "Schlafmöglichkeit 'Zimmer 1' hat nur 4 freie Plätze, 5 wurden angefragt"
    )
    assert result.one("input", name=f"place_{room.id}")["value"] == "5"

    # a person count out of range (BookingItems[0].PersonCount) sits with its place
    big = factories.make_place(ctx, "Saal", capacity=50)
    result = post(form_body(doc, start, end, {big: 25, room: 0}))
    assert result.one("p", id=f"e-place_{big.id}").text == (
        "Personenanzahl muss zwischen 1 und 20 liegen"
    )
    assert result.one("input", name=f"place_{big.id}")["aria-invalid"] == "true"
    result = post(form_body(doc, start, end, {big: "zwei", room: 1}))
    assert result.one("p", id=f"e-place_{big.id}").text == "Bitte geben Sie eine ganze Zahl ein"

    # notes too long (the textarea's maxlength can be bypassed)
    result = post(form_body(doc, start, end, {room: 1}, "x" * 501))
    assert result.one("p", id="e-notes").text == "Notizen dürfen maximal 500 Zeichen lang sein"
    assert len(result.one("textarea", name="notes").text) == 501

    # a broken date
    result = post(form_body(doc, "2030-02-30", end, {room: 1}))
    assert result.one("p", id="e-start_date").text.startswith("Bitte geben Sie ein gültiges Datum")


def test_post_without_csrf_is_refused(
    client: TestClient, ctx: Context, bob: User, room: SleepingAccommodation
) -> None:
    login(client, bob)
    start = ctx.today() + timedelta(days=2)
    body = form_body(page(client, "/bookings/new"), start, start + timedelta(days=1), {room: 1})
    body["csrf_token"] = "forged"
    response = client.post("/bookings/new", data=body)
    assert response.status_code == 403
    assert parse(response.text).one("h1").text == "Keine Berechtigung"
    del body["csrf_token"]
    assert client.post("/bookings/new", data=body).status_code == 403
    assert not bookings.list_bookings(ctx, bob)
    booking = factories.make_booking(ctx, bob, [(room, 1)])
    assert client.post(f"/bookings/{booking.id}/cancel", data={}).status_code == 403
    assert status_of(ctx, booking.id) == PENDING


def test_revoked_member_sees_a_clear_message(
    client: TestClient, ctx: Context, alice: User, bob: User, room: SleepingAccommodation
) -> None:
    login(client, bob)
    page(client, "/bookings/new")
    users.set_booking_right(ctx, alice, bob.id, False)
    # A change of rights ends the member's sessions (docs/security.md): bob logs in again.
    page(client, "/bookings/new", status=303)
    login(client, bob)
    message = "Ihre Berechtigung zum Buchen wurde von einem Administrator entzogen."
    fresh = page(client, "/bookings/new")
    assert fresh.one("div", class_="alert-error").find_all("p")[0].text == message
    assert fresh.find("form", data_booking_form=True) is None
    start = ctx.today() + timedelta(days=2)
    response = client.post(
        "/bookings/new", data=form_body(fresh, start, start + timedelta(days=1), {room: 1})
    )
    assert response.status_code == 403
    assert parse(response.text).one("div", class_="alert-error").find_all("p")[0].text == message
    assert not bookings.list_bookings(ctx, bob)


def test_edit_form_is_prefilled_and_excludes_itself(
    client: TestClient, ctx: Context, bob: User, room: SleepingAccommodation
) -> None:
    booking = factories.make_booking(ctx, bob, [(room, 3)], notes="Alt")
    login(client, bob)
    doc = page(client, f"/bookings/{booking.id}/edit")
    assert doc.one("h1").text == "Buchung bearbeiten"
    form = doc.one("form", data_booking_form=True)
    assert form["action"] == f"/bookings/{booking.id}/edit"
    assert form.one("input", name="start_date")["value"] == booking.start_date.isoformat()
    assert form.one("input", name="end_date")["value"] == booking.end_date.isoformat()
    assert form.one("input", name=f"place_{room.id}")["value"] == "3"
    assert form.one("textarea", name="notes").text == "Alt"
    assert form.one("p", id="notes-count").text == "3/500 Zeichen"
    config = json.loads(doc.one("script", id="booking-form-config").text)
    assert config["excludeBookingId"] == str(booking.id)


def test_member_edit_of_accepted_booking_returns_it_to_pending(
    client: TestClient, ctx: Context, bob: User, room: SleepingAccommodation
) -> None:
    booking = factories.make_booking(ctx, bob, [(room, 2)], status=ACCEPTED)
    login(client, bob)
    doc = page(client, f"/bookings/{booking.id}/edit")
    assert "erneut" in doc.one("div", class_="alert-info").text
    # notes only: stays accepted
    body = form_body(doc, booking.start_date, booking.end_date, {room: 2}, "Nur Notizen")
    response = client.post(f"/bookings/{booking.id}/edit", data=body, follow_redirects=False)
    assert response.status_code == 303
    assert flash_text(page(client, response.headers["location"])) == "Buchung gespeichert."
    assert status_of(ctx, booking.id) == ACCEPTED
    # more persons: back to Pending, and the member is told
    body = form_body(doc, booking.start_date, booking.end_date, {room: 4}, "Nur Notizen")
    response = client.post(f"/bookings/{booking.id}/edit", data=body, follow_redirects=False)
    assert response.headers["location"] == f"/bookings/{booking.id}"
    detail = page(client, response.headers["location"])
    assert flash_text(detail) == (
        "Buchung gespeichert. Sie wartet erneut auf die Freigabe durch einen Administrator."
    )
    assert status_of(ctx, booking.id) == PENDING
    assert detail.one("span", class_="badge", data_status="0").text == "Ausstehend"


def test_edit_keeps_own_capacity_and_reports_errors(
    client: TestClient, ctx: Context, bob: User, room: SleepingAccommodation
) -> None:
    booking = factories.make_booking(ctx, bob, [(room, 4)])
    login(client, bob)
    doc = page(client, f"/bookings/{booking.id}/edit")
    # its own four persons do not block it (excluded from the check)
    body = form_body(doc, booking.start_date, booking.end_date, {room: 4}, "ok")
    assert client.post(f"/bookings/{booking.id}/edit", data=body).status_code == 200
    body = form_body(doc, booking.start_date, booking.start_date, {room: 4})
    response = client.post(f"/bookings/{booking.id}/edit", data=body)
    assert response.status_code == 400
    result = parse(response.text)
    assert (
        result.one("p", id="e-dates").text == "Das Abreisedatum muss nach dem Anreisedatum liegen"
    )
    assert result.one("form", data_booking_form=True)["action"] == f"/bookings/{booking.id}/edit"


def test_closed_bookings_cannot_be_edited(
    client: TestClient, ctx: Context, bob: User, room: SleepingAccommodation
) -> None:
    booking = factories.make_booking(ctx, bob, [(room, 1)], status=CANCELLED)
    login(client, bob)
    response = client.get(f"/bookings/{booking.id}/edit", follow_redirects=False)
    assert response.status_code == 303
    detail = page(client, response.headers["location"])
    assert "flash-error" in detail.one("div", class_="flash")["class"].split()
    assert flash_text(detail) == "Eine stornierte Buchung kann nicht geändert werden."
    actions = detail.one("section", class_="booking-overview").find("div", class_="actions")
    assert actions is None  # no edit, no cancel
    # a POST anyway gets the domain's answer in German
    body = form_body(detail, booking.start_date, booking.end_date, {room: 1})
    response = client.post(f"/bookings/{booking.id}/edit", data=body)
    assert response.status_code == 409
    assert parse(response.text).one("div", class_="alert-error").text == (
        "Eine stornierte Buchung kann nicht geändert werden."
    )


# --- detail, history, actions -------------------------------------------------------------------


def test_detail_page(
    client: TestClient, ctx: Context, alice: User, bob: User, room: SleepingAccommodation
) -> None:
    start = date(2030, 8, 12)  # a Monday
    booking = factories.make_booking(ctx, bob, [(room, 2)], start=start, nights=3, notes="Hund")
    login(client, bob)
    doc = page(client, f"/bookings/{booking.id}")
    overview = doc.one("section", class_="booking-overview")
    assert overview.one("h2").text == "Mo, 12. August 2030 – Do, 15. August 2030"
    assert overview.one("p", class_="facts").text == "2 Personen für 3 Nächte"
    assert overview.find("p", class_="guest") is None
    labels = [a.text for a in overview.one("div", class_="actions").find_all("a")]
    assert labels == ["Bearbeiten", "Stornieren"]
    cancel = overview.one("a", data_confirm_dialog=True)
    assert cancel["href"] == f"/bookings/{booking.id}/cancel"
    assert cancel["data-confirm-title"] == "Buchung stornieren"
    assert cancel["data-confirm-message"] == (
        "Möchten Sie diese Buchung wirklich stornieren? "
        "Diese Aktion kann nicht rückgängig gemacht werden."
    )
    assert cancel["data-confirm-action"] == f"/bookings/{booking.id}/cancel"
    place = doc.one("ul", class_="place-cards").one("li")
    assert place.one("h3").text == "Zimmer 1"
    assert place.find_all("p")[-1].text == "Anzahl Personen: 2"
    assert doc.one("p", class_="notes").text == "Hund"
    tabs = doc.one("nav", class_="tabs")
    assert tabs.one("a", aria_current="page").text == "Details"
    assert any("/js/confirm." in s["src"] for s in doc.find_all("script", src=True))
    # the administrator also sees the guest and the decisions
    login(client, alice)
    overview = page(client, f"/bookings/{booking.id}").one("section", class_="booking-overview")
    assert overview.one("p", class_="guest").text == "Gast: Bob Person ( bob@example.com )"
    titles = [a["data-confirm-title"] for a in overview.find_all("a", data_confirm_dialog=True)]
    assert titles == ["Buchung annehmen", "Buchung ablehnen", "Buchung stornieren"]


def test_cancel_flow(
    client: TestClient, ctx: Context, bob: User, room: SleepingAccommodation
) -> None:
    booking = factories.make_booking(ctx, bob, [(room, 1)], status=ACCEPTED)
    login(client, bob)
    doc = page(client, f"/bookings/{booking.id}/cancel")
    assert doc.one("h1").text == "Buchung stornieren"
    form = doc.one("form", action=f"/bookings/{booking.id}/cancel")
    assert form["method"] == "post"
    assert form.one("button", type="submit").text == "Stornieren"
    assert form.one("a").text == "Abbrechen"
    response = client.post(
        form["action"],
        data={"csrf_token": csrf(doc), "next": form.one("input", name="next")["value"]},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/bookings/{booking.id}"
    detail = page(client, response.headers["location"])
    assert flash_text(detail) == "Buchung storniert."
    assert status_of(ctx, booking.id) == CANCELLED
    assert detail.one("span", class_="badge", data_status="2").text == "Storniert"
    # again: the confirmation page and the POST both explain, in German
    response = client.get(f"/bookings/{booking.id}/cancel", follow_redirects=False)
    assert response.status_code == 303
    response = client.post(
        f"/bookings/{booking.id}/cancel", data={"csrf_token": csrf(doc)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert flash_text(page(client, response.headers["location"])) == (
        "Die Buchung ist bereits storniert."
    )


def test_accept_and_reject_flows(
    client: TestClient, ctx: Context, alice: User, bob: User, room: SleepingAccommodation
) -> None:
    first = factories.make_booking(ctx, bob, [(room, 1)])
    second = factories.make_booking(ctx, bob, [(room, 1)], start=ctx.today() + timedelta(days=20))
    login(client, alice)
    doc = page(client, f"/bookings/{first.id}/accept")
    assert doc.one("h1").text == "Buchung annehmen"
    assert doc.one("form", action=f"/bookings/{first.id}/accept").one("button").text == "Annehmen"
    response = client.post(
        f"/bookings/{first.id}/accept", data={"csrf_token": csrf(doc)}, follow_redirects=False
    )
    assert response.headers["location"] == f"/bookings/{first.id}"
    assert flash_text(page(client, response.headers["location"])) == "Buchung angenommen."
    assert status_of(ctx, first.id) == ACCEPTED
    # from the list, back to the list (next); a foreign next is ignored
    doc = page(client, f"/bookings/{second.id}/reject?next=/bookings%3Fview%3Dcompact")
    assert doc.one("h1").text == "Buchung ablehnen"
    assert doc.one("input", name="next")["value"] == "/bookings?view=compact"
    response = client.post(
        f"/bookings/{second.id}/reject",
        data={"csrf_token": csrf(doc), "next": "/bookings?view=compact"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/bookings?view=compact"
    assert status_of(ctx, second.id) == REJECTED
    assert flash_text(page(client, "/bookings?view=compact")) == "Buchung abgelehnt."
    # deciding again is a business rule violation, shown as a German flash
    response = client.post(
        f"/bookings/{second.id}/accept",
        data={"csrf_token": csrf(doc), "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert response.headers["location"] == f"/bookings/{second.id}"
    assert flash_text(page(client, response.headers["location"])) == (
        "Nur ausstehende Buchungen können angenommen werden."
    )
    assert client.get(f"/bookings/{first.id}/reject", follow_redirects=False).status_code == 303


def test_members_cannot_decide(
    client: TestClient, ctx: Context, bob: User, room: SleepingAccommodation
) -> None:
    booking = factories.make_booking(ctx, bob, [(room, 1)])
    login(client, bob)
    doc = page(client, f"/bookings/{booking.id}")
    for action in ("accept", "reject"):
        assert client.get(f"/bookings/{booking.id}/{action}").status_code == 403
        response = client.post(f"/bookings/{booking.id}/{action}", data={"csrf_token": csrf(doc)})
        assert response.status_code == 403
    assert status_of(ctx, booking.id) == PENDING


def test_history_tab(
    client: TestClient, ctx: Context, alice: User, bob: User, room: SleepingAccommodation
) -> None:
    tent = factories.make_place(ctx, "Zelt", capacity=2, kind=1)
    login(client, bob)
    doc = page(client, "/bookings/new")
    start = ctx.today() + timedelta(days=3)
    response = client.post(
        "/bookings/new",
        data=form_body(doc, start, start + timedelta(days=2), {room: 2}, "Erste Notiz"),
        follow_redirects=False,
    )
    url = response.headers["location"]
    booking_id = url.rsplit("/", 1)[1]
    body = form_body(doc, start, start + timedelta(days=3), {room: 1, tent: 2}, "")
    assert client.post(f"{url}/edit", data=body, follow_redirects=False).status_code == 303
    login(client, alice)
    admin_doc = page(client, url)
    client.post(f"{url}/accept", data={"csrf_token": csrf(admin_doc)})
    assert status_of(ctx, booking_id) == ACCEPTED

    login(client, bob)
    doc = page(client, f"{url}?tab=history")
    assert doc.one("nav", class_="tabs").one("a", aria_current="page").text == "Historie"
    entries = doc.one("ol", class_="history").find_all("li")
    assert [e.one("strong").text for e in entries] == ["Angenommen", "Geändert", "Erstellt"]
    assert "von Alice Person" in entries[0].find_all("p")[0].text
    assert "von Bob Person" in entries[2].find_all("p")[0].text
    assert entries[0].one("time")["datetime"]

    def changes(entry: Element) -> dict[str, str]:
        return {div.one("dt").text: div.one("dd").text for div in entry.find_all("div")}

    end2, end3 = start + timedelta(days=2), start + timedelta(days=3)
    assert changes(entries[0]) == {"Status": "Ausstehend → Angenommen"}
    assert changes(entries[1]) == {
        "Abreise": f"{end2:%d.%m.%Y} → {end3:%d.%m.%Y}",
        "Schlafmöglichkeiten": "Zimmer 1 (2 Personen) → Zelt (2 Personen), Zimmer 1 (1 Person)",
        "Notizen": "„Erste Notiz“ → (keine)",
    }
    assert changes(entries[2]) == {
        "Anreise": f"{start:%d.%m.%Y}",
        "Abreise": f"{end2:%d.%m.%Y}",
        "Schlafmöglichkeiten": "Zimmer 1 (2 Personen)",
        "Notizen": "„Erste Notiz“",
        "Status": "Ausstehend",
    }
    # the details tab does not load the history
    assert page(client, url).find("ol", class_="history") is None


def test_other_members_never_see_bobs_booking(
    client: TestClient, ctx: Context, bob: User, charlie: User, room: SleepingAccommodation
) -> None:
    booking = factories.make_booking(ctx, bob, [(room, 1)], notes="Geheimnis von Bob")
    login(client, charlie)
    doc = page(client, "/bookings")
    assert not booked_ids(doc)
    for suffix in ("", "?tab=history", "/edit", "/cancel"):
        response = client.get(f"/bookings/{booking.id}{suffix}", follow_redirects=False)
        assert response.status_code == 404
        assert "Geheimnis" not in response.text and "Bob" not in response.text
        assert parse(response.text).one("h1").text == "Seite nicht gefunden"
    token = csrf(doc)
    start = ctx.today() + timedelta(days=2)
    body = form_body(doc, start, start + timedelta(days=1), {room: 1})
    assert client.post(f"/bookings/{booking.id}/edit", data=body).status_code == 404
    response = client.post(f"/bookings/{booking.id}/cancel", data={"csrf_token": token})
    assert response.status_code == 404
    assert status_of(ctx, booking.id) == PENDING
    # unknown ids and non-ids are plain 404 pages
    assert client.get(f"/bookings/{uuid.uuid4()}").status_code == 404
    assert client.get("/bookings/not-a-booking").status_code == 404
