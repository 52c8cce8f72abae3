"""The production topology, natively on 127.0.0.1: the shipped nginx configuration (rendered by
deploy/nginx/render.sh, TLS with a certificate from deploy/scripts/self-signed-cert.sh) in
front of a real ``booking serve`` on a private PostgreSQL cluster that runs the shipped
deploy/postgres/postgresql.conf."""

from __future__ import annotations

import os
import secrets
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.deploy.helpers import (
    NginxLayout,
    PrivatePostgres,
    private_postgres,
    pss_mib,
    render_nginx,
    running_nginx,
    shared_tmp,
    tool,
)
from tests.live import ROOT, LiveServer, _process_env, booking_env, live_server, migrate

pytestmark = pytest.mark.slow

ADMIN_EMAIL = "admin@example.org"
ADMIN_PASSWORD = "Haus-am-See-2026!"  # noqa: S105 (test account on a throw-away database)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "object-src 'none'"
)
STATIC_NAME = "app.3f2a9c1e.css"
STATIC_BODY = "body { margin: 0; }\n" * 200  # > 1 KiB, so gzip applies
# Memory limits of deploy/compose.prod.yml (MiB) that the measured PSS must stay below.
LIMITS_MIB = {"nginx": 12, "app": 120, "db": 72}


@dataclass
class Stack:
    nginx: NginxLayout
    nginx_process: subprocess.Popen[bytes]
    app: LiveServer
    postgres: PrivatePostgres
    tls: ssl.SSLContext
    app_database_url: str
    app_data_dir: Path

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.nginx.https_port}"

    def client(self, source: str = "127.0.0.1", **kwargs: object) -> httpx.Client:
        transport = httpx.HTTPTransport(local_address=source, verify=self.tls)
        return httpx.Client(base_url=self.https, transport=transport, timeout=15, **kwargs)  # type: ignore[arg-type]


