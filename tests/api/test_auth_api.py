"""Contract tests for ``/api/auth/*``, bearer tokens and health (reference §2.0-§2.2,
DECISIONS 5, 7, 13, 14)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from datetime import timedelta

import jwt
import pytest
from sqlalchemy import select, update

from booking.api.deps import token_key
from booking.db.models import User
from booking.lib.timeutil import utcnow
from tests.factories import PASSWORD, auth_headers, make_user
from tests.mails import mails as outbox_mails

CLAIM_ID = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"
CLAIM_EMAIL = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
CLAIM_NAME = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
CLAIM_ROLE = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"

INVALID_LOGIN = {"message": "Ungültige E-Mail-Adresse oder Passwort."}
NOT_VERIFIED = {
    "message": "Bitte bestätigen Sie zuerst Ihre E-Mail-Adresse. Überprüfen Sie Ihr "
    "E-Mail-Postfach oder fordern Sie eine neue Bestätigungs-E-Mail an."
}
NOT_APPROVED = {
    "message": "Ihr Konto wartet noch auf die Freigabe durch einen Administrator. Sie werden "
    "per E-Mail benachrichtigt, sobald Ihr Konto freigeschaltet wurde."
}
REGISTERED = "Registrierung erfolgreich. Bitte überprüfen Sie Ihre E-Mails zur Verifizierung."
VERIFIED = {
    "message": "E-Mail-Adresse erfolgreich verifiziert. "
    "Ihr Konto wartet auf Administrator-Freigabe für Buchungen.",
    "requiresApproval": True,
}
BAD_TOKEN = {"message": "Ungültiger oder abgelaufener Verifizierungstoken."}
RESENT = {"message": "Neuer Verifizierungslink wurde an Ihre E-Mail-Adresse gesendet."}
NEW_PASSWORD = "a-brand-new-passphrase"
LINK = re.compile(r"http://testserver/verify-email\?token=([A-Za-z0-9_\-]+)")


def register_body(email: str = "dora@example.com", **overrides: str) -> dict[str, str]:
    body = {"email": email, "password": PASSWORD, "firstName": "Dora", "lastName": "Diehl"}
    body.update(overrides)
    return body


def mails(client) -> list[tuple[str, str, str]]:
    """(to, subject, text) of every mail the app queued in the outbox."""
    return [(m.to, m.subject, m.text) for m in outbox_mails(client)]


def token_mailed_to(client, email: str) -> str:
    tokens = [m for to, _, body in mails(client) if to == email for m in LINK.findall(body)]
    assert tokens, f"no verification link mailed to {email}"
    return tokens[-1]


def login(client, email: str, password: str = PASSWORD):
    return client.post("/api/auth/login", json={"email": email, "password": password})


def pyjwt_claims(user_id: object, /, **overrides: object) -> dict[str, object]:
    claims: dict[str, object] = {
        CLAIM_ID: str(user_id),
        CLAIM_EMAIL: "someone@example.com",
        CLAIM_NAME: "Some One",
        CLAIM_ROLE: "Member",
        "user_id": str(user_id),
        "exp": int(time.time()) + 600,
        "iss": "BookingApi",
        "aud": "BookingApp",
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def assert_unauthorized(response, invalid_token: bool) -> None:
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 401
    expected = 'Bearer error="invalid_token"' if invalid_token else "Bearer"
    assert response.headers["www-authenticate"] == expected


# --- login ---------------------------------------------------------------------------------


def test_it_logs_in_with_token_message_and_user(client, alice):
    response = login(client, "alice@example.com")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "message", "user"}
    assert body["message"] == "Login successful"
    assert body["user"] == {
        "id": alice.id,
        "email": "alice@example.com",
        "firstName": "Alice",
        "lastName": "Person",
        "role": 1,
    }


def test_it_issues_a_token_with_the_predecessors_claims(client, ctx, alice):
    token = login(client, "alice@example.com").json()["token"]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(
        token, token_key(ctx), algorithms=["HS256"], audience="BookingApp", issuer="BookingApi"
    )
    assert set(claims) == {
        CLAIM_ID,
        CLAIM_EMAIL,
        CLAIM_NAME,
        CLAIM_ROLE,
        "user_id",
        "exp",
        "iss",
        "aud",
    }
    assert claims[CLAIM_ID] == str(alice.id)
    assert claims["user_id"] == str(alice.id)
    assert claims[CLAIM_EMAIL] == "alice@example.com"
    assert claims[CLAIM_NAME] == "Alice Person"
    assert claims[CLAIM_ROLE] == "Administrator"
    assert claims["iss"] == "BookingApi"
    assert claims["aud"] == "BookingApp"


def test_it_gives_members_role_zero_and_the_member_claim(client, ctx, bob):
    body = login(client, "bob@example.com").json()
    assert body["user"]["role"] == 0
    claims = jwt.decode(body["token"], token_key(ctx), algorithms=["HS256"], audience="BookingApp")
    assert claims[CLAIM_ROLE] == "Member"


def test_it_accepts_its_own_login_token(client, bob):
    token = login(client, "bob@example.com").json()["token"]
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["id"] == bob.id


def test_it_answers_the_same_for_unknown_email_and_wrong_password(client, bob):
    unknown = login(client, "nobody@example.com")
    wrong = login(client, "bob@example.com", "wrong-password-123")
    assert (unknown.status_code, unknown.json()) == (400, INVALID_LOGIN)
    assert (wrong.status_code, wrong.json()) == (400, INVALID_LOGIN)


def test_it_checks_the_password_before_the_verification_state(client, ctx):
    make_user(ctx, "eve@example.com", verified=False, approved=False)
    response = login(client, "eve@example.com", "wrong-password-123")
    assert (response.status_code, response.json()) == (400, INVALID_LOGIN)


def test_it_refuses_login_before_email_verification(client, ctx):
    make_user(ctx, "eve@example.com", verified=False, approved=False)
    response = login(client, "eve@example.com")
    assert (response.status_code, response.json()) == (400, NOT_VERIFIED)


def test_it_refuses_login_before_approval(client, ctx):
    make_user(ctx, "eve@example.com", verified=True, approved=False)
    response = login(client, "eve@example.com")
    assert (response.status_code, response.json()) == (400, NOT_APPROVED)


def test_it_treats_a_rejected_user_as_unknown(client, ctx):
    make_user(ctx, "eve@example.com", active=False)
    response = login(client, "eve@example.com")
    assert (response.status_code, response.json()) == (400, INVALID_LOGIN)


def test_it_matches_login_emails_case_insensitively(client, bob):
    response = login(client, "  BOB@Example.COM ")
    assert response.status_code == 200
    assert response.json()["user"]["email"] == "bob@example.com"


def test_it_requires_login_fields(client):
    response = client.post("/api/auth/login", json={"email": "", "password": " "})
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400
    assert body["errors"] == {
        "Email": ["The Email field is required."],
        "Password": ["The Password field is required."],
    }


def test_it_records_the_last_login(client, ctx, bob):
    assert login(client, "bob@example.com").status_code == 200
    with ctx.db.read() as session:
        assert session.scalar(select(User.last_login_at).where(User.id == bob.id)) is not None


def test_it_routes_auth_paths_case_insensitively(client, bob):
    response = client.post(
        "/api/Auth/login", json={"email": "bob@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    assert response.json()["message"] == "Login successful"


# --- bearer tokens -------------------------------------------------------------------------


def test_it_accepts_a_token_signed_by_pyjwt(client, ctx, bob):
    token = jwt.encode(pyjwt_claims(bob.id), token_key(ctx), algorithm="HS256")
    response = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["email"] == "bob@example.com"


def test_it_falls_back_to_the_nameidentifier_claim(client, ctx, bob):
    token = jwt.encode(pyjwt_claims(bob.id, user_id=None), token_key(ctx), algorithm="HS256")
    response = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["id"] == bob.id


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"exp": int(time.time()) - 5}, id="expired"),
        pytest.param({"aud": "SomethingElse"}, id="wrong-audience"),
        pytest.param({"iss": "SomeoneElse"}, id="wrong-issuer"),
        pytest.param({"exp": None}, id="no-expiry"),
        pytest.param({"user_id": "abc", CLAIM_ID: "abc"}, id="non-numeric-user"),
        pytest.param({"user_id": "999999", CLAIM_ID: "999999"}, id="unknown-user"),
    ],
)
def test_it_rejects_an_unacceptable_token(client, ctx, bob, overrides):
    claims = pyjwt_claims(bob.id, **overrides)
    token = jwt.encode(claims, token_key(ctx), algorithm="HS256")
    response = client.get("/api/bookings", headers={"Authorization": f"Bearer {token}"})
    assert_unauthorized(response, invalid_token=True)


def test_it_rejects_a_token_that_is_not_yet_valid(client, ctx, bob):
    # The predecessor validated the lifetime (exp and nbf) with no clock skew.
    claims = pyjwt_claims(bob.id, nbf=int(time.time()) + 300)
    token = jwt.encode(claims, token_key(ctx), algorithm="HS256")
    response = client.get("/api/bookings", headers={"Authorization": f"Bearer {token}"})
    assert_unauthorized(response, invalid_token=True)


def test_it_rejects_a_token_with_a_wrong_signature(client, bob):
    token = jwt.encode(pyjwt_claims(bob.id), b"k" * 32, algorithm="HS256")
    response = client.get("/api/bookings", headers={"Authorization": f"Bearer {token}"})
    assert_unauthorized(response, invalid_token=True)


def test_it_rejects_an_unsigned_alg_none_token(client, bob):
    token = jwt.encode(pyjwt_claims(bob.id), None, algorithm="none")
    response = client.get("/api/bookings", headers={"Authorization": f"Bearer {token}"})
    assert_unauthorized(response, invalid_token=True)


def test_it_rejects_alg_none_even_with_a_valid_mac(client, ctx, bob):
    def part(data: dict[str, object]) -> str:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(pyjwt_claims(bob.id))}"
    mac = hmac.new(token_key(ctx), signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    response = client.get("/api/bookings", headers={"Authorization": f"Bearer {token}"})
    assert_unauthorized(response, invalid_token=True)


def test_it_rejects_a_garbage_token(client):
    response = client.get("/api/bookings", headers={"Authorization": "Bearer not.a.jwt"})
    assert_unauthorized(response, invalid_token=True)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/auth/me"),
        ("POST", "/api/auth/change-password"),
        ("GET", "/api/bookings"),
        ("GET", "/api/sleeping-accommodations"),
        ("GET", "/api/admin/users"),
        ("GET", "/api/admin/users/pending"),
        ("GET", "/api/admin/email-settings"),
    ],
)
def test_it_answers_anonymous_calls_with_401_json(client, method, path):
    response = client.request(method, path, json={})
    assert_unauthorized(response, invalid_token=False)


def test_it_refuses_a_token_of_a_user_deactivated_after_issue(client, ctx, bob):
    headers = auth_headers(ctx, bob)
    assert client.get("/api/auth/me", headers=headers).status_code == 200
    with ctx.db.write() as session:
        session.execute(update(User).where(User.id == bob.id).values(is_active=False))
    assert_unauthorized(client.get("/api/auth/me", headers=headers), invalid_token=True)


# --- registration and verification ---------------------------------------------------------


def test_it_registers_a_user_and_mails_a_verification_link(client):
    response = client.post("/api/auth/register", json=register_body())
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"message", "userId"}
    assert body["message"] == REGISTERED
    assert isinstance(body["userId"], int)
    assert token_mailed_to(client, "dora@example.com")


def test_it_stores_registered_emails_normalised(client, ctx):
    response = client.post("/api/auth/register", json=register_body(" Dora@Example.COM "))
    assert response.status_code == 200
    with ctx.db.read() as session:
        user = session.get(User, response.json()["userId"])
        assert user is not None
        assert user.email == "dora@example.com"
        assert (user.role, user.email_verified, user.is_approved_for_booking) == (
            "Member",
            False,
            False,
        )


@pytest.mark.parametrize("email", ["bob@example.com", "BOB@example.com"])
def test_it_refuses_a_duplicate_email(client, bob, email):
    response = client.post("/api/auth/register", json=register_body(email))
    assert response.status_code == 400
    assert response.json() == {"message": "E-Mail-Adresse ist bereits registriert."}


def test_it_refuses_a_short_password(client):
    response = client.post("/api/auth/register", json=register_body(password="short12"))
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400
    assert body["errors"] == {"Password": ["Passwort muss mindestens 8 Zeichen lang sein"]}
    assert body["message"] == "Passwort muss mindestens 8 Zeichen lang sein"


@pytest.mark.parametrize("password", ["password", "12345678", "qwertyuiop"])
def test_it_refuses_a_very_common_password(client, password):
    # DECISIONS 13: at least 8 characters and not among the most common passwords.
    response = client.post("/api/auth/register", json=register_body(password=password))
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"Password"}


def test_it_accepts_a_password_of_exactly_eight_characters(client):
    response = client.post("/api/auth/register", json=register_body(password="q7#Lm2x!"))
    assert response.status_code == 200


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "a b@example.com"])
def test_it_refuses_a_malformed_email(client, email):
    response = client.post("/api/auth/register", json=register_body(email))
    assert response.status_code == 400
    assert response.json()["errors"] == {"Email": ["Ungültige E-Mail-Adresse"]}


def test_it_reports_missing_registration_fields_as_problem_details(client):
    response = client.post("/api/auth/register", json={"email": "dora@example.com"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 400
    assert body["title"] == "One or more validation errors occurred."
    assert body["errors"] == {
        "Password": ["The Password field is required."],
        "FirstName": ["The FirstName field is required."],
        "LastName": ["The LastName field is required."],
    }


def test_it_reports_blank_registration_fields(client):
    response = client.post("/api/auth/register", json=register_body(firstName="  "))
    assert response.status_code == 400
    assert response.json()["errors"] == {"FirstName": ["The FirstName field is required."]}


def test_it_verifies_with_the_mailed_token_once(client, ctx):
    user_id = client.post("/api/auth/register", json=register_body()).json()["userId"]
    token = token_mailed_to(client, "dora@example.com")

    first = client.post("/api/auth/verify-email", json={"token": token})
    assert (first.status_code, first.json()) == (200, VERIFIED)
    with ctx.db.read() as session:
        user = session.get(User, user_id)
        assert user is not None and user.email_verified and user.email_verified_at is not None

    again = client.post("/api/auth/verify-email", json={"token": token})
    assert (again.status_code, again.json()) == (400, BAD_TOKEN)


def test_it_refuses_an_unknown_verification_token(client):
    response = client.post("/api/auth/verify-email", json={"token": "made-up-token"})
    assert (response.status_code, response.json()) == (400, BAD_TOKEN)


def test_it_refuses_an_expired_verification_token(client, ctx):
    client.post("/api/auth/register", json=register_body())
    token = token_mailed_to(client, "dora@example.com")
    with ctx.db.write() as session:
        session.execute(
            update(User)
            .where(User.email == "dora@example.com")
            .values(verification_token_expires_at=utcnow() - timedelta(minutes=1))
        )
    response = client.post("/api/auth/verify-email", json={"token": token})
    assert (response.status_code, response.json()) == (400, BAD_TOKEN)


def test_it_needs_approval_after_verification(client):
    client.post("/api/auth/register", json=register_body())
    client.post(
        "/api/auth/verify-email", json={"token": token_mailed_to(client, "dora@example.com")}
    )
    response = login(client, "dora@example.com")
    assert (response.status_code, response.json()) == (400, NOT_APPROVED)


def test_it_notifies_administrators_of_a_registration(client, alice):
    client.post("/api/auth/register", json=register_body())
    recipients = [to for to, _, _ in mails(client)]
    assert "alice@example.com" in recipients


# --- resend verification -------------------------------------------------------------------


@pytest.mark.parametrize("email", ["nobody@example.com", "bob@example.com", "eve@example.com"])
def test_it_answers_resend_the_same_for_every_address(client, ctx, bob, email):
    make_user(ctx, "eve@example.com", verified=False, approved=False)
    response = client.post("/api/auth/resend-verification", json={"email": email})
    assert (response.status_code, response.json()) == (200, RESENT)


def test_it_mails_only_unverified_addresses_on_resend(client, ctx, bob):
    make_user(ctx, "eve@example.com", verified=False, approved=False)
    for email in ("nobody@example.com", "bob@example.com", "EVE@example.com"):
        client.post("/api/auth/resend-verification", json={"email": email})
    assert [to for to, _, _ in mails(client)] == ["eve@example.com"]


def test_it_replaces_the_token_on_resend(client):
    client.post("/api/auth/register", json=register_body())
    old = token_mailed_to(client, "dora@example.com")
    client.post("/api/auth/resend-verification", json={"email": "dora@example.com"})
    new = token_mailed_to(client, "dora@example.com")
    assert new != old
    stale = client.post("/api/auth/verify-email", json={"token": old})
    assert (stale.status_code, stale.json()) == (400, BAD_TOKEN)
    fresh = client.post("/api/auth/verify-email", json={"token": new})
    assert (fresh.status_code, fresh.json()) == (200, VERIFIED)


# --- me and change-password ----------------------------------------------------------------


def test_it_describes_the_current_user(client, ctx, bob):
    response = client.get("/api/auth/me", headers=auth_headers(ctx, bob))
    assert response.status_code == 200
    assert response.json() == {
        "id": bob.id,
        "email": "bob@example.com",
        "firstName": "Bob",
        "lastName": "Person",
        "role": 0,
        "canBook": True,
    }


def test_it_changes_the_password(client, ctx, bob):
    response = client.post(
        "/api/auth/change-password",
        json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
        headers=auth_headers(ctx, bob),
    )
    assert (response.status_code, response.json()) == (
        200,
        {"message": "Ihr Passwort wurde geändert."},
    )
    assert login(client, "bob@example.com").json() == INVALID_LOGIN
    assert login(client, "bob@example.com", NEW_PASSWORD).status_code == 200


def test_it_refuses_a_password_change_with_a_wrong_current_password(client, ctx, bob):
    response = client.post(
        "/api/auth/change-password",
        json={"currentPassword": "not-my-password", "newPassword": NEW_PASSWORD},
        headers=auth_headers(ctx, bob),
    )
    assert (response.status_code, response.json()) == (
        400,
        {"message": "Das aktuelle Passwort ist falsch."},
    )
    assert login(client, "bob@example.com").status_code == 200


def test_it_refuses_a_short_new_password(client, ctx, bob):
    response = client.post(
        "/api/auth/change-password",
        json={"currentPassword": PASSWORD, "newPassword": "short"},
        headers=auth_headers(ctx, bob),
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "NewPassword": ["Passwort muss mindestens 8 Zeichen lang sein"]
    }
    assert login(client, "bob@example.com").status_code == 200


# --- health --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/health", "/api/health"])
def test_it_reports_liveness(client, path):
    response = client.get(path)
    assert (response.status_code, response.json()) == (200, {"status": "healthy"})


def test_it_reports_readiness(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "mail": "ok"},
    }
