"""Two-factor authentication (booking/lib/totp.py, booking/domain/two_factor.py): the RFC 6238
vectors, pyotp agreeing, the ±1 step window, a code accepted once only (also by two requests at
the same moment), recovery codes, disabling, the administrator's reset, the audit log, the
throttle on code guessing and the API login with ``totpCode``."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from booking.app import create_app
from booking.config import load_settings
from booking.db import Database
from booking.db.models import AuditEvent, RecoveryCode, TwoFactor, User
from booking.domain import audit, two_factor
from booking.domain.context import Context
from booking.domain.errors import AuthFailed, Forbidden, NotFound, Throttled
from booking.lib import totp
from tests import factories
from tests.conftest import make_settings
from tests.factories import PASSWORD

# RFC 6238 appendix B, SHA-1 column: the ASCII key "12345678901234567890", 8 digits.
RFC_KEY = b"12345678901234567890"
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


class Steps:
    """A fixed TOTP clock (the current 30-second step), moved by hand."""

    def __init__(self) -> None:
        self.step = totp.now_step()

    def __call__(self) -> int:
        return self.step


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> Steps:
    clock = Steps()
    monkeypatch.setattr(totp, "now_step", clock)
    return clock


def enable(ctx: Context, user: User, steps: Steps) -> tuple[str, list[str]]:
    """Set up 2FA for ``user`` through the domain; returns the secret and the recovery codes.
    The clock moves on by one step, so the next code is a fresh one."""
    secret = two_factor.begin_setup(ctx, user)
    codes = two_factor.confirm_setup(ctx, user, totp.code_at(secret, steps.step))
    steps.step += 1
    return secret, codes


def wrong(secret: str, step: int) -> str:
    """A six-digit code that is none of the window's."""
    valid = {totp.code_at(secret, step + offset) for offset in (-1, 0, 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)


def events(ctx: Context, event: str) -> list[AuditEvent]:
    with ctx.db.read() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.event == event)))


# --- lib ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("unix_time", "expected"), RFC_VECTORS)
def test_it_matches_the_rfc_6238_vectors(unix_time, expected):
    assert totp.hotp(RFC_KEY, totp.step_at(unix_time), digits=8) == expected


def test_it_matches_the_rfc_4226_hotp_vectors():
    expected = ["755224", "287082", "359152", "969429", "338314"]
    assert [totp.hotp(RFC_KEY, counter) for counter in range(5)] == expected


def test_it_agrees_with_pyotp():
    secret = totp.new_secret()
    reference = pyotp.TOTP(secret)
    for unix_time in (0, 59, 1_700_000_000, 1_700_000_029, 1_700_000_030, 4_000_000_000):
        assert totp.code_at(secret, totp.step_at(unix_time)) == reference.at(unix_time)


def test_secrets_are_160_bit_base32():
    secret = totp.new_secret()
    assert len(secret) == 32 and set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert len(totp._key(secret)) == 20
    assert secret != totp.new_secret()


def test_the_uri_is_understood_by_pyotp():
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, "alice@example.com", "Booking")
    parsed = pyotp.parse_uri(uri)
    assert parsed.secret == secret
    assert parsed.name == "alice@example.com" and parsed.issuer == "Booking"
    assert parsed.now() == totp.code_at(secret, totp.now_step())


def test_it_accepts_one_step_either_side_and_no_more():
    secret, now = totp.new_secret(), 1_000_000
    for offset in (-1, 0, 1):
        assert totp.matching_step(secret, totp.code_at(secret, now + offset), now) == now + offset
    for offset in (-2, 2):
        assert totp.matching_step(secret, totp.code_at(secret, now + offset), now) is None
    assert totp.matching_step(secret, "12345", now) is None
    assert totp.matching_step(secret, "abcdef", now) is None


def test_grouping_is_only_for_reading():
    assert totp.group("JBSWY3DPEHPK3PXP") == "JBSW Y3DP EHPK 3PXP"
    assert totp._key("jbsw y3dp ehpk 3pxp") == totp._key("JBSWY3DPEHPK3PXP")


# --- setup ----------------------------------------------------------------------------------


