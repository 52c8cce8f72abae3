"""The failed-login line (docs/security.md) of provider logins, against the real provider of
tests/test_oidc.py: refused logins name the address the ID token carried and a reason fail2ban
counts (``oidc_refused``) or, as for password logins, does not (``unapproved``)."""

from __future__ import annotations

import logging
import uuid

import pytest

from booking.domain import oidc
from tests.factories import make_user
from tests.test_oidc import (  # noqa: F401 - the fixtures: a provider process and its settings
    person,
    provider,
    settings,
    sign_in,
)

ADDRESS = "testclient"  # TestClient's client address


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "booking.security"]


def test_a_deactivated_account_writes_oidc_refused(client, ctx, provider, caplog):  # noqa: F811
    caplog.set_level(logging.WARNING, logger="booking.security")
    gone = make_user(ctx, f"weg-{uuid.uuid4().hex[:6]}@example.com", active=False)
    answer = sign_in(client, provider, person(provider, email=gone.email, email_verified=True))
    assert answer.status_code == 400
    assert lines(caplog) == [
        f'login failed: address={ADDRESS} reason=oidc_refused user="{gone.email}"'
    ]


def test_an_unconfirmed_address_for_an_existing_account_writes_oidc_refused(
    client,
    ctx,
    provider,  # noqa: F811
    caplog,
):
    caplog.set_level(logging.WARNING, logger="booking.security")
    owner = make_user(ctx, f"alt-{uuid.uuid4().hex[:6]}@example.com")
    answer = sign_in(client, provider, person(provider, email=owner.email, email_verified=False))
    assert answer.status_code == 400
    assert lines(caplog) == [
        f'login failed: address={ADDRESS} reason=oidc_refused user="{owner.email}"'
    ]


def test_an_account_waiting_for_approval_writes_unapproved(client, ctx, provider, caplog):  # noqa: F811
    caplog.set_level(logging.WARNING, logger="booking.security")
    waiting = make_user(ctx, f"wartet-{uuid.uuid4().hex[:6]}@example.com", approved=False)
    answer = sign_in(client, provider, person(provider, email=waiting.email, email_verified=True))
    assert answer.status_code == 400
    assert lines(caplog) == [
        f'login failed: address={ADDRESS} reason=unapproved user="{waiting.email}"'
    ]


def test_a_new_account_and_a_successful_login_write_no_line(client, ctx, provider, caplog):  # noqa: F811
    caplog.set_level(logging.WARNING, logger="booking.security")
    email = f"neu-{uuid.uuid4().hex[:6]}@example.com"
    answer = sign_in(client, provider, person(provider, email=email, email_verified=True))
    assert answer.status_code == 303  # "your account waits for approval"
    member = make_user(ctx, f"da-{uuid.uuid4().hex[:6]}@example.com")
    answer = sign_in(client, provider, person(provider, email=member.email, email_verified=True))
    assert answer.status_code == 303
    assert lines(caplog) == []


def test_a_denied_consent_and_a_forged_callback_write_oidc_refused(client, provider, caplog):  # noqa: F811
    caplog.set_level(logging.WARNING, logger="booking.security")
    assert sign_in(client, provider, None).status_code == 400  # "Deny" at the provider
    assert client.get("/login/oidc/callback?state=x&code=y").status_code == 400
    assert lines(caplog) == [f'login failed: address={ADDRESS} reason=oidc_refused user=""'] * 2


def test_only_an_unreachable_provider_is_not_the_clients_doing():
    unreachable = oidc.OidcFailed(oidc.UNAVAILABLE, "http://... unreachable")
    assert oidc._log_reason(unreachable) == "oidc_unavailable"
    assert oidc._log_reason(oidc.OidcFailed(oidc.FAILED, "invalid ID token")) == "oidc_refused"
    assert oidc._log_reason(oidc.OidcFailed(oidc.EXPIRED, "no valid flow cookie")) == (
        "oidc_refused"
    )
