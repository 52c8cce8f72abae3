"""The failed-login line and the shipped fail2ban filter (deploy/fail2ban/filter.d/booking.conf):
a real server process (``booking serve``) writes its log to a file, we make it refuse logins
(wrong passwords, the app's own throttling, an unapproved account, a crafted e-mail address, a
client behind the proxy, wrong and replayed two-factor codes, refused OpenID Connect callbacks)
and run ``fail2ban-regex`` on that file. The filter must match exactly the wrong-password,
throttled, wrong-code and refused-provider lines and extract the client's address from each."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from booking.config import load_settings
from booking.db import Database
from booking.domain import two_factor
from booking.domain.context import Context
from booking.lib import totp
from tests import factories
from tests.factories import PASSWORD
from tests.live import ROOT, free_port, live_server
from tests.web.html import parse

FILTER = ROOT / "deploy" / "fail2ban" / "filter.d" / "booking.conf"
JAIL = ROOT / "deploy" / "fail2ban" / "jail.d" / "booking.local"

pytestmark = pytest.mark.skipif(
    shutil.which("fail2ban-regex") is None,
    reason="fail2ban-regex is missing (Debian package fail2ban; CI installs it)",
)


def _login(client: httpx.Client, email: str, password: str, client_ip: str) -> int:
    # nginx sets X-Forwarded-For; the server trusts it from 127.0.0.1 (--forwarded-allow-ips)
    response = client.post(
        "/api/auth/login",
        json={"email": email, "password": password},
        headers={"X-Forwarded-For": client_ip},
    )
    return response.status_code


def _fail2ban_regex(log: Path, *options: str) -> str:
    result = subprocess.run(
        ["fail2ban-regex", *options, str(log), str(FILTER)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_the_filter_matches_exactly_the_failed_logins(tmp_path: Path, log_format: str) -> None:
    url = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    with live_server(url, tmp_path, {"BOOKING_LOG_FORMAT": log_format}) as server:
        settings = load_settings(server.booking_env)
        ctx = Context(db=Database(url), settings=settings)
        try:
            factories.make_user(ctx, "member@example.com")
            factories.make_user(ctx, "waiting@example.com", approved=False)
        finally:
            ctx.db.dispose()
        expected: list[str] = []
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            for _ in range(5):  # the account limit (BOOKING_THROTTLE_LOGIN_ACCOUNT=5)
                assert _login(client, "member@example.com", "wrong-1", "203.0.113.7") == 400
                expected.append("203.0.113.7")
            assert _login(client, "member@example.com", PASSWORD, "203.0.113.8") == 429
            expected.append("203.0.113.8")  # throttled
            assert _login(client, "ghost@example.com", "wrong-2", "2001:db8::5") == 400
            expected.append("2001:db8::5")
            forged = 'x" address=192.0.2.66 reason=throttled user="\n'
            assert _login(client, forged, "wrong-3", "198.51.100.4") == 400
            expected.append("198.51.100.4")
            # the password is right: logged, but not a failure for fail2ban
            assert _login(client, "waiting@example.com", PASSWORD, "198.51.100.5") == 400
            assert _login(client, "ghost@example.com", "", "198.51.100.6") == 400  # no attempt
        log_text = server.log()
    log = tmp_path / "app.log"
    log.write_text(log_text, encoding="utf-8")
    security = [line for line in log_text.splitlines() if "login failed:" in line]
    assert len(security) == len(expected) + 1, log_text  # + the unapproved one
    assert "wrong-1" not in log_text and PASSWORD not in log_text

    summary = _fail2ban_regex(log)
    assert f"{len(expected)} matched" in summary, summary
    hosts = _fail2ban_regex(log, "--out", "ip").split()
    assert hosts == expected
    assert "192.0.2.66" not in hosts


def _csrf(client: httpx.Client, path: str, client_ip: str) -> str:
    page = client.get(path, headers={"X-Forwarded-For": client_ip})
    assert page.status_code == 200, page.text
    token = parse(page.text).find("input", name="csrf_token")
    assert token is not None, page.text
    return token["value"]


def _web_second_step(client: httpx.Client, email: str, code: str, client_ip: str) -> int:
    """Password on /login, then ``code`` on /login/two-factor, as a browser behind nginx."""
    headers = {"X-Forwarded-For": client_ip}
    form = {"csrf_token": _csrf(client, "/login", client_ip), "email": email}
    answer = client.post("/login", data={**form, "password": PASSWORD}, headers=headers)
    assert answer.status_code == 303 and answer.headers["location"] == "/login/two-factor"
    token = _csrf(client, "/login/two-factor", client_ip)
    form = {"csrf_token": token, "code": code}
    return client.post("/login/two-factor", data=form, headers=headers).status_code


def test_the_filter_matches_wrong_second_steps_and_refused_provider_logins(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    nobody = f"http://127.0.0.1:{free_port()}"  # the callbacks below never reach the provider
    env = {
        "BOOKING_LOG_FORMAT": "json",
        "BOOKING_OIDC_ISSUER": nobody,
        "BOOKING_OIDC_CLIENT_ID": "booking-test",
        "BOOKING_OIDC_CLIENT_SECRET": "booking-test-secret",
    }
    with live_server(url, tmp_path, env) as server:
        ctx = Context(db=Database(url), settings=load_settings(server.booking_env))
        try:
            user = factories.make_user(ctx, "twofa@example.com")
            secret = two_factor.begin_setup(ctx, user)
            used = totp.code_at(secret, totp.now_step())
            two_factor.confirm_setup(ctx, user, used)
        finally:
            ctx.db.dispose()
        # none of the codes of the window, even if the clock moves on during the test
        window = {totp.code_at(secret, totp.now_step() + n) for n in range(-2, 4)}
        wrong = next(
            code for code in ("000000", "111111", "222222", "333333") if code not in window
        )
        expected: list[str] = []
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            api = {"email": user.email, "password": PASSWORD}
            for code, client_ip in ((wrong, "203.0.113.21"), (used, "203.0.113.22")):  # replayed
                answer = client.post(
                    "/api/auth/login",
                    json={**api, "totpCode": code},
                    headers={"X-Forwarded-For": client_ip},
                )
                assert answer.status_code == 401, answer.text
                expected.append(client_ip)
            # the right password without a code is no failure
            no_code = client.post("/api/auth/login", json=api)
            assert no_code.status_code == 401 and "required" in no_code.text
        with httpx.Client(base_url=server.base_url, timeout=30) as browser:
            assert _web_second_step(browser, user.email, wrong, "2001:db8::21") == 400
            expected.append("2001:db8::21")
        with httpx.Client(base_url=server.base_url, timeout=30) as browser:
            callbacks = ("?state=forged&code=stolen", "?error=access_denied")  # no flow cookie
            for query, client_ip in zip(callbacks, ("198.51.100.21", "198.51.100.22"), strict=True):
                answer = browser.get(
                    "/login/oidc/callback" + query, headers={"X-Forwarded-For": client_ip}
                )
                assert answer.status_code == 400, answer.text
                expected.append(client_ip)
        log_text = server.log()
    log = tmp_path / "app.log"
    log.write_text(log_text, encoding="utf-8")
    security = [line for line in log_text.splitlines() if "login failed:" in line]
    assert len(security) == len(expected), log_text
    reasons = [line.split("reason=")[1].split()[0] for line in security]
    assert reasons == ["invalid_two_factor_code"] * 3 + ["oidc_refused"] * 2
    assert f"{len(expected)} matched" in _fail2ban_regex(log)
    assert _fail2ban_regex(log, "--out", "ip").split() == expected


def test_the_jail_uses_the_filter() -> None:
    jail = JAIL.read_text(encoding="utf-8")
    assert "filter   = booking" in jail and "[booking]" in jail
    assert "backend  = systemd" in jail and "logpath" in jail