def test_setup_needs_a_code_and_stores_the_secret_encrypted(ctx, bob, steps):
    secret = two_factor.begin_setup(ctx, bob)
    assert two_factor.begin_setup(ctx, bob) == secret  # a reload shows the same QR code
    assert not two_factor.is_enabled(ctx, bob.id)
    with pytest.raises(two_factor.InvalidCode):
        two_factor.confirm_setup(ctx, bob, wrong(secret, steps.step))
    codes = two_factor.confirm_setup(ctx, bob, totp.code_at(secret, steps.step))
    assert two_factor.is_enabled(ctx, bob.id)
    assert len(codes) == 10 and len(set(codes)) == 10
    with ctx.db.read() as session:
        row = session.get(TwoFactor, bob.id)
        assert row is not None and secret not in row.secret_encrypted
        hashes = set(session.scalars(select(RecoveryCode.code_hash)))
    assert not any(code in hashes for code in codes)  # only hashes are stored
    assert len(hashes) == 10
    with pytest.raises(AuthFailed):
        two_factor.begin_setup(ctx, bob)
    assert [event.actor_id for event in events(ctx, audit.TWO_FACTOR_ENABLED)] == [bob.id]
    assert events(ctx, audit.TWO_FACTOR_FAILED)[0].actor_id == bob.id


def test_the_secret_cannot_be_read_with_another_secret_key(ctx, bob, steps, tmp_path):
    enable(ctx, bob, steps)
    other = make_settings(
        tmp_path, database_url=ctx.settings.database_url, secret_key="another-" + "k3y" * 12
    )
    with pytest.raises(AuthFailed, match="Administrator"):
        two_factor.verify(Context(db=ctx.db, settings=other), bob, "123456")


# --- verifying ------------------------------------------------------------------------------


def test_a_code_is_accepted_once_only(ctx, bob, steps):
    secret, _ = enable(ctx, bob, steps)
    code = totp.code_at(secret, steps.step)
    two_factor.verify(ctx, bob, code)
    with pytest.raises(two_factor.InvalidCode):
        two_factor.verify(ctx, bob, code)  # TOTP replay
    with pytest.raises(two_factor.InvalidCode):  # nor an older code of the window
        two_factor.verify(ctx, bob, totp.code_at(secret, steps.step - 1))
    steps.step += 1
    two_factor.verify(ctx, bob, totp.code_at(secret, steps.step))


def test_the_code_of_the_next_step_is_accepted_for_a_fast_clock(ctx, bob, steps):
    secret, _ = enable(ctx, bob, steps)
    two_factor.verify(ctx, bob, totp.code_at(secret, steps.step + 1))
    with pytest.raises(two_factor.InvalidCode):  # the current one is older now
        two_factor.verify(ctx, bob, totp.code_at(secret, steps.step))


def test_codes_outside_the_window_are_refused(ctx, bob, steps):
    secret, _ = enable(ctx, bob, steps)
    for offset in (-3, 2, 5):
        with pytest.raises(two_factor.InvalidCode):
            two_factor.verify(ctx, bob, totp.code_at(secret, steps.step + offset))


def test_two_requests_with_the_same_code_at_once_succeed_once(ctx, bob, steps):
    secret, _ = enable(ctx, bob, steps)
    code = totp.code_at(secret, steps.step)
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def use() -> None:
        start.wait()
        try:
            two_factor.verify(ctx, bob, code)
            outcomes.append("ok")
        except two_factor.InvalidCode:
            outcomes.append("refused")

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok", "refused", "refused", "refused"]


def test_a_recovery_code_works_once(ctx, bob, steps):
    _, codes = enable(ctx, bob, steps)
    two_factor.verify(ctx, bob, codes[3].upper().replace("-", " "))  # typed sloppily
    with pytest.raises(two_factor.InvalidCode):
        two_factor.verify(ctx, bob, codes[3])
    assert two_factor.remaining_recovery_codes(ctx, bob.id) == 9
    used = events(ctx, audit.RECOVERY_CODE_USED)
    assert len(used) == 1 and json.loads(used[0].details) == {"remaining": 9}


