"""Throttling (booking/domain/throttle.py, docs/security.md): limits at their boundaries,
Retry-After, growing delays, reset on success, per-address limits across accounts, persistence
across a restart, atomic counting under concurrency (both backends), the API's and the pages'
429, and the production guard for BOOKING_THROTTLE_ENABLED."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from booking.app import create_app
from booking.config import ConfigError, Settings, load_settings
from booking.db import Database
from booking.domain import throttle, users
from booking.domain.context import Context
from booking.domain.errors import AuthFailed, Throttled
from booking.lib.timeutil import utcnow
from tests import factories
from tests.conftest import make_settings
from tests.factories import PASSWORD
from tests.web.test_account_pages import get, submit

ADDRESS = "203.0.113.7"
OTHER_ADDRESS = "198.51.100.9"
WRONG = "wrong-password-123"
LIMITS = {
    "throttle_enabled": "true",
    "throttle_login_account": "5",
    "throttle_login_address": "12",
    "throttle_login_window": "900",
    "throttle_register_account": "2",
    "throttle_register_address": "3",
    "throttle_reset_account": "2",
    "throttle_reset_address": "3",
    "throttle_verify_account": "2",
    "throttle_verify_address": "3",
    "throttle_base_delay": "60",
    "throttle_max_delay": "600",
}


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(throttle, "utcnow", fake)
    return fake


@pytest.fixture
def tsettings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url=database_url, **LIMITS)


@pytest.fixture
def tctx(tsettings: Settings) -> Iterator[Context]:
    context = Context(db=Database(tsettings.effective_database_url), settings=tsettings)
    yield context
    context.db.dispose()


@pytest.fixture
def tclient(tctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(tctx.settings, tctx), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def dora(tctx: Context):  # type: ignore[no-untyped-def]
    return factories.make_user(tctx, "dora@example.com", first_name="Dora")


def fail_login(ctx: Context, email: str = "dora@example.com", address: str = ADDRESS) -> None:
    with pytest.raises(AuthFailed):
        users.authenticate(ctx, email, WRONG, address)


def refused(ctx: Context, email: str = "dora@example.com", address: str = ADDRESS) -> int:
    with pytest.raises(Throttled) as caught:
        users.authenticate(ctx, email, PASSWORD, address)
    return caught.value.retry_after


# --- the rules ------------------------------------------------------------------------------


def test_the_nth_failure_is_still_answered_and_then_the_account_is_blocked(tctx, dora, clock):
    for _ in range(4):  # N-1 failures: the next attempt is still allowed
        fail_login(tctx)
    assert users.authenticate(tctx, "dora@example.com", PASSWORD, ADDRESS).id == dora.id
    for _ in range(5):  # the success started a new series; N failures block
        fail_login(tctx)
    assert refused(tctx) == 60  # even the right password waits: Retry-After = base delay
    clock.advance(59)
    assert refused(tctx) == 1
    clock.advance(1)
    assert users.authenticate(tctx, "dora@example.com", PASSWORD, ADDRESS).id == dora.id


def test_the_delay_doubles_with_each_further_failure_up_to_the_maximum(tctx, dora, clock):
    for _ in range(5):
        fail_login(tctx)
    expected = [60, 120, 240, 480, 600, 600]
    for delay in expected:
        assert refused(tctx) == delay
        clock.advance(delay)
        fail_login(tctx)  # the block has ended: one more try, which fails again
    assert refused(tctx) == 600


def test_a_success_resets_the_account_but_not_the_address(tctx, dora, clock):
    for _ in range(4):
        fail_login(tctx)
    users.authenticate(tctx, "dora@example.com", PASSWORD, ADDRESS)
    assert throttle.state(tctx, throttle.account_key("login", "dora@example.com")) is None
    address_row = throttle.state(tctx, throttle.address_key("login", ADDRESS))
    assert address_row is not None and address_row.failures == 4


def test_a_series_ends_after_a_quiet_window(tctx, dora, clock):
    for _ in range(4):
        fail_login(tctx)
    clock.advance(900)
    for _ in range(4):
        fail_login(tctx)
    users.authenticate(tctx, "dora@example.com", PASSWORD, ADDRESS)  # not blocked
    for _ in range(5):
        fail_login(tctx)
    clock.advance(60 + 899)  # the window counts from the end of the block
    fail_login(tctx)
    assert refused(tctx) == 120


def test_unknown_accounts_count_like_known_ones(tctx, clock):
    for _ in range(5):
        fail_login(tctx, "nobody@example.com")
    assert refused(tctx, "nobody@example.com") == 60


def test_the_address_limit_spans_accounts(tctx, clock):
    for number in range(12):  # 12 failures, each on another account: no account limit is reached
        fail_login(tctx, f"user{number}@example.com")
    assert refused(tctx, "someone-else@example.com") == 60
    fail_login(tctx, "someone-else@example.com", OTHER_ADDRESS)  # another address still may try


def test_only_wrong_passwords_count(tctx, clock):
    factories.make_user(tctx, "new@example.com", approved=False)
    for _ in range(10):
        with pytest.raises(AuthFailed, match="Freigabe"):
            users.authenticate(tctx, "new@example.com", PASSWORD, ADDRESS)
    assert throttle.state(tctx, throttle.account_key("login", "new@example.com")) is None


def test_blocks_survive_a_restart(tsettings, tctx, dora, clock):
    for _ in range(5):
        fail_login(tctx)
    restarted = Context(db=Database(tsettings.effective_database_url), settings=tsettings)
    try:
        assert refused(restarted) == 60
    finally:
        restarted.db.dispose()


def test_throttling_can_be_switched_off_outside_production(ctx, bob):
    assert ctx.settings.throttle_enabled is False  # the suite's default (tests/conftest.py)
    for _ in range(30):
        with pytest.raises(AuthFailed):
            users.authenticate(ctx, bob.email, WRONG, ADDRESS)
    assert users.authenticate(ctx, bob.email, PASSWORD, ADDRESS).id == bob.id


def test_production_refuses_throttling_off():
    env = {
        "BOOKING_ENV": "production",
        "BOOKING_SECRET_KEY": "a-long-random-production-key-0123456789-xyz",
        "BOOKING_THROTTLE_ENABLED": "false",
    }
    with pytest.raises(ConfigError, match="BOOKING_THROTTLE_ENABLED=false is not allowed"):
        load_settings(env)
    del env["BOOKING_THROTTLE_ENABLED"]
    assert load_settings(env).throttle_enabled is True


# --- actions that count every attempt ------------------------------------------------------


def test_registration_is_limited_per_address_and_per_email(tctx, clock):
    users.register(tctx, "a1@example.com", "Ein-langes-Passwort-1", "A", "B", ADDRESS)
    with pytest.raises(AuthFailed):  # counts although it fails
        users.register(tctx, "a1@example.com", "Ein-langes-Passwort-1", "A", "B", OTHER_ADDRESS)
    with pytest.raises(Throttled):  # the e-mail address: 2 attempts
        users.register(tctx, "a1@example.com", "Ein-langes-Passwort-1", "A", "B", "192.0.2.1")
    users.register(tctx, "a2@example.com", "Ein-langes-Passwort-1", "A", "B", ADDRESS)
    users.register(tctx, "a3@example.com", "Ein-langes-Passwort-1", "A", "B", ADDRESS)
    with pytest.raises(Throttled) as caught:  # the client address: 3 attempts
        users.register(tctx, "a4@example.com", "Ein-langes-Passwort-1", "A", "B", ADDRESS)
    assert caught.value.retry_after == 60


def test_reset_requests_and_resends_are_limited(tctx, dora, clock):
    for _ in range(2):
        users.request_password_reset(tctx, "dora@example.com", ADDRESS)
    with pytest.raises(Throttled):
        users.request_password_reset(tctx, "dora@example.com", OTHER_ADDRESS)
    for _ in range(2):  # the same for unknown addresses: the answer reveals nothing
        users.resend_verification(tctx, "ghost@example.com", OTHER_ADDRESS)
    with pytest.raises(Throttled):
        users.resend_verification(tctx, "ghost@example.com", "192.0.2.1")


def test_invalid_links_count_per_address(tctx, clock):
    for _ in range(3):
        with pytest.raises(AuthFailed):
            users.verify_email(tctx, "no-such-token", ADDRESS)
    with pytest.raises(Throttled):
        users.verify_email(tctx, "no-such-token", ADDRESS)
    for _ in range(3):
        with pytest.raises(AuthFailed):
            users.reset_password(tctx, "no-such-token", "Ein-langes-Passwort-1", ADDRESS)
    with pytest.raises(Throttled):
        users.reset_password(tctx, "no-such-token", "Ein-langes-Passwort-1", ADDRESS)


# --- concurrency: no lost updates, no overshoot -------------------------------------------


def test_concurrent_failures_are_all_counted(tctx):
    key = throttle.address_key("login", ADDRESS)
    barrier = threading.Barrier(8)

    def fail(_: int) -> None:
        barrier.wait()
        for _ in range(5):
            throttle.record(tctx, "login", None, ADDRESS)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(fail, range(8)))
    row = throttle.state(tctx, key)
    assert row is not None and row.failures == 40


def test_concurrent_attempts_never_exceed_the_limit(tctx):
    barrier = threading.Barrier(10)

    def register_mail(number: int) -> str:
        barrier.wait()
        try:
            throttle.attempt(tctx, "register", f"x{number}@example.com", ADDRESS)
        except Throttled:
            return "refused"
        return "allowed"

    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(register_mail, range(10)))
    assert outcomes.count("allowed") == 3  # throttle_register_address
    assert outcomes.count("refused") == 7


# --- HTTP ------------------------------------------------------------------------------------


def test_the_api_answers_429_with_retry_after(tclient, dora, clock):
    body = {"email": "dora@example.com", "password": WRONG}
    for _ in range(5):
        assert tclient.post("/api/auth/login", json=body).status_code == 400
    response = tclient.post("/api/auth/login", json={**body, "password": PASSWORD})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "60"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "https://tools.ietf.org/html/rfc6585#section-4",
        "title": "Too Many Requests",
        "status": 429,
        "message": "Zu viele Versuche. Bitte warten Sie 60 Sekunden.",
        "retryAfter": 60,
    }


def test_api_mail_actions_answer_429(tclient, clock):
    for _ in range(2):
        response = tclient.post("/api/auth/forgot-password", json={"email": "x@example.com"})
        assert response.status_code == 200
    response = tclient.post("/api/auth/forgot-password", json={"email": "x@example.com"})
    assert response.status_code == 429 and response.headers["retry-after"] == "60"


def test_the_login_page_shows_the_wait_as_a_form_error(tclient, dora, clock):
    for _ in range(5):
        response = submit(
            tclient, "/login", "/login", {"email": "dora@example.com", "password": WRONG}
        )
        assert response.status_code == 400
    response = submit(
        tclient, "/login", "/login", {"email": "dora@example.com", "password": PASSWORD}
    )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "60"
    assert "Zu viele Versuche. Bitte warten Sie 60 Sekunden." in response.text
    assert "booking_session" not in response.headers.get("set-cookie", "")


def test_other_pages_answer_with_a_429_page(tclient, clock):
    for _ in range(2):
        response = submit(
            tclient, "/forgot-password", "/forgot-password", {"email": "x@example.com"}
        )
        assert response.status_code == 303
    response = submit(tclient, "/forgot-password", "/forgot-password", {"email": "x@example.com"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "60"
    assert "Zu viele Versuche" in response.text
    get(tclient, "/login")  # the rest of the site is unaffected


# --- the log line ----------------------------------------------------------------------------


def test_each_refused_login_writes_one_line(tctx, dora, clock, caplog):
    factories.make_user(tctx, "new@example.com", approved=False)
    caplog.set_level(logging.WARNING, logger="booking.security")
    for _ in range(5):
        fail_login(tctx)
    refused(tctx)
    with pytest.raises(AuthFailed):
        users.authenticate(tctx, "new@example.com", PASSWORD, OTHER_ADDRESS)
    lines = [r.getMessage() for r in caplog.records if r.name == "booking.security"]
    assert lines == [
        *[f'login failed: address={ADDRESS} reason=invalid_credentials user="dora@example.com"']
        * 5,
        f'login failed: address={ADDRESS} reason=throttled user="dora@example.com"',
        f'login failed: address={OTHER_ADDRESS} reason=unapproved user="new@example.com"',
    ]
    assert all(WRONG not in line and PASSWORD not in line for line in lines)


def test_typed_input_cannot_forge_a_line(tctx, clock, caplog):
    caplog.set_level(logging.WARNING, logger="booking.security")
    forged = 'x" address=192.0.2.66 reason=throttled\nlogin failed: address=192.0.2.66 user="'
    fail_login(tctx, forged)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "booking.security"]
    assert "\n" not in line
    assert line.startswith(f"login failed: address={ADDRESS} reason=invalid_credentials user=")
