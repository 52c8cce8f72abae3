"""Login with an OpenID Connect provider, driven end to end against a real provider process
(PyPI ``oidc-provider-mock``): our redirect, the provider's authorize form submitted with a
``sub``, our callback, the session. Its ``PUT /users/<sub>`` sets the claims a login carries."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlparse, urlunparse

import httpx
import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from booking.app import create_app
from booking.config import ConfigError
from booking.db.models import AuditEvent, OidcIdentity, User
from booking.domain import oidc, users
from booking.domain.context import Context
from booking.domain.errors import AuthFailed
from tests.conftest import make_settings
from tests.factories import PASSWORD, make_user
from tests.live import free_port
from tests.mails import mails
from tests.web.html import parse

CLIENT_ID = "booking-test"
CLIENT_SECRET = "booking-test-secret"  # the mock accepts any secret for an unregistered client
SITE = "http://testserver"
START_TIMEOUT = 40.0


# --- the provider -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real provider process on a free port, for the tests of this module (one per worker)."""
    command = Path(sys.executable).parent / "oidc-provider-mock"
    log_path = tmp_path_factory.mktemp("oidc") / "provider.log"
    for _ in range(3):  # another process may take the free port before the provider binds it
        port = free_port()
        issuer = f"http://127.0.0.1:{port}"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(command), "-H", "127.0.0.1", "-p", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if _wait_for_discovery(process, issuer):
            break
        process.kill()
        process.wait()
    else:
        pytest.fail("oidc-provider-mock did not start:\n" + log_path.read_text(errors="replace"))
    yield issuer
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    oidc.forget_providers()


def _wait_for_discovery(process: subprocess.Popen[bytes], issuer: str) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            answer = httpx.get(issuer + "/.well-known/openid-configuration", timeout=1.0)
            if answer.status_code == 200 and answer.json()["issuer"] == issuer:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


@pytest.fixture
def settings(tmp_path, database_url, provider):
    """The conftest settings plus the provider (replaces conftest's ``settings``)."""
    return make_settings(
        tmp_path,
        database_url=database_url,
        oidc_issuer=provider,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        oidc_name="Testanbieter",
    )


def person(provider: str, **claims: object) -> str:
    """A new subject at the provider with these claims; returns its ``sub``."""
    sub = f"user-{uuid.uuid4().hex[:10]}"
    set_claims(provider, sub, **claims)
    return sub


def set_claims(provider: str, sub: str, **claims: object) -> None:
    answer = httpx.put(f"{provider}/users/{sub}", json=claims, timeout=10)
    assert answer.status_code == 204, answer.text


# --- driving the flow -----------------------------------------------------------------------------


def to_provider(client: TestClient, provider: str, next_path: str = "/bookings") -> str:
    """Press the button: our redirect to the provider's authorization URL."""
    answer = client.get(f"/login/oidc?next={quote(next_path)}", follow_redirects=False)
    assert answer.status_code == 303, answer.text[:300]
    location = answer.headers["location"]
    assert location.startswith(provider + "/oauth2/authorize?")
    query = parse_qs(urlparse(location).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == [SITE + "/login/oidc/callback"]
    assert query["state"][0] and query["nonce"][0] and query["client_id"] == [CLIENT_ID]
    return location


def at_provider(authorize_url: str, sub: str | None) -> str:
    """Submit the provider's authorize form (``None``: press Deny); returns our callback path."""
    with httpx.Client(timeout=10) as http:
        form = http.get(authorize_url)
        assert form.status_code == 200 and 'name="sub"' in form.text, form.text[:300]
        data = {"sub": sub} if sub is not None else {"action": "deny"}
        answer = http.post(authorize_url, data=data, follow_redirects=False)
    assert answer.status_code == 302, answer.text[:300]
    back = answer.headers["location"]
    assert back.startswith(SITE + "/login/oidc/callback?"), back
    return back[len(SITE) :]


def sign_in(client: TestClient, provider: str, sub: str | None, next_path: str = "/bookings"):
    """The whole flow; returns our callback's response (not followed)."""
    callback = at_provider(to_provider(client, provider, next_path), sub)
    return client.get(callback, follow_redirects=False)


def logged_in_as(client: TestClient) -> str | None:
    """The e-mail address the profile page shows, or None when not logged in."""
    answer = client.get("/profile", follow_redirects=False)
    if answer.status_code != 200:
        return None
    return parse(answer.text).find("p", class_="lead").text.strip()


def form_error(answer: httpx.Response) -> str:
    alert = parse(answer.text).find("div", class_="alert-error")
    assert alert is not None, answer.text[:500]
    return alert.text.strip()


def flash_text(client: TestClient, answer: httpx.Response) -> str:
    assert answer.status_code == 303, answer.text[:300]
    page = client.get(answer.headers["location"])
    return parse(page.text).find("div", class_="flash").text.strip()


def count(ctx: Context, model: type, *where: object) -> int:
    with ctx.db.read() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def user_by_email(ctx: Context, email: str) -> User | None:
    with ctx.db.read() as session:
        return session.scalar(select(User).where(User.email == email))


def events(ctx: Context, event: str) -> list[AuditEvent]:
    with ctx.db.read() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.event == event)))


