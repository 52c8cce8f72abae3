"""Browser sessions: idle and absolute timeouts (timestamps moved back in the database), a new
session at every privilege change and password change, clean-up of expired rows, and the CSRF
token that cookie-authenticated API changes need."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from starlette.testclient import TestClient

from booking.api.deps import SESSION_COOKIE
from booking.db.models import WebSession
from booking.lib.timeutil import utcnow
from tests.factories import PASSWORD, auth_headers
from tests.web.test_account_pages import get, logged_in, submit

NEW_PASSWORD = "Ein-neues-Passwort-2026"


@pytest.fixture
def browser(client: TestClient) -> TestClient:
    return client


@pytest.fixture
def second_browser(client: TestClient) -> Iterator[TestClient]:
    """Another device of the same person: the same app, its own cookie jar."""
    with TestClient(client.app, raise_server_exceptions=False) as other:
        yield other


def is_logged_in(browser: TestClient) -> bool:
    response = browser.get("/profile", follow_redirects=False)
    assert response.status_code in (200, 303), response.status_code
    return response.status_code == 200


def session_rows(ctx, user_id: int) -> list[WebSession]:
    with ctx.db.read() as session:
        return list(session.scalars(select(WebSession).where(WebSession.user_id == user_id)))


def move_back(ctx, user_id: int, **ages: timedelta) -> None:
    """Make the user's sessions older: ``created=...``, ``last_seen=...``."""
    now = utcnow()
    values = {f"{name}_at": now - age for name, age in ages.items()}
    with ctx.db.write() as session:
        session.execute(update(WebSession).where(WebSession.user_id == user_id).values(**values))


# --- timeouts -------------------------------------------------------------------------------


def test_a_session_ends_after_the_idle_timeout(browser, ctx, bob):
    logged_in(browser, bob.email)
    idle = timedelta(hours=ctx.settings.session_idle_hours)
    move_back(ctx, bob.id, last_seen=idle - timedelta(minutes=5))
    assert is_logged_in(browser)  # just within the limit, and the visit counts as activity
    [row] = session_rows(ctx, bob.id)
    assert utcnow() - row.last_seen_at < timedelta(minutes=1)
    move_back(ctx, bob.id, last_seen=idle + timedelta(minutes=1))
    assert not is_logged_in(browser)


def test_a_session_ends_after_the_absolute_timeout_however_active(browser, ctx, bob):
    logged_in(browser, bob.email)
    absolute = timedelta(days=ctx.settings.session_absolute_days)
    move_back(ctx, bob.id, created=absolute - timedelta(hours=1))
    assert is_logged_in(browser)
    move_back(ctx, bob.id, created=absolute + timedelta(minutes=1))  # last_seen stays recent
    assert not is_logged_in(browser)


def test_activity_never_extends_a_session_past_the_absolute_timeout(browser, ctx, bob):
    logged_in(browser, bob.email)
    absolute = timedelta(days=ctx.settings.session_absolute_days)
    move_back(ctx, bob.id, created=absolute - timedelta(hours=1), last_seen=timedelta(hours=2))
    assert is_logged_in(browser)  # touches the row
    [row] = session_rows(ctx, bob.id)
    assert row.expires_at <= row.created_at + absolute


def test_the_timeouts_are_settings(tmp_path, database_url):
    from tests.conftest import make_settings

    settings = make_settings(
        tmp_path, database_url=database_url, session_idle_hours="2", session_absolute_days="1"
    )
    assert (settings.session_idle_hours, settings.session_absolute_days) == (2, 1)


def test_the_cookie_lives_as_long_as_the_absolute_timeout(browser, ctx, bob):
    response = submit(browser, "/login", "/login", {"email": bob.email, "password": PASSWORD})
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert f"Max-Age={ctx.settings.session_absolute_days * 86400}" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # site_url is http:// in the tests


def test_expired_rows_are_removed_at_the_next_login(browser, second_browser, ctx, bob, charlie):
    logged_in(browser, bob.email)
    move_back(ctx, bob.id, created=timedelta(days=ctx.settings.session_absolute_days + 1))
    logged_in(second_browser, charlie.email)
    assert session_rows(ctx, bob.id) == []
    assert len(session_rows(ctx, charlie.id)) == 1


# --- rotation -------------------------------------------------------------------------------


def test_a_password_change_renews_this_session_and_ends_the_others(
    browser, second_browser, ctx, bob
):
    logged_in(browser, bob.email)
    logged_in(second_browser, bob.email)
    before = browser.cookies.get(SESSION_COOKIE)
    response = submit(
        browser,
        "/profile",
        "/profile/password",
        {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_confirm": NEW_PASSWORD,
        },
    )
    assert response.status_code == 303, response.text[:300]
    after = browser.cookies.get(SESSION_COOKIE)
    assert after and after != before
    assert is_logged_in(browser)
    assert not is_logged_in(second_browser)
    assert len(session_rows(ctx, bob.id)) == 1


