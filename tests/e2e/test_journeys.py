"""Journeys through the web UI in Chromium, each on a desktop and a phone viewport.

Every page a journey visits is checked by ``Tab.check`` (axe, console errors, failed requests,
CSS + JS weight, a full-page screenshot). Each test creates its own users, places and dates, so
the tests share one server without depending on each other.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import pytest
from playwright.sync_api import Locator, expect
from sqlalchemy import select

from booking.db.models import Booking, SleepingAccommodation, User
from tests import factories
from tests.e2e.conftest import ADMIN_EMAIL, UI, App, Mailbox, Tab, house_today

# One xdist worker runs them all: one server and one browser instead of one per worker.
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("e2e")]

# Dates far enough apart that two journeys (and both viewports) never compete for a night.
OFFSETS = {
    "journey": {"desktop": 10, "phone": 14},
    "edit": {"desktop": 18, "phone": 24},
    "full": {"desktop": 31, "phone": 38},
    "nojs": {"desktop": 45, "phone": 48},
    "keyboard": {"desktop": 51, "phone": 54},
    "closed": {"desktop": 60, "phone": 67},
}


def tag() -> str:
    return uuid.uuid4().hex[:6]


def day(ui: UI, journey: str, plus: int = 0) -> date:
    return house_today() + timedelta(days=OFFSETS[journey][ui.viewport] + plus)


# --- the picker -------------------------------------------------------------------------------


def picker_day(tab: Tab, when: date) -> Locator:
    """The day's button in the picker; pages forward ("Nächster Monat") until it is shown."""
    page = tab.page
    button = page.locator(f".picker-grid button[data-date='{when.isoformat()}']")
    for _ in range(4):
        if button.count():
            return button
        tab.press(page.get_by_role("button", name="Nächster Monat"))
    expect(button).to_have_count(1)
    return button


def wait_for_availability(tab: Tab) -> None:
    """The picker loads the nights' availability after rendering; wait until it arrived."""
    tab.page.wait_for_load_state("networkidle")


def pick_range(tab: Tab, start: date, end: date) -> None:
    wait_for_availability(tab)
    tab.press(picker_day(tab, start))
    expect(picker_day(tab, start)).to_have_attribute("aria-pressed", "true")
    tab.press(picker_day(tab, end))
    expect(picker_day(tab, end)).to_have_attribute("aria-pressed", "true")
    nights = (end - start).days
    expect(tab.page.locator(".picker-display")).to_contain_text(f"{nights} Nächte")
    wait_for_availability(tab)


def place_row(tab: Tab, name: str) -> Locator:
    spin = tab.page.get_by_role("spinbutton", name=name, exact=True)
    return tab.page.locator(".place-row").filter(has=spin)


def set_persons(tab: Tab, name: str, count: int) -> None:
    """Use the +/- counter of a place until it shows ``count``."""
    row = place_row(tab, name)
    field = row.get_by_role("spinbutton")
    for _ in range(20):
        current = int(field.input_value() or 0)
        if current == count:
            return
        tab.press(row.get_by_role("button", name="Erhöhen" if current < count else "Verringern"))
    expect(field).to_have_value(str(count))


def confirm_dialog(tab: Tab, button: str) -> None:
    dialog = tab.page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    tab.press(dialog.get_by_role("button", name=button, exact=True))


def flash(tab: Tab) -> Locator:
    return tab.page.locator(".flash")


# --- data -------------------------------------------------------------------------------------


def fill_night(app: App, night: date) -> None:
    """Book every bed of every active place for one night (directly, like an old booking)."""
    with app.ctx.db.read() as session:
        active = session.scalars(
            select(SleepingAccommodation).where(SleepingAccommodation.is_active.is_(True))
        ).all()
    guest = factories.make_user(app.ctx, f"full-{tag()}@e2e.example.com", first_name="Voll")
    factories.make_booking(
        app.ctx,
        guest,
        [(place, place.max_capacity) for place in active],
        start=night,
        nights=1,
        status=4,
    )


def member(app: App, first: str = "Mia") -> str:
    email = f"{first.lower()}-{tag()}@e2e.example.com"
    factories.make_user(app.ctx, email, first_name=first, last_name="Mitglied")
    return email


# --- journey 3: admin manages sleeping places --------------------------------------------------


