"""Security headers on every kind of response the app sends (pages, API JSON, errors 404, 405,
413 and 500, static files, redirects, /health, /metrics, the API docs), HSTS only for an https://
site, and the nginx configuration sending the same values."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from booking.app import create_app
from booking.domain.context import Context
from booking.headers import DOCS_CSP, HSTS, PERMISSIONS_POLICY
from booking.web import CSP
from booking.web.core import static_url
from tests.conftest import make_settings
from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parents[1]
NGINX = ROOT / "deploy" / "nginx"


def _crash(_request: object) -> None:
    raise RuntimeError("a bug")


def app_client(ctx: Context, site_url: str) -> TestClient:
    settings = ctx.settings.model_copy(update={"site_url": site_url})
    app = create_app(settings, Context(db=ctx.db, settings=settings))
    # one route that fails, for the 500 of an unhandled exception (page and API)
    app.add_route("/api/test-crash", _crash)
    app.add_route("/test-crash", _crash, include_in_schema=False)
    # an https:// site sets Secure cookies, which the client only sends back over https
    base = "https://testserver" if site_url.startswith("https://") else "http://testserver"
    return TestClient(app, base_url=base, raise_server_exceptions=False)


@pytest.fixture(params=["http://testserver", "https://booking.example.org"])
def site(request: pytest.FixtureRequest, ctx: Context) -> Iterator[tuple[TestClient, bool]]:
    with app_client(ctx, request.param) as client:
        yield client, request.param.startswith("https://")


Request = Callable[[TestClient], httpx.Response]
RESPONSES: dict[str, tuple[Request, int]] = {
    "login page": (lambda c: c.get("/login"), 200),
    "redirect to login": (lambda c: c.get("/bookings", follow_redirects=False), 303),
    "page 404": (lambda c: c.get("/no-such-page"), 404),
    "page 500": (lambda c: c.get("/test-crash"), 500),
    "API JSON": (lambda c: c.get("/api/health"), 200),
    "API 401": (lambda c: c.get("/api/auth/me"), 401),
    "API 400": (lambda c: c.post("/api/auth/login", json={}), 400),
    "API 404": (lambda c: c.get("/api/no-such-thing"), 404),
    "API 405": (lambda c: c.delete("/api/auth/login"), 405),
    "API 413": (
        lambda c: c.post(
            "/api/auth/login",
            content=b"x" * (300 * 1024),
            headers={"content-type": "application/json"},
        ),
        413,
    ),
    "API 500": (lambda c: c.get("/api/test-crash"), 500),
    "health": (lambda c: c.get("/health"), 200),
    "metrics": (lambda c: c.get("/metrics"), 200),
    "static file": (lambda c: c.get(static_url("css/app.css")), 200),
    "static 404": (lambda c: c.get("/static/nothing.css"), 404),
    "openapi": (lambda c: c.get("/api/openapi.json"), 200),
    "login POST 303": (
        lambda c: _login(c),
        303,
    ),
}


def _login(client: TestClient) -> httpx.Response:
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    return client.post(
        "/login",
        data={"csrf_token": token.group(1), "email": "bob@example.com", "password": PASSWORD},
        follow_redirects=False,
    )


def assert_security_headers(response: httpx.Response, https: bool, csp: str = CSP) -> None:
    headers = response.headers
    assert headers.get_list("content-security-policy") == [csp]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-frame-options"] == "DENY"
    assert headers["permissions-policy"] == PERMISSIONS_POLICY
    if https:
        assert headers["strict-transport-security"] == HSTS
    else:
        assert "strict-transport-security" not in headers


@pytest.mark.parametrize("kind", RESPONSES)
def test_every_kind_of_response_carries_the_security_headers(site, bob, kind):
    client, https = site
    request, status = RESPONSES[kind]
    response = request(client)
    assert response.status_code == status, (kind, response.text[:300])
    assert_security_headers(response, https)


def test_the_api_docs_page_gets_its_documented_exception(site):
    client, https = site
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert_security_headers(response, https, csp=DOCS_CSP)
    assert "frame-ancestors 'none'" in DOCS_CSP and "default-src 'self'" in DOCS_CSP


def test_the_policy_is_strict():
    directives = dict(part.strip().split(" ", 1) for part in CSP.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CSP
    for feature in ("camera", "microphone", "geolocation", "payment"):
        assert f"{feature}=()" in PERMISSIONS_POLICY


def test_a_header_a_route_sets_is_replaced_not_doubled(client):
    # Pages set Cache-Control themselves; the security headers appear exactly once each.
    response = client.get("/login")
    for name in ("content-security-policy", "x-content-type-options", "referrer-policy"):
        assert len(response.headers.get_list(name)) == 1, name


def test_session_cookies_are_secure_on_an_https_site(ctx, bob):
    with app_client(ctx, "https://booking.example.org") as client:
        response = _login(client)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


# --- nginx sends the same values ------------------------------------------------------------


def test_nginx_sends_the_apps_policies():
    main = (NGINX / "nginx.conf").read_text()
    headers = (NGINX / "security-headers.conf").read_text()
    assert f'default "{CSP}";' in main
    assert f'"~*^/api/docs$" "{DOCS_CSP}";' in main
    assert f'add_header Permissions-Policy "{PERMISSIONS_POLICY}" always;' in headers
    assert f'add_header Strict-Transport-Security "{HSTS}" always;' in headers
    assert 'add_header Referrer-Policy "same-origin" always;' in headers
    assert 'add_header X-Content-Type-Options "nosniff" always;' in headers


def test_every_nginx_location_with_its_own_headers_includes_the_security_headers():
    """nginx drops inherited add_header lines in a block with its own: each such location of
    the HTTPS server must include security-headers.conf again."""
    main = (NGINX / "nginx.conf").read_text()
    https_server = main[main.index("listen 8443") :]
    for block in re.findall(r"location [^{]+\{(.*?)\n        \}", https_server, re.S):
        if "add_header" in block or "no-store.conf" in block:
            assert (
                "security-headers.conf" in block
                or "no-store.conf" in block
                and "security-headers.conf" in (NGINX / "no-store.conf").read_text()
            ), block


def test_settings_do_not_leak_between_sites(tmp_path, database_url):
    settings = make_settings(tmp_path, database_url=database_url, site_url="https://x.example")
    assert settings.site_url == "https://x.example"