def test_a_password_change_through_the_api_with_the_cookie_keeps_the_browser_logged_in(
    browser, second_browser, ctx, bob
):
    logged_in(browser, bob.email)
    logged_in(second_browser, bob.email)
    before = browser.cookies.get(SESSION_COOKIE)
    token = get(browser, "/profile").one("meta", name="csrf-token")["content"]
    response = browser.post(
        "/api/auth/change-password",
        json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 200, response.text
    assert browser.cookies.get(SESSION_COOKIE) not in (None, before)
    assert is_logged_in(browser)
    assert not is_logged_in(second_browser)


def test_a_password_change_with_a_bearer_token_ends_every_browser_session(
    browser, client, ctx, bob
):
    logged_in(browser, bob.email)
    response = TestClient(client.app).post(
        "/api/auth/change-password",
        json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
        headers=auth_headers(ctx, bob),
    )
    assert response.status_code == 200, response.text
    assert not is_logged_in(browser)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/api/admin/users/{id}/role", {"role": 1}),
        ("POST", "/api/admin/users/{id}/revoke-booking", None),
    ],
)
def test_a_privilege_change_by_an_administrator_ends_the_users_sessions(
    browser, client, ctx, alice, bob, charlie, method, path, body
):
    logged_in(browser, bob.email)
    admin_api = TestClient(client.app)
    response = admin_api.request(
        method, path.format(id=bob.id), json=body, headers=auth_headers(ctx, alice)
    )
    assert response.status_code in (200, 204), response.text
    assert not is_logged_in(browser)
    assert session_rows(ctx, bob.id) == []
    logged_in(browser, bob.email)  # a new login works and carries the new rights
    assert is_logged_in(browser)


def test_restoring_the_right_to_book_also_starts_over(browser, client, ctx, alice, bob):
    admin_api = TestClient(client.app)
    headers = auth_headers(ctx, alice)
    assert admin_api.post(f"/api/admin/users/{bob.id}/revoke-booking", headers=headers).is_success
    logged_in(browser, bob.email)
    assert admin_api.post(f"/api/admin/users/{bob.id}/restore-booking", headers=headers).is_success
    assert not is_logged_in(browser)


def test_other_users_sessions_are_untouched_by_a_role_change(
    browser, second_browser, client, ctx, alice, bob, charlie
):
    logged_in(browser, bob.email)
    logged_in(second_browser, charlie.email)
    response = TestClient(client.app).put(
        f"/api/admin/users/{bob.id}/role", json={"role": 1}, headers=auth_headers(ctx, alice)
    )
    assert response.status_code == 200
    assert is_logged_in(second_browser)


# --- CSRF for cookie-authenticated API calls ------------------------------------------------


def page_csrf(browser: TestClient) -> str:
    return get(browser, "/profile").one("meta", name="csrf-token")["content"]


PROFILE = {"firstName": "Robert", "lastName": "Person", "language": "de"}


def test_a_cookie_authenticated_change_needs_the_pages_csrf_token(browser, ctx, bob):
    logged_in(browser, bob.email)
    token = page_csrf(browser)
    missing = browser.put("/api/auth/profile", json=PROFILE)
    wrong = browser.put("/api/auth/profile", json=PROFILE, headers={"X-CSRF-Token": "x" * 64})
    for response in (missing, wrong):
        assert response.status_code == 403, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["status"] == 403 and "CSRF" in response.json()["message"]
    accepted = browser.put("/api/auth/profile", json=PROFILE, headers={"X-CSRF-Token": token})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["firstName"] == "Robert"


def test_cookie_authenticated_reads_need_no_csrf_token(browser, ctx, bob):
    logged_in(browser, bob.email)
    response = browser.get("/api/auth/me")
    assert response.status_code == 200 and response.json()["email"] == bob.email


def test_the_token_of_another_session_is_refused(browser, second_browser, ctx, bob):
    logged_in(browser, bob.email)
    logged_in(second_browser, bob.email)
    foreign = page_csrf(second_browser)
    response = browser.put("/api/auth/profile", json=PROFILE, headers={"X-CSRF-Token": foreign})
    assert response.status_code == 403


def test_bearer_requests_need_no_csrf_token_even_with_a_cookie(browser, ctx, bob):
    logged_in(browser, bob.email)
    response = browser.put("/api/auth/profile", json=PROFILE, headers=auth_headers(ctx, bob))
    assert response.status_code == 200, response.text


def test_a_change_without_any_credentials_is_still_401(client):
    response = client.put("/api/auth/profile", json=PROFILE)
    assert response.status_code == 401


def test_an_ended_session_cookie_is_401_not_403(browser, ctx, bob):
    logged_in(browser, bob.email)
    token = page_csrf(browser)
    move_back(ctx, bob.id, created=timedelta(days=ctx.settings.session_absolute_days + 1))
    response = browser.put("/api/auth/profile", json=PROFILE, headers={"X-CSRF-Token": token})
    assert response.status_code == 401


def test_every_page_carries_the_csrf_meta_element(browser, bob):
    anonymous = get(browser, "/login").one("meta", name="csrf-token")["content"]
    assert len(anonymous) == 64
    logged_in(browser, bob.email)
    assert page_csrf(browser) != anonymous  # bound to the new session


def test_session_rows_store_only_hashes(browser, ctx, bob):
    logged_in(browser, bob.email)
    cookie = browser.cookies.get(SESSION_COOKIE)
    with ctx.db.read() as session:
        stored = session.scalar(select(func.count()).where(WebSession.token_hash == cookie))
    assert stored == 0
