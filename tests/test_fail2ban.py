"""The failed-login line and the shipped fail2ban filter (deploy/fail2ban/filter.d/booking.conf):
a real server process (``booking serve``) writes its log to a file, we make it refuse logins
(wrong passwords, the app's own throttling, an unapproved account, a crafted e-mail address, a
client behind the proxy) and run ``fail2ban-regex`` on that file. The filter must match exactly
the wrong-password and throttled lines and extract the client's address from each."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from booking.config import load_settings
from booking.db import Database
from booking.domain.context import Context
from tests import factories
from tests.factories import PASSWORD
from tests.live import ROOT, live_server

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


def test_the_jail_uses_the_filter() -> None:
    jail = JAIL.read_text(encoding="utf-8")
    assert "filter   = booking" in jail and "[booking]" in jail
    assert "backend  = systemd" in jail and "logpath" in jail
