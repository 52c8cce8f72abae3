"""The audit log (booking/domain/audit.py): one entry per security-relevant event, written in
the same transaction, never a secret, readable by administrators only (API and page)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from booking.db.models import AuditEvent, User
from booking.domain import audit, places, sessions, users
from booking.domain.email_settings import EmailSettingsIn, save_settings
from booking.domain.errors import AuthFailed
from booking.domain.users import _token_hash
from booking.lib.timeutil import utcnow
from tests import factories
from tests.conftest import auth
from tests.factories import PASSWORD
from tests.web.test_account_pages import get, logged_in, submit

ADDRESS = "203.0.113.7"
SMTP_SECRET = "smtp-secret-value-123"  # noqa: S105 - a test value


def events(ctx) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with ctx.db.read() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def last(ctx) -> AuditEvent:  # type: ignore[no-untyped-def]
    return events(ctx)[-1]


def test_logins_and_failed_logins(ctx, bob):
    users.authenticate(ctx, bob.email, PASSWORD, ADDRESS)
    entry = last(ctx)
    assert (entry.event, entry.actor_id, entry.subject, entry.client_address) == (
        "login",
        bob.id,
        bob.email,
        ADDRESS,
    )
    with pytest.raises(AuthFailed):
        users.authenticate(ctx, bob.email, "wrong-password-1", ADDRESS)
    entry = last(ctx)
    assert (entry.event, entry.actor_id, entry.subject) == ("login_failed", None, bob.email)
    assert json.loads(entry.details) == {"reason": "invalid_credentials"}
    assert "wrong-password-1" not in str([vars(e) for e in events(ctx)])


def test_account_administration(ctx, alice, bob):
    pending = factories.make_user(ctx, "new@example.com", approved=False)
    rejected = factories.make_user(ctx, "spam@example.com", approved=False)
    users.approve(ctx, alice, pending.id)
    users.reject(ctx, alice, rejected.id, "Unbekannt")
    users.set_booking_right(ctx, alice, bob.id, allowed=False)
    users.set_booking_right(ctx, alice, bob.id, allowed=True)
    users.set_role(ctx, alice, bob.id, users.ADMIN)
    got = [(e.event, e.actor_id, e.subject) for e in events(ctx)]
    assert got == [
        ("user_approved", alice.id, "new@example.com"),
        ("user_rejected", alice.id, "spam@example.com"),
        ("booking_revoked", alice.id, bob.email),
        ("booking_restored", alice.id, bob.email),
        ("role_changed", alice.id, bob.email),
    ]
    assert json.loads(last(ctx).details) == {
        "userId": bob.id,
        "from": "Member",
        "to": "Administrator",
    }


def test_passwords_and_sessions(ctx, bob):
    users.change_password(ctx, bob, PASSWORD, "ein-neues-passwort-2026")
    token = "reset-token-for-bob"
    with ctx.db.write() as session:
        row = session.get(User, bob.id)
        assert row is not None
        row.reset_token_hash = _token_hash(token)
        row.reset_token_expires_at = utcnow() + timedelta(minutes=10)
    users.reset_password(ctx, token, "noch-ein-passwort-2026", ADDRESS)
    sessions.log_out_everywhere(ctx, bob, ADDRESS)
    assert [(e.event, e.actor_id) for e in events(ctx)] == [
        ("password_changed", bob.id),
        ("password_reset", bob.id),
        ("logout_all", bob.id),
    ]
    text = str([vars(e) for e in events(ctx)])
    assert "passwort-2026" not in text and token not in text


def test_places_and_email_settings(ctx, alice):
    place = places.create_place(ctx, alice, places.PlaceIn(name="Zelt", type=1, maxCapacity=2))
    place_id = uuid.UUID(str(place["id"]))
    places.update_place(
        ctx, alice, place_id, places.PlaceIn(name="Großes Zelt", type=1, maxCapacity=4)
    )
    places.deactivate_place(ctx, alice, place_id)
    places.reactivate_place(ctx, alice, place_id)
    data = EmailSettingsIn(
        smtp_host="smtp.example.com",
        smtp_port=587,
        smtp_username="mailer",
        smtp_password=SMTP_SECRET,
        from_name="Haus",
        from_email="haus@example.com",
    )
    save_settings(ctx, data, alice)
    got = [e.event for e in events(ctx)]
    assert got == [
        "place_created",
        "place_updated",
        "place_deactivated",
        "place_reactivated",
        "email_settings_changed",
    ]
    updated = json.loads(events(ctx)[1].details)
    assert updated["name"] == ["Zelt", "Großes Zelt"] and updated["maxCapacity"] == [2, 4]
    mail = last(ctx)
    assert mail.actor_id == alice.id and json.loads(mail.details)["passwordChanged"] is True
    assert SMTP_SECRET not in str([vars(e) for e in events(ctx)])


def test_secrets_are_refused_in_details(ctx):
    with ctx.db.write() as session, pytest.raises(ValueError, match="secrets"):
        audit.record(session, None, "login", details={"password": "x"})
    with ctx.db.write() as session, pytest.raises(ValueError, match="secrets"):
        audit.record(session, None, "login", details={"resetToken": "x"})


def test_api_lists_newest_first_for_admins_only(client, ctx, alice, bob):
    users.authenticate(ctx, bob.email, PASSWORD, ADDRESS)
    response = client.post(f"/api/admin/users/{bob.id}/revoke-booking", headers=auth(ctx, alice))
    assert response.status_code == 200
    listed = client.get("/api/admin/audit?limit=10", headers=auth(ctx, alice))
    assert listed.status_code == 200
    first, second = listed.json()
    assert first["event"] == "booking_revoked" and first["actorEmail"] == alice.email
    assert first["clientAddress"] == "testclient"  # the request's address (TestClient's)
    assert first["label"] == "Buchungsberechtigung entzogen"
    assert second["event"] == "login" and second["clientAddress"] == ADDRESS
    assert client.get("/api/admin/audit?limit=1&offset=1", headers=auth(ctx, alice)).json() == [
        second
    ]
    assert client.get("/api/admin/audit", headers=auth(ctx, bob)).status_code == 403
    assert client.get("/api/admin/audit").status_code == 401
    assert client.get("/api/admin/audit?limit=0", headers=auth(ctx, alice)).status_code == 400


def test_the_page_shows_the_log_to_admins_only(client, ctx, alice, bob):
    logged_in(client, alice.email)  # writes a "login" event with the client's address
    doc = get(client, "/admin/audit")
    rows = doc.find_all("tr", data_event="login")
    assert rows and alice.email in rows[0].text and "Anmeldung" in rows[0].text
    client.cookies.clear()
    logged_in(client, bob.email)
    get(client, "/admin/audit", status=403)
    client.cookies.clear()
    assert client.get("/admin/audit", follow_redirects=False).status_code == 303


def test_logout_everywhere_from_the_profile_is_audited(client, ctx, bob):
    logged_in(client, bob.email)
    response = submit(client, "/profile", "/profile/logout-all", {})
    assert response.status_code == 303
    assert last(ctx).event == "logout_all"
