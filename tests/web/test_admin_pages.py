"""Administration pages: dashboard, users, sleeping places, e-mail settings (HTML parsed)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select
from starlette.testclient import TestClient

from booking.db.models import SleepingAccommodation, User
from tests import factories
from tests.web.html import Element, parse
from tests.web.test_account_pages import (
    csrf,
    field_errors,
    flash_text,
    get,
    input_value,
    logged_in,
    mail_log,  # noqa: F401 - a fixture
    submit,
    title,
)

SMTP_SECRET = "smtp-Geheimnis-42"


@pytest.fixture
def admin(client: TestClient, alice: User) -> TestClient:
    return logged_in(client, "alice@example.com")


def flash_of(client: TestClient, url: str) -> Element | None:
    return get(client, url).find("div", class_="flash")


def user_row(doc: Element, user: User) -> Element:
    return doc.one("tr", id=f"user-{user.id}")


def confirm_and_post(client: TestClient, link_url: str, **extra: str) -> Any:
    """Follow a confirmation link (no JS), then send the form the page shows."""
    doc = get(client, link_url)
    form = doc.one("section").one("form", method="post")
    data = {i["name"]: i.get("value", "") for i in form.find_all("input", type="hidden")}
    data.update(extra)
    return client.post(form["action"], data=data, follow_redirects=False)


# --- access ---------------------------------------------------------------------------------

ADMIN_PAGES = [
    "/admin",
    "/admin/users",
    "/admin/users/{bob}/reject",
    "/admin/users/{bob}/revoke",
    "/admin/users/{bob}/role?to=Administrator",
    "/admin/places",
    "/admin/places?inactive=1",
    "/admin/places/new",
    "/admin/places/{room}/edit",
    "/admin/places/{room}/deactivate",
    "/admin/rules",
    "/admin/email",
    "/admin/calendar",
    "/admin/security",
]
ADMIN_FORMS = [
    "/admin/users/{bob}/approve",
    "/admin/users/{bob}/reject",
    "/admin/users/{bob}/revoke",
    "/admin/users/{bob}/restore",
    "/admin/users/{bob}/role",
    "/admin/places/new",
    "/admin/places/{room}/edit",
    "/admin/places/{room}/deactivate",
    "/admin/places/{room}/reactivate",
    "/admin/email",
    "/admin/email/test",
    "/admin/calendar",
]


def _url(template: str, bob: User, room: SleepingAccommodation) -> str:
    return template.format(bob=bob.id, room=room.id)


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_admin_pages_render_for_admins(admin, bob, room, page):
    doc = get(admin, _url(page, bob, room))
    nav = doc.one("nav", class_="admin-nav")
    assert [a.text for a in nav.find_all("a")] == [
        "Dashboard",
        "Benutzer",
        "Schlafmöglichkeiten",
        "Hausregeln",
        "E-Mail",
        "Hauskalender",
        "Sicherheit",
        "Protokoll",
    ]
    assert len(nav.find_all("a", aria_current="page")) == 1
    assert doc.one("h1").text
    for form in doc.find_all("form", method="post"):
        assert form.one("input", name="csrf_token")["value"] == csrf(doc)


@pytest.mark.parametrize("page", ADMIN_PAGES + ADMIN_FORMS)
def test_members_get_the_403_page(client, bob, room, page):
    logged_in(client, "bob@example.com")
    url = _url(page, bob, room)
    if page in ADMIN_FORMS:
        token = csrf(get(client, "/profile"))
        response = client.post(url, data={"csrf_token": token}, follow_redirects=False)
    else:
        response = client.get(url, follow_redirects=False)
    assert response.status_code == 403
    assert title(parse(response.text)) == "Keine Berechtigung"


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_anonymous_visitors_are_sent_to_the_login(client, bob, room, page):
    url = _url(page, bob, room)
    response = client.get(url, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/admin")


@pytest.mark.parametrize("page", ADMIN_FORMS)
def test_admin_forms_need_the_csrf_token(admin, bob, room, page):
    response = admin.post(_url(page, bob, room), data={"role": "Member"}, follow_redirects=False)
    assert response.status_code == 403
    assert "Das Formular ist abgelaufen" in parse(response.text).text


def test_unknown_ids_give_the_404_page(admin):
    for url in (
        "/admin/places/not-a-uuid/edit",
        "/admin/places/00000000-0000-0000-0000-000000000000/edit",
        "/admin/users/999999/revoke",
        "/admin/users/abc/reject",
    ):
        assert get(admin, url, 404).one("h1").text


# --- dashboard ------------------------------------------------------------------------------


def test_dashboard_lists_what_waits_and_the_occupancy(admin, ctx, bob, room):
    factories.make_user(ctx, "eva@example.com", first_name="Eva", approved=False)
    factories.make_user(ctx, "unbestaetigt@example.com", verified=False, approved=False)
    tomorrow = ctx.today() + timedelta(days=1)
    booking = factories.make_booking(ctx, bob, [(room, 3)], start=tomorrow, nights=2)
    doc = get(admin, "/admin")
    users_box = doc.one("section", aria_labelledby="h-pending-users")
    assert users_box.one("span", class_="badge").text == "1"
    assert "eva@example.com" in users_box.text
    assert users_box.one("a", href="/admin/users")
    bookings_box = doc.one("section", aria_labelledby="h-pending-bookings")
    link = bookings_box.one("a", href=f"/bookings/{booking.id}")
    assert "Bob Person" in link.text
    rows = doc.one("table", class_="occupancy").find("tbody").find_all("tr")
    assert len(rows) == 30
    cells = [row.one("td").text for row in rows[:4]]
    assert cells == ["4 von 4 frei", "1 von 4 frei", "1 von 4 frei", "4 von 4 frei"]
    meter = rows[1].one("meter")
    assert (meter["max"], meter["value"]) == ("4", "3")
    assert meter["aria-label"]


def test_dashboard_marks_full_nights(admin, ctx, bob, room):
    factories.make_booking(ctx, bob, [(room, 4)], start=ctx.today(), nights=1)
    rows = get(admin, "/admin").one("table", class_="occupancy").find("tbody").find_all("tr")
    assert rows[0].get("class") == "full"
    assert "Ausgebucht" in rows[0].text


# --- users ----------------------------------------------------------------------------------


def test_reject_with_reason(admin, ctx, mail_log):  # noqa: F811
    eva = factories.make_user(ctx, "eva@example.com", first_name="Eva", approved=False)
    doc = get(admin, "/admin/users")
    pending = doc.one("tr", id=f"pending-{eva.id}")
    link = pending.one("a", href=f"/admin/users/{eva.id}/reject")
    assert link.get("data-confirm-dialog") is not None
    assert link["data-confirm-action"] == f"/admin/users/{eva.id}/reject"
    assert link["data-confirm-reason"] == "Grund der Ablehnung (optional)"
    page = get(admin, link["href"])
    assert page.one("textarea", name="reason")
    assert page.one("section").one("a", href="/admin/users").text == "Abbrechen"
    response = confirm_and_post(admin, link["href"], reason="Nur für Familienmitglieder")
    assert response.headers["location"] == "/admin/users"
    assert flash_text(admin, "/admin/users") == "Benutzer Eva Person wurde abgelehnt."
    mails = [mail.text for mail in mail_log.to("eva@example.com")]
    assert "Begründung: Nur für Familienmitglieder" in mails[-1]
    doc = get(admin, "/admin/users")
    assert doc.find("tr", id=f"pending-{eva.id}") is None
    assert user_row(doc, eva).one("td", class_="state").text == "abgelehnt"
    # a second attempt is a domain error, shown as a flash
    token = csrf(doc)
    admin.post(f"/admin/users/{eva.id}/reject", data={"csrf_token": token}, follow_redirects=False)
    flash = flash_of(admin, "/admin/users")
    assert flash is not None and "flash-error" in flash["class"]
    assert flash.text == "Benutzer nicht gefunden oder bereits verarbeitet."


def test_revoke_and_restore_the_right_to_book(admin, ctx, alice, bob):
    doc = get(admin, "/admin/users")
    assert user_row(doc, bob).one("td", class_="right").text == "darf buchen"
    assert user_row(doc, alice).find("a", href=f"/admin/users/{alice.id}/revoke") is None
    link = user_row(doc, bob).one("a", href=f"/admin/users/{bob.id}/revoke")
    assert link["data-confirm-variant"] == "danger solid"
    response = confirm_and_post(admin, link["href"])
    assert response.headers["location"] == "/admin/users"
    doc = get(admin, "/admin/users")
    assert flash_text(admin, "/admin/users") == ""  # the flash was shown once
    row = user_row(doc, bob)
    assert row.one("td", class_="right").text == "gesperrt"
    restore = row.one("form", action=f"/admin/users/{bob.id}/restore")
    admin.post(restore["action"], data={"csrf_token": csrf(doc)})
    doc = get(admin, "/admin/users")
    assert user_row(doc, bob).one("td", class_="right").text == "darf buchen"


def test_role_changes_and_the_last_admin(admin, ctx, alice, bob):
    doc = get(admin, "/admin/users")
    promote = user_row(doc, bob).one("a", href=f"/admin/users/{bob.id}/role?to=Administrator")
    assert json.loads(promote["data-confirm-fields"]) == {"role": "Administrator"}
    confirm_and_post(admin, promote["href"])
    assert flash_text(admin, "/admin/users") == "Bob Person ist jetzt Administrator."
    doc = get(admin, "/admin/users")
    assert user_row(doc, bob).one("td", class_="role").text == "Administrator"

    demote = user_row(doc, bob).one("a", href=f"/admin/users/{bob.id}/role?to=Member")
    confirm_and_post(admin, demote["href"])
    assert flash_text(admin, "/admin/users") == "Bob Person ist jetzt Mitglied."

    # alice is the only administrator left: the domain refuses, the page says why
    doc = get(admin, "/admin/users")
    demote = user_row(doc, alice).one("a", href=f"/admin/users/{alice.id}/role?to=Member")
    response = confirm_and_post(admin, demote["href"])
    assert response.headers["location"] == "/admin/users"
    flash = flash_of(admin, "/admin/users")
    assert flash is not None and "flash-error" in flash["class"]
    assert flash.text == "Der letzte Administrator kann nicht herabgestuft werden."
    with ctx.db.read() as session:
        assert session.scalar(select(User.role).where(User.id == alice.id)) == "Administrator"


def test_unknown_role_is_refused(admin, bob):
    get(admin, f"/admin/users/{bob.id}/role?to=King", 404)
    doc = get(admin, "/admin/users")
    data = {"csrf_token": csrf(doc), "role": "King"}
    admin.post(f"/admin/users/{bob.id}/role", data=data, follow_redirects=False)
    assert flash_text(admin, "/admin/users") == "Unbekannte Rolle."


# --- sleeping places ------------------------------------------------------------------------


def place_rows(doc: Element) -> dict[str, Element]:
    table = doc.find("table", class_="places-table")
    if table is None:
        return {}
    return {row.find("td").text: row for row in table.find("tbody").find_all("tr")}


def test_place_form_validates_and_keeps_the_input(admin):
    doc = get(admin, "/admin/places/new")
    radios = doc.find_all("input", type="radio", name="type")
    assert [r["value"] for r in radios] == ["0", "1", "2", "3"]
    labels = [doc.one("label", for_=r["id"]).text for r in radios]
    assert labels == ["Zimmer", "Zelt", "Wohnmobil", "Sonstiges"]
    assert doc.one("input", name="capacity")["max"] == "100"

    data = {"name": "  ", "type": "1", "capacity": "0"}
    response = submit(admin, "/admin/places/new", "/admin/places/new", data)
    doc = parse(response.text)
    assert response.status_code == 400
    assert field_errors(doc) == {
        "name": "Name ist erforderlich",
        "capacity": "Die Kapazität muss zwischen 1 und 100 liegen",
    }
    assert doc.one("input", name="type", value="1").get("checked") is not None
    assert input_value(doc, "capacity") == "0"

    data = {"name": "Gartenhaus", "type": "2", "capacity": "viele"}
    doc = parse(submit(admin, "/admin/places/new", "/admin/places/new", data).text)
    assert field_errors(doc) == {"capacity": "Die Kapazität muss zwischen 1 und 100 liegen"}
    assert input_value(doc, "name") == "Gartenhaus"
    data = {"name": "x" * 101, "type": "9", "capacity": "101"}
    errors = field_errors(parse(submit(admin, "/admin/places/new", "/admin/places/new", data).text))
    assert set(errors) == {"type"}  # the form checks the type before the domain runs
    data["type"] = "0"
    errors = field_errors(parse(submit(admin, "/admin/places/new", "/admin/places/new", data).text))
    assert errors == {
        "name": "Der Name darf höchstens 100 Zeichen lang sein",
        "capacity": "Die Kapazität muss zwischen 1 und 100 liegen",
    }


def test_places_create_edit_deactivate_reactivate(admin, ctx):
    data = {"name": "Zeltwiese", "type": "1", "capacity": "6"}
    response = submit(admin, "/admin/places/new", "/admin/places/new", data)
    assert response.headers["location"] == "/admin/places"
    doc = get(admin, "/admin/places")
    assert doc.one("div", class_="flash").text == "Die Schlafmöglichkeit Zeltwiese wurde angelegt."
    row = place_rows(doc)["Zeltwiese"]
    assert [td.text for td in row.find_all("td")][:4] == [
        "Zeltwiese",
        "Zelt",
        "6 Personen",
        "Aktiv",
    ]
    with ctx.db.read() as session:
        place_id = session.scalar(select(SleepingAccommodation.id))

    edit_url = f"/admin/places/{place_id}/edit"
    assert row.one("a", href=edit_url)
    doc = get(admin, edit_url)
    assert input_value(doc, "name") == "Zeltwiese"
    assert doc.one("input", name="type", value="1").get("checked") is not None
    response = submit(admin, edit_url, edit_url, {"name": "", "type": "1", "capacity": "1"})
    assert field_errors(parse(response.text)) == {"name": "Name ist erforderlich"}
    response = submit(
        admin, edit_url, edit_url, {"name": "Wohnwagen", "type": "2", "capacity": "1"}
    )
    assert response.headers["location"] == "/admin/places"
    row = place_rows(get(admin, "/admin/places"))["Wohnwagen"]
    assert [td.text for td in row.find_all("td")][1:3] == ["Wohnmobil", "1 Person"]

    link = row.one("a", href=f"/admin/places/{place_id}/deactivate")
    assert link["data-confirm-message"] == (
        "Möchten Sie diese Schlafmöglichkeit wirklich deaktivieren?"
    )
    assert (
        "Möchten Sie diese Schlafmöglichkeit wirklich deaktivieren?"
        in get(admin, link["href"]).text
    )
    response = confirm_and_post(admin, link["href"])
    assert response.headers["location"] == "/admin/places"
    doc = get(admin, "/admin/places")
    assert place_rows(doc) == {}
    assert "Keine Schlafmöglichkeiten vorhanden." in doc.text
    toggle = doc.one("input", type="checkbox", name="inactive")
    assert toggle.get("checked") is None
    assert doc.one("label", for_=toggle["id"]).text == "Inaktive anzeigen"

    doc = get(admin, "/admin/places?inactive=1")
    assert doc.one("input", type="checkbox", name="inactive").get("checked") is not None
    row = place_rows(doc)["Wohnwagen"]
    assert row.find_all("td")[3].text == "Inaktiv"
    assert get(admin, edit_url).one("span", class_="badge").text == "Inaktiv"
    form = row.one("form", action=f"/admin/places/{place_id}/reactivate")
    response = admin.post(form["action"], data={"csrf_token": csrf(doc)}, follow_redirects=False)
    assert response.status_code == 303
    assert "Wohnwagen" in place_rows(get(admin, "/admin/places"))


# --- e-mail settings ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Smtp:
    port: int
    received: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def authenticate(self, *args: Any) -> AuthResult:
        data = args[-1]
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=True)


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    server = Smtp(port=free_port())
    controller = Controller(
        server,
        hostname="127.0.0.1",
        port=server.port,
        authenticator=server.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


def email_form(port: int, **overrides: str) -> dict[str, str]:
    data = {
        "smtp_host": "127.0.0.1",
        "smtp_port": str(port),
        "smtp_username": "mailer",
        "smtp_password": SMTP_SECRET,
        "from_name": "Ferienhaus",
        "from_email": "haus@example.com",
    }
    data.update(overrides)
    return data


def test_email_settings_form_validates_and_keeps_input(admin):
    doc = get(admin, "/admin/email")
    labels = [label.text for label in doc.one("form", action="/admin/email").find_all("label")]
    assert labels == [
        "SMTP Server *",
        "Port *",
        "Benutzername *",
        "Passwort *",
        "Absender-Name *",
        "Absender-E-Mail *",
        "TLS/SSL verwenden (empfohlen)",
    ]
    assert doc.one("input", name="use_tls").get("checked") is not None
    data = email_form(0, smtp_host="", from_email="kaputt")
    response = submit(admin, "/admin/email", "/admin/email", data)
    doc = parse(response.text)
    assert response.status_code == 400
    assert field_errors(doc) == {
        "smtp_port": "Der Port muss eine Zahl zwischen 1 und 65535 sein",
        "from_email": "Ungültige E-Mail-Adresse",
    }
    assert input_value(doc, "smtp_username") == "mailer"
    assert input_value(doc, "smtp_password") == ""  # never sent back
    assert SMTP_SECRET not in response.text
    assert doc.one("input", name="use_tls").get("checked") is None
    response = submit(admin, "/admin/email", "/admin/email", email_form(2525, smtp_host=" "))
    assert field_errors(parse(response.text)) == {"smtp_host": "SMTP Server ist erforderlich"}
    response = submit(admin, "/admin/email", "/admin/email", email_form(2525, smtp_password=""))
    assert field_errors(parse(response.text)) == {"smtp_password": "Passwort ist erforderlich"}


def test_email_settings_save_and_test_mail(admin, smtp):
    response = submit(admin, "/admin/email", "/admin/email", email_form(smtp.port))
    assert response.headers["location"] == "/admin/email"
    doc = get(admin, "/admin/email")
    assert doc.one("div", class_="flash").text == (
        "E-Mail-Einstellungen wurden erfolgreich gespeichert."
    )
    assert input_value(doc, "smtp_host") == "127.0.0.1"
    assert input_value(doc, "smtp_port") == str(smtp.port)
    assert input_value(doc, "smtp_password") == ""
    assert SMTP_SECRET not in str(get(admin, "/admin/email").text)
    assert "Ein Passwort ist gespeichert" in doc.one("p", id="h-smtp_password").text

    # an empty password (or the mask) keeps the stored one
    submit(admin, "/admin/email", "/admin/email", email_form(smtp.port, smtp_password=""))
    submit(admin, "/admin/email", "/admin/email", email_form(smtp.port, smtp_password="********"))

    response = submit(admin, "/admin/email", "/admin/email/test", {"test_email": ""})
    assert field_errors(parse(response.text)) == {
        "test_email": "Bitte geben Sie eine E-Mail-Adresse für den Test ein."
    }
    data = {"test_email": "ops@example.com"}
    response = submit(admin, "/admin/email", "/admin/email/test", data)
    assert response.headers["location"] == "/admin/email"
    assert flash_text(admin, "/admin/email") == (
        "Test-E-Mail wurde erfolgreich an ops@example.com gesendet."
    )
    assert smtp.received == [("haus@example.com", ["ops@example.com"])]
    assert smtp.logins == [("mailer", SMTP_SECRET)]


def test_test_mail_shows_the_smtp_error(admin):
    closed = free_port()  # nobody listens there
    submit(admin, "/admin/email", "/admin/email", email_form(closed))
    response = submit(admin, "/admin/email", "/admin/email/test", {"test_email": "ops@example.com"})
    doc = parse(response.text)
    assert response.status_code == 400
    alert = doc.one("div", role="alert")
    assert alert.text.startswith("Fehler beim Senden der Test-E-Mail:")
    assert input_value(doc, "test_email") == "ops@example.com"


def test_test_mail_needs_saved_settings(admin):
    response = submit(admin, "/admin/email", "/admin/email/test", {"test_email": "ops@example.com"})
    alert = parse(response.text).one("div", role="alert")
    assert alert.text == "E-Mail-Einstellungen müssen erst konfiguriert werden."
