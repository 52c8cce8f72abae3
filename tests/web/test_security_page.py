"""The administrators' "Sicherheit" page (/admin/security, GET /api/admin/security): who may see
it, and each check in a bad and a good state (real backups on disk, a real 2FA setup, demo
accounts with their published password, a real server answering the header check)."""

from __future__ import annotations

import ast
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from booking.app import create_app
from booking.demo import ACCOUNTS
from booking.domain import security_checks
from booking.domain.context import Context
from booking.ops.backup import SQLITE, archive_name
from booking.web.security import CHECK_TEXTS
from tests import factories
from tests.live import free_port
from tests.web.test_account_pages import get, logged_in

STRONG_KEY = "kQ2v9_xR7mZ-4pLw8bN1cT6yH3fJ0sDaEeUiOoGgVvWwXxYz"
KEYS = (
    "https",
    "headers",
    "secret_key",
    "admin_2fa",
    "demo_accounts",
    "backups",
    "smtp",
    "throttle",
)


def with_settings(ctx: Context, **changes: object) -> Context:
    return Context(db=ctx.db, settings=ctx.settings.model_copy(update=changes))


def statuses(doc) -> dict[str, str]:
    rows = doc.find_all("tr", data_status=True)
    return {row["id"].removeprefix("check-"): row["data-status"] for row in rows}


# --- access ---------------------------------------------------------------------------------


def test_members_get_403_and_anonymous_visitors_the_login(client, bob):
    anonymous = client.get("/admin/security", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    logged_in(client, bob.email)
    assert client.get("/admin/security").status_code == 403
    assert (
        client.get(
            "/api/admin/security", headers=factories.auth_headers(client.app.state.ctx, bob)
        ).status_code
        == 403
    )


def test_the_page_lists_every_check_with_what_to_fix(client, ctx, alice):
    logged_in(client, alice.email)
    doc = get(client, "/admin/security")
    assert doc.one("h1").text == "Sicherheit"
    assert doc.find("a", href="/admin/security", aria_current="page") is not None
    found = statuses(doc)
    assert list(found) == list(KEYS)
    # the test settings: http, the suite's published key, no SMTP, no backups, no throttle
    assert found["https"] == "warning"
    assert found["headers"] == "unknown"  # http://testserver is not reachable from here
    assert found["secret_key"] == "problem"
    assert found["admin_2fa"] == "warning"
    assert found["demo_accounts"] == "ok"
    assert found["backups"] == "warning"
    assert found["smtp"] == "warning"
    assert found["throttle"] == "warning"
    fix = doc.one("tr", id="check-smtp").find("td", class_="check-fix").text
    assert "BOOKING_SMTP_HOST" in fix
    assert "Nicht prüfbar" in doc.one("tr", id="check-headers").text
    assert "Alice" in doc.one("tr", id="check-admin_2fa").text


def test_the_api_returns_the_same_checks(client, ctx, alice):
    response = client.get("/api/admin/security", headers=factories.auth_headers(ctx, alice))
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert [c["key"] for c in checks] == list(KEYS)
    assert all(c["status"] in security_checks.STATUSES for c in checks)
    smtp = next(c for c in checks if c["key"] == "smtp")
    assert smtp["fix"] and "{" not in smtp["detail"]


def test_the_page_in_english(client, ctx, alice):
    from sqlalchemy import update

    from booking.db.models import User

    with ctx.db.write() as session:
        session.execute(update(User).where(User.id == alice.id).values(language="en"))
    logged_in(client, alice.email)
    doc = get(client, "/admin/security")
    assert doc.one("h1").text == "Security"
    assert "Secret key" in doc.one("tr", id="check-secret_key").text


def test_every_check_text_is_marked_for_translation():
    """security_checks.py's titles and texts must be in booking/web/security.py's list, which the
    extractor reads (the English catalog then has them)."""
    source = Path(security_checks.__file__).read_text(encoding="utf-8")
    texts = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Check":
            texts |= {
                arg.value
                for arg in node.args[1:]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            }
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and any(getattr(t, "id", "") in ("title", "fix") for t in node.targets)
        ):
            texts.add(node.value.value)
    texts -= set(KEYS) | set(security_checks.STATUSES)
    assert texts - set(CHECK_TEXTS) == set()


