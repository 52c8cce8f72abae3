"""Attacks a browser-facing app must withstand, each played against the real app and database
(both backends): session fixation, open redirects through ``?next=``, cross-site form posts
(CSRF), HTML/JS injection through names, notes and place names (pages and mails), and secrets
leaking into logs, response bodies, error pages or headers.

Throttling and lockout are covered by tests/test_throttle.py, TOTP replay by
tests/test_two_factor.py, the login-failure log line by tests/test_fail2ban.py.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from sqlalchemy import select, text
from starlette.testclient import TestClient

from booking.api.deps import SESSION_COOKIE
from booking.app import create_app
from booking.db.models import Booking, User
from booking.domain.context import Context
from tests import factories
from tests.factories import PASSWORD
from tests.mails import mails
from tests.mails import token as mailed_token
from tests.observability.test_logs import captured
from tests.web.html import Element, parse

SITE = "https://booking.example"


def page(client: TestClient, url: str, status: int = 200) -> Element:
    response = client.get(url, follow_redirects=False)
    assert response.status_code == status, (url, response.status_code, response.text[:300])
    return parse(response.text)


def csrf(doc: Element) -> str:
    field = doc.find("input", name="csrf_token")
    assert field is not None, "the page has no form with a CSRF token"
    return field["value"]


def log_in(client: TestClient, email: str, **extra: str) -> Any:
    token = csrf(page(client, "/login"))
    return client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token, **extra},
        follow_redirects=False,
    )


def browser(client: TestClient, email: str | None = None) -> TestClient:
    """A second browser on the same app (its own cookie jar), logged in as ``email``."""
    other = TestClient(client.app, raise_server_exceptions=False)
    if email is not None:
        assert log_in(other, email).status_code == 303
    return other


# ---- session fixation -----------------------------------------------------------------------


def test_a_planted_session_cookie_is_never_accepted_and_login_replaces_it(client, bob):
    client.cookies.set(SESSION_COOKIE, "planted-by-the-attacker-0123456789")
    assert page(client, "/profile", 303) is not None  # not logged in with it
    before = client.get("/login").cookies.get("booking_csrf")  # the pre-login seed, if any
    response = log_in(client, "bob@example.com")
    assert response.status_code == 303
    issued = response.cookies.get(SESSION_COOKIE)
    assert issued and issued not in ("planted-by-the-attacker-0123456789", before)
    # The planted value alone still gets nowhere; the issued one does.
    stranger = browser(client)
    stranger.cookies.set(SESSION_COOKIE, "planted-by-the-attacker-0123456789")
    assert stranger.get("/profile", follow_redirects=False).status_code == 303
    assert stranger.get("/api/auth/me").status_code == 401


def test_an_attackers_own_session_planted_in_the_victims_browser_is_replaced(client, bob, charlie):
    attacker = browser(client, "charlie@example.com")
    planted = attacker.cookies[SESSION_COOKIE]
    client.cookies.set(SESSION_COOKIE, planted)
    # The victim's browser now shows charlie's pages; the login form is still one POST away.
    token = csrf(page(client, "/profile"))
    response = client.post(
        "/login",
        data={"email": "bob@example.com", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    issued = response.cookies[SESSION_COOKIE]
    assert issued != planted
    me = client.get("/api/auth/me").json()
    assert me["email"] == "bob@example.com"
    # The attacker's session is still only charlie's, and never became bob's.
    assert attacker.get("/api/auth/me").json()["email"] == "charlie@example.com"


def test_a_session_ended_by_logout_cannot_be_replayed(client, bob):
    assert log_in(client, "bob@example.com").status_code == 303
    old = client.cookies[SESSION_COOKIE]
    token = csrf(page(client, "/profile"))
    assert client.post("/logout", data={"csrf_token": token}, follow_redirects=False).is_redirect
    replay = browser(client)
    replay.cookies.set(SESSION_COOKIE, old)
    assert replay.get("/profile", follow_redirects=False).headers["location"].startswith("/login")
    assert replay.get("/api/auth/me").status_code == 401


# ---- open redirects ---------------------------------------------------------------------------

EVIL_TARGETS = [
    "//evil.example",
    "///evil.example",
    "https://evil.example",
    "http:evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "%2F%2Fevil.example",
    "/%2F/evil.example",
    "javascript:alert(1)",
    "\t//evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    " //evil.example",
    "//evil.example/%2e%2e",
    "https:/\\evil.example",
    "/.//evil.example",
    "data:text/html,<script>alert(1)</script>",
]


def stays_local(target: str) -> bool:
    """Where a browser would go: it drops tabs and newlines and reads ``\\`` as ``/``."""
    cleaned = re.sub(r"[\t\n\r]", "", target).replace("\\", "/").strip()
    resolved = urlsplit(urljoin(SITE + "/bookings", cleaned))
    return resolved.scheme == "https" and resolved.netloc == "booking.example"


@pytest.mark.parametrize("target", EVIL_TARGETS)
def test_next_never_leads_off_the_site(client, bob, target):
    # GET /login keeps `next` in the form; it must already be local there.
    doc = page(client, "/login?" + _query(target))
    kept = doc.find("input", name="next")
    assert kept is None or stays_local(kept["value"]), kept
    # POST /login redirects to it after a successful login.
    response = log_in(client, "bob@example.com", next=target)
    assert response.status_code == 303
    assert stays_local(response.headers["location"]), response.headers["location"]
    # Logged in, GET /login redirects at once.
    again = client.get("/login?" + _query(target), follow_redirects=False)
    assert stays_local(again.headers["location"]), again.headers["location"]


@pytest.mark.parametrize("target", EVIL_TARGETS)
def test_the_booking_confirmation_pages_keep_next_local(client, ctx, bob, room, target):
    booking = factories.make_booking(ctx, bob, [(room, 1)])
    assert log_in(client, "bob@example.com").status_code == 303
    url = f"/bookings/{booking.id}/cancel"
    doc = page(client, f"{url}?{_query(target)}")
    kept = doc.find("input", name="next")
    assert kept is None or stays_local(kept["value"]), kept
    response = client.post(
        url, data={"csrf_token": csrf(doc), "next": target}, follow_redirects=False
    )
    assert response.status_code == 303
    assert stays_local(response.headers["location"]), response.headers["location"]


def _query(target: str) -> str:
    from urllib.parse import urlencode

    # "%2F%2F..." is sent as written (the server decodes it once, as it would from a link).
    if target.startswith("%"):
        return "next=" + target
    return urlencode({"next": target})


# ---- CSRF -----------------------------------------------------------------------------------


def _tokens(client: TestClient) -> dict[str, str | None]:
    """No token, a wrong one, and a valid token of another session (charlie's)."""
    other = browser(client, "charlie@example.com")
    return {"missing": None, "wrong": "0" * 64, "other session": csrf(page(other, "/profile"))}


def test_forms_refuse_a_missing_wrong_or_foreign_csrf_token(client, ctx, alice, bob, charlie, room):
    pending = factories.make_user(ctx, "pending@example.com", approved=False)
    assert log_in(client, "bob@example.com").status_code == 303
    admin = browser(client, "alice@example.com")
    start = ctx.today() + timedelta(days=20)
    forms = [
        (client, "/profile", {"first_name": "Mallory", "last_name": "X", "language": "de"}),
        (
            client,
            "/profile/password",
            {"current_password": PASSWORD, "new_password": "ganz-neues-passwort-2026"},
        ),
        (
            client,
            "/bookings/new",
            {
                "start_date": start.isoformat(),
                "end_date": (start + timedelta(days=2)).isoformat(),
                f"place_{room.id}": "1",
            },
        ),
        (client, "/profile/logout-all", {}),
        (admin, f"/admin/users/{pending.id}/approve", {}),
        (admin, "/admin/places/new", {"name": "Schuppen", "type": "0", "max_capacity": "2"}),
    ]
    for label, token in _tokens(client).items():
        for who, action, fields in forms:
            data = dict(fields) if token is None else {"csrf_token": token, **fields}
            response = who.post(action, data=data, follow_redirects=False)
            assert response.status_code == 403, (label, action, response.status_code)
    with ctx.db.read() as session:
        assert session.scalar(select(User.first_name).where(User.email == "bob@example.com")) == (
            "Bob"
        )
        assert session.scalar(select(Booking.id)) is None
        assert session.get(User, pending.id).is_approved_for_booking is False
    assert client.get("/api/auth/me").status_code == 200  # still logged in: no logout-all ran
    assert log_in(browser(client), "bob@example.com").status_code == 303  # password unchanged
    # The control: the same booking form with the page's own token does create the booking.
    who, action, fields = forms[2]
    token = csrf(page(client, "/bookings/new"))
    created = who.post(action, data={"csrf_token": token, **fields}, follow_redirects=False)
    assert created.status_code == 303, parse(created.text).text[:300]
    with ctx.db.read() as session:
        assert session.scalar(select(Booking.id)) is not None


def test_the_login_form_refuses_a_cross_site_post(client, bob):
    response = client.post(
        "/login",
        data={"email": "bob@example.com", "password": PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert SESSION_COOKIE not in response.cookies


def test_api_changes_with_the_session_cookie_need_the_pages_csrf_header(client, ctx, bob):
    assert log_in(client, "bob@example.com").status_code == 303
    for headers in ({}, {"X-CSRF-Token": "0" * 64}):
        response = client.put(
            "/api/auth/profile",
            json={"firstName": "Mallory", "lastName": "X"},
            headers=headers,
        )
        assert response.status_code == 403, response.text
    with ctx.db.read() as session:
        assert session.scalar(select(User.first_name).where(User.id == bob.id)) == "Bob"


# ---- HTML/JS injection ----------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'


def assert_inert(html: str, where: str) -> None:
    """The payloads appear only as text: no script element, no element with an event handler."""
    assert SCRIPT not in html and "<img src=x" not in html, where
    doc = parse(html)
    for element in doc.iter():
        assert not any(name.startswith("on") for name in element.attrs), (where, element)
        if element.tag == "script":
            assert "alert" not in element.text, where


def test_names_notes_and_place_names_render_as_text_in_pages_and_mails(client, ctx, alice, room):
    # A member registers with hostile names, is verified and approved, and books with a hostile
    # note; an administrator names a place with it. Every page that shows them, and every mail.
    answer = client.post(
        "/api/auth/register",
        json={
            "email": "mallory@example.com",
            "password": "ein-langes-passwort-2026",
            "firstName": SCRIPT,
            "lastName": IMG,
        },
    )
    assert answer.status_code == 200, answer.text
    verify = mailed_token(ctx, "/verify-email", to="mallory@example.com")
    assert client.post("/api/auth/verify-email", json={"token": verify}).status_code == 200
    admin_headers = factories.auth_headers(ctx, alice)
    user_id = answer.json()["userId"]
    assert client.post(f"/api/admin/users/{user_id}/approve", headers=admin_headers).is_success
    place = client.post(
        "/api/sleeping-accommodations",
        headers=admin_headers,
        json={"name": f"Zelt {SCRIPT}", "type": 1, "maxCapacity": 2, "isActive": True},
    )
    assert place.status_code == 201, place.text
    login = client.post(
        "/api/auth/login",
        json={"email": "mallory@example.com", "password": "ein-langes-passwort-2026"},
    )
    member_headers = {"Authorization": f"Bearer {login.json()['token']}"}
    start = ctx.today() + timedelta(days=5)
    created = client.post(
        "/api/bookings",
        headers=member_headers,
        json=factories.booking_body(
            [(room, 1), (type("P", (), {"id": place.json()["id"]})(), 1)],
            start,
            notes=f"{SCRIPT} {IMG}",
        ),
    )
    assert created.status_code == 201, created.text
    booking_id = created.json()["id"]
    assert client.post(f"/api/bookings/{booking_id}/accept", headers=admin_headers).is_success

    admin = browser(client, "alice@example.com")
    member = browser(client)
    assert log_in(member, "mallory@example.com", password="ein-langes-passwort-2026").is_redirect
    month = start.strftime("%Y-%m")
    pages = {
        admin: [
            "/bookings?time_range=all",
            f"/bookings?view=calendar&month={month}",
            "/bookings?view=compact&time_range=all",
            f"/bookings/{booking_id}",
            "/admin/users",
            "/admin/audit",
            "/admin/places",
            "/admin",
        ],
        member: ["/bookings", f"/bookings/{booking_id}", "/profile", "/bookings/new"],
    }
    seen = 0
    for who, urls in pages.items():
        for url in urls:
            response = who.get(url, follow_redirects=False)
            assert response.status_code == 200, (url, response.status_code)
            assert_inert(response.text, url)
            seen += "&lt;script&gt;" in response.text or "&#34;&gt;&lt;img" in response.text
    assert seen >= 8  # the payloads were really on the pages, escaped

    sent = mails(ctx)
    assert {mail.to for mail in sent} >= {"mallory@example.com", "alice@example.com"}
    with_names = 0
    for mail in sent:
        assert "\n" not in mail.subject and "\r" not in mail.subject
        if mail.html is not None:
            assert_inert(mail.html, f"mail {mail.subject!r}")
        # Plain text is not interpreted: the name appears as written, not entity-escaped.
        assert "&lt;script" not in mail.text, mail.subject
        with_names += SCRIPT in mail.text
    assert with_names >= 2


def test_a_newline_in_a_name_does_not_inject_mail_headers(client, ctx, alice):
    answer = client.post(
        "/api/auth/register",
        json={
            "email": "eve@example.com",
            "password": "ein-langes-passwort-2026",
            "firstName": "Eve\r\nBcc: victim@evil.example",
            "lastName": "X\nSubject: pwned",
        },
    )
    assert answer.status_code in (200, 400), answer.text
    for mail in mails(ctx):
        assert "\n" not in mail.subject and "\r" not in mail.subject
        assert mail.to != "victim@evil.example"


# ---- secrets ----------------------------------------------------------------------------------

SMTP_PASSWORD = "smtp-geheimnis-7f3a9c"


@pytest.fixture
def leaky_client(ctx: Context, tmp_path) -> Any:
    """The app with an SMTP password configured from the environment, as in production."""
    from tests.conftest import make_settings

    settings = make_settings(
        tmp_path,
        database_url=ctx.settings.database_url,
        smtp_host="127.0.0.1",
        smtp_port="1",
        smtp_username="mailer",
        smtp_password=SMTP_PASSWORD,
        log_format="json",
    )
    app_ctx = Context(db=ctx.db, settings=settings)
    with TestClient(create_app(settings, app_ctx), raise_server_exceptions=False) as client:
        yield client


def test_secrets_never_appear_in_logs_bodies_or_headers(leaky_client, ctx, alice):
    client = leaky_client
    password, new_password, reset_password = (
        "erstes-passwort-2026",
        "zweites-passwort-2026",
        "drittes-passwort-2026",
    )
    secret_key = client.app.state.ctx.settings.secret_key.get_secret_value()
    secrets = [password, new_password, reset_password, SMTP_PASSWORD, secret_key]
    allowed: dict[str, set[str]] = {}  # secret -> where it must appear (e.g. the login answer)
    exchanges: list[tuple[str, Any]] = []

    def call(method: str, url: str, **kwargs: Any) -> Any:
        response = client.request(method, url, follow_redirects=False, **kwargs)
        exchanges.append((f"{method} {url}", response))
        return response

    with captured("json") as log:
        email = "leaky@example.com"
        call(
            "POST",
            "/api/auth/register",
            json={"email": email, "password": password, "firstName": "L", "lastName": "K"},
        )
        verify = mailed_token(ctx, "/verify-email", to=email)
        secrets.append(verify)
        call("POST", "/api/auth/verify-email", json={"token": verify})
        call("POST", "/api/auth/verify-email", json={"token": verify})  # used: a 400
        admin = factories.auth_headers(ctx, alice)
        secrets.append(admin["Authorization"].split()[1])
        user_id = call("GET", "/api/admin/users/pending", headers=admin).json()[0]["id"]
        call("POST", f"/api/admin/users/{user_id}/approve", headers=admin)
        call("POST", "/api/auth/login", json={"email": email, "password": "falsch-falsch-falsch"})
        login = call("POST", "/api/auth/login", json={"email": email, "password": password})
        jwt = login.json()["token"]
        secrets.append(jwt)
        allowed[jwt] = {"POST /api/auth/login"}
        bearer = {"Authorization": f"Bearer {jwt}"}
        call("GET", "/api/auth/me", headers=bearer)
        call("GET", "/api/auth/me", headers={"Authorization": f"Bearer {jwt}x"})  # 401
        call(
            "POST",
            "/api/auth/change-password",
            headers=bearer,
            json={"currentPassword": "wrong-wrong-wrong", "newPassword": new_password},
        )
        call(
            "POST",
            "/api/auth/change-password",
            headers=bearer,
            json={"currentPassword": password, "newPassword": new_password},
        )
        call("POST", "/api/auth/forgot-password", json={"email": email})
        reset = mailed_token(ctx, "/reset-password", to=email)
        secrets.append(reset)
        call(
            "POST",
            "/api/auth/reset-password",
            json={"token": reset, "newPassword": "kurz"},  # a 400 that names the field
        )
        call(
            "POST", "/api/auth/reset-password", json={"token": reset, "newPassword": reset_password}
        )
        call(
            "POST", "/api/auth/reset-password", json={"token": reset, "newPassword": reset_password}
        )
        call("GET", "/api/admin/email-settings", headers=admin)
        call("POST", "/api/admin/email-settings/test", headers=admin, json={"toEmail": email})
        # The browser: login, pages, an error page, a form error.
        token = csrf(parse(call("GET", "/login").text))
        web = call(
            "POST",
            "/login",
            data={"email": email, "password": reset_password, "csrf_token": token},
        )
        session = web.cookies[SESSION_COOKIE]
        secrets.append(session)
        allowed[session] = {"POST /login"}  # its own Set-Cookie
        call("GET", "/profile")
        call("GET", "/bookings/00000000-0000-0000-0000-000000000000")  # 404 page
        call("POST", "/profile/password", data={"csrf_token": "x", "new_password": new_password})
        call("GET", "/api/nope")  # problem JSON 404
        call("POST", "/api/auth/login", content=b'{"password": "' + password.encode() + b'"')
        call(
            "POST",
            "/api/auth/login",
            json={"email": email, "password": reset_password * 100},  # too long: a 400
        )
        if ctx.db.engine.dialect.name == "sqlite":  # a copy per test: safe to break
            # A server error: the database loses a table under the running app.
            booking = factories.make_booking(ctx, alice, [(factories.make_place(ctx, "P"), 1)])
            with ctx.db.engine.begin() as connection:
                connection.execute(text("DROP TABLE booking_history"))
            crash = call("GET", f"/api/bookings/{booking.id}/history", headers=admin)
            assert crash.status_code == 500, crash.text
            admin_browser = browser(client, "alice@example.com")
            with ctx.db.engine.begin() as connection:
                connection.execute(text("DROP TABLE booking_items"))
            crash_page = admin_browser.get(f"/bookings/{booking.id}")
            exchanges.append(("GET booking page (crash)", crash_page))
            assert crash_page.status_code == 500

    log_text = log.getvalue()
    assert log_text, "nothing was logged"
    problems = []
    for secret in secrets:
        if secret in log_text or json.dumps(secret)[1:-1] in log_text:
            problems.append(f"log contains {secret[:12]}...")
        for label, response in exchanges:
            places = {
                "body": response.text,
                "headers": "\n".join(
                    f"{key}: {value}"
                    for key, value in response.headers.multi_items()
                    if not (key.lower() == "set-cookie" and label in allowed.get(secret, set()))
                ),
            }
            for where, content in places.items():
                if secret in content and not (where == "body" and label in allowed.get(secret, ())):
                    problems.append(f"{label} {response.status_code} {where}: {secret[:12]}...")
    assert problems == []
    assert len(exchanges) >= 25


# ---- input the database refuses ---------------------------------------------------------------

NUL = "a\x00b"


def test_nul_characters_are_refused_as_bad_input_not_a_crash(client, ctx, alice, bob, room):
    """PostgreSQL refuses NUL in text (found by tests/test_api_fuzz.py); on every backend the
    answer is a 400, and nothing is written."""
    admin, member = factories.auth_headers(ctx, alice), factories.auth_headers(ctx, bob)
    start = (ctx.today() + timedelta(days=4)).isoformat()
    end = (ctx.today() + timedelta(days=6)).isoformat()
    calls = [
        ("POST", "/api/auth/login", None, {"email": NUL, "password": NUL}),
        (
            "POST",
            "/api/auth/register",
            None,
            {"email": "nul@example.com", "password": "lang-genug-2026", "firstName": NUL,
             "lastName": "X"},
        ),
        ("POST", "/api/auth/forgot-password", None, {"email": NUL}),
        ("PUT", "/api/auth/profile", member, {"firstName": NUL, "lastName": "X"}),
        (
            "POST",
            "/api/bookings",
            member,
            {"startDate": start, "endDate": end, "notes": NUL,
             "bookingItems": [{"sleepingAccommodationId": str(room.id), "personCount": 1}]},
        ),
        (
            "POST",
            "/api/sleeping-accommodations",
            admin,
            {"name": NUL, "type": 0, "maxCapacity": 2, "isActive": True},
        ),
    ]  # fmt: skip
    for method, url, headers, body in calls:
        response = client.request(method, url, headers=headers or {}, json=body)
        if ctx.db.engine.dialect.name == "postgresql" or response.status_code >= 400:
            assert response.status_code == 400, (url, response.status_code, response.text)
            assert response.json()["message"]
        else:
            assert response.status_code < 300, (url, response.text)  # SQLite stores it
    token = csrf(page(client, "/login"))
    form = client.post(
        "/login",
        data={"email": NUL, "password": NUL, "csrf_token": token},
        follow_redirects=False,
    )
    assert form.status_code == 400
    if ctx.db.engine.dialect.name == "postgresql":
        with ctx.db.read() as session:
            assert session.scalar(select(User.id).where(User.email == "nul@example.com")) is None
            assert session.scalar(select(Booking.id)) is None