# --- new people -----------------------------------------------------------------------------------


def test_a_new_person_gets_an_account_that_waits_for_approval(client, ctx, provider, alice):
    email = f"neu-{uuid.uuid4().hex[:6]}@example.com"
    sub = person(
        provider, email=email, email_verified=True, given_name="Nora", family_name="Neumann"
    )

    answer = sign_in(client, provider, sub)

    assert "wartet noch auf die Freigabe" in flash_text(client, answer)
    assert logged_in_as(client) is None
    user = user_by_email(ctx, email)
    assert user is not None
    assert (user.first_name, user.last_name) == ("Nora", "Neumann")
    assert user.email_verified and not user.is_approved_for_booking
    assert user.password_hash.startswith(oidc.NO_PASSWORD_PREFIX)
    with pytest.raises(AuthFailed):  # no password matches the stored marker
        users.authenticate(ctx, email, oidc.NO_PASSWORD_PREFIX)
    assert count(ctx, OidcIdentity, OidcIdentity.user_id == user.id) == 1
    # the administrators hear of it exactly as after a registration with password
    admin_mail = mails(ctx, alice.email)
    assert len(admin_mail) == 1 and email in admin_mail[0].text
    assert mails(ctx, email) == []  # verified by the provider: no verification mail
    assert [e.subject for e in events(ctx, "oidc_registered")] == [email]

    users.approve(ctx, alice, user.id)
    answer = sign_in(client, provider, sub)
    assert answer.status_code == 303 and answer.headers["location"] == "/bookings"
    assert logged_in_as(client) == email


def test_a_new_person_with_an_unverified_address_gets_our_verification_mail(
    client, ctx, provider, alice
):
    email = f"unbestaetigt-{uuid.uuid4().hex[:6]}@example.com"
    sub = person(provider, email=email, email_verified=False, name="Uwe van Ungeprüft")

    answer = sign_in(client, provider, sub)

    assert "bestätigen Sie Ihre E-Mail-Adresse" in flash_text(client, answer)
    user = user_by_email(ctx, email)
    assert user is not None and not user.email_verified
    assert (user.first_name, user.last_name) == ("Uwe van", "Ungeprüft")
    assert len(mails(ctx, email)) == 1 and "/verify-email?token=" in mails(ctx, email)[0].text
    assert len(mails(ctx, alice.email)) == 1
    # signing in again before verifying says so, and does not create anything
    answer = sign_in(client, provider, sub)
    assert answer.status_code == 400
    assert form_error(answer) == users.NOT_VERIFIED
    assert count(ctx, User, User.email == email) == 1


def test_a_person_without_an_address_is_refused(client, ctx, provider):
    sub = person(provider, name="Ohne Adresse")
    before = count(ctx, User)
    answer = sign_in(client, provider, sub)
    assert answer.status_code == 400 and form_error(answer) == oidc.NO_EMAIL
    assert count(ctx, User) == before


# --- known people and existing accounts -----------------------------------------------------------