def test_concurrent_use_of_one_recovery_code_succeeds_once(ctx, bob, steps):
    _, codes = enable(ctx, bob, steps)
    start = threading.Barrier(3)
    outcomes: list[bool] = []

    def use() -> None:
        start.wait()
        try:
            two_factor.verify(ctx, bob, codes[0])
            outcomes.append(True)
        except two_factor.InvalidCode:
            outcomes.append(False)

    threads = [threading.Thread(target=use) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [False, False, True]


def test_a_pending_login_works_once(ctx, bob, steps):
    secret, codes = enable(ctx, bob, steps)
    count = two_factor.login_count(ctx, bob.id)
    assert count is not None
    two_factor.verify(ctx, bob, totp.code_at(secret, steps.step), pending_login=count)
    steps.step += 1
    with pytest.raises(two_factor.InvalidCode):  # a fresh code, but the same pending login
        two_factor.verify(ctx, bob, totp.code_at(secret, steps.step), pending_login=count)
    with pytest.raises(two_factor.InvalidCode):
        two_factor.verify(ctx, bob, codes[0], pending_login=count)
    assert two_factor.remaining_recovery_codes(ctx, bob.id) == 10  # not used up by a refusal


def test_regenerating_replaces_the_codes(ctx, bob, steps):
    secret, old = enable(ctx, bob, steps)
    with pytest.raises(two_factor.InvalidCode):  # a recovery code does not count here
        two_factor.regenerate_recovery_codes(ctx, bob, old[0])
    new = two_factor.regenerate_recovery_codes(ctx, bob, totp.code_at(secret, steps.step))
    assert len(new) == 10 and not set(new) & set(old)
    with pytest.raises(two_factor.InvalidCode):
        two_factor.verify(ctx, bob, old[1])
    two_factor.verify(ctx, bob, new[1])
    assert len(events(ctx, audit.RECOVERY_CODES_REGENERATED)) == 1


def test_disabling_needs_the_password_and_a_code(ctx, bob, steps):
    secret, codes = enable(ctx, bob, steps)
    with pytest.raises(AuthFailed, match="Passwort"):
        two_factor.disable(ctx, bob, "wrong-password", totp.code_at(secret, steps.step))
    with pytest.raises(two_factor.InvalidCode):
        two_factor.disable(ctx, bob, PASSWORD, wrong(secret, steps.step))
    two_factor.disable(ctx, bob, PASSWORD, codes[0])
    assert not two_factor.is_enabled(ctx, bob.id)
    with ctx.db.read() as session:
        assert session.scalars(select(RecoveryCode)).all() == []
    assert [event.actor_id for event in events(ctx, audit.TWO_FACTOR_DISABLED)] == [bob.id]


def test_an_administrator_resets_a_members_two_factor(ctx, alice, bob, charlie, steps):
    enable(ctx, bob, steps)
    with pytest.raises(Forbidden):
        two_factor.admin_reset(ctx, charlie, bob.id)
    two_factor.admin_reset(ctx, alice, bob.id)
    assert not two_factor.is_enabled(ctx, bob.id)
    with pytest.raises(AuthFailed):
        two_factor.admin_reset(ctx, alice, bob.id)
    with pytest.raises(NotFound):
        two_factor.admin_reset(ctx, alice, 999_999)
    (event,) = events(ctx, audit.TWO_FACTOR_RESET)
    assert event.actor_id == alice.id and event.subject == bob.email
    assert json.loads(event.details) == {"userId": bob.id}


def test_admins_without_two_factor(ctx, alice, bob, steps):
    other = factories.make_user(ctx, "dora@example.com", admin=True, first_name="Dora")
    assert {user.id for user in two_factor.admins_without_two_factor(ctx)} == {alice.id, other.id}
    two_factor.begin_setup(ctx, alice)  # an unconfirmed setup does not count
    assert {user.id for user in two_factor.admins_without_two_factor(ctx)} == {alice.id, other.id}
    enable(ctx, other, steps)
    assert [user.id for user in two_factor.admins_without_two_factor(ctx)] == [alice.id]


def test_deleting_a_user_deletes_the_two_factor_rows(ctx, bob, steps):
    enable(ctx, bob, steps)
    with ctx.db.write() as session:
        session.delete(session.get(User, bob.id))
    with ctx.db.read() as session:
        assert session.get(TwoFactor, bob.id) is None
        assert session.scalars(select(RecoveryCode)).all() == []


# --- the setting ----------------------------------------------------------------------------


def test_the_admin_requirement_is_on_by_default_in_production_only(tmp_path):
    base = {"BOOKING_DATA_DIR": str(tmp_path), "BOOKING_SECRET_KEY": "k3y-" + "abcdefgh" * 5}
    assert not load_settings(base).admin_2fa_required
    production = {**base, "BOOKING_ENV": "production"}
    assert load_settings(production).admin_2fa_required
    assert not load_settings(
        {**production, "BOOKING_REQUIRE_ADMIN_2FA": "false"}
    ).admin_2fa_required
    assert load_settings({**base, "BOOKING_REQUIRE_ADMIN_2FA": "true"}).admin_2fa_required


# --- throttling and the API -----------------------------------------------------------------

LIMITS = {
    "throttle_enabled": "true",
    "throttle_login_account": "3",
    "throttle_login_address": "10",
    "throttle_base_delay": "60",
    "throttle_max_delay": "600",
}


@pytest.fixture
def tctx(tmp_path: Path, database_url: str) -> Iterator[Context]:
    settings = make_settings(tmp_path, database_url=database_url, **LIMITS)
    context = Context(db=Database(settings.effective_database_url), settings=settings)
    yield context
    context.db.dispose()


def test_code_guessing_is_throttled_and_a_correct_password_does_not_reset_it(tctx, steps):
    dora = factories.make_user(tctx, "dora@example.com")
    secret, _ = enable(tctx, dora, steps)
    for _ in range(3):
        with pytest.raises(two_factor.InvalidCode):
            two_factor.verify(tctx, dora, wrong(secret, steps.step), "203.0.113.5")
    from booking.domain import users

    users.authenticate(tctx, dora.email, PASSWORD, "203.0.113.5")  # the password is still fine
    with pytest.raises(Throttled) as refused:
        two_factor.verify(tctx, dora, totp.code_at(secret, steps.step), "203.0.113.5")
    assert 55 <= refused.value.retry_after <= 60
    assert len(events(tctx, audit.TWO_FACTOR_FAILED)) == 3


def test_api_login_with_totp_code(client, ctx, bob, steps):
    secret, codes = enable(ctx, bob, steps)
    body = {"email": bob.email, "password": PASSWORD}
    missing = client.post("/api/auth/login", json=body)
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["message"] == "Two-factor code required."
    bad = client.post("/api/auth/login", json={**body, "totpCode": wrong(secret, steps.step)})
    assert bad.status_code == 401 and bad.json()["message"] == "Invalid two-factor code."
    code = totp.code_at(secret, steps.step)
    good = client.post("/api/auth/login", json={**body, "totpCode": code})
    assert good.status_code == 200 and good.json()["token"]
    replay = client.post("/api/auth/login", json={**body, "totpCode": code})
    assert replay.status_code == 401 and replay.json()["message"] == "Invalid two-factor code."
    recovery = client.post("/api/auth/login", json={**body, "totpCode": codes[0]})
    assert recovery.status_code == 200
    wrong_password = client.post(
        "/api/auth/login", json={**body, "password": "nope-nope-nope", "totpCode": codes[1]}
    )
    assert wrong_password.status_code == 400  # the password is checked first, as before


def test_api_status(client, ctx, alice, bob, steps):
    before = client.get("/api/auth/two-factor", headers=factories.auth_headers(ctx, bob))
    assert before.json() == {"enabled": False, "recoveryCodesLeft": 0, "required": False}
    _, codes = enable(ctx, bob, steps)
    two_factor.verify(ctx, bob, codes[0])
    after = client.get("/api/auth/two-factor", headers=factories.auth_headers(ctx, bob))
    assert after.json() == {"enabled": True, "recoveryCodesLeft": 9, "required": False}
    assert client.get("/api/auth/two-factor").status_code == 401


def test_api_login_without_two_factor_is_unchanged(client, bob):
    response = client.post("/api/auth/login", json={"email": bob.email, "password": PASSWORD})
    assert response.status_code == 200
    assert set(response.json()) == {"token", "message", "user"}
    ignored = client.post(
        "/api/auth/login", json={"email": bob.email, "password": PASSWORD, "totpCode": "123456"}
    )
    assert ignored.status_code == 200


def test_api_code_guessing_gets_429_with_retry_after(tctx, steps):
    dora = factories.make_user(tctx, "dora@example.com")
    secret, _ = enable(tctx, dora, steps)
    body = {"email": dora.email, "password": PASSWORD, "totpCode": wrong(secret, steps.step)}
    with TestClient(create_app(tctx.settings, tctx), raise_server_exceptions=False) as api:
        statuses = [api.post("/api/auth/login", json=body).status_code for _ in range(3)]
        blocked = api.post(
            "/api/auth/login", json={**body, "totpCode": totp.code_at(secret, steps.step)}
        )
    assert statuses == [401, 401, 401]
    assert blocked.status_code == 429
    assert 55 <= int(blocked.headers["Retry-After"]) <= 60


def test_admin_api_calls_need_two_factor_when_required(tmp_path, database_url, steps):
    settings = make_settings(tmp_path, database_url=database_url, require_admin_2fa="true")
    context = Context(db=Database(settings.effective_database_url), settings=settings)
    alice = factories.make_user(context, "alice@example.com", admin=True)
    bob = factories.make_user(context, "bob@example.com")
    try:
        with TestClient(create_app(settings, context), raise_server_exceptions=False) as api:
            refused = api.get("/api/admin/users", headers=factories.auth_headers(context, alice))
            member = api.get("/api/auth/me", headers=factories.auth_headers(context, bob))
            enable(context, alice, steps)
            allowed = api.get("/api/admin/users", headers=factories.auth_headers(context, alice))
    finally:
        context.db.dispose()
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["message"].startswith("Two-factor authentication is required")
    assert member.status_code == 200
    assert allowed.status_code == 200
