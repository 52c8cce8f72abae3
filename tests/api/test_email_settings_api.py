"""Contract tests for ``/api/admin/email-settings`` (reference §2.6, §3.8, §5; DECISIONS 12),
with a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import text

from booking.domain import outbox
from tests.factories import auth_headers

BASE = "/api/admin/email-settings"
SECRET = "s3cret-smtp-Passw0rd"
MASK = "********"
DEFAULTS = {
    "smtpHost": "",
    "smtpPort": 587,
    "smtpUsername": "",
    "smtpPassword": "",
    "fromName": "Booking System",
    "fromEmail": "",
    "useTls": True,
    "isConfigured": False,
}
SAVED = "E-Mail-Einstellungen wurden erfolgreich gespeichert."


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Smtp:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        raw = envelope.original_content or envelope.content
        self.messages.append(message_from_bytes(raw, policy=policy.default))  # type: ignore[arg-type]
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
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


def settings_body(port: int = 2525, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "smtpHost": "127.0.0.1",
        "smtpPort": port,
        "smtpUsername": "mailer",
        "smtpPassword": SECRET,
        "fromName": "Ferienhaus",
        "fromEmail": "haus@example.com",
        "useTls": False,
    }
    body.update(overrides)
    return body


def raw_password_column(ctx) -> str:
    with ctx.db.read() as session:
        return str(
            session.execute(text("SELECT smtp_password_encrypted FROM email_settings")).scalar_one()
        )


def is_problem(response, status: int) -> bool:
    body = response.json()
    return response.status_code == status and body["status"] == status and "message" in body


# --- read and save -------------------------------------------------------------------------


def test_it_shows_defaults_when_nothing_is_stored(client, ctx, alice):
    response = client.get(BASE, headers=auth_headers(ctx, alice))
    assert (response.status_code, response.json()) == (200, DEFAULTS)


def test_it_saves_settings_and_masks_the_password(client, ctx, alice):
    headers = auth_headers(ctx, alice)
    response = client.put(BASE, json=settings_body(2525), headers=headers)
    assert response.status_code == 200
    expected = {
        "smtpHost": "127.0.0.1",
        "smtpPort": 2525,
        "smtpUsername": "mailer",
        "smtpPassword": MASK,
        "fromName": "Ferienhaus",
        "fromEmail": "haus@example.com",
        "useTls": False,
        "isConfigured": True,
    }
    assert response.json() == {"message": SAVED, "settings": expected}
    assert client.get(BASE, headers=headers).json() == expected


def test_it_stores_the_password_encrypted(client, ctx, alice):
    client.put(BASE, json=settings_body(), headers=auth_headers(ctx, alice))
    raw = raw_password_column(ctx)
    assert raw
    assert SECRET not in raw
    assert SECRET.encode().hex() not in raw


def test_it_updates_the_single_settings_row(client, ctx, alice):
    headers = auth_headers(ctx, alice)
    client.put(BASE, json=settings_body(2525), headers=headers)
    client.put(BASE, json=settings_body(2626, smtpPassword=MASK, fromName="Neu"), headers=headers)
    with ctx.db.read() as session:
        assert session.execute(text("SELECT COUNT(*) FROM email_settings")).scalar_one() == 1
    body = client.get(BASE, headers=headers).json()
    assert (body["smtpPort"], body["fromName"]) == (2626, "Neu")


def test_it_keeps_the_password_when_the_mask_is_sent(client, ctx, alice, smtp):
    headers = auth_headers(ctx, alice)
    client.put(BASE, json=settings_body(smtp.port), headers=headers)
    raw_before = raw_password_column(ctx)
    again = client.put(BASE, json=settings_body(smtp.port, smtpPassword=MASK), headers=headers)
    assert again.status_code == 200
    assert raw_password_column(ctx) == raw_before
    sent = client.post(f"{BASE}/test", json={"toEmail": "ops@example.com"}, headers=headers)
    assert sent.json()["success"] is True
    assert smtp.logins == [("mailer", SECRET)]


def test_it_replaces_the_password_when_a_new_one_is_sent(client, ctx, alice, smtp):
    headers = auth_headers(ctx, alice)
    client.put(BASE, json=settings_body(smtp.port), headers=headers)
    client.put(BASE, json=settings_body(smtp.port, smtpPassword="another-one-99"), headers=headers)
    client.post(f"{BASE}/test", json={"toEmail": "ops@example.com"}, headers=headers)
    assert smtp.logins == [("mailer", "another-one-99")]


@pytest.mark.parametrize(
    ("field", "label"),
    [
        ("smtpHost", "SmtpHost"),
        ("smtpUsername", "SmtpUsername"),
        ("smtpPassword", "SmtpPassword"),
        ("fromName", "FromName"),
        ("fromEmail", "FromEmail"),
    ],
)
def test_it_requires_every_string_setting(client, ctx, alice, field, label):
    headers = auth_headers(ctx, alice)
    response = client.put(BASE, json=settings_body(**{field: ""}), headers=headers)
    assert is_problem(response, 400)
    assert response.json()["errors"] == {label: [f"The {label} field is required."]}
    assert response.json()["message"] == f"The {label} field is required."
    assert client.get(BASE, headers=headers).json() == DEFAULTS


@pytest.mark.parametrize("port", [0, 65536, "abc"])
def test_it_refuses_an_invalid_port(client, ctx, alice, port):
    response = client.put(BASE, json=settings_body(port), headers=auth_headers(ctx, alice))
    assert is_problem(response, 400)
    assert set(response.json()["errors"]) == {"SmtpPort"}


# --- test mail -----------------------------------------------------------------------------


def test_it_needs_saved_settings_before_a_test(client, ctx, alice):
    response = client.post(
        f"{BASE}/test", json={"toEmail": "ops@example.com"}, headers=auth_headers(ctx, alice)
    )
    assert (response.status_code, response.json()) == (
        400,
        {"message": "E-Mail-Einstellungen müssen erst konfiguriert werden.", "success": False},
    )


def test_it_sends_a_test_mail_through_the_configured_server(client, ctx, alice, smtp):
    headers = auth_headers(ctx, alice)
    assert client.put(BASE, json=settings_body(smtp.port), headers=headers).status_code == 200
    response = client.post(f"{BASE}/test", json={"toEmail": "ops@example.com"}, headers=headers)
    assert (response.status_code, response.json()) == (
        200,
        {"message": "Test-E-Mail wurde erfolgreich an ops@example.com gesendet.", "success": True},
    )
    assert smtp.envelopes == [("haus@example.com", ["ops@example.com"])]
    [message] = smtp.messages
    assert message["To"] == "ops@example.com"
    assert message["From"] == "Ferienhaus <haus@example.com>"
    assert message["Subject"] == "Test E-Mail vom Booking System"
    content = message.get_content().strip()
    assert content == "Dies ist eine Test-E-Mail zur Überprüfung der E-Mail-Konfiguration."
    assert smtp.logins == [("mailer", SECRET)]


def test_it_sends_a_custom_subject_and_body(client, ctx, alice, smtp):
    headers = auth_headers(ctx, alice)
    client.put(BASE, json=settings_body(smtp.port), headers=headers)
    response = client.post(
        f"{BASE}/test",
        json={"toEmail": "ops@example.com", "subject": "Hallo Haus", "body": "Grüße vom Test"},
        headers=headers,
    )
    assert response.json()["success"] is True
    [message] = smtp.messages
    assert message["Subject"] == "Hallo Haus"
    assert message.get_content().strip() == "Grüße vom Test"


def test_it_reports_a_failing_smtp_server(client, ctx, alice):
    headers = auth_headers(ctx, alice)
    client.put(BASE, json=settings_body(free_port()), headers=headers)
    response = client.post(f"{BASE}/test", json={"toEmail": "ops@example.com"}, headers=headers)
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"message", "success"}
    assert body["success"] is False
    assert body["message"].startswith("Fehler beim Senden der Test-E-Mail: ")
    assert len(body["message"]) > len("Fehler beim Senden der Test-E-Mail: ")


@pytest.mark.parametrize("body", [{"toEmail": "  "}, {}])
def test_it_requires_a_test_recipient(client, ctx, alice, smtp, body):
    headers = auth_headers(ctx, alice)
    client.put(BASE, json=settings_body(smtp.port), headers=headers)
    response = client.post(f"{BASE}/test", json=body, headers=headers)
    assert is_problem(response, 400)
    assert response.json()["errors"] == {"ToEmail": ["The ToEmail field is required."]}
    assert smtp.messages == []


def test_it_uses_saved_settings_for_application_mail(client, ctx, alice, smtp):
    client.put(BASE, json=settings_body(smtp.port), headers=auth_headers(ctx, alice))
    response = client.post("/api/auth/resend-verification", json={"email": "nobody@example.com"})
    assert response.status_code == 200
    registered = client.post(
        "/api/auth/register",
        json={
            "email": "dora@example.com",
            "password": "correct-horse-battery",
            "firstName": "Dora",
            "lastName": "Diehl",
        },
    )
    assert registered.status_code == 200
    assert smtp.envelopes == []  # requests only queue mail; the outbox sender delivers it
    assert outbox.Sender(ctx).run_once() == 2
    recipients = sorted(rcpt for _, rcpts in smtp.envelopes for rcpt in rcpts)
    assert recipients == ["alice@example.com", "dora@example.com"]


# --- access control ------------------------------------------------------------------------

CALLS = [
    ("GET", BASE, None),
    ("PUT", BASE, settings_body()),
    ("POST", f"{BASE}/test", {"toEmail": "ops@example.com"}),
]


@pytest.mark.parametrize(("method", "path", "body"), CALLS)
def test_it_forbids_members_the_email_settings(client, ctx, alice, bob, method, path, body):
    response = client.request(method, path, json=body, headers=auth_headers(ctx, bob))
    assert is_problem(response, 403)
    assert client.get(BASE, headers=auth_headers(ctx, alice)).json() == DEFAULTS


@pytest.mark.parametrize(("method", "path", "body"), CALLS)
def test_it_refuses_anonymous_calls_to_email_settings(client, method, path, body):
    response = client.request(method, path, json=body)
    assert is_problem(response, 401)