def test_a_second_login_binds_by_issuer_and_subject_even_after_an_address_change(
    client, ctx, provider, alice
):
    email = f"erst-{uuid.uuid4().hex[:6]}@example.com"
    sub = person(provider, email=email, email_verified=True, name="Erna Erst")
    sign_in(client, provider, sub)
    user = user_by_email(ctx, email)
    assert user is not None
    users.approve(ctx, alice, user.id)
    other = f"spaeter-{uuid.uuid4().hex[:6]}@example.com"
    set_claims(provider, sub, email=other, email_verified=True, name="Erna Erst")

    answer = sign_in(client, provider, sub)

    assert answer.status_code == 303
    assert logged_in_as(client) == email
    assert user_by_email(ctx, other) is None
    with ctx.db.read() as session:
        identity = session.scalar(select(OidcIdentity).where(OidcIdentity.subject == sub))
    assert identity is not None and identity.user_id == user.id
    assert identity.issuer == provider and identity.email == email  # as at link time
    assert identity.last_login_at is not None


def test_an_existing_account_is_linked_when_the_provider_verified_the_address(
    client, ctx, provider, bob
):
    sub = person(provider, email=bob.email.upper(), email_verified=True, name="Bob Person")

    answer = sign_in(client, provider, sub, next_path="/profile")

    assert answer.status_code == 303 and answer.headers["location"] == "/profile"
    assert logged_in_as(client) == bob.email
    profile = client.get("/profile").text
    assert "Anmeldung über Anbieter" in profile and provider in profile
    assert count(ctx, OidcIdentity, OidcIdentity.user_id == bob.id) == 1
    assert [e.actor_id for e in events(ctx, "oidc_linked")] == [bob.id]
    logins = [json.loads(e.details) for e in events(ctx, "login")]
    assert {"method": "oidc"} in logins
    assert users.authenticate(ctx, bob.email, PASSWORD).id == bob.id  # the password still works


@pytest.mark.parametrize("verified", [False, None, "false"])
def test_an_existing_account_is_not_linked_when_the_address_is_not_verified(
    client, ctx, provider, bob, verified
):
    claims: dict[str, object] = {"email": bob.email, "name": "Mallory"}
    if verified is not None:
        claims["email_verified"] = verified
    sub = person(provider, **claims)
    users_before = count(ctx, User)

    answer = sign_in(client, provider, sub)

    assert answer.status_code == 400
    assert form_error(answer) == oidc.UNVERIFIED_EXISTING
    assert logged_in_as(client) is None
    assert count(ctx, OidcIdentity) == 0
    assert count(ctx, User) == users_before  # and no second account with bob's address
    failed = [json.loads(e.details) for e in events(ctx, "login_failed")]
    assert failed == [{"method": "oidc", "reason": "email not verified"}]


def test_linking_an_unproven_registration_takes_its_password_away(client, ctx, provider):
    """Someone registered the owner's address without proving it (a squatter knows that
    password); when the owner proves it through the provider, the password stops working."""
    squatted = make_user(
        ctx, f"besetzt-{uuid.uuid4().hex[:6]}@example.com", verified=False, approved=False
    )
    sub = person(provider, email=squatted.email, email_verified=True, name="Echte Person")

    answer = sign_in(client, provider, sub)

    assert answer.status_code == 400 and form_error(answer) == users.NOT_APPROVED
    user = user_by_email(ctx, squatted.email)
    assert user is not None and user.email_verified
    assert user.password_hash.startswith(oidc.NO_PASSWORD_PREFIX)
    with pytest.raises(AuthFailed):
        users.authenticate(ctx, squatted.email, PASSWORD)


def test_a_deactivated_account_cannot_log_in_through_the_provider(client, ctx, provider):
    gone = make_user(ctx, f"weg-{uuid.uuid4().hex[:6]}@example.com", active=False)
    sub = person(provider, email=gone.email, email_verified=True)
    answer = sign_in(client, provider, sub)
    assert answer.status_code == 400 and form_error(answer) == oidc.DISABLED
    assert count(ctx, OidcIdentity) == 0


# --- the protocol's defences ----------------------------------------------------------------------


def flow_cookie(client: TestClient) -> str:
    value = client.cookies.get("booking_oidc")
    assert value, "the redirect to the provider set no flow cookie"
    return value


def test_the_flow_cookie_is_http_only_and_limited_to_the_login_paths(client, provider):
    answer = client.get("/login/oidc", follow_redirects=False)
    header = answer.headers["set-cookie"].lower()
    assert "httponly" in header and "path=/login/oidc" in header and "samesite=lax" in header
    assert f"max-age={oidc.FLOW_SECONDS}" in header