def test_admin_manages_sleeping_places(ui: UI) -> None:
    admin = ui.tab()
    page = admin.page
    admin.login(ADMIN_EMAIL)
    admin.press(page.get_by_role("link", name="Verwaltung"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    admin.check("admin-dashboard")
    admin.press(
        page.get_by_role("navigation", name="Verwaltung").get_by_role(
            "link", name="Schlafmöglichkeiten"
        )
    )
    expect(page).to_have_url(re.compile(r"/admin/places$"))
    admin.check("admin-places")

    # create
    name = f"Gartenzelt {tag()}"
    admin.press(page.get_by_role("link", name="Neue Schlafmöglichkeit"))
    expect(page.get_by_role("heading", name="Neue Schlafmöglichkeit")).to_be_visible()
    admin.check("admin-place-new")
    page.get_by_label("Name").fill(name)
    admin.press(page.get_by_label("Zelt", exact=True))
    page.get_by_label("Maximale Kapazität").fill("3")
    admin.press(page.get_by_role("button", name="Speichern"))
    expect(page).to_have_url(re.compile(r"/admin/places$"))
    expect(flash(admin)).to_contain_text(f"Die Schlafmöglichkeit {name} wurde angelegt.")
    row = page.get_by_role("row").filter(has_text=name)
    expect(row).to_contain_text("Zelt")
    expect(row).to_contain_text("3 Personen")
    expect(row).to_contain_text("Aktiv")

    # edit
    admin.press(row.get_by_role("link", name="Bearbeiten"))
    expect(page.get_by_role("heading", name="Schlafmöglichkeit bearbeiten")).to_be_visible()
    expect(page.get_by_label("Name")).to_have_value(name)
    expect(page.get_by_label("Zelt", exact=True)).to_be_checked()
    admin.check("admin-place-edit")
    renamed = name.replace("Gartenzelt", "Großes Zelt")
    page.get_by_label("Name").fill(renamed)
    page.get_by_label("Maximale Kapazität").fill("5")
    admin.press(page.get_by_role("button", name="Speichern"))
    expect(flash(admin)).to_contain_text(f"Die Schlafmöglichkeit {renamed} wurde gespeichert.")
    row = page.get_by_role("row").filter(has_text=renamed)
    expect(row).to_contain_text("5 Personen")

    # deactivate: the dialog asks first; cancelling it changes nothing
    admin.press(row.get_by_role("link", name="Deaktivieren"))
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Möchten Sie diese Schlafmöglichkeit wirklich deaktivieren?")
    admin.check("admin-place-deactivate-dialog")
    admin.press(dialog.get_by_role("button", name="Abbrechen"))
    expect(dialog).to_have_count(0)
    expect(row).to_contain_text("Aktiv")
    admin.press(row.get_by_role("link", name="Deaktivieren"))
    confirm_dialog(admin, "Deaktivieren")
    expect(flash(admin)).to_contain_text("Die Schlafmöglichkeit wurde deaktiviert.")
    expect(page.get_by_role("row").filter(has_text=renamed)).to_have_count(0)

    # "Inaktive anzeigen" lists it as inactive; reactivate
    admin.press(page.get_by_label("Inaktive anzeigen"))
    admin.press(page.get_by_role("button", name="Anwenden"))
    expect(page).to_have_url(re.compile(r"inactive=1"))
    row = page.get_by_role("row").filter(has_text=renamed)
    expect(row).to_contain_text("Inaktiv")
    admin.check("admin-places-inactive")
    admin.press(row.get_by_role("button", name="Aktivieren"))
    expect(flash(admin)).to_contain_text("Die Schlafmöglichkeit ist wieder aktiv.")
    row = page.get_by_role("row").filter(has_text=renamed)
    expect(row.locator(".badge")).to_have_text("Aktiv")

    # members see it in the booking form again
    guest = ui.tab()
    guest.login(member(ui.app))
    guest.goto("/bookings/new")
    expect(guest.page.get_by_role("spinbutton", name=renamed, exact=True)).to_be_visible()
    guest.assert_clean()


# --- journey 4: a fully booked day cannot be picked ------------------------------------------


def test_fully_booked_day_cannot_be_picked(ui: UI) -> None:
    app = ui.app
    full = day(ui, "full")
    factories.make_place(app.ctx, f"Dachzimmer {tag()}", capacity=2)
    fill_night(app, full)

    guest = ui.tab()
    page = guest.page
    guest.login(member(app))
    guest.press(page.get_by_role("link", name="Neue Buchung", exact=True))
    expect(page.get_by_role("heading", name="Neue Buchung erstellen")).to_be_visible()
    wait_for_availability(guest)
    button = picker_day(guest, full)
    wait_for_availability(guest)
    expect(button).to_have_attribute("data-full", "true")
    expect(button).to_have_class(re.compile(r"\bbooked-out\b"))
    expect(button).to_be_disabled()
    expect(button).to_have_attribute("aria-label", re.compile("Ausgebucht"))
    decoration = button.evaluate("b => getComputedStyle(b).textDecorationLine")
    assert "line-through" in decoration
    guest.check("booking-new-full-day")

    # clicking it selects nothing
    button.click(force=True)
    expect(button).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#f-start_date")).to_have_value("")

    # a stay may end on the full day (departure only) but not run through it
    before = full - timedelta(days=2)
    guest.press(picker_day(guest, before))
    expect(picker_day(guest, before)).to_have_attribute("aria-pressed", "true")
    expect(button).to_be_enabled()
    expect(button).to_have_attribute("aria-label", re.compile("nur Abreise möglich"))
    after = full + timedelta(days=1)
    guest.press(picker_day(guest, after))
    # not a valid end: the picker starts a new selection instead and says why
    expect(page.locator("#f-end_date")).to_have_value("")
    expect(page.locator(".picker-hint")).to_contain_text("keine ausgebuchte Nacht")
    guest.press(picker_day(guest, before))
    guest.press(button)
    expect(page.locator("#f-start_date")).to_have_value(before.isoformat())
    expect(page.locator("#f-end_date")).to_have_value(full.isoformat())
    guest.assert_clean()


# --- journey 1: from registration to an accepted booking ---------------------------------------


def test_register_verify_approve_book_accept(ui: UI) -> None:
    app = ui.app
    suffix = tag()
    north = f"Zimmer Nord {suffix}"
    south = f"Zimmer Süd {suffix}"
    factories.make_place(app.ctx, north, capacity=2)
    factories.make_place(app.ctx, south, capacity=3)
    email = f"neu-{suffix}@e2e.example.com"
    password = "Sommer-Haus-2026!"
    arrival, departure = day(ui, "journey"), day(ui, "journey", 2)

    # register
    guest = ui.tab()
    page = guest.page
    guest.goto("/")
    expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()
    guest.check("login")
    guest.press(page.get_by_role("link", name="Jetzt registrieren"))
    expect(page.get_by_role("heading", name="Registrierung", level=1)).to_be_visible()
    page.get_by_label("Vorname").fill("Nina")
    page.get_by_label("Nachname").fill("Neumann")
    page.get_by_label("E-Mail-Adresse").fill(email)
    page.get_by_label(re.compile(r"^Passwort( \*)?$")).fill(password)
    expect(page.locator(".strength-level")).not_to_be_empty()
    page.get_by_label("Passwort bestätigen").fill(password)
    guest.check("register")
    guest.press(page.get_by_role("button", name="Registrieren"))
    expect(page.get_by_role("heading", name="Registrierung erfolgreich!")).to_be_visible()
    guest.check("register-success")

    # verify with the link from the mail
    mail = app.mailbox.wait_for(email, "Bitte bestätigen Sie Ihre E-Mail-Adresse")
    match = re.search(r"/verify-email\?token=([\w\-]+)", Mailbox.body(mail))
    assert match, Mailbox.body(mail)
    guest.goto(f"/verify-email?token={match.group(1)}")
    guest.check("verify-email")
    guest.press(page.get_by_role("button", name="E-Mail-Adresse bestätigen"))
    expect(page.get_by_role("heading", name="E-Mail erfolgreich bestätigt!")).to_be_visible()
    guest.check("verify-email-done")

    # the administrator approves
    admin = ui.tab()
    admin.login(ADMIN_EMAIL)
    admin.press(admin.page.get_by_role("link", name="Verwaltung"))
    admin.press(
        admin.page.get_by_role("navigation", name="Verwaltung").get_by_role("link", name="Benutzer")
    )
    pending = admin.page.get_by_role("region", name="Benutzer-Freigabe")
    row = pending.get_by_role("row").filter(has_text=email)
    expect(row).to_contain_text("Nina Neumann")
    admin.check("admin-users")
    admin.press(row.get_by_role("button", name="Freigeben"))
    expect(flash(admin)).to_contain_text("Nina Neumann")
    expect(pending.get_by_role("row").filter(has_text=email)).to_have_count(0)
    admin.assert_clean()
    app.mailbox.wait_for(email, "Ihr Konto wurde freigeschaltet")

    # the member logs in and books two nights in two rooms
    guest.login(email, password)
    expect(page.get_by_role("heading", name="Meine Buchungen")).to_be_visible()
    guest.check("bookings-list-empty")
    guest.press(page.get_by_role("link", name="Neue Buchung erstellen"))
    expect(page.get_by_role("heading", name="Neue Buchung erstellen")).to_be_visible()
    pick_range(guest, arrival, departure)
    expect(page.locator(".picker-hint")).to_contain_text("2 Nächte ausgewählt")
    expect(place_row(guest, north).locator("[data-free]")).to_have_text("Verfügbar")
    set_persons(guest, north, 2)
    set_persons(guest, south, 1)
    # the counter stops at the free capacity
    expect(place_row(guest, north).get_by_role("button", name="Erhöhen")).to_be_disabled()
    page.get_by_label("Notizen (optional)").fill("Wir bringen Bettwäsche mit.")
    expect(page.locator("[data-notes-count]")).to_have_text("27/500 Zeichen")
    summary = page.get_by_role("region", name="Buchungsübersicht")
    expect(summary).to_contain_text("2 Nächte")
    expect(summary).to_contain_text("3 Personen")
    expect(summary).to_contain_text("2 Schlafmöglichkeiten")
    guest.check("booking-new")
    guest.press(page.get_by_role("button", name="Buchung erstellen"))
    expect(page).to_have_url(re.compile(r"/bookings/[0-9a-f-]{36}$"))
    booking_id = page.url.rsplit("/", 1)[1]
    expect(flash(guest)).to_contain_text("Buchung erstellt.")
    expect(page.locator(".booking-overview .badge")).to_have_text("Ausstehend")
    expect(page.locator(".booking-overview")).to_contain_text("3 Personen für 2 Nächte")
    expect(page.get_by_role("heading", name=north)).to_be_visible()
    expect(page.get_by_role("heading", name=south)).to_be_visible()
    guest.check("booking-detail")
    guest.press(page.get_by_role("link", name="Historie"))
    expect(page.get_by_role("heading", name="Historie", level=2)).to_be_visible()
    expect(page.locator(".history")).to_contain_text("Erstellt")
    guest.check("booking-history")

    # the administrator accepts it from the list
    admin.goto("/bookings")
    expect(admin.page.get_by_role("heading", name="Alle Buchungen")).to_be_visible()
    card = admin.page.locator(f"li[data-booking='{booking_id}']")
    expect(card).to_contain_text("Nina Neumann")
    admin.check("bookings-list-admin")
    admin.press(card.get_by_role("link", name="Annehmen"))
    expect(admin.page.get_by_role("dialog")).to_contain_text("Möchten Sie diese Buchung annehmen?")
    admin.check("booking-accept-dialog")
    confirm_dialog(admin, "Annehmen")
    expect(flash(admin)).to_contain_text("Buchung angenommen.")
    expect(card.locator(".badge")).to_have_text("Angenommen")
    admin.assert_clean()

    # the member sees "Angenommen" in the list and in the calendar
    guest.press(page.get_by_role("link", name="Buchungen", exact=True))
    card = page.locator(f"li[data-booking='{booking_id}']")
    expect(card.locator(".badge")).to_have_text("Angenommen")
    guest.check("bookings-list")
    guest.press(page.get_by_role("navigation", name="Ansicht").get_by_role("link", name="Kalender"))
    expect(page).to_have_url(re.compile(r"view=calendar"))
    today = page.locator("td.today")
    expect(today).to_have_attribute("data-date", house_today().isoformat())
    expect(today).to_have_attribute("aria-current", "date")
    if (arrival.year, arrival.month) != (house_today().year, house_today().month):
        guest.press(page.get_by_role("link", name="Nächster Monat"))
        expect(page).to_have_url(re.compile(f"month={arrival:%Y-%m}"))
    # a link where the stay starts (and again where a new week row starts)
    event = page.locator(f"a.event[data-booking='{booking_id}']").first
    expect(event).to_have_class(re.compile(r"\bstatus-accepted\b"))
    expect(event).to_contain_text("Angenommen")
    # the span: every night of the stay shows the booking
    for night in (arrival, arrival + timedelta(days=1)):
        cell = page.locator(f"td[data-date='{night.isoformat()}']")
        expect(cell.locator(f"[data-booking='{booking_id}']")).to_have_count(1)
    guest.check("bookings-calendar")
    guest.press(page.get_by_role("navigation", name="Ansicht").get_by_role("link", name="Kompakt"))
    row = page.locator(f"tr[data-booking='{booking_id}']")
    expect(row.locator(".badge")).to_have_text("Angenommen")
    guest.check("bookings-compact")


# --- journey 2: a member edits and cancels ---------------------------------------------------


def test_member_edits_and_cancels(ui: UI) -> None:
    app = ui.app
    suffix = tag()
    room = factories.make_place(app.ctx, f"Giebelzimmer {suffix}", capacity=4)
    email = member(app, "Emil")
    with app.ctx.db.read() as session:
        owner = session.scalars(select(User).where(User.email == email)).one()
    start = day(ui, "edit")
    booking = factories.make_booking(app.ctx, owner, [(room, 1)], start=start, nights=2, status=0)

    guest = ui.tab()
    page = guest.page
    guest.login(email)
    card = page.locator(f"li[data-booking='{booking.id}']")
    expect(card).to_contain_text("2 Nächte · 1 Person")
    guest.press(card.get_by_role("link", name="Details anzeigen"))
    expect(page.get_by_role("heading", name="Buchungsdetails")).to_be_visible()

    # edit: new dates and one more person
    guest.press(page.get_by_role("link", name="Bearbeiten"))
    expect(page.get_by_role("heading", name="Buchung bearbeiten")).to_be_visible()
    wait_for_availability(guest)
    expect(picker_day(guest, start)).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("spinbutton", name=room.name)).to_have_value("1")
    guest.check("booking-edit")
    new_start, new_end = start + timedelta(days=1), start + timedelta(days=4)
    pick_range(guest, new_start, new_end)
    set_persons(guest, room.name, 2)
    guest.press(page.get_by_role("button", name="Änderungen speichern"))
    expect(flash(guest)).to_contain_text("Buchung gespeichert.")
    overview = page.locator(".booking-overview")
    expect(overview).to_contain_text("2 Personen für 3 Nächte")
    expect(overview.locator(".badge")).to_have_text("Ausstehend")
    guest.press(page.get_by_role("link", name="Historie"))
    expect(page.locator(".history")).to_contain_text("Geändert")
    guest.assert_clean()

    # cancel: the dialog asks; "Abbrechen" keeps the booking
    guest.press(page.get_by_role("link", name="Stornieren"))
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Möchten Sie diese Buchung wirklich stornieren?")
    guest.check("booking-cancel-dialog")
    guest.press(dialog.get_by_role("button", name="Abbrechen"))
    expect(dialog).to_have_count(0)
    expect(overview.locator(".badge")).to_have_text("Ausstehend")
    guest.press(page.get_by_role("link", name="Stornieren"))
    confirm_dialog(guest, "Stornieren")
    expect(flash(guest)).to_contain_text("Buchung storniert.")
    expect(overview.locator(".badge")).to_have_text("Storniert")
    expect(page.get_by_role("link", name="Bearbeiten")).to_have_count(0)
    expect(page.get_by_role("link", name="Stornieren")).to_have_count(0)

    # the status filter finds it (and the filter lives in the URL)
    guest.press(page.get_by_role("link", name="Buchungen", exact=True))
    page.get_by_label("Status").select_option(label="Storniert")
    guest.press(page.get_by_role("button", name="Filter anwenden"))
    expect(page).to_have_url(re.compile(r"status=2"))
    card = page.locator(f"li[data-booking='{booking.id}']")
    expect(card.locator(".badge")).to_have_text("Storniert")
    expect(page.locator("li[data-booking] .badge").filter(has_not_text="Storniert")).to_have_count(
        0
    )
    guest.check("bookings-list-cancelled")
    with app.ctx.db.read() as session:
        stored = session.get(Booking, booking.id)
        assert stored is not None and stored.status == 2


# --- no JavaScript: the plain form ------------------------------------------------------------


def test_booking_without_javascript(ui: UI) -> None:
    app = ui.app
    room = factories.make_place(app.ctx, f"Kammer {tag()}", capacity=3)
    start, end = day(ui, "nojs"), day(ui, "nojs", 2)
    guest = ui.tab(js=False)
    page = guest.page
    guest.login(member(app, "Otto"))
    guest.goto("/bookings/new")
    expect(page.locator(".picker")).to_have_count(0)
    arrival, departure = page.get_by_label("Anreise"), page.get_by_label("Abreise")
    expect(arrival).to_be_visible()
    expect(departure).to_be_visible()
    guest.check("booking-new-nojs")

    # a wrong range comes back with the input kept and the error next to the dates
    arrival.fill(end.isoformat())
    departure.fill(start.isoformat())
    page.get_by_role("spinbutton", name=room.name).fill("2")
    page.get_by_label("Notizen (optional)").fill("Ohne Skript")
    guest.allow_status(400)
    guest.press(page.get_by_role("button", name="Buchung erstellen"))
    expect(page.locator("#dates .error")).not_to_have_count(0)
    expect(page.get_by_role("spinbutton", name=room.name)).to_have_value("2")
    expect(page.get_by_label("Notizen (optional)")).to_have_value("Ohne Skript")
    expect(page.get_by_label("Anreise")).to_have_value(end.isoformat())
    guest.check("booking-new-nojs-error")

    guest.allow_status()
    page.get_by_label("Anreise").fill(start.isoformat())
    page.get_by_label("Abreise").fill(end.isoformat())
    guest.press(page.get_by_role("button", name="Buchung erstellen"))
    expect(page).to_have_url(re.compile(r"/bookings/[0-9a-f-]{36}$"))
    overview = page.locator(".booking-overview")
    expect(overview).to_contain_text("2 Personen für 2 Nächte")
    expect(overview.locator(".badge")).to_have_text("Ausstehend")

    # cancelling without JavaScript goes through the confirmation page
    guest.press(page.get_by_role("link", name="Stornieren"))
    expect(page).to_have_url(re.compile(r"/cancel"))
    expect(page.get_by_role("heading", name="Buchung stornieren")).to_be_visible()
    guest.check("booking-cancel-nojs")
    guest.press(page.get_by_role("button", name="Stornieren"))
    expect(page.locator(".booking-overview .badge")).to_have_text("Storniert")
    guest.assert_clean()


# --- the keyboard alone -------------------------------------------------------------------------


def focused_date(tab: Tab) -> str:
    return str(tab.page.evaluate("() => document.activeElement.dataset.date || ''"))


def tab_until(tab: Tab, predicate: str, limit: int = 60) -> None:
    """Press Tab until ``predicate`` (JS, gets the focused element) is true."""
    for _ in range(limit):
        tab.page.keyboard.press("Tab")
        if tab.page.evaluate(f"({predicate})(document.activeElement)"):
            return
    raise AssertionError(f"Tab never reached an element matching {predicate}")


def test_booking_form_keyboard_only(ui: UI) -> None:
    app = ui.app
    room = factories.make_place(app.ctx, f"Stube {tag()}", capacity=3)
    target = day(ui, "keyboard")
    guest = ui.tab()
    page = guest.page
    guest.login(member(app, "Kai"))
    guest.goto("/bookings/new")
    wait_for_availability(guest)

    # Tab into the picker's grid, move with the arrow keys, choose with Enter
    tab_until(guest, "el => el.matches('.picker-grid button[data-date]')")
    for _ in range(40):
        current = date.fromisoformat(focused_date(guest))
        if current == target:
            break
        gap = (target - current).days
        page.keyboard.press("ArrowDown" if gap >= 7 else "ArrowRight" if gap > 0 else "ArrowLeft")
    assert focused_date(guest) == target.isoformat()
    page.keyboard.press("Enter")
    expect(picker_day(guest, target)).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(page.locator(".picker-hint")).to_contain_text("2 Nächte - Klicken Sie um zu bestätigen")
    page.keyboard.press("Enter")
    expect(page.locator("#f-end_date")).to_have_value((target + timedelta(days=2)).isoformat())
    wait_for_availability(guest)

    # the person counter: Tab to "Erhöhen" of the room, Space twice
    spin = page.get_by_role("spinbutton", name=room.name)
    input_id = spin.get_attribute("id")
    tab_until(
        guest,
        f"el => el.getAttribute('aria-controls') === '{input_id}' && el.getAttribute('aria-label') === 'Erhöhen'",
    )
    page.keyboard.press("Space")
    page.keyboard.press("Space")
    expect(spin).to_have_value("2")
    # the focus is visible
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), outline

    tab_until(guest, "el => el.type === 'submit' && el.closest('[data-booking-form]')")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/bookings/[0-9a-f-]{36}$"))
    expect(page.locator(".booking-overview")).to_contain_text("2 Personen für 2 Nächte")
    guest.assert_clean()


