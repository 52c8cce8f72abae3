"""Structured logs: JSON lines with the request id, stack traces as a field, readable text in
development, and no secret in any line. The leak test runs a whole API and web session against
a real server process (`booking serve`, JSON logs at debug level, mail through a real SMTP peer)
and greps everything it wrote for the user's passwords, tokens and session id."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from booking.app import create_app
from booking.config import load_settings
from booking.db import Database
from booking.domain.context import Context
from booking.lib import logs
from tests import factories
from tests.conftest import PG_URL
from tests.live import fresh_postgres_database, live_server
from tests.smtp import SmtpServer, parts


@contextmanager
def captured(fmt: str = "json", *, reveal_mail: bool = False) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        logs.JsonFormatter(reveal_mail) if fmt == "json" else logs.TextFormatter(reveal_mail)
    )
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def lines(stream: io.StringIO) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


# ---- redaction and formatters ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("GET /verify-email?token=abcDEF123-_x&next=/ 200", "abcDEF123-_x"),
        ("login with password=hunter2hunter2", "hunter2hunter2"),
        ('{"password": "s3cr3t pass", "email": "a@b.c"}', "s3cr3t pass"),
        ("{'newPassword': 'n3w-secret'}", "n3w-secret"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "eyJhbGci"),
        ("header authorization=Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("Cookie: booking_session=AbC123xyz; booking_csrf=zzz", "AbC123xyz"),
        ("set booking_session=q1w2e3r4t5 for user", "q1w2e3r4t5"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl in a message", "c2lnbmF0dXJl"),
        ("smtp_password: 'p@ss w0rd'", "p@ss w0rd"),
    ],
)
def test_it_redacts_secrets(text: str, secret: str) -> None:
    cleaned = logs.redact(text)
    assert secret not in cleaned and "[REDACTED]" in cleaned, cleaned


def test_it_keeps_ordinary_text() -> None:
    text = "GET /api/bookings/{booking_id} 200 12.3 ms for 192.0.2.1 (tokens: 0)"
    assert logs.redact("GET /api/bookings/{booking_id} 200 12.3 ms for 192.0.2.1") == (
        "GET /api/bookings/{booking_id} 200 12.3 ms for 192.0.2.1"
    )
    assert "192.0.2.1" in logs.redact(text)


def test_json_lines_carry_fields_and_stack_traces() -> None:
    log = logging.getLogger("booking.test")
    with captured() as stream:
        token = logs.REQUEST_ID.set("req-0123456789")
        try:
            log.info("hello %s", "world", extra={"route": "/x", "status": 200})
            try:
                raise ValueError("bad password=hunter2")
            except ValueError:
                log.exception("it failed")
        finally:
            logs.REQUEST_ID.reset(token)
    first, second = lines(stream)
    assert first["message"] == "hello world" and first["level"] == "info"
    assert first["request_id"] == "req-0123456789"
    assert (first["route"], first["status"]) == ("/x", 200)
    assert first["ts"].endswith("Z") and first["logger"] == "booking.test"
    assert second["level"] == "error" and second["exc_type"] == "ValueError"
    assert "Traceback" in second["exc"] and "raise ValueError" in second["exc"]
    assert "hunter2" not in json.dumps(second)
    assert "\n" not in stream.getvalue().strip().split("\n")[1]  # one line per record


def test_text_format_is_readable_and_redacted() -> None:
    with captured("text") as stream:
        token = logs.REQUEST_ID.set("abcdef0123456789")
        try:
            logging.getLogger("booking.access").info("GET /login?token=%s 200", "t0k3n")
        finally:
            logs.REQUEST_ID.reset(token)
    line = stream.getvalue().strip()
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d INFO booking\.access \[abcdef01\] GET /login\?token=\[REDACTED\] 200",
        line,
    ), line


def test_development_mail_lines_keep_their_link_but_production_ones_do_not() -> None:
    mail = logging.getLogger("booking.mail")
    for reveal in (True, False):
        with captured("text", reveal_mail=reveal) as stream:
            mail.info("mail to=a@b.c\nhttp://x/verify-email?token=Secr3tT0ken")
        assert ("Secr3tT0ken" in stream.getvalue()) is reveal


def test_each_request_logs_one_json_line_with_its_request_id(ctx) -> None:
    app = create_app(ctx.settings, ctx)

    def boom(_request: object) -> None:
        raise RuntimeError("kaputt")

    app.add_route("/boom-for-test", boom)

    with captured() as stream, TestClient(app, raise_server_exceptions=False) as client:
        client.get("/health", headers={"X-Request-ID": "from-nginx-0001"})
        missing = client.get("/api/bookings/00000000-0000-0000-0000-000000000000?token=abc")
        failed = client.get("/boom-for-test")
    assert failed.status_code == 500
    records = lines(stream)
    access = [r for r in records if r["logger"] == "booking.access"]
    by_id = {r["request_id"]: r for r in access}
    assert by_id["from-nginx-0001"]["route"] == "/health"
    assert by_id["from-nginx-0001"]["level"] == "debug"  # health checks are quiet
    line = by_id[missing.headers["x-request-id"]]
    assert line["route"] == "/api/bookings/{booking_id:uuid}" and line["status"] == 401
    assert line["method"] == "GET" and isinstance(line["duration_ms"], float)
    assert line["client"] == "testclient"
    assert "abc" not in json.dumps(line) and "token" not in json.dumps(line)
    crash = [
        r for r in records if r.get("exc_type") == "RuntimeError" or "kaputt" in r.get("exc", "")
    ]
    assert crash, records
    assert any(r["level"] == "error" and "Traceback" in r.get("exc", "") for r in crash)
    failed_access = [r for r in access if r["route"] == "/boom-for-test"]
    assert failed_access and failed_access[0]["status"] == 500
    # The error handler's line (with the trace) carries the same request id as the access line.
    traced = [r for r in crash if "Traceback" in r.get("exc", "")]
    assert {r.get("request_id") for r in traced} == {failed_access[0]["request_id"]}


# ---- a whole session against a real server: nothing secret in its log -------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def live_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/live.sqlite3"
        return
    if not PG_URL:
        pytest.skip("BOOKING_TEST_POSTGRES_URL is not set")
    with fresh_postgres_database(PG_URL) as url:
        yield url


def _link_token(smtp: SmtpServer, to: str, path: str, timeout: float = 15.0) -> str:
    """The token of the newest ``path`` link mailed to ``to`` (waits for the mail)."""
    pattern = re.compile(rf"{re.escape(path)}\?token=([\w-]+)")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [t for m in smtp.to(to) for t in pattern.findall(parts(m)[0])]
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"no {path} link mailed to {to}")


def test_a_full_session_leaves_no_secret_in_the_log(live_database_url: str, tmp_path: Path) -> None:
    smtp = SmtpServer().start()
    password, new_password, wrong = (
        "Corr3ct-Horse-Battery!",
        "N3w-Staple-Battery?",
        "Wr0ng-Guess-123",
    )
    email = "leaky@example.com"
    env = {
        "BOOKING_LOG_FORMAT": "json",
        "BOOKING_LOG_LEVEL": "debug",
        "BOOKING_SMTP_HOST": "127.0.0.1",
        "BOOKING_SMTP_PORT": str(smtp.port),
        "BOOKING_SMTP_SECURITY": "none",
        "BOOKING_THROTTLE_ENABLED": "false",
    }
    secrets: list[str] = [password, new_password, wrong]
    request_ids: list[str] = []
    try:
        with live_server(live_database_url, tmp_path, extra_env=env) as server:
            settings = load_settings(server.booking_env)
            ctx = Context(db=Database(settings.effective_database_url), settings=settings)
            try:
                factories.make_user(ctx, "boss@example.com", admin=True, first_name="Boss")
                room = factories.make_place(ctx, "Zimmer 1", capacity=4)
            finally:
                ctx.db.dispose()
            with httpx.Client(base_url=server.base_url, timeout=30) as http:

                def call(method: str, url: str, **kwargs) -> httpx.Response:  # type: ignore[no-untyped-def]
                    response = http.request(method, url, **kwargs)
                    request_ids.append(response.headers["x-request-id"])
                    return response

                registered = call(
                    "POST",
                    "/api/auth/register",
                    json={
                        "email": email,
                        "password": password,
                        "firstName": "Lea",
                        "lastName": "Ky",
                    },
                )
                assert registered.status_code == 200, registered.text
                user_id = registered.json()["userId"]
                verify = _link_token(smtp, email, "/verify-email")
                secrets.append(verify)
                # The link as a browser opens it (query string with the token), then the API.
                call("GET", f"/verify-email?token={verify}")
                verified = call("POST", "/api/auth/verify-email", json={"token": verify})
                assert verified.status_code in (200, 400), verified.text
                admin = call(
                    "POST",
                    "/api/auth/login",
                    json={"email": "boss@example.com", "password": factories.PASSWORD},
                ).json()["token"]
                secrets += [admin, factories.PASSWORD]
                approved = call(
                    "POST",
                    f"/api/admin/users/{user_id}/approve",
                    headers={"Authorization": f"Bearer {admin}"},
                )
                assert approved.status_code == 200, approved.text
                assert call(
                    "POST", "/api/auth/login", json={"email": email, "password": wrong}
                ).status_code in (400, 401)
                token = call(
                    "POST", "/api/auth/login", json={"email": email, "password": password}
                ).json()["token"]
                secrets.append(token)
                auth = {"Authorization": f"Bearer {token}"}
                start = datetime.now(UTC).date() + timedelta(days=30)
                booked = call(
                    "POST",
                    "/api/bookings",
                    headers=auth,
                    json=factories.booking_body([(room, 2)], start),
                )
                assert booked.status_code == 201, booked.text
                changed = call(
                    "POST",
                    "/api/auth/change-password",
                    headers=auth,
                    json={"currentPassword": password, "newPassword": new_password},
                )
                assert changed.status_code == 200, changed.text
                # The web login: a session cookie.
                page = call("GET", "/login")
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
                assert csrf, page.text[:500]
                web = call(
                    "POST",
                    "/login",
                    data={"email": email, "password": new_password, "csrf_token": csrf.group(1)},
                )
                assert web.status_code in (302, 303), web.status_code
                session = next(v for k, v in http.cookies.items() if "session" in k)
                secrets.append(session)
                call("GET", "/bookings")
                # A password reset link too.
                call("POST", "/api/auth/forgot-password", json={"email": email})
                reset = _link_token(smtp, email, "/reset-password")
                secrets.append(reset)
                call("GET", f"/reset-password?token={reset}")
        log = server.log()
    finally:
        smtp.stop()
    assert log.strip(), "the server logged something"
    records = []
    for line in log.splitlines():
        if line.strip():
            records.append(json.loads(line))  # every line is JSON
    for secret in secrets:
        assert len(secret) >= 8
        assert secret not in log, f"a secret of the session is in the log: {secret[:4]}..."
    access = {r["request_id"]: r for r in records if r["logger"] == "booking.access"}
    assert set(request_ids) <= set(access), "every request has an access line with its id"
    assert all(r["route"] != "unmatched" for r in access.values())
    assert any(
        r["route"] == "/api/auth/login" and r["status"] in (400, 401) for r in access.values()
    )
    assert any(r["logger"] == "booking.security" for r in records), "the failed login line"
