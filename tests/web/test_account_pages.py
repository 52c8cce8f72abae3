"""Account pages: register, verify, resend, forgot/reset password and the profile (HTML parsed)."""

from __future__ import annotations

import re

import pytest
from httpx import Response
from starlette.testclient import TestClient

from tests.factories import PASSWORD
from tests.mails import Outbox
from tests.web.html import Element, parse

NEW_PASSWORD = "Neues-Passwort-2024!"


# --- helpers (also used by test_admin_pages) ------------------------------------------------


def get(client: TestClient, url: str, status: int = 200) -> Element:
    response = client.get(url, follow_redirects=False)
    assert response.status_code == status, (url, response.status_code, response.text[:500])
    return parse(response.text)


def csrf(doc: Element) -> str:
    token = doc.find("input", name="csrf_token")
    assert token is not None, "the page has no form with a CSRF token"
    return token["value"]


def submit(client: TestClient, page_url: str, action: str, data: dict[str, str]) -> Response:
    """GET the page the form is on (for its CSRF token), then POST the form."""
    token = csrf(get(client, page_url))
    return client.post(action, data={"csrf_token": token, **data}, follow_redirects=False)


def login(client: TestClient, email: str, password: str = PASSWORD) -> Response:
    return submit(client, "/login", "/login", {"email": email, "password": password})


def logged_in(client: TestClient, email: str, password: str = PASSWORD) -> TestClient:
    response = login(client, email, password)
    assert response.status_code == 303, parse(response.text).text[:300]
    return client


def field_errors(doc: Element) -> dict[str, str]:
    """Error texts by field name (the ``field`` macro gives them the id ``e-<name>``)."""
    return {
        element["id"][2:]: element.text
        for element in doc.find_all("p", class_="error")
        if element.get("id", "").startswith("e-")
    }


def input_value(doc: Element, name: str) -> str | None:
    element = doc.find("input", name=name)
    return None if element is None else element.get("value", "")


def flash_text(client: TestClient, url: str) -> str:
    flash = get(client, url).find("div", class_="flash")
    return flash.text if flash else ""


def title(doc: Element) -> str:
    return doc.one("h1").text


def mailed_link(outbox: Outbox, path: str, to: str | None = None) -> str:
    """The token of the last queued mail with a link to ``path``."""
    return outbox.token(path, to)


@pytest.fixture
def mail_log(ctx) -> Outbox:
    """The mail the app queued (the outbox of this test's database)."""
    return Outbox(ctx)


REGISTRATION = {
    "first_name": "Dora",
    "last_name": "Neu",
    "email": "dora@example.com",
    "password": NEW_PASSWORD,
    "password_confirm": NEW_PASSWORD,
}


# --- registration ---------------------------------------------------------------------------


def test_register_page_has_the_form_and_the_strength_indicator(client):
    doc = get(client, "/register")
    assert title(doc) == "Registrierung"
    form = doc.one("form", action="/register")
    assert form["method"] == "post"
    names = [element["name"] for element in form.find_all("input") if element.get("name")]
    assert names == ["csrf_token", "first_name", "last_name", "email", "password"] + [
        "password_confirm"
    ]
    for name in names[1:]:
        assert doc.one("label", for_=f"f-{name}").text
    box = doc.one("div", data_password_strength="f-password")
    assert "Passwort-Stärke" in box.text and "Anforderungen:" in box.text
    assert box.one("strong", class_="strength-level")["aria-live"] == "polite"
    rules = [item.text for item in box.find_all("li")]
    assert rules == [
        "Mindestens 8 Zeichen",
        "Klein- und Großbuchstaben",
        "Mindestens eine Zahl",
        "Mindestens ein Sonderzeichen",
    ]
    levels = [box[f"data-level-{level}"] for level in ("weak", "fair", "good", "strong")]
    assert levels == ["Schwach", "Ausreichend", "Gut", "Sehr stark"]
    scripts = [script["src"] for script in doc.find_all("script", src=True)]
    assert any(re.match(r"/static/js/password-strength\.\w+\.js$", src) for src in scripts)