# --- each check, bad and good ---------------------------------------------------------------


def test_https(ctx):
    bad = security_checks.https_check(ctx, "http")
    assert bad.status == "warning" and "BOOKING_SITE_URL" in (bad.fix or "")
    prod = with_settings(ctx, env="production")
    assert security_checks.https_check(prod, "http").status == "problem"
    https = with_settings(ctx, site_url="https://booking.example.org")
    assert security_checks.https_check(https, "https").status == "ok"
    proxied_as_http = security_checks.https_check(https, "http")
    assert proxied_as_http.status == "warning" and "X-Forwarded-Proto" in (
        proxied_as_http.fix or ""
    )


def test_https_as_seen_through_the_page(ctx, alice):
    good = with_settings(ctx, site_url="https://booking.example.org")
    app = create_app(good.settings, good)
    with TestClient(app, base_url="https://testserver") as client:
        logged_in(client, alice.email)
        assert statuses(get(client, "/admin/security"))["https"] == "ok"


@pytest.mark.parametrize(
    ("key", "status"),
    [
        ("changeme", "problem"),
        ("test-secret-key-0123456789-abcdefghijklmnop", "problem"),
        ("kurz-aber-zufaellig-4711", "problem"),
        ("ab" * 20, "warning"),
        ("my-secret-but-long-enough-0123456789xyz", "warning"),
        (STRONG_KEY, "ok"),
    ],
)
def test_secret_key(ctx, key, status):
    from booking.lib.schema import SecretStr

    check = security_checks.secret_check(with_settings(ctx, secret_key=SecretStr(key)))
    assert check.status == status, check
    assert key not in check.as_json()["detail"]  # the page never shows the key


def test_two_factor_for_administrators(ctx, alice, bob):
    import pyotp

    from booking.domain import two_factor

    bad = security_checks.two_factor_check(ctx)
    assert bad.status == "warning" and alice.email in bad.values["names"]
    assert bob.email not in bad.values["names"]
    assert (
        security_checks.two_factor_check(with_settings(ctx, env="production")).status == "problem"
    )
    secret = two_factor.begin_setup(ctx, alice)
    two_factor.confirm_setup(ctx, alice, pyotp.TOTP(secret).now())
    assert security_checks.two_factor_check(ctx).status == "ok"


def test_demo_accounts_with_their_published_password(ctx):
    assert security_checks.demo_check(ctx).status == "ok"
    email, password, *_ = ACCOUNTS[0]
    user = factories.make_user(ctx, email, admin=True, password=password)
    bad = security_checks.demo_check(with_settings(ctx, env="production"))
    assert bad.status == "problem" and email in bad.values["emails"]
    from sqlalchemy import update

    from booking.db.models import User
    from booking.lib.passwords import hash_password

    with ctx.db.write() as session:  # the password was changed: no longer a risk
        session.execute(
            update(User).where(User.id == user.id).values(password_hash=hash_password(STRONG_KEY))
        )
    assert security_checks.demo_check(ctx).status == "ok"


def test_backups(ctx, tmp_path):
    backups = tmp_path / "backups-for-check"
    checked = with_settings(ctx, backup_dir=backups)
    assert security_checks.backup_check(checked).status == "warning"  # none at all
    now = datetime.now(UTC)
    backups.mkdir()
    (backups / archive_name(now - timedelta(hours=30), SQLITE)).write_bytes(b"old")
    old = security_checks.backup_check(checked)
    assert old.status == "warning" and old.values["hours"] == 30
    assert (
        security_checks.backup_check(with_settings(checked, env="production")).status == "problem"
    )
    (backups / archive_name(now - timedelta(hours=2), SQLITE)).write_bytes(b"new")
    fresh = security_checks.backup_check(checked)
    assert fresh.status == "ok" and fresh.values["hours"] == 2