@pytest.mark.parametrize("change", ["wrong", "missing"])
def test_a_callback_whose_state_does_not_match_is_refused(client, ctx, provider, bob, change):
    sub = person(provider, email=bob.email, email_verified=True)
    callback = urlparse(at_provider(to_provider(client, provider), sub))
    query = {k: v[0] for k, v in parse_qs(callback.query).items()}
    if change == "wrong":
        query["state"] = "x" + query["state"]
    else:
        del query["state"]

    answer = client.get(urlunparse(callback._replace(query=urlencode(query))))

    assert answer.status_code == 400 and form_error(answer) == oidc.EXPIRED
    assert logged_in_as(client) is None and count(ctx, OidcIdentity) == 0


def test_a_callback_in_another_browser_is_refused(client, ctx, provider, bob):
    """The flow cookie ties the callback to the browser that pressed the button (login CSRF)."""
    sub = person(provider, email=bob.email, email_verified=True)
    callback = at_provider(to_provider(client, provider), sub)
    with TestClient(client.app) as other:
        answer = other.get(callback)
        assert answer.status_code == 400 and form_error(answer) == oidc.EXPIRED
        assert logged_in_as(other) is None


def test_a_replayed_callback_is_refused(client, ctx, provider, bob, caplog):
    sub = person(provider, email=bob.email, email_verified=True)
    callback = at_provider(to_provider(client, provider), sub)
    cookie = flow_cookie(client)
    assert client.get(callback, follow_redirects=False).status_code == 303
    assert logged_in_as(client) == bob.email

    with TestClient(client.app) as attacker:  # with the URL and even the flow cookie
        attacker.cookies.set("booking_oidc", cookie, path="/login/oidc")
        with caplog.at_level(logging.INFO, logger="booking.web"):
            answer = attacker.get(callback)
        assert answer.status_code == 400 and form_error(answer) == oidc.FAILED
        assert "invalid_grant" in caplog.text  # the provider redeems a code only once
        assert logged_in_as(attacker) is None
    # the original browser's cookie was removed with the first callback
    answer = client.get(callback)
    assert answer.status_code == 400


def test_an_id_token_with_another_nonce_is_refused(client, ctx, provider, bob, caplog):
    sub = person(provider, email=bob.email, email_verified=True)
    callback = at_provider(to_provider(client, provider), sub)
    flow = oidc.unseal(ctx, flow_cookie(client))
    assert flow is not None
    client.cookies.set(
        "booking_oidc", oidc.seal(ctx, replace(flow, nonce="other-nonce")), path="/login/oidc"
    )

    with caplog.at_level(logging.INFO, logger="booking.web"):
        answer = client.get(callback)

    assert answer.status_code == 400 and form_error(answer) == oidc.FAILED
    assert "Invalid claim: 'nonce'" in caplog.text
    assert logged_in_as(client) is None and count(ctx, OidcIdentity) == 0


def test_a_forged_or_expired_flow_cookie_is_refused(client, ctx, provider, bob):
    sub = person(provider, email=bob.email, email_verified=True)
    callback = at_provider(to_provider(client, provider), sub)
    flow = oidc.unseal(ctx, flow_cookie(client))
    assert flow is not None
    payload, _, signature = flow_cookie(client).partition(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "==")) | {"next": "/admin"}
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    client.cookies.set("booking_oidc", f"{forged_payload}.{signature}", path="/login/oidc")
    assert form_error(client.get(callback)) == oidc.EXPIRED

    old = replace(flow, started=flow.started - oidc.FLOW_SECONDS - 1)
    client.cookies.set("booking_oidc", oidc.seal(ctx, old), path="/login/oidc")
    assert form_error(client.get(callback)) == oidc.EXPIRED
    assert logged_in_as(client) is None


def test_the_provider_s_error_answer_ends_on_the_login_page(client, ctx, provider):
    answer = sign_in(client, provider, None)  # "Deny" at the provider
    assert answer.status_code == 400 and form_error(answer) == oidc.CANCELLED
    assert client.cookies.get("booking_oidc") is None
    answer = client.get("/login/oidc/callback?error=server_error&state=x")
    assert answer.status_code == 400 and form_error(answer) == oidc.FAILED