def test_register_reports_every_missing_field(client):
    response = submit(client, "/register", "/register", {})
    assert response.status_code == 400
    assert field_errors(parse(response.text)) == {
        "first_name": "Vorname ist erforderlich",
        "last_name": "Nachname ist erforderlich",
        "email": "E-Mail-Adresse ist erforderlich",
        "password": "Passwort ist erforderlich",
        "password_confirm": "Passwort-Bestätigung ist erforderlich",
    }


def test_register_keeps_the_input_but_never_the_password(client):
    data = {**REGISTRATION, "email": "kein-at-zeichen", "password_confirm": "anders-12345"}
    response = submit(client, "/register", "/register", data)
    doc = parse(response.text)
    assert response.status_code == 400
    assert field_errors(doc) == {
        "email": "Ungültige E-Mail-Adresse",
        "password_confirm": "Passwörter stimmen nicht überein",
    }
    assert input_value(doc, "first_name") == "Dora"
    assert input_value(doc, "last_name") == "Neu"
    assert input_value(doc, "email") == "kein-at-zeichen"
    assert input_value(doc, "password") == ""
    assert doc.one("input", name="email")["aria-invalid"] == "true"


def test_register_shows_the_domain_rules_next_to_the_fields(client, bob):
    short = {**REGISTRATION, "password": "kurz1", "password_confirm": "kurz1"}
    doc = parse(submit(client, "/register", "/register", short).text)
    assert field_errors(doc) == {"password": "Passwort muss mindestens 8 Zeichen lang sein"}
    taken = {**REGISTRATION, "email": "Bob@Example.com"}
    doc = parse(submit(client, "/register", "/register", taken).text)
    assert field_errors(doc) == {"email": "E-Mail-Adresse ist bereits registriert."}


def test_register_verify_approve_and_login(client, ctx, alice, mail_log):
    response = submit(client, "/register", "/register", REGISTRATION)
    assert (response.status_code, response.headers["location"]) == (303, "/register/success")
    doc = get(client, "/register/success")
    assert title(doc) == "Registrierung erfolgreich!"
    assert "Bitte bestätigen Sie Ihre E-Mail-Adresse" in doc.text
    assert doc.one("form", action="/resend-verification")
    token = mailed_link(mail_log, "/verify-email", to="dora@example.com")

    # opening the link only shows a button: a mail scanner must not use up the token
    doc = get(client, f"/verify-email?token={token}")
    form = doc.one("form", action="/verify-email")
    assert form.one("input", name="token")["value"] == token
    assert (
        "Bitte bestätigen Sie zuerst"
        in parse(login(client, "dora@example.com", NEW_PASSWORD).text).text
    )

    response = submit(client, f"/verify-email?token={token}", "/verify-email", {"token": token})
    assert (response.status_code, response.headers["location"]) == (303, "/verify-email/done")
    doc = get(client, "/verify-email/done")
    assert title(doc) == "E-Mail erfolgreich bestätigt!"
    assert "wartet aber noch auf die Freigabe durch einen Administrator" in doc.text
    refused = parse(login(client, "dora@example.com", NEW_PASSWORD).text)
    assert "wartet noch auf die Freigabe" in refused.one("div", role="alert").text

    with TestClient(client.app) as admin:
        logged_in(admin, "alice@example.com")
        users_page = get(admin, "/admin/users")
        row = [tr for tr in users_page.find_all("tr") if "dora@example.com" in tr.text][0]
        approve = row.one("form")
        response = admin.post(
            approve["action"], data={"csrf_token": csrf(users_page)}, follow_redirects=False
        )
        assert response.status_code == 303
        assert "Dora Neu" in flash_text(admin, "/admin/users")

    response = login(client, "dora@example.com", NEW_PASSWORD)
    assert (response.status_code, response.headers["location"]) == (303, "/bookings")
    assert title(get(client, "/profile")) == "Profil"


def test_verify_email_without_or_with_a_bad_token(client):
    doc = get(client, "/verify-email", 400)
    assert title(doc) == "Ungültiger Link"
    assert "Kein Bestätigungstoken gefunden." in doc.text
    response = submit(client, "/verify-email?token=x", "/verify-email", {"token": "falsch"})
    doc = parse(response.text)
    assert response.status_code == 400
    assert title(doc) == "Bestätigung fehlgeschlagen"
    assert "Ungültiger oder abgelaufener" in doc.one("div", role="alert").text
    assert doc.one("form", action="/resend-verification")
    assert doc.find("a", href="/register")


