"""Two-factor pages through real requests: setting it up on the profile (QR code under the
strict CSP, recovery codes shown once), the second login step (session only after the code, a
code never twice, the pending login expiring and working once), wrong codes throttled, the
administrator's reset and administrators forced to set it up when the setting says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from booking.api.deps import SESSION_COOKIE
from booking.app import create_app
from booking.db import Database
from booking.db.models import AuditEvent, User
from booking.domain import audit
from booking.domain import two_factor as domain
from booking.domain.context import Context
from booking.lib import totp
from booking.web import two_factor as pages
from tests import factories
from tests.conftest import make_settings
from tests.test_two_factor import Steps, enable, wrong
from tests.web.html import Element, parse
from tests.web.test_account_pages import csrf, field_errors, get, login, submit


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> Steps:
    clock = Steps()
    monkeypatch.setattr(totp, "now_step", clock)
    return clock


def code_page(client: TestClient) -> Element:
    return get(client, "/login/two-factor")


def send_code(client: TestClient, code: str):  # type: ignore[no-untyped-def]
    return submit(client, "/login/two-factor", "/login/two-factor", {"code": code})


def password_step(client: TestClient, user: User, target: str = "/bookings") -> None:
    token = csrf(get(client, f"/login?next={target}"))
    response = client.post(
        "/login",
        data={
            "csrf_token": token,
            "email": user.email,
            "password": factories.PASSWORD,
            "next": target,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/login/two-factor"
    assert SESSION_COOKIE not in client.cookies  # no session before the code


def events(ctx: Context, event: str) -> list[AuditEvent]:
    with ctx.db.read() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.event == event)))


# --- setup ----------------------------------------------------------------------------------


def test_setting_it_up_on_the_profile(client, ctx, bob, steps):
    login(client, bob.email)
    profile = get(client, "/profile")
    assert profile.find("a", href="/profile/two-factor") is not None
    response = client.get("/profile/two-factor")
    assert response.status_code == 200
    assert "style=" not in response.text.split("<main", 1)[-1]  # CSP: no inline styles
    assert "<script" not in response.text.split("<main", 1)[-1].split("</main>")[0]
    doc = parse(response.text)
    svg = doc.one("svg", class_="qr-code")
    assert svg.find("path") is not None
    secret = doc.one("code", id="secret").text.replace(" ", "")
    assert len(secret) == 32
    assert "style-src 'self'" in response.headers["content-security-policy"]

    bad = submit(
        client,
        "/profile/two-factor",
        "/profile/two-factor/confirm",
        {"code": wrong(secret, steps.step)},
    )
    assert bad.status_code == 400 and "code" in field_errors(parse(bad.text))
    done = submit(
        client,
        "/profile/two-factor",
        "/profile/two-factor/confirm",
        {"code": totp.code_at(secret, steps.step)},
    )
    assert done.status_code == 200
    codes = [
        element.text
        for element in parse(done.text).one("ul", class_="recovery-codes").find_all("code")
    ]
    assert len(codes) == 10
    assert "Drucken Sie diese Codes aus" in done.text
    again = get(client, "/profile/two-factor")
    assert again.find("ul", class_="recovery-codes") is None  # shown once only
    assert "10" in again.one("p", id="remaining").text
    assert domain.is_enabled(ctx, bob.id)


def test_recovery_codes_can_be_regenerated_and_2fa_disabled(client, ctx, bob, steps):
    secret, old = enable(ctx, bob, steps)
    login(client, bob.email)
    password_step_done = send_code(client, totp.code_at(secret, steps.step))
    assert password_step_done.status_code == 303
    steps.step += 1
    new = submit(
        client,
        "/profile/two-factor",
        "/profile/two-factor/recovery-codes",
        {"code": totp.code_at(secret, steps.step)},
    )
    assert new.status_code == 200
    codes = [element.text for element in parse(new.text).find_all("code")]
    assert len(codes) == 10 and not set(codes) & set(old)
    bad = submit(
        client,
        "/profile/two-factor",
        "/profile/two-factor/disable",
        {"password": "wrong-password", "code": codes[0]},
    )
    assert bad.status_code == 400 and "password" in field_errors(parse(bad.text))
    off = submit(
        client,
        "/profile/two-factor",
        "/profile/two-factor/disable",
        {"password": factories.PASSWORD, "code": codes[0]},
    )
    assert off.status_code == 303 and not domain.is_enabled(ctx, bob.id)


# --- the second login step ------------------------------------------------------------------


def test_login_asks_for_the_code_and_only_then_starts_a_session(client, ctx, bob, steps):
    secret, _ = enable(ctx, bob, steps)
    password_step(client, bob, "/profile")
    assert client.get("/bookings", follow_redirects=False).status_code == 303  # not logged in
    form = code_page(client)
    assert form.find("input", name="code") is not None
    bad = send_code(client, wrong(secret, steps.step))
    assert bad.status_code == 400 and "code" in field_errors(parse(bad.text))
    good = send_code(client, totp.code_at(secret, steps.step))
    assert good.status_code == 303 and good.headers["location"] == "/profile"
    assert SESSION_COOKIE in client.cookies
    assert pages.PENDING_COOKIE not in client.cookies
    assert get(client, "/profile").find("h1") is not None
    assert [event.actor_id for event in events(ctx, audit.TWO_FACTOR_FAILED)] == [bob.id]


def test_the_same_code_is_refused_on_a_second_login(client, ctx, bob, steps):
    secret, _ = enable(ctx, bob, steps)
    code = totp.code_at(secret, steps.step)
    password_step(client, bob)
    assert send_code(client, code).status_code == 303
    with TestClient(client.app, raise_server_exceptions=False) as other_device:
        password_step(other_device, bob)
        replay = send_code(other_device, code)
        assert replay.status_code == 400
        assert SESSION_COOKIE not in other_device.cookies


def test_a_recovery_code_logs_in_once(client, ctx, bob, steps):
    _, codes = enable(ctx, bob, steps)
    password_step(client, bob)
    assert send_code(client, codes[0]).status_code == 303
    with TestClient(client.app, raise_server_exceptions=False) as other_device:
        password_step(other_device, bob)
        assert send_code(other_device, codes[0]).status_code == 400
    assert len(events(ctx, audit.RECOVERY_CODE_USED)) == 1


def test_the_pending_login_expires(client, ctx, bob, steps, monkeypatch):
    secret, _ = enable(ctx, bob, steps)
    password_step(client, bob)
    later = pages._now() + pages.PENDING_SECONDS + 1
    monkeypatch.setattr(pages, "_now", lambda: later)
    assert client.get("/login/two-factor", follow_redirects=False).headers["location"] == "/login"
    token = csrf(get(client, "/login"))
    expired = client.post(
        "/login/two-factor",
        data={"csrf_token": token, "code": totp.code_at(secret, steps.step)},
        follow_redirects=False,
    )
    assert expired.status_code == 303 and expired.headers["location"] == "/login"
    assert SESSION_COOKIE not in client.cookies


def test_the_pending_login_cannot_be_reused(client, ctx, bob, steps):
    secret, _ = enable(ctx, bob, steps)
    password_step(client, bob)
    pending = client.cookies[pages.PENDING_COOKIE]
    assert send_code(client, totp.code_at(secret, steps.step)).status_code == 303
    steps.step += 1
    with TestClient(client.app, raise_server_exceptions=False) as thief:
        thief.cookies.set(pages.PENDING_COOKIE, pending)
        refused = send_code(thief, totp.code_at(secret, steps.step))
        assert refused.status_code == 400
        assert SESSION_COOKIE not in thief.cookies


def test_a_forged_pending_cookie_is_refused(client, bob):
    client.cookies.set(pages.PENDING_COOKIE, "eyJ4IjoxfQ==.deadbeef")
    response = client.get("/login/two-factor", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"


def test_users_without_two_factor_log_in_as_before(client, bob):
    response = login(client, bob.email)
    assert response.status_code == 303 and response.headers["location"] == "/bookings"
    assert SESSION_COOKIE in client.cookies


# --- throttling -----------------------------------------------------------------------------


@pytest.fixture
def tclient(tmp_path: Path, database_url: str) -> Iterator[tuple[TestClient, Context]]:
    settings = make_settings(
        tmp_path,
        database_url=database_url,
        throttle_enabled="true",
        throttle_login_account="3",
        throttle_login_address="10",
    )
    context = Context(db=Database(settings.effective_database_url), settings=settings)
    with TestClient(create_app(settings, context), raise_server_exceptions=False) as test_client:
        yield test_client, context
    context.db.dispose()


def test_wrong_codes_are_throttled_with_429(tclient, steps):
    client, ctx = tclient
    dora = factories.make_user(ctx, "dora@example.com")
    secret, _ = enable(ctx, dora, steps)
    password_step(client, dora)
    statuses = [send_code(client, wrong(secret, steps.step)).status_code for _ in range(3)]
    blocked = send_code(client, totp.code_at(secret, steps.step))
    assert statuses == [400, 400, 400]
    assert blocked.status_code == 429
    assert 55 <= int(blocked.headers["Retry-After"]) <= 60
    assert SESSION_COOKIE not in client.cookies


# --- administrators -------------------------------------------------------------------------


def test_an_administrator_resets_a_members_two_factor(client, ctx, alice, bob, steps):
    enable(ctx, bob, steps)
    login(client, alice.email)
    row = get(client, "/admin/users").one("tr", id=f"user-{bob.id}")
    link = row.one("a", href=f"/admin/users/{bob.id}/two-factor-reset")
    assert "2FA" in link.text
    assert (
        get(client, "/admin/users")
        .one("tr", id=f"user-{alice.id}")
        .find("a", href=f"/admin/users/{alice.id}/two-factor-reset")
        is None
    )
    confirm = get(client, link["href"])
    response = client.post(
        f"/admin/users/{bob.id}/two-factor-reset",
        data={"csrf_token": csrf(confirm)},
        follow_redirects=False,
    )
    assert response.status_code == 303 and not domain.is_enabled(ctx, bob.id)
    (event,) = events(ctx, audit.TWO_FACTOR_RESET)
    assert event.actor_id == alice.id


def test_members_cannot_reset(client, ctx, bob, charlie, steps):
    enable(ctx, charlie, steps)
    login(client, bob.email)
    token = csrf(get(client, "/profile"))
    response = client.post(
        f"/admin/users/{charlie.id}/two-factor-reset",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 403 and domain.is_enabled(ctx, charlie.id)


@pytest.fixture
def strict(tmp_path: Path, database_url: str) -> Iterator[tuple[TestClient, Context]]:
    settings = make_settings(tmp_path, database_url=database_url, require_admin_2fa="true")
    context = Context(db=Database(settings.effective_database_url), settings=settings)
    with TestClient(create_app(settings, context), raise_server_exceptions=False) as test_client:
        yield test_client, context
    context.db.dispose()


def test_an_administrator_without_2fa_is_sent_to_the_setup(strict, steps):
    client, ctx = strict
    admin = factories.make_user(ctx, "alice@example.com", admin=True)
    response = login(client, admin.email)
    assert response.status_code == 303
    for url in ("/bookings", "/admin", "/admin/users", "/profile"):
        redirected = client.get(url, follow_redirects=False)
        assert redirected.status_code == 303, url
        assert redirected.headers["location"] == "/profile/two-factor"
    page = client.get("/profile/two-factor")
    assert page.status_code == 200
    doc = parse(page.text)
    warning = doc.one("div", class_="alert-warning")
    assert "Administratoren müssen" in warning.text
    secret = doc.one("code", id="secret").text.replace(" ", "")
    assert doc.find("form", action="/profile/two-factor/disable") is None
    done = submit(
        client,
        "/profile/two-factor",
        "/profile/two-factor/confirm",
        {"code": totp.code_at(secret, steps.step)},
    )
    assert done.status_code == 200
    assert client.get("/admin/users", follow_redirects=False).status_code == 200
    steps.step += 1
    # and they cannot switch it off again while the setting is on
    off = submit(
        client,
        "/profile/two-factor",
        "/profile/two-factor/disable",
        {"password": factories.PASSWORD, "code": totp.code_at(secret, steps.step)},
    )
    assert off.status_code == 400 and domain.is_enabled(ctx, admin.id)


def test_members_are_not_forced(strict):
    client, ctx = strict
    member = factories.make_user(ctx, "bob@example.com")
    login(client, member.email)
    assert client.get("/bookings", follow_redirects=False).status_code == 200


def test_the_setup_page_works_in_english(client, bob):
    login(client, bob.email)
    page = client.get("/profile/two-factor", headers={"Accept-Language": "en"})
    doc = parse(page.text)
    assert doc.one("h1").text == "Two-factor authentication"
    assert "Scan the QR code" in page.text