def _create_admin(database_url: str, data_dir: Path) -> None:
    password_file = data_dir / "admin-password"
    password_file.write_text(ADMIN_PASSWORD)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "booking",
            "create-admin",
            "--email",
            ADMIN_EMAIL,
            "--first-name",
            "Ada",
            "--last-name",
            "Admin",
            "--password-file",
            str(password_file),
        ],
        cwd=ROOT,
        env=_process_env(booking_env(database_url, data_dir)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    tool("nginx")
    tool("openssl")
    import psycopg

    with shared_tmp() as base, private_postgres(base / "pg") as postgres:
        with psycopg.connect(postgres.url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute("CREATE DATABASE booking")
        database_url = postgres.url("booking")
        app_dir = base / "app"
        (app_dir / "live-data").mkdir(parents=True)
        migrate(database_url, app_dir / "live-data")
        _create_admin(database_url, app_dir / "live-data")
        # PYTHONOPTIMIZE=2 as in the image: the app must not need docstrings or asserts.
        production = {"BOOKING_ENV": "production", "PYTHONOPTIMIZE": "2"}
        with live_server(database_url, app_dir, production) as app:
            layout = render_nginx(base, f"127.0.0.1:{app.port}")
            (layout.static_root / STATIC_NAME).write_text(STATIC_BODY)
            os.chmod(layout.static_root / STATIC_NAME, 0o644)
            tls = ssl.create_default_context(cafile=str(layout.tls_dir / "fullchain.pem"))
            with running_nginx(layout) as process:
                yield Stack(
                    layout, process, app, postgres, tls, database_url, app_dir / "live-data"
                )


def _login(client: httpx.Client) -> str:
    response = client.post(
        "/api/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def _assert_security_headers(response: httpx.Response) -> None:
    headers = response.headers
    assert headers["strict-transport-security"] == "max-age=31536000"
    assert headers["content-security-policy"] == CSP
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    assert "camera=()" in headers["permissions-policy"]
    assert headers["server"] == "nginx", "no version in the Server header"
    # One value each: the app's copies are hidden, nginx is the single source.
    for name in ("x-content-type-options", "referrer-policy", "x-frame-options"):
        assert len(headers.get_list(name)) == 1, name


def test_it_serves_health_and_the_api_over_https(stack: Stack) -> None:
    with stack.client() as client:
        health = client.get("/health")
        assert health.status_code == 200 and health.json() == {"status": "healthy"}
        assert health.http_version == "HTTP/1.1"
        ready = client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "mail": "ok"}
        token = _login(client)
        me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["email"] == ADMIN_EMAIL
        # The API's case-insensitive paths work through nginx too.
        upper = client.get("/api/Auth/me", headers={"Authorization": f"Bearer {token}"})
        assert upper.status_code == 200
        assert client.get("/api/auth/me").status_code == 401
        # Public metrics never leave through the site.
        assert client.get("/metrics").status_code == 404


def test_it_speaks_tls_1_2_and_1_3_only_with_forward_secret_aead(stack: Stack) -> None:
    for version, expected in (
        (ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
        (ssl.TLSVersion.TLSv1_3, "TLSv1.3"),
    ):
        context = ssl.create_default_context(cafile=str(stack.nginx.tls_dir / "fullchain.pem"))
        context.minimum_version = context.maximum_version = version
        transport = httpx.HTTPTransport(verify=context)
        with httpx.Client(transport=transport, timeout=10) as client:
            response = client.get(stack.https + "/health")
            assert response.status_code == 200
        result = subprocess.run(
            [
                "openssl",
                "s_client",
                "-connect",
                f"127.0.0.1:{stack.nginx.https_port}",
                "-servername",
                "localhost",
                f"-tls1_{2 if expected == 'TLSv1.2' else 3}",
            ],
            input="",
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert f"Protocol  : {expected}" in result.stdout or expected in result.stdout
        # The Pi has no AES instructions: the server picks ChaCha20-Poly1305.
        assert "CHACHA20" in result.stdout, result.stdout[-1500:]
    old = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{stack.nginx.https_port}",
            "-tls1_1",
            "-cipher",
            "DEFAULT:@SECLEVEL=0",
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert "Cipher is (NONE)" in old.stdout or old.returncode != 0


def test_it_redirects_http_to_https(stack: Stack) -> None:
    http = f"http://127.0.0.1:{stack.nginx.http_port}"
    with httpx.Client(timeout=10) as client:
        response = client.get(http + "/api/health?x=1")
        assert response.status_code == 301
        assert response.headers["location"] == f"{stack.https}/api/health?x=1"
        assert "strict-transport-security" not in response.headers, "HSTS only over HTTPS"
    with stack.client() as client:
        followed = client.get(response.headers["location"])
        assert followed.status_code == 200 and followed.json() == {"status": "healthy"}


def test_it_sends_the_security_headers_on_every_response(stack: Stack) -> None:
    with stack.client() as client:
        for path in ("/health", "/api/nothing-here", f"/static/{STATIC_NAME}", "/static/nope"):
            _assert_security_headers(client.get(path))
        docs = client.get("/api/docs")
        assert docs.status_code == 200
        assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]


def test_it_serves_static_files_with_long_cache_lifetimes(stack: Stack) -> None:
    with stack.client() as client:
        response = client.get(f"/static/{STATIC_NAME}", headers={"Accept-Encoding": "identity"})
        assert response.status_code == 200
        assert response.text == STATIC_BODY
        assert response.headers["content-type"].startswith("text/css")
        cache = response.headers["cache-control"]
        assert "max-age=31536000" in cache and "public" in cache and "immutable" in cache
        assert "expires" in response.headers
        compressed = client.get(f"/static/{STATIC_NAME}", headers={"Accept-Encoding": "gzip"})
        assert compressed.headers["content-encoding"] == "gzip"
        assert int(compressed.headers.get("content-length", "0") or 0) < len(STATIC_BODY)
        assert compressed.text == STATIC_BODY  # httpx decodes it
        missing = client.get("/static/app.00000000.css")
        assert missing.status_code == 404
        # Outside the static root nothing is reachable.
        assert client.get("/static/../nginx/conf/nginx.conf").status_code in (400, 404)


def test_it_answers_429_after_a_login_burst(stack: Stack) -> None:
    """10 POSTs a minute with a burst of 5, per client address (here 127.0.0.2, so the other
    tests' logins from 127.0.0.1 are not counted)."""
    statuses = []
    with stack.client(source="127.0.0.2") as client:
        for _ in range(12):
            response = client.post(
                "/api/auth/login", json={"email": "nobody@example.org", "password": "wrong-pass"}
            )
            statuses.append(response.status_code)
        assert 429 not in statuses[:5], statuses
        assert statuses[-1] == 429 and statuses.count(429) >= 5, statuses
        assert set(statuses) <= {400, 401, 429}, statuses  # wrong password: 400 (predecessor)
        limited = client.post("/api/Auth/LOGIN", json={"email": "x@y.z", "password": "x"})
        assert limited.status_code == 429, "the upper-case path is limited as well"
        assert limited.headers["content-type"] == "application/problem+json"
        assert limited.json()["status"] == 429 and limited.json()["message"]
        assert limited.headers["retry-after"] == "60"
        _assert_security_headers(limited)
        # GET pages are not counted against the login limit; the API limit is far higher.
        assert client.get("/health").status_code == 200
        assert client.get("/api/health").status_code == 200


def test_it_never_caches_authenticated_responses(stack: Stack) -> None:
    with stack.client() as client:
        token = _login(client)
        me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert me.headers.get_list("cache-control") == ["no-store"]
        # Every API answer is no-store, authenticated or not.
        assert client.get("/api/health").headers["cache-control"] == "no-store"
        # Pages: no-store as soon as a cookie or an Authorization header comes along.
        with_cookie = client.get("/health", headers={"Cookie": "session=abc"})
        assert with_cookie.status_code == 200
        page = client.get("/", headers={"Cookie": "session=abc"}, follow_redirects=False)
        assert "no-store" in page.headers.get_list("cache-control"), page.headers


def test_it_refuses_bodies_over_256_kib(stack: Stack) -> None:
    with stack.client() as client:
        too_large = client.post(
            "/api/auth/register",
            content=b"x" * (256 * 1024 + 1),
            headers={"Content-Type": "application/json"},
        )
        assert too_large.status_code == 413
        assert too_large.json()["message"] == "Die Anfrage ist zu groß."
        just_fits = client.post(
            "/api/bookings/validate",
            content=b" " * (200 * 1024) + b"{}",
            headers={"Content-Type": "application/json"},
        )
        assert just_fits.status_code != 413  # reaches the app (401: no token)
        assert just_fits.status_code == 401


# The administrator's own feed, made with the app's code on the stack's database (the web form
# needs two-factor setup first for administrators in production).
_NEW_FEED = """
import sys
from sqlalchemy import select
from booking.__main__ import _context, _settings
from booking.db.models import User
from booking.domain import feeds
ctx = _context(_settings())
with ctx.db.read() as session:
    user = session.scalars(select(User).where(User.email == sys.argv[1])).one()
print(feeds.renew_member_feed(ctx, user))
"""


def _member_feed_token(stack: Stack) -> str:
    result = subprocess.run(
        [sys.executable, "-c", _NEW_FEED, ADMIN_EMAIL],
        cwd=ROOT,
        env=_process_env(booking_env(stack.app_database_url, stack.app_data_dir)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_it_keeps_secret_tokens_out_of_the_access_log(stack: Stack) -> None:
    """Feed addresses and the mailed links open calendars and accounts by themselves: nginx logs
    them with the token replaced, but with method, path shape and status."""
    secret = {name: secrets.token_urlsafe(24) for name in ("house", "reset", "verify", "email")}
    secret |= {name: secrets.token_urlsafe(24) for name in ("twice", "code", "state")}
    with stack.client(source="127.0.0.3", follow_redirects=False) as client:
        secret["feed"] = _member_feed_token(stack)
        requests = [
            ("GET", f"/feeds/{secret['feed']}.ics", "/feeds/[token].ics"),
            ("HEAD", f"/feeds/{secret['feed']}.ics?v=2", "/feeds/[token].ics?v=2"),
            ("GET", f"/feeds/house/{secret['house']}.ics", "/feeds/house/[token].ics"),
            ("GET", f"/reset-password?token={secret['reset']}", "/reset-password?token=[token]"),
            (
                "GET",
                f"/verify-email?lang=de&token={secret['verify']}&x=1",
                "/verify-email?lang=de&token=[token]&x=1",
            ),
            (
                "GET",
                f"/confirm-email-change?token={secret['email']}",
                "/confirm-email-change?token=[token]",
            ),
            (
                "GET",
                f"/reset-password?token=x&token={secret['twice']}",
                "/reset-password?[redacted]",
            ),
            (
                "GET",
                f"/login/oidc/callback?code={secret['code']}&state={secret['state']}",
                "/login/oidc/callback?[redacted]",
            ),
            ("GET", "/api/health?probe=kept", "/api/health?probe=kept"),
        ]
        logged = []
        for method, url, shown in requests:
            logged.append((method, shown, client.request(method, url)))
    assert logged[0][2].status_code == 200
    assert logged[0][2].headers["content-type"].startswith("text/calendar")
    assert logged[2][2].status_code == 404  # an unknown house feed token
    access_log = (stack.nginx.prefix / "logs" / "access.log").read_text()
    for name, value in secret.items():
        assert value not in access_log, name
    for method, shown, response in logged:
        line = f'"{method} {shown} HTTP/1.1" {response.status_code} '
        assert line in access_log, (line, access_log[-3000:])


def test_it_fits_the_compose_memory_limits(stack: Stack) -> None:
    """PSS of each component after the traffic above (run last in this module)."""
    nginx_pid = int((stack.nginx.prefix / "nginx.pid").read_text())
    measured = {
        "nginx": pss_mib(nginx_pid),
        "app": pss_mib(stack.app.process.pid),
        "db": pss_mib(stack.postgres.pid),
    }
    print(  # noqa: T201
        "PSS after the topology tests (MiB): "
        + ", ".join(
            f"{name} {value:.1f} (limit {LIMITS_MIB[name]})" for name, value in measured.items()
        )
    )
    for name, value in measured.items():
        assert 0 < value < LIMITS_MIB[name], (name, value)