def test_resend_verification_answers_the_same_for_every_address(client, ctx, mail_log):
    submit(client, "/register", "/register", REGISTRATION)
    first = mailed_link(mail_log, "/verify-email")
    for email in ("dora@example.com", "niemand@example.com"):
        response = submit(client, "/resend-verification", "/resend-verification", {"email": email})
        assert response.headers["location"] == "/resend-verification"
        assert "Falls ein unbestätigtes Konto" in flash_text(client, "/resend-verification")
    second = mailed_link(mail_log, "/verify-email")
    assert second != first
    response = submit(client, "/resend-verification", "/resend-verification", {"email": ""})
    assert field_errors(parse(response.text)) == {"email": "E-Mail-Adresse ist erforderlich"}


def test_password_reset_flow_ends_all_sessions(client, ctx, bob, mail_log):
    with TestClient(client.app) as other_device:
        logged_in(other_device, "bob@example.com")
        assert get(other_device, "/profile").one("h1").text == "Profil"

        for email in ("bob@example.com", "niemand@example.com"):
            response = submit(client, "/forgot-password", "/forgot-password", {"email": email})
            assert response.headers["location"] == "/forgot-password"
            assert "Falls ein Konto mit dieser Adresse" in flash_text(client, "/forgot-password")
        token = mailed_link(mail_log, "/reset-password")
        assert not mail_log.to("niemand@example.com")

        page = f"/reset-password?token={token}"
        doc = get(client, page)
        assert doc.one("form", action="/reset-password").one("input", name="token")
        assert doc.one("div", data_password_strength="f-password")
        bad = {"token": token, "password": NEW_PASSWORD, "password_confirm": "anders"}
        response = submit(client, page, "/reset-password", bad)
        assert field_errors(parse(response.text)) == {
            "password_confirm": "Passwörter stimmen nicht überein"
        }
        short = {"token": token, "password": "kurz", "password_confirm": "kurz"}
        errors = field_errors(parse(submit(client, page, "/reset-password", short).text))
        assert errors == {"password": "Passwort muss mindestens 8 Zeichen lang sein"}

        good = {"token": token, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
        response = submit(client, page, "/reset-password", good)
        assert (response.status_code, response.headers["location"]) == (303, "/login")
        assert "Ihr Passwort wurde geändert" in flash_text(client, "/login")

        # every session ended; the old password is gone, the new one works
        response = other_device.get("/profile", follow_redirects=False)
        assert response.headers["location"] == "/login?next=/profile"
    assert login(client, "bob@example.com").status_code == 400
    assert login(client, "bob@example.com", NEW_PASSWORD).status_code == 303
    # the link is single-use
    response = submit(client, page, "/reset-password", good)
    assert "Ungültiger oder abgelaufener Link" in parse(response.text).one("div", role="alert").text


def test_reset_password_without_token(client):
    doc = get(client, "/reset-password", 400)
    assert title(doc) == "Ungültiger Link"
    assert doc.find("a", href="/forgot-password")


# --- profile --------------------------------------------------------------------------------


def test_profile_needs_a_login(client):
    response = client.get("/profile", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/login?next=/profile")


def test_profile_shows_the_three_forms(client, bob):
    doc = get(logged_in(client, "bob@example.com"), "/profile")
    assert input_value(doc, "first_name") == "Bob"
    assert input_value(doc, "last_name") == "Person"
    options = doc.one("select", name="language").find_all("option")
    assert [(o["value"], o.text) for o in options] == [
        ("de", "Deutsch"),
        ("en", "English"),
        ("", "Browser-Einstellung"),
    ]
    assert options[2].get("selected") is not None
    for action in ("/profile", "/profile/password", "/profile/logout-all"):
        assert doc.one("form", action=action).one("input", name="csrf_token")
    assert doc.one("div", data_password_strength="f-new_password")


def test_profile_change_keeps_input_on_errors_and_switches_language(client, bob):
    logged_in(client, "bob@example.com")
    data = {"first_name": " ", "last_name": "Baumann", "language": "en"}
    response = submit(client, "/profile", "/profile", data)
    doc = parse(response.text)
    assert response.status_code == 400
    assert field_errors(doc) == {"first_name": "Vorname ist erforderlich"}
    assert input_value(doc, "last_name") == "Baumann"
    assert doc.one("option", value="en").get("selected") is not None

    data = {"first_name": "Robert", "last_name": "Baumann", "language": "en"}
    response = submit(client, "/profile", "/profile", data)
    assert (response.status_code, response.headers["location"]) == (303, "/profile")
    doc = get(client, "/profile")
    assert doc.one("html")["lang"] == "en"
    assert input_value(doc, "first_name") == "Robert"

    data["language"] = ""
    submit(client, "/profile", "/profile", data)
    assert get(client, "/profile").one("html")["lang"] == "de"
    client.headers["accept-language"] = "en-GB,en;q=0.9"
    assert get(client, "/profile").one("html")["lang"] == "en"


def test_profile_refuses_an_unknown_language(client, bob):
    logged_in(client, "bob@example.com")
    data = {"first_name": "Bob", "last_name": "Person", "language": "fr"}
    response = submit(client, "/profile", "/profile", data)
    assert response.status_code == 400
    assert "language" in field_errors(parse(response.text))


def test_password_change(client, bob):
    logged_in(client, "bob@example.com")
    wrong = {
        "current_password": "falsch",
        "new_password": NEW_PASSWORD,
        "new_password_confirm": NEW_PASSWORD,
    }
    response = submit(client, "/profile", "/profile/password", wrong)
    assert response.status_code == 400
    assert field_errors(parse(response.text)) == {
        "current_password": "Das aktuelle Passwort ist falsch."
    }
    mismatch = {**wrong, "current_password": PASSWORD, "new_password_confirm": "x"}
    response = submit(client, "/profile", "/profile/password", mismatch)
    assert field_errors(parse(response.text)) == {
        "new_password_confirm": "Passwörter stimmen nicht überein"
    }
    good = {**wrong, "current_password": PASSWORD}
    response = submit(client, "/profile", "/profile/password", good)
    assert response.headers["location"] == "/profile"
    assert flash_text(client, "/profile") == "Ihr Passwort wurde geändert."
    assert login(TestClient(client.app), "bob@example.com", NEW_PASSWORD).status_code == 303


def test_logout_everywhere(client, bob):
    logged_in(client, "bob@example.com")
    with TestClient(client.app) as other_device:
        logged_in(other_device, "bob@example.com")
        response = submit(client, "/profile", "/profile/logout-all", {})
        assert (response.status_code, response.headers["location"]) == (303, "/login")
        for device in (client, other_device):
            response = device.get("/profile", follow_redirects=False)
            assert response.headers["location"] == "/login?next=/profile"


# --- CSRF -----------------------------------------------------------------------------------

ANONYMOUS_FORMS = [
    ("/register", REGISTRATION),
    ("/verify-email", {"token": "abc"}),
    ("/resend-verification", {"email": "bob@example.com"}),
    ("/forgot-password", {"email": "bob@example.com"}),
    ("/reset-password", {"token": "abc", "password": NEW_PASSWORD}),
]
MEMBER_FORMS = [
    ("/profile", {"first_name": "X", "last_name": "Y", "language": "en"}),
    ("/profile/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    ("/profile/logout-all", {}),
]


@pytest.mark.parametrize(("action", "data"), ANONYMOUS_FORMS + MEMBER_FORMS)
def test_forms_without_csrf_token_are_refused(client, bob, action, data):
    if (action, data) in MEMBER_FORMS:
        logged_in(client, "bob@example.com")
    else:
        get(client, "/login")  # a CSRF seed cookie exists, but the token is missing
    response = client.post(action, data=data, follow_redirects=False)
    assert response.status_code == 403
    assert title(parse(response.text)) == "Keine Berechtigung"
    bad = client.post(action, data={**data, "csrf_token": "x" * 64}, follow_redirects=False)
    assert bad.status_code == 403
