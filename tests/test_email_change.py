"""Changing one's e-mail address: confirmed by a link to the new address first, a notice to the
old one, no answer that reveals whether an address is registered, single-use links, sessions
renewed, audit events; through the pages and the API, with mail delivered over real SMTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from booking.api.deps import SESSION_COOKIE
from booking.db.models import AuditEvent, EmailChangeRequest, User
from booking.domain import audit, email_change, outbox
from booking.domain.context import Context
from booking.domain.errors import AuthFailed, ValidationFailed
from booking.lib.timeutil import utcnow
from tests.conftest import make_settings
from tests.factories import PASSWORD, auth_headers
from tests.mails import mails, token
from tests.smtp import SmtpServer, parts
from tests.web.test_account_pages import field_errors, flash_text, get, logged_in, submit

NEW = "robert@example.com"
CONFIRM = "/confirm-email-change"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def second_browser(client: TestClient) -> Iterator[TestClient]:
    with TestClient(client.app, raise_server_exceptions=False) as other:
        yield other


def deliver(ctx: Context, smtp: SmtpServer, tmp_path) -> int:
    """Send the queued mail through the real outbox sender to the test SMTP server."""
    settings = make_settings(
        tmp_path,
        database_url=ctx.db.url,
        smtp_host="127.0.0.1",
        smtp_port=str(smtp.port),
        smtp_security="none",
        mail_from="haus@example.com",
    )
    return outbox.Sender(Context(db=ctx.db, settings=settings)).run_once()


def email_of(ctx: Context, user_id: int) -> str:
    with ctx.db.read() as session:
        return str(session.scalar(select(User.email).where(User.id == user_id)))


def events(ctx: Context, event: str) -> list[AuditEvent]:
    with ctx.db.read() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.event == event)))


def request_on_page(browser: TestClient, new_email: str, password: str = PASSWORD):
    return submit(
        browser, "/profile", "/profile/email", {"new_email": new_email, "password": password}
    )


def confirm_on_page(browser: TestClient, link_token: str):
    page = get(browser, f"{CONFIRM}?token={link_token}")
    form = page.one("form", action=CONFIRM)
    csrf = form.find("input", name="csrf_token")["value"]
    assert form.find("input", name="token")["value"] == link_token
    return browser.post(
        CONFIRM, data={"csrf_token": csrf, "token": link_token}, follow_redirects=False
    )


# --- the whole journey through the pages, mail over SMTP -----------------------------------


def test_changing_the_address_end_to_end(client, second_browser, ctx, bob, smtp, tmp_path):
    logged_in(client, bob.email)
    logged_in(second_browser, bob.email)
    profile = get(client, "/profile")
    assert profile.one("form", action="/profile/email") is not None

    response = request_on_page(client, NEW)
    assert response.status_code == 303, response.text[:300]
    answer = flash_text(client, "/profile")
    assert "Bestätigungslink" in answer
    assert email_of(ctx, bob.id) == bob.email  # nothing changes before the confirmation

    assert deliver(ctx, smtp, tmp_path) == 2
    [confirm_mail] = smtp.to(NEW)
    [notice] = smtp.to(bob.email)
    text, html = parts(confirm_mail)
    assert str(confirm_mail["Subject"]) == "Neue E-Mail-Adresse bestätigen"
    link_token = token(ctx, CONFIRM, NEW)
    assert f"http://testserver{CONFIRM}?token={link_token}" in text
    assert f'href="http://testserver{CONFIRM}?token={link_token}"' in html
    notice_text, _ = parts(notice)
    assert NEW in notice_text and "?token=" not in notice_text

    # Opening the link shows a button; only the POST changes the address.
    assert get(client, f"{CONFIRM}?token={link_token}").find("button") is not None
    assert email_of(ctx, bob.id) == bob.email
    before = client.cookies.get(SESSION_COOKIE)
    response = confirm_on_page(client, link_token)
    assert response.status_code == 303 and response.headers["location"] == "/profile"
    assert email_of(ctx, bob.id) == NEW
    # this browser continues with a new session; the other device has to log in again
    assert client.cookies.get(SESSION_COOKIE) not in (None, before)
    assert get(client, "/profile").find("p", class_="lead").text == NEW
    assert second_browser.get("/profile", follow_redirects=False).status_code == 303

    [changed] = events(ctx, audit.EMAIL_CHANGED)
    assert changed.actor_id == bob.id and NEW in changed.details and bob.email in changed.details
    assert len(events(ctx, audit.EMAIL_CHANGE_REQUESTED)) == 1

    # the link works once
    again = confirm_on_page(client, link_token)
    assert again.status_code == 400
    assert email_of(ctx, bob.id) == NEW

    # the new address logs in, the old one no longer
    old = submit(
        TestClient(client.app), "/login", "/login", {"email": bob.email, "password": PASSWORD}
    )
    assert old.status_code == 400
    logged_in(TestClient(client.app), NEW)


def test_a_taken_address_gets_a_notice_and_the_same_answer(
    client, ctx, bob, charlie, smtp, tmp_path
):
    logged_in(client, bob.email)
    free = request_on_page(client, NEW)
    free_answer = flash_text(client, "/profile")
    taken = request_on_page(client, charlie.email)
    taken_answer = flash_text(client, "/profile")
    assert (free.status_code, free.headers["location"]) == (
        taken.status_code,
        taken.headers["location"],
    )
    assert free_answer == taken_answer

    assert deliver(ctx, smtp, tmp_path) == 4  # link + notice, "already registered" + notice
    [to_charlie] = smtp.to(charlie.email)
    text, html = parts(to_charlie)
    assert str(to_charlie["Subject"]) == "E-Mail-Adresse bereits registriert"
    assert "?token=" not in text and "/forgot-password" in text
    assert len(smtp.to(bob.email)) == 2  # the old address hears of both requests alike
    with ctx.db.read() as session:
        pending = session.scalars(select(EmailChangeRequest)).all()
    # the taken request stored nothing; it also replaced the earlier pending one
    assert pending == []
    assert email_of(ctx, charlie.id) == charlie.email and email_of(ctx, bob.id) == bob.email


def test_the_api_answers_the_same_for_free_and_taken_addresses(client, ctx, bob, charlie):
    headers = auth_headers(ctx, bob)
    free = client.post(
        "/api/auth/change-email",
        json={"newEmail": NEW, "password": PASSWORD},
        headers=headers,
    )
    taken = client.post(
        "/api/auth/change-email",
        json={"newEmail": charlie.email.upper(), "password": PASSWORD},
        headers=headers,
    )
    assert free.status_code == taken.status_code == 200
    assert free.json() == taken.json()


def test_confirming_through_the_api_and_reusing_the_token(client, ctx, bob):
    response = client.post(
        "/api/auth/change-email",
        json={"newEmail": NEW, "password": PASSWORD},
        headers=auth_headers(ctx, bob),
    )
    assert response.status_code == 200, response.text
    link_token = token(ctx, CONFIRM, NEW)
    confirmed = client.post("/api/auth/confirm-email-change", json={"token": link_token})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["email"] == NEW
    reused = client.post("/api/auth/confirm-email-change", json={"token": link_token})
    assert reused.status_code == 400
    assert reused.json()["message"] == email_change.INVALID_LINK
    # the API token still works: it is checked against the account, not the address
    assert client.get("/api/auth/me", headers=auth_headers(ctx, bob)).json()["email"] == NEW


def test_the_api_refuses_a_wrong_password_and_bad_input(client, ctx, bob):
    headers = auth_headers(ctx, bob)
    wrong = client.post(
        "/api/auth/change-email", json={"newEmail": NEW, "password": "falsch"}, headers=headers
    )
    assert wrong.status_code == 400 and wrong.json()["message"] == email_change.WRONG_PASSWORD
    invalid = client.post(
        "/api/auth/change-email",
        json={"newEmail": "not-an-address", "password": PASSWORD},
        headers=headers,
    )
    assert invalid.status_code == 400
    assert invalid.headers["content-type"].startswith("application/problem+json")
    assert "NewEmail" in invalid.json()["errors"]
    missing = client.post("/api/auth/change-email", json={"newEmail": NEW}, headers=headers)
    assert missing.status_code == 400
    assert (
        client.post(
            "/api/auth/change-email", json={"newEmail": NEW, "password": PASSWORD}
        ).status_code
        == 401
    )
    assert mails(ctx) == []


def test_the_profile_form_shows_errors_beside_the_fields(client, ctx, bob):
    logged_in(client, bob.email)
    response = request_on_page(client, NEW, "falsch")
    assert response.status_code == 400
    from tests.web.html import parse

    errors = field_errors(parse(response.text))
    assert errors["password"] == email_change.WRONG_PASSWORD
    response = request_on_page(client, bob.email)
    assert field_errors(parse(response.text))["new_email"] == email_change.SAME_ADDRESS
    assert mails(ctx) == []


def test_an_expired_link_is_refused(client, ctx, bob):
    email_change.request_change(ctx, bob, NEW, PASSWORD)
    link_token = token(ctx, CONFIRM, NEW)
    with ctx.db.write() as session:
        session.execute(
            update(EmailChangeRequest).values(expires_at=utcnow() - timedelta(minutes=1))
        )
    with pytest.raises(AuthFailed):
        email_change.confirm_change(ctx, link_token)
    assert email_of(ctx, bob.id) == bob.email


def test_a_newer_request_replaces_the_older_link(ctx, bob):
    email_change.request_change(ctx, bob, NEW, PASSWORD)
    first = token(ctx, CONFIRM, NEW)
    email_change.request_change(ctx, bob, "rob@example.com", PASSWORD)
    second = token(ctx, CONFIRM, "rob@example.com")
    with pytest.raises(AuthFailed):
        email_change.confirm_change(ctx, first)
    assert email_change.confirm_change(ctx, second).email == "rob@example.com"


def test_an_address_taken_after_the_request_is_refused_at_the_confirmation(ctx, bob):
    from tests.factories import make_user

    email_change.request_change(ctx, bob, NEW, PASSWORD)
    link_token = token(ctx, CONFIRM, NEW)
    make_user(ctx, NEW)
    with pytest.raises(AuthFailed):
        email_change.confirm_change(ctx, link_token)
    assert email_of(ctx, bob.id) == bob.email


def test_the_token_is_stored_hashed(ctx, bob):
    email_change.request_change(ctx, bob, NEW, PASSWORD)
    link_token = token(ctx, CONFIRM, NEW)
    with ctx.db.read() as session:
        [row] = session.scalars(select(EmailChangeRequest)).all()
    assert row.token_hash != link_token and len(row.token_hash) == 64
    assert row.expires_at - row.created_at == timedelta(hours=email_change.CONFIRM_HOURS)


def test_the_same_address_and_invalid_addresses_are_refused(ctx, bob):
    with pytest.raises(ValidationFailed):
        email_change.request_change(ctx, bob, bob.email.upper(), PASSWORD)
    with pytest.raises(ValidationFailed):
        email_change.request_change(ctx, bob, "kein at zeichen", PASSWORD)


def test_confirming_in_another_browser_asks_for_a_new_login(client, second_browser, ctx, bob):
    logged_in(client, bob.email)
    email_change.request_change(ctx, bob, NEW, PASSWORD)
    link_token = token(ctx, CONFIRM, NEW)
    response = confirm_on_page(second_browser, link_token)  # not logged in there
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert client.get("/profile", follow_redirects=False).status_code == 303


def test_the_confirm_page_without_a_token(client):
    response = client.get(CONFIRM)
    assert response.status_code == 400


def test_the_pages_in_english(client, ctx, bob):
    with ctx.db.write() as session:
        session.execute(update(User).where(User.id == bob.id).values(language="en"))
    logged_in(client, bob.email)
    page = get(client, "/profile")
    assert page.find("h2", id="h-email-change").text == "Change email address"
    request_on_page(client, NEW)
    assert "confirmation link" in flash_text(client, "/profile")
    [mail] = mails(ctx, NEW)
    assert mail.subject == "Confirm your new email address"
