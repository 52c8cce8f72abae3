"""Contract tests for ``/api/admin/users/*`` (reference §2.3, DECISIONS 11 and 18)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from booking.db.models import User
from booking.lib.timeutil import utcnow
from tests.factories import PASSWORD, auth_headers, booking_body, make_user
from tests.mails import mails

ALREADY_APPROVED = {"message": "Benutzer nicht gefunden oder bereits freigegeben."}
ALREADY_PROCESSED = {"message": "Benutzer nicht gefunden oder bereits verarbeitet."}
ADMIN_ONLY = "Diese Aktion ist Administratoren vorbehalten."
REVOKED = "Ihre Berechtigung zum Buchen wurde von einem Administrator entzogen."
LINK = re.compile(r"verify-email\?token=([A-Za-z0-9_\-]+)")
PENDING_KEYS = {
    "id",
    "email",
    "firstName",
    "lastName",
    "registrationDate",
    "emailVerifiedAt",
    "emailVerified",
}


def pending_user(ctx, email: str = "dora@example.com", first_name: str = "Dora"):
    """Verified, not yet approved: what the approval queue shows."""
    return make_user(ctx, email, first_name=first_name, last_name="Diehl", approved=False)


def login(client, email: str):
    return client.post("/api/auth/login", json={"email": email, "password": PASSWORD})


def is_problem(response, status: int) -> bool:
    body = response.json()
    return response.status_code == status and body["status"] == status and "message" in body


# --- pending list --------------------------------------------------------------------------


def test_it_lists_verified_unapproved_users_as_pending(client, ctx, alice, bob):
    dora = pending_user(ctx)
    make_user(ctx, "eve@example.com", verified=False, approved=False)
    make_user(ctx, "fred@example.com", approved=False, active=False)
    response = client.get("/api/admin/users/pending", headers=auth_headers(ctx, alice))
    assert response.status_code == 200
    body = response.json()
    assert [entry["id"] for entry in body] == [dora.id]
    entry = body[0]
    assert set(entry) == PENDING_KEYS
    assert (entry["email"], entry["firstName"], entry["lastName"]) == (
        "dora@example.com",
        "Dora",
        "Diehl",
    )
    assert entry["emailVerified"] is True
    assert isinstance(entry["emailVerifiedAt"], str)
    assert not entry["registrationDate"].endswith("Z")


def test_it_orders_pending_users_by_registration_date(client, ctx, alice):
    later = pending_user(ctx, "later@example.com")
    earlier = pending_user(ctx, "earlier@example.com")
    with ctx.db.write() as session:
        session.execute(
            update(User)
            .where(User.id == earlier.id)
            .values(registration_date=utcnow() - timedelta(days=2))
        )
    body = client.get("/api/admin/users/pending", headers=auth_headers(ctx, alice)).json()
    assert [entry["id"] for entry in body] == [earlier.id, later.id]


def test_it_routes_admin_paths_case_insensitively(client, ctx, alice):
    dora = pending_user(ctx)
    response = client.get("/api/Admin/users/pending", headers=auth_headers(ctx, alice))
    assert response.status_code == 200
    assert [entry["id"] for entry in response.json()] == [dora.id]


# --- approve and reject --------------------------------------------------------------------


def test_it_approves_a_pending_user_who_can_then_log_in(client, ctx, alice):
    dora = pending_user(ctx)
    response = client.post(f"/api/admin/users/{dora.id}/approve", headers=auth_headers(ctx, alice))
    assert response.status_code == 200
    assert response.json() == {
        "message": "Benutzer Dora Diehl wurde erfolgreich für Buchungen freigeschaltet."
    }
    assert login(client, "dora@example.com").status_code == 200
    assert [m.subject for m in mails(ctx, "dora@example.com")] == ["Ihr Konto wurde freigeschaltet"]
    with ctx.db.read() as session:
        row = session.get(User, dora.id)
        assert row is not None and row.approved_by_id == alice.id


def test_it_refuses_to_approve_twice(client, ctx, alice):
    dora = pending_user(ctx)
    headers = auth_headers(ctx, alice)
    assert client.post(f"/api/admin/users/{dora.id}/approve", headers=headers).status_code == 200
    again = client.post(f"/api/admin/users/{dora.id}/approve", headers=headers)
    assert (again.status_code, again.json()) == (400, ALREADY_APPROVED)


@pytest.mark.parametrize("target", ["unknown", "unverified"])
def test_it_refuses_to_approve_a_user_not_in_the_queue(client, ctx, alice, target):
    user_id = 999999
    if target == "unverified":
        user_id = make_user(ctx, "eve@example.com", verified=False, approved=False).id
    response = client.post(f"/api/admin/users/{user_id}/approve", headers=auth_headers(ctx, alice))
    assert (response.status_code, response.json()) == (400, ALREADY_APPROVED)


def test_it_rejects_a_pending_user_with_a_mailed_reason(client, ctx, alice):
    dora = pending_user(ctx)
    response = client.post(
        f"/api/admin/users/{dora.id}/reject",
        json={"reason": "Unbekannte Person"},
        headers=auth_headers(ctx, alice),
    )
    assert (response.status_code, response.json()) == (
        200,
        {"message": "Benutzer Dora Diehl wurde abgelehnt."},
    )
    mailed = [m.text for m in mails(ctx, "dora@example.com")]
    assert len(mailed) == 1 and "Unbekannte Person" in mailed[0]


def test_it_keeps_a_rejected_user_out(client, ctx, alice):
    dora = pending_user(ctx)
    headers = auth_headers(ctx, alice)
    assert (
        client.post(f"/api/admin/users/{dora.id}/reject", json={}, headers=headers).status_code
        == 200
    )

    assert login(client, "dora@example.com").json() == {
        "message": "Ungültige E-Mail-Adresse oder Passwort."
    }
    assert client.get("/api/admin/users/pending", headers=headers).json() == []
    approve = client.post(f"/api/admin/users/{dora.id}/approve", headers=headers)
    assert (approve.status_code, approve.json()) == (400, ALREADY_APPROVED)
    reject = client.post(f"/api/admin/users/{dora.id}/reject", json={}, headers=headers)
    assert (reject.status_code, reject.json()) == (400, ALREADY_PROCESSED)


def test_it_refuses_to_reject_an_approved_user(client, ctx, alice, bob):
    response = client.post(
        f"/api/admin/users/{bob.id}/reject", json={}, headers=auth_headers(ctx, alice)
    )
    assert (response.status_code, response.json()) == (400, ALREADY_PROCESSED)


def test_it_requires_a_body_to_reject(client, ctx, alice):
    dora = pending_user(ctx)
    response = client.post(f"/api/admin/users/{dora.id}/reject", headers=auth_headers(ctx, alice))
    assert is_problem(response, 400)
    assert response.json()["errors"] == {"": ["A non-empty request body is required."]}


def test_it_walks_the_whole_registration_journey(client, ctx, alice):
    registered = client.post(
        "/api/auth/register",
        json={
            "email": "Gina@Example.com",
            "password": PASSWORD,
            "firstName": "Gina",
            "lastName": "Graf",
        },
    )
    assert registered.status_code == 200
    user_id = registered.json()["userId"]
    token = [t for mail in mails(ctx) for t in LINK.findall(mail.text)][-1]
    headers = auth_headers(ctx, alice)
    assert client.get("/api/admin/users/pending", headers=headers).json() == []

    assert client.post("/api/auth/verify-email", json={"token": token}).status_code == 200
    pending = client.get("/api/admin/users/pending", headers=headers).json()
    assert [(p["id"], p["email"]) for p in pending] == [(user_id, "gina@example.com")]

    approved = client.post(f"/api/admin/users/{user_id}/approve", headers=headers)
    assert approved.json() == {
        "message": "Benutzer Gina Graf wurde erfolgreich für Buchungen freigeschaltet."
    }
    logged_in = login(client, "gina@example.com")
    assert logged_in.status_code == 200
    assert logged_in.json()["user"]["id"] == user_id
    assert client.get("/api/admin/users/pending", headers=headers).json() == []


# --- user list -----------------------------------------------------------------------------


def test_it_lists_all_users_with_their_state(client, ctx, alice, bob):
    dora = pending_user(ctx)
    response = client.get("/api/admin/users", headers=auth_headers(ctx, alice))
    assert response.status_code == 200
    by_id = {entry["id"]: entry for entry in response.json()}
    assert set(by_id) == {alice.id, bob.id, dora.id}
    entry = by_id[bob.id]
    assert set(entry) == {
        "id",
        "email",
        "firstName",
        "lastName",
        "role",
        "isActive",
        "emailVerified",
        "isApprovedForBooking",
        "canBook",
        "bookingRevokedAt",
        "registrationDate",
        "lastLoginAt",
    }
    assert entry["role"] == 0 and by_id[alice.id]["role"] == 1
    assert (entry["isActive"], entry["isApprovedForBooking"], entry["canBook"]) == (
        True,
        True,
        True,
    )
    assert entry["bookingRevokedAt"] is None
    assert (by_id[dora.id]["isApprovedForBooking"], by_id[dora.id]["canBook"]) == (False, False)


# --- right to book (DECISIONS 18) ----------------------------------------------------------


def test_it_revokes_the_right_to_book_for_an_existing_token(client, ctx, alice, bob, room):
    bob_headers = auth_headers(ctx, bob)
    response = client.post(
        f"/api/admin/users/{bob.id}/revoke-booking", headers=auth_headers(ctx, alice)
    )
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Bob Person darf nicht mehr buchen."
    assert body["user"]["canBook"] is False
    assert body["user"]["bookingRevokedAt"] is not None

    assert client.get("/api/bookings", headers=bob_headers).status_code == 200
    start = ctx.today() + timedelta(days=10)
    refused = client.post(
        "/api/bookings", json=booking_body([(room, 1)], start), headers=bob_headers
    )
    assert is_problem(refused, 403)
    assert refused.json()["message"] == REVOKED
    assert client.get("/api/auth/me", headers=bob_headers).json()["canBook"] is False


def test_it_restores_the_right_to_book(client, ctx, alice, bob, room):
    admin = auth_headers(ctx, alice)
    bob_headers = auth_headers(ctx, bob)
    client.post(f"/api/admin/users/{bob.id}/revoke-booking", headers=admin)
    response = client.post(f"/api/admin/users/{bob.id}/restore-booking", headers=admin)
    assert response.status_code == 200
    assert response.json()["message"] == "Bob Person darf wieder buchen."
    assert response.json()["user"]["canBook"] is True
    assert response.json()["user"]["bookingRevokedAt"] is None
    start = ctx.today() + timedelta(days=10)
    created = client.post(
        "/api/bookings", json=booking_body([(room, 1)], start), headers=bob_headers
    )
    assert created.status_code == 201


def test_it_refuses_to_revoke_an_admins_own_right_to_book(client, ctx, alice):
    response = client.post(
        f"/api/admin/users/{alice.id}/revoke-booking", headers=auth_headers(ctx, alice)
    )
    assert (response.status_code, response.json()) == (
        400,
        {"message": "Sie können sich die Buchungsberechtigung nicht selbst entziehen."},
    )


def test_it_refuses_to_revoke_for_an_unapproved_user(client, ctx, alice):
    dora = pending_user(ctx)
    response = client.post(
        f"/api/admin/users/{dora.id}/revoke-booking", headers=auth_headers(ctx, alice)
    )
    assert (response.status_code, response.json()) == (
        400,
        {"message": "Der Benutzer ist noch nicht freigegeben."},
    )


@pytest.mark.parametrize("action", ["revoke-booking", "restore-booking"])
def test_it_answers_404_json_for_an_unknown_user(client, ctx, alice, action):
    response = client.post(f"/api/admin/users/999999/{action}", headers=auth_headers(ctx, alice))
    assert is_problem(response, 404)
    assert response.json()["message"] == "Benutzer nicht gefunden."


# --- roles ---------------------------------------------------------------------------------


def test_it_promotes_a_member_whose_token_gains_admin_rights_at_once(client, ctx, alice, bob):
    bob_headers = auth_headers(ctx, bob)
    assert client.get("/api/admin/users", headers=bob_headers).status_code == 403
    response = client.put(
        f"/api/admin/users/{bob.id}/role", json={"role": 1}, headers=auth_headers(ctx, alice)
    )
    assert response.status_code == 200
    assert response.json()["message"] == "Rolle von Bob Person geändert."
    assert response.json()["user"]["role"] == 1
    assert client.get("/api/admin/users", headers=bob_headers).status_code == 200


def test_it_demotes_an_admin_whose_token_loses_admin_rights_at_once(client, ctx, alice):
    carl = make_user(ctx, "carl@example.com", admin=True, first_name="Carl")
    carl_headers = auth_headers(ctx, carl)
    assert client.get("/api/admin/users", headers=carl_headers).status_code == 200
    response = client.put(
        f"/api/admin/users/{carl.id}/role", json={"role": 0}, headers=auth_headers(ctx, alice)
    )
    assert response.status_code == 200
    assert response.json()["user"]["role"] == 0
    refused = client.get("/api/admin/users", headers=carl_headers)
    assert is_problem(refused, 403)
    assert refused.json()["message"] == ADMIN_ONLY


def test_it_refuses_to_demote_the_last_administrator(client, ctx, alice):
    response = client.put(
        f"/api/admin/users/{alice.id}/role", json={"role": 0}, headers=auth_headers(ctx, alice)
    )
    assert (response.status_code, response.json()) == (
        400,
        {"message": "Der letzte Administrator kann nicht herabgestuft werden."},
    )
    assert client.get("/api/admin/users", headers=auth_headers(ctx, alice)).status_code == 200


@pytest.mark.parametrize("role", [2, -1, "Administrator"])
def test_it_refuses_an_unknown_role(client, ctx, alice, bob, role):
    response = client.put(
        f"/api/admin/users/{bob.id}/role", json={"role": role}, headers=auth_headers(ctx, alice)
    )
    assert is_problem(response, 400)
    assert set(response.json()["errors"]) == {"Role"}


def test_it_refuses_a_token_of_a_user_whose_approval_was_withdrawn(client, ctx, bob):
    headers = auth_headers(ctx, bob)
    with ctx.db.write() as session:
        session.execute(update(User).where(User.id == bob.id).values(is_approved_for_booking=False))
    response = client.get("/api/bookings", headers=headers)
    assert response.status_code == 401


# --- access control ------------------------------------------------------------------------

ADMIN_CALLS = [
    ("GET", "/api/admin/users/pending", None),
    ("GET", "/api/admin/users", None),
    ("POST", "/api/admin/users/{id}/approve", None),
    ("POST", "/api/admin/users/{id}/reject", {}),
    ("POST", "/api/admin/users/{id}/revoke-booking", None),
    ("POST", "/api/admin/users/{id}/restore-booking", None),
    ("PUT", "/api/admin/users/{id}/role", {"role": 1}),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
def test_it_forbids_members_every_user_admin_endpoint(client, ctx, bob, method, path, body):
    dora = pending_user(ctx)
    response = client.request(
        method, path.format(id=dora.id), json=body, headers=auth_headers(ctx, bob)
    )
    assert is_problem(response, 403)
    assert response.json()["message"] == ADMIN_ONLY
    with ctx.db.read() as session:
        row = session.get(User, dora.id)
        assert row is not None
        assert (row.is_active, row.is_approved_for_booking, row.role) == (True, False, "Member")


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
def test_it_refuses_anonymous_calls_to_user_admin_endpoints(client, ctx, method, path, body):
    dora = pending_user(ctx)
    response = client.request(method, path.format(id=dora.id), json=body)
    assert is_problem(response, 401)