# --- the remaining pages: axe, weight and a screenshot each ----------------------------------


def test_other_pages_tour(ui: UI) -> None:
    """Pages no journey above needs: profile, e-mail settings, password reset, the 404 page."""
    anonymous = ui.tab()
    page = anonymous.page
    anonymous.goto("/login")
    anonymous.press(page.get_by_role("link", name="Passwort vergessen?"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    anonymous.check("forgot-password")
    anonymous.goto("/resend-verification")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    anonymous.check("resend-verification")
    anonymous.allow_status(400)
    anonymous.goto("/verify-email")
    expect(page.get_by_role("heading", name="Ungültiger Link")).to_be_visible()
    anonymous.check("verify-email-missing")
    anonymous.allow_status(404)
    response = anonymous.goto("/gibt-es-nicht")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    anonymous.check("error-404")

    admin = ui.tab()
    admin.login(ADMIN_EMAIL)
    admin.press(admin.page.get_by_role("link", name="Profil"))
    expect(admin.page.get_by_role("heading", level=1)).to_be_visible()
    expect(admin.page.get_by_label("Vorname")).to_have_value("Ada")
    admin.check("profile")
    admin.goto("/admin/email")
    expect(admin.page.get_by_role("heading", level=1)).to_be_visible()
    admin.check("admin-email")


# --- a long list in pages ---------------------------------------------------------------------


def test_a_long_list_in_pages(ui: UI) -> None:
    """60 past stays of one member: two pages of the list, both ways, on the desktop and on the
    phone, without anything wider than the screen."""
    app = ui.app
    email = member(app, "Paula")
    with app.ctx.db.read() as session:
        paula = session.scalars(select(User).where(User.email == email)).one()
    # inactive and in the past: the other journeys' pickers and lists stay as they are
    room = factories.make_place(app.ctx, f"Kammer {tag()}", capacity=2, active=False)
    first = -700 if ui.viewport == "desktop" else -600
    factories.make_stays(app.ctx, [paula], [room], 60, first_day=first, status=4)  # completed

    guest = ui.tab()
    page = guest.page
    guest.login(email)
    guest.goto("/bookings?timeRange=2")
    expect(page.locator(".list-count")).to_have_text("60 Buchungen")
    expect(page.locator(".booking-list > li")).to_have_count(50)
    pager = page.get_by_role("navigation", name="Seiten")
    expect(pager).to_contain_text("Seite 1 von 2")
    expect(pager.get_by_role("link", name="Zurück")).to_have_count(0)
    nothing_wider = "() => document.documentElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(nothing_wider)
    guest.check("bookings-list-paged")

    guest.press(pager.get_by_role("link", name="Weiter"))
    expect(page).to_have_url(re.compile(r"timeRange=2.*page=2"))
    expect(page.locator(".booking-list > li")).to_have_count(10)
    expect(pager).to_contain_text("Seite 2 von 2")
    expect(pager.get_by_role("link", name="Weiter")).to_have_count(0)
    assert page.evaluate(nothing_wider)
    guest.check("bookings-list-paged-last")

    guest.press(pager.get_by_role("link", name="Zurück"))
    expect(page).not_to_have_url(re.compile(r"page="))
    expect(page.locator(".booking-list > li")).to_have_count(50)
    guest.assert_clean()


# --- house rules: a closed period, set by the administrator, shown in the member's picker ------


def test_closed_period_is_shown_in_the_picker(ui: UI) -> None:
    from booking.domain import house_rules

    app = ui.app
    first = day(ui, "closed")
    last = first + timedelta(days=2)
    reason = f"Renovierung {tag()}"
    factories.make_place(app.ctx, f"Turmzimmer {tag()}", capacity=2)

    admin = ui.tab()
    page = admin.page
    admin.login(ADMIN_EMAIL)
    admin.goto("/admin")
    admin.press(
        page.get_by_role("navigation", name="Verwaltung").get_by_role("link", name="Hausregeln")
    )
    expect(page).to_have_url(re.compile(r"/admin/rules$"))
    admin.check("admin-rules")
    section = page.locator("#closed-periods")
    section.get_by_label("Erste Nacht").fill(first.isoformat())
    section.get_by_label("Letzte Nacht").fill(last.isoformat())
    section.get_by_label("Grund").fill(reason)
    admin.press(section.get_by_role("button", name="Sperrzeit anlegen"))
    expect(flash(admin)).to_contain_text(f"Sperrzeit „{reason}“ angelegt.")
    expect(
        page.locator("#closed-periods").get_by_role("row").filter(has_text=reason)
    ).to_be_visible()
    admin.assert_clean()

    try:
        guest = ui.tab()
        gpage = guest.page
        guest.login(member(app, "Clara"))
        guest.press(gpage.get_by_role("link", name="Neue Buchung", exact=True))
        wait_for_availability(guest)
        closed = picker_day(guest, first)
        wait_for_availability(guest)
        why = f"Geschlossen: {reason}"
        for night in (first, first + timedelta(days=1), last):
            button = picker_day(guest, night)
            expect(button).to_have_attribute("data-closed", "true")
            expect(button).to_have_class(re.compile(r"\bclosed\b"))
            expect(button).to_be_disabled()
            expect(button).to_have_attribute("title", why)
            expect(button).to_have_attribute("aria-label", re.compile(re.escape(why)))
        expect(picker_day(guest, last + timedelta(days=1))).to_be_enabled()
        expect(gpage.locator(".picker-legend")).to_contain_text("Geschlossen")
        # the reason is visible too, not only in the tooltip
        expect(gpage.locator(".picker-closures")).to_contain_text(reason)
        guest.check("booking-new-closed-period")

        # a stay may end on the first closed night (departure only), not run into it
        before = first - timedelta(days=2)
        guest.press(picker_day(guest, before))
        expect(closed).to_be_enabled()
        expect(closed).to_have_attribute("aria-label", re.compile("nur Abreise möglich"))
        guest.press(picker_day(guest, last + timedelta(days=1)))
        expect(gpage.locator("#f-end_date")).to_have_value("")
        expect(gpage.locator(".picker-hint")).to_contain_text("keine geschlossene Nacht")
        guest.press(picker_day(guest, before))
        guest.press(closed)
        expect(gpage.locator("#f-start_date")).to_have_value(before.isoformat())
        expect(gpage.locator("#f-end_date")).to_have_value(first.isoformat())
        guest.assert_clean()

        # the administrator deletes the closure again
        row = page.locator("#closed-periods").get_by_role("row").filter(has_text=reason)
        admin.press(row.get_by_role("button", name="Löschen"))
        expect(flash(admin)).to_contain_text("Sperrzeit gelöscht.")
        admin.assert_clean()
    finally:
        for period in house_rules.list_closed_periods(app.ctx, include_past=True):
            if period["reason"] == reason:
                house_rules.remove_closed_period(app.ctx, app.admin, uuid.UUID(period["id"]))


# --- house rules: minimum notice and booking window bind members, not administrators -----------


def test_notice_and_window_grey_days_for_members_only(ui: UI) -> None:
    from booking.domain import house_rules
    from booking.domain.house_rules import RulesIn

    app = ui.app
    today = house_today()
    before = house_rules.current(app.ctx)
    house_rules.set_rules(
        app.ctx, app.admin, RulesIn(booking_window_months=2, minimum_notice_days=5)
    )
    soon, first = today + timedelta(days=2), today + timedelta(days=5)
    last = house_rules.add_months(today, 2)  # the last allowed departure
    too_soon = re.compile(re.escape(f"Anreise frühestens am {first.strftime('%d.%m.%Y')}"))
    too_far = re.compile(re.escape(f"Abreise spätestens am {last.strftime('%d.%m.%Y')}"))
    factories.make_place(app.ctx, f"Giebelzimmer {tag()}", capacity=2)  # a free bed every night
    try:
        guest = ui.tab()
        gpage = guest.page
        guest.login(member(app, "Nora"))
        guest.goto("/bookings/new")
        wait_for_availability(guest)
        button = picker_day(guest, soon)
        expect(button).to_be_disabled()
        expect(button).to_have_attribute("data-unbookable", "true")
        expect(button).to_have_class(re.compile(r"\bunbookable\b"))
        expect(button).to_have_attribute("title", too_soon)
        expect(button).to_have_attribute("aria-label", too_soon)
        expect(gpage.locator(".picker-legend")).to_contain_text("Nicht buchbar")
        (button.tap if ui.viewport == "phone" else button.click)(force=True)  # chooses nothing
        expect(gpage.locator("#f-start_date")).to_have_value("")
        expect(picker_day(guest, first - timedelta(days=1))).to_be_disabled()
        expect(picker_day(guest, first)).to_be_enabled()
        guest.check("booking-new-notice")

        # the window: the departure day and later are greyed; the last night inside is an
        # arrival and the departure day then a departure (the picker pages forward only)
        guest.goto("/bookings/new")
        wait_for_availability(guest)
        for greyed in (last, last + timedelta(days=1)):
            button = picker_day(guest, greyed)
            wait_for_availability(guest)
            expect(button).to_be_disabled()
            expect(button).to_have_attribute("title", too_far)
        guest.goto("/bookings/new")
        wait_for_availability(guest)
        guest.press(picker_day(guest, last - timedelta(days=1)))
        departure = picker_day(guest, last)
        wait_for_availability(guest)
        expect(departure).to_be_enabled()
        expect(departure).to_have_attribute("aria-label", re.compile("nur Abreise möglich"))
        guest.press(departure)
        expect(gpage.locator("#f-start_date")).to_have_value((last - timedelta(days=1)).isoformat())
        expect(gpage.locator("#f-end_date")).to_have_value(last.isoformat())
        guest.check("booking-new-window")

        # the administrator runs the house: the same days are free to choose
        admin = ui.tab()
        page = admin.page
        admin.login(ADMIN_EMAIL)
        admin.goto("/bookings/new")
        wait_for_availability(admin)
        expect(page.locator(".picker-legend")).not_to_contain_text("Nicht buchbar")
        pick_range(admin, soon, soon + timedelta(days=2))
        expect(page.locator("#f-start_date")).to_have_value(soon.isoformat())
        expect(page.locator("#f-end_date")).to_have_value((soon + timedelta(days=2)).isoformat())
        expect(page.locator(".picker-grid button.unbookable")).to_have_count(0)
        admin.check("booking-new-admin-unbound")
    finally:
        house_rules.set_rules(
            app.ctx,
            app.admin,
            RulesIn(**{house_rules.key_to_attr(k): v for k, v in before.wire().items()}),
        )