def test_smtp_and_throttling(ctx):
    assert security_checks.smtp_check(ctx).status == "warning"
    assert (
        security_checks.smtp_check(with_settings(ctx, smtp_host="mail.example.org")).status == "ok"
    )
    assert security_checks.throttle_check(ctx).status == "warning"
    assert security_checks.throttle_check(with_settings(ctx, throttle_enabled=True)).status == "ok"


# --- the header check against real servers --------------------------------------------------


@pytest.fixture
def live_app(ctx: Context) -> Iterator[Context]:
    """The app served by uvicorn on a free port, its site_url pointing at itself."""
    import uvicorn

    port = free_port()
    own = with_settings(ctx, site_url=f"http://127.0.0.1:{port}")
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(own.settings, own), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    yield own
    server.should_exit = True
    thread.join(10)


class _Bare(BaseHTTPRequestHandler):
    """A server without any security header (a proxy that drops them)."""

    def do_GET(self) -> None:  # noqa: N802
        body = b'{"status": "healthy"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def bare_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Bare)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_headers_as_the_real_app_sends_them(live_app):
    check = security_checks.headers_check(live_app)
    assert check.status == "ok", check


def test_the_page_fetches_its_own_public_address(live_app, alice):
    with TestClient(create_app(live_app.settings, live_app)) as client:
        logged_in(client, alice.email)
        assert statuses(get(client, "/admin/security"))["headers"] == "ok"


def test_headers_missing_behind_a_proxy(ctx, bare_server):
    check = security_checks.headers_check(with_settings(ctx, site_url=bare_server))
    assert check.status == "problem"
    assert "Content-Security-Policy" in check.values["names"]
    assert "Permissions-Policy" in check.values["names"]


def test_headers_not_checkable_when_unreachable(ctx):
    closed = f"http://127.0.0.1:{free_port()}"
    check = security_checks.headers_check(with_settings(ctx, site_url=closed))
    assert check.status == "unknown"


def test_header_rules():
    good = {
        "Content-Security-Policy": "default-src 'self'; script-src 'self'; frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=()",
        "Strict-Transport-Security": "max-age=31536000",
    }
    assert security_checks.header_problems(good, https=True) == []
    inline = {
        **good,
        "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    }
    assert security_checks.header_problems(inline, https=True) == ["Content-Security-Policy"]
    framable = {**good, "Content-Security-Policy": "default-src 'self'"}
    assert security_checks.header_problems(framable, https=False) == ["Content-Security-Policy"]
    no_hsts = {k: v for k, v in good.items() if k != "Strict-Transport-Security"}
    assert security_checks.header_problems(no_hsts, https=False) == []
    assert security_checks.header_problems(no_hsts, https=True) == ["Strict-Transport-Security"]


def test_a_well_kept_instance_has_nothing_to_fix(ctx, alice, live_app, tmp_path):
    """Everything at once in the good state (the site itself is http here, so HTTPS is off)."""
    import pyotp

    from booking.domain import two_factor
    from booking.lib.schema import SecretStr

    secret = two_factor.begin_setup(ctx, alice)
    two_factor.confirm_setup(ctx, alice, pyotp.TOTP(secret).now())
    backups = tmp_path / "good-backups"
    backups.mkdir()
    (backups / archive_name(datetime.now(UTC) - timedelta(hours=1), SQLITE)).write_bytes(b"x")
    good = with_settings(
        live_app,
        secret_key=SecretStr(STRONG_KEY),
        smtp_host="mail.example.org",
        throttle_enabled=True,
        backup_dir=backups,
    )
    found = {check.key: check.status for check in security_checks.run_checks(good, "http")}
    assert found == dict.fromkeys(KEYS, "ok") | {"https": "warning"}