@pytest.mark.parametrize(
    ("next_path", "landing"),
    [
        ("//evil.example/x", "/bookings"),
        ("https://evil.example/", "/bookings"),
        ("/\\evil.example", "/bookings"),
        ("/bookings/new?from=2027-01-01", "/bookings/new?from=2027-01-01"),
    ],
)
def test_next_can_only_lead_to_a_local_path(client, provider, bob, next_path, landing):
    sub = person(provider, email=bob.email, email_verified=True)
    answer = sign_in(client, provider, sub, next_path=next_path)
    assert answer.status_code == 303 and answer.headers["location"] == landing


def test_the_id_token_must_be_for_us_and_unaltered(ctx, provider, bob):
    """Below the web layer: a real token from the provider, checked with another client id
    (audience) and with a changed payload (signature)."""
    url, flow = oidc.start(ctx, "/bookings")
    sub = person(provider, email=bob.email, email_verified=True)
    code = parse_qs(urlparse(at_provider(url, sub)).query)["code"][0]
    found = oidc.provider(ctx.settings)
    tokens = oidc._exchange(ctx.settings, found, code, flow.verifier)
    claims = oidc.verify_id_token(ctx.settings, found, tokens, flow.nonce)
    assert claims["sub"] == sub and CLIENT_ID in claims["aud"]

    stranger = ctx.settings.model_copy(update={"oidc_client_id": "someone-else"})
    with pytest.raises(oidc.OidcFailed, match="aud"):
        oidc.verify_id_token(stranger, found, tokens, flow.nonce)
    header, payload, signature = tokens["id_token"].split(".")
    altered = json.loads(base64.urlsafe_b64decode(payload + "=="))
    altered["email"] = "alice@example.com"
    forged = base64.urlsafe_b64encode(json.dumps(altered).encode()).decode().rstrip("=")
    with pytest.raises(oidc.OidcFailed, match="invalid ID token"):
        oidc.verify_id_token(
            ctx.settings, found, {**tokens, "id_token": f"{header}.{forged}.{signature}"}, "n"
        )


# --- configuration and the login page --------------------------------------------------------------


def test_the_login_page_offers_the_provider_only_when_configured(client, tmp_path, database_url):
    page = parse(client.get("/login?next=/profile").text)
    button = page.find("a", href="/login/oidc?next=/profile")
    assert button is not None and button.text.strip() == "Mit Testanbieter anmelden"

    plain = make_settings(tmp_path / "plain", database_url=database_url)
    with TestClient(create_app(plain)) as other:
        assert "/login/oidc" not in other.get("/login").text
        assert other.get("/login/oidc").status_code == 404
        assert other.get("/login/oidc/callback?code=x&state=y").status_code == 404


def test_an_unreachable_provider_ends_on_the_login_page(tmp_path, database_url):
    down = make_settings(
        tmp_path,
        database_url=database_url,
        oidc_issuer=f"http://127.0.0.1:{free_port()}",
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
    )
    with TestClient(create_app(down)) as client:
        answer = client.get("/login/oidc")
    assert answer.status_code == 503 and form_error(answer) == oidc.UNAVAILABLE


def test_settings_need_id_and_secret_and_https_in_production(tmp_path):
    with pytest.raises(ConfigError, match="BOOKING_OIDC_CLIENT_ID"):
        make_settings(tmp_path, oidc_issuer="https://accounts.google.com")
    secret_file = tmp_path / "oidc-secret"
    secret_file.write_text("from-a-file\n")
    loaded = make_settings(
        tmp_path,
        oidc_issuer="https://accounts.google.com/",
        oidc_client_id="id",
        oidc_client_secret_file=str(secret_file),
    )
    assert loaded.oidc_issuer == "https://accounts.google.com"
    assert loaded.oidc_client_secret.get_secret_value() == "from-a-file"
    production = {
        "env": "production",
        "throttle_enabled": "true",
        "secret_key": "p" + uuid.uuid4().hex + uuid.uuid4().hex,
        "oidc_client_id": "id",
        "oidc_client_secret": "s",
    }
    with pytest.raises(ConfigError, match="https"):
        make_settings(tmp_path, oidc_issuer="http://idp.example", **production)
    with pytest.raises(ConfigError, match="openid"):
        make_settings(tmp_path, oidc_scopes="email profile")
