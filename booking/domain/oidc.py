"""Login with an OpenID Connect provider: authorization code flow with state, nonce and PKCE.

The web layer calls ``start`` (where to send the browser, and a ``Flow`` it keeps in a signed
cookie) and ``complete`` (the provider's answer -> a User allowed to log in, or ``OidcFailed``
with a German message). Authlib and joserfc do the protocol and crypto parts: PKCE, the
authorization URL, the ID token's signature against the provider's JWKS and its claims (iss,
aud, exp, iat, nonce, azp, at_hash). They are imported inside the functions, so a server whose
users never press the button does not load them. HTTP goes through the standard library with
timeouts: the provider is asked for its discovery document (cached for an hour), its keys
(cached likewise, fetched again for an unknown key id) and the token.

Accounts bind to (issuer, subject), the pair a provider promises to keep stable. An identity
not seen before links to an existing account only when the provider says the e-mail address is
verified; otherwise anyone who can set an address at some provider could take over an account.
A new account waits for an administrator's approval like a registration with password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from booking.config import Settings
from booking.db.models import OidcIdentity, User
from booking.domain import audit, notifications, users
from booking.lib.timeutil import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from booking.domain.context import Context

log = logging.getLogger("booking.oidc")

CALLBACK_PATH = "/login/oidc/callback"
DISCOVERY_TTL = 3600.0  # seconds; providers rotate keys slowly and announce them in advance
HTTP_TIMEOUT = 10.0
MAX_RESPONSE_BYTES = 1024 * 1024
FLOW_SECONDS = 600  # from the button to the callback: enough to type a password and a code
LEEWAY = 120  # seconds of clock skew accepted on exp/iat, as Authlib's own clients do
# Stored as the password hash of accounts made through a provider: not an Argon2 hash, so no
# password ever matches it (passwords.verify_password returns False for invalid hashes).
NO_PASSWORD_PREFIX = "!oidc:"  # noqa: S105 - a marker, not a password

FAILED = "Die Anmeldung beim Anbieter ist fehlgeschlagen. Bitte versuchen Sie es erneut."
EXPIRED = (
    "Die Anmeldung beim Anbieter ist abgelaufen oder wurde in einem anderen Fenster begonnen. "
    "Bitte versuchen Sie es erneut."
)
CANCELLED = "Die Anmeldung beim Anbieter wurde abgebrochen."
UNAVAILABLE = "Der Anbieter ist zurzeit nicht erreichbar. Bitte versuchen Sie es später erneut."
NO_EMAIL = (
    "Der Anbieter hat keine E-Mail-Adresse übermittelt. Bitte erlauben Sie den Zugriff auf "
    "Ihre E-Mail-Adresse oder registrieren Sie sich mit Passwort."
)
UNVERIFIED_EXISTING = (
    "Zu dieser E-Mail-Adresse gibt es bereits ein Konto, aber der Anbieter hat die Adresse "
    "nicht bestätigt. Bitte melden Sie sich mit Ihrem Passwort an."
)
DISABLED = "Für dieses Konto ist keine Anmeldung möglich."
CREATED_PENDING = (
    "Ihr Konto wurde angelegt. Es wartet noch auf die Freigabe durch einen Administrator; Sie "
    "werden per E-Mail benachrichtigt, sobald Sie buchen können."
)
CREATED_VERIFY = (
    "Ihr Konto wurde angelegt. Bitte bestätigen Sie Ihre E-Mail-Adresse mit dem Link, den wir "
    "Ihnen geschickt haben; danach wartet es auf die Freigabe durch einen Administrator."
)


class OidcFailed(Exception):
    """The login did not happen. ``message`` (German) is for the person; ``reason`` (English,
    no secrets) is for the log. ``notice`` marks outcomes that are not errors (account made)."""

    def __init__(self, message: str, reason: str, *, notice: bool = False) -> None:
        super().__init__(reason)
        self.message = message
        self.reason = reason
        self.notice = notice
        self.email = ""  # the account's address, once the ID token named one


# Refusals whose password-login twin is not a failure for fail2ban: the provider authenticated
# the person, the account cannot log in yet.
_NOT_GUESSING = ("unverified", "unapproved")


def enabled(settings: Settings) -> bool:
    return bool(settings.oidc_issuer)


def redirect_uri(settings: Settings) -> str:
    return settings.site_url + CALLBACK_PATH


# --- the provider: discovery and keys -----------------------------------------------------------


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]
    client_secret_post: bool  # the provider does not take HTTP Basic at its token endpoint


_lock = threading.Lock()
_providers: dict[str, tuple[float, Provider]] = {}
_key_sets: dict[str, tuple[float, dict[str, Any]]] = {}


def _fetch_json(url: str, form: Mapping[str, str] | None = None, **headers: str) -> Any:
    """GET (or POST a form to) ``url`` and return the parsed JSON; OidcFailed on any trouble."""
    import urllib.error
    import urllib.request  # with http.client and ssl: loaded on the first provider login

    if not url.startswith(("https://", "http://")):
        raise OidcFailed(FAILED, f"refusing non-HTTP URL {url[:100]!r}")
    body = urlencode(form).encode() if form is not None else None
    headers_ = {"Accept": "application/json"}
    request = urllib.request.Request(url, data=body, headers=headers_)  # noqa: S310 - checked
    for name, value in headers.items():
        request.add_header(name.replace("_", "-"), value)
    try:
        # The scheme is checked above; the URL comes from the settings or the provider.
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310
            raw = response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        detail = exc.read(2000).decode("utf-8", "replace")
        raise OidcFailed(FAILED, f"{url} answered {exc.code}: {detail[:300]}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise OidcFailed(UNAVAILABLE, f"{url} unreachable: {exc}") from None
    if len(raw) > MAX_RESPONSE_BYTES:
        raise OidcFailed(FAILED, f"{url} answered more than {MAX_RESPONSE_BYTES} bytes")
    try:
        return json.loads(raw)
    except ValueError:
        raise OidcFailed(FAILED, f"{url} answered no JSON") from None


def provider(settings: Settings, *, refresh: bool = False) -> Provider:
    """The provider's discovery document, cached per issuer for DISCOVERY_TTL seconds."""
    issuer = settings.oidc_issuer
    now = time.monotonic()
    with _lock:
        cached = _providers.get(issuer)
    if cached and not refresh and now - cached[0] < DISCOVERY_TTL:
        return cached[1]
    document = _fetch_json(issuer + "/.well-known/openid-configuration")
    if not isinstance(document, dict):
        raise OidcFailed(FAILED, "discovery document is not an object")
    # OpenID Connect Discovery 4.3: the document must name the issuer it was fetched for.
    if str(document.get("issuer", "")).rstrip("/") != issuer:
        raise OidcFailed(FAILED, f"discovery names issuer {document.get('issuer')!r}")
    try:
        endpoints = [
            str(document[name]) for name in ("authorization_endpoint", "token_endpoint", "jwks_uri")
        ]
    except KeyError as exc:
        raise OidcFailed(FAILED, f"discovery document lacks {exc}") from None
    if issuer.startswith("https://") and not all(e.startswith("https://") for e in endpoints):
        raise OidcFailed(FAILED, "discovery document names plain-HTTP endpoints")
    algorithms = tuple(
        str(alg)
        for alg in document.get("id_token_signing_alg_values_supported") or ["RS256"]
        if alg != "none"
    )
    methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    found = Provider(
        issuer=str(document["issuer"]),
        authorization_endpoint=endpoints[0],
        token_endpoint=endpoints[1],
        jwks_uri=endpoints[2],
        algorithms=algorithms,
        client_secret_post="client_secret_basic" not in methods and "client_secret_post" in methods,
    )
    with _lock:
        _providers[issuer] = (now, found)
    return found


def _key_set(found: Provider, *, refresh: bool = False) -> Any:  # a JWKS object
    now = time.monotonic()
    with _lock:
        cached = _key_sets.get(found.jwks_uri)
    if cached and not refresh and now - cached[0] < DISCOVERY_TTL:
        return cached[1]
    keys = _fetch_json(found.jwks_uri)
    if not isinstance(keys, dict) or not isinstance(keys.get("keys"), list):
        raise OidcFailed(FAILED, "JWKS is not a key set")
    with _lock:
        _key_sets[found.jwks_uri] = (now, keys)
    return keys


def forget_providers() -> None:
    """Drop the cached discovery documents and keys (tests, or after changing the settings)."""
    with _lock:
        _providers.clear()
        _key_sets.clear()


# --- the flow between the button and the callback ----------------------------------------------


@dataclass(frozen=True)
class Flow:
    """What the callback must match: kept by the browser in a signed cookie, so several app
    processes need no shared store, and a flow works only in the browser that started it."""

    state: str
    nonce: str
    verifier: str  # PKCE code verifier; the provider saw only its SHA-256
    next: str
    started: int  # Unix time


def seal(ctx: Context, flow: Flow) -> str:
    # unpadded: "=" would make the cookie value a quoted string
    payload = base64.urlsafe_b64encode(json.dumps(asdict(flow)).encode()).decode().rstrip("=")
    signature = hmac.new(ctx.derived_key("oidc-flow"), payload.encode(), hashlib.sha256)
    return f"{payload}.{signature.hexdigest()}"


def unseal(ctx: Context, sealed: str) -> Flow | None:
    """The flow, or None when the value is missing, forged or older than FLOW_SECONDS."""
    payload, _, signature = sealed.partition(".")
    expected = hmac.new(ctx.derived_key("oidc-flow"), payload.encode(), hashlib.sha256)
    if not payload or not hmac.compare_digest(signature, expected.hexdigest()):
        return None
    try:
        flow = Flow(**json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
    except (ValueError, TypeError):
        return None
    if not 0 <= time.time() - flow.started <= FLOW_SECONDS:
        return None
    return flow


def start(ctx: Context, next_path: str) -> tuple[str, Flow]:
    """The provider's authorization URL for a new login, and the flow to keep until the
    callback. ``next_path`` must already be a safe local path."""
    from authlib.common.security import generate_token  # type: ignore[import-untyped]
    from authlib.oauth2.rfc6749.parameters import (  # type: ignore[import-untyped]
        prepare_grant_uri,
    )
    from authlib.oauth2.rfc7636 import (  # type: ignore[import-untyped]
        create_s256_code_challenge,
    )

    settings = ctx.settings
    found = provider(settings)
    flow = Flow(
        state=generate_token(32),
        nonce=generate_token(32),
        verifier=generate_token(64),  # RFC 7636: 43 to 128 characters
        next=next_path,
        started=int(time.time()),
    )
    url = prepare_grant_uri(
        found.authorization_endpoint,
        client_id=settings.oidc_client_id,
        response_type="code",
        redirect_uri=redirect_uri(settings),
        scope=settings.oidc_scopes,
        state=flow.state,
        nonce=flow.nonce,
        code_challenge=create_s256_code_challenge(flow.verifier),
        code_challenge_method="S256",
    )
    return url, flow


def complete(
    ctx: Context, flow: Flow | None, params: Mapping[str, str], address: str | None = None
) -> User:
    """Check the provider's answer against the flow, redeem the code, verify the ID token and
    find (or make) the account. Returns a user allowed to log in; raises OidcFailed.

    Every refusal except a new account's notice writes the failed-login line (fail2ban,
    docs/security.md): ``oidc_refused`` when the callback or the account was refused (forged,
    replayed or expired callbacks, invalid tokens, deactivated accounts, unverified addresses),
    ``unverified``/``unapproved`` like a password login, ``oidc_unavailable`` when the provider
    could not be reached (not the client's doing)."""
    try:
        return _complete(ctx, flow, params, address)
    except OidcFailed as exc:
        if not exc.notice:
            audit.log_login_failure(exc.email, address, _log_reason(exc))
        raise


def _log_reason(exc: OidcFailed) -> str:
    if exc.message == UNAVAILABLE:
        return "oidc_unavailable"
    return exc.reason if exc.reason in _NOT_GUESSING else "oidc_refused"


def _complete(
    ctx: Context, flow: Flow | None, params: Mapping[str, str], address: str | None
) -> User:
    error = params.get("error")
    if error:
        message = CANCELLED if error == "access_denied" else FAILED
        raise OidcFailed(message, f"provider answered error={error[:100]!r}")
    if flow is None:
        raise OidcFailed(EXPIRED, "no valid flow cookie")
    state = params.get("state", "")
    if not state or not hmac.compare_digest(state.encode(), flow.state.encode()):
        raise OidcFailed(EXPIRED, "state does not match the flow")
    code = params.get("code", "")
    if not code:
        raise OidcFailed(FAILED, "callback without code")
    settings = ctx.settings
    found = provider(settings)
    tokens = _exchange(settings, found, code, flow.verifier)
    claims = verify_id_token(settings, found, tokens, flow.nonce)
    return bind(ctx, found.issuer, claims, address)


def _exchange(settings: Settings, found: Provider, code: str, verifier: str) -> dict[str, Any]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri(settings),
        "code_verifier": verifier,
    }
    client_id = settings.oidc_client_id
    secret = settings.oidc_client_secret.get_secret_value()
    headers: dict[str, str] = {}
    if found.client_secret_post:
        form.update(client_id=client_id, client_secret=secret)
    else:  # RFC 6749 2.3.1: both parts form-encoded before Basic
        pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    tokens = _fetch_json(found.token_endpoint, form, **headers)
    if not isinstance(tokens, dict) or not isinstance(tokens.get("id_token"), str):
        raise OidcFailed(FAILED, "token response without id_token")
    return tokens


def verify_id_token(
    settings: Settings, found: Provider, tokens: Mapping[str, Any], nonce: str
) -> dict[str, Any]:
    """The ID token's claims after checking its signature and claims (Authlib/joserfc)."""
    from authlib.oidc.core import CodeIDToken  # type: ignore[import-untyped]
    from joserfc import jwt
    from joserfc.errors import InvalidKeyIdError, JoseError
    from joserfc.jwk import KeySet
    from joserfc.jws import JWSRegistry

    registry = JWSRegistry(algorithms=list(found.algorithms), strict_check_header=False)
    raw = tokens["id_token"]
    try:
        try:
            token = jwt.decode(raw, KeySet.import_key_set(_key_set(found)), registry=registry)
        except InvalidKeyIdError:  # the provider rotated its keys since we cached them
            keys = KeySet.import_key_set(_key_set(found, refresh=True))
            token = jwt.decode(raw, keys, registry=registry)
        client_id = settings.oidc_client_id
        claims = CodeIDToken(
            token.claims,
            token.header,
            {
                "iss": {"essential": True, "value": found.issuer},
                "aud": {"essential": True, "value": client_id},
                "sub": {"essential": True},
            },
            {"nonce": nonce, "client_id": client_id, "access_token": tokens.get("access_token")},
        )
        claims.validate(leeway=LEEWAY)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise OidcFailed(FAILED, f"invalid ID token: {type(exc).__name__}: {exc}") from None
    return dict(claims)


# --- accounts -------------------------------------------------------------------------------------


def email_verified(claims: Mapping[str, Any]) -> bool:
    """Only an explicit yes counts (some providers send the string "true")."""
    value = claims.get("email_verified")
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _names(claims: Mapping[str, Any], email: str) -> tuple[str, str]:
    given = str(claims.get("given_name") or "").strip()
    family = str(claims.get("family_name") or "").strip()
    full = str(claims.get("name") or "").strip()
    if full and not (given and family):
        first, _, last = full.rpartition(" ")
        given = given or first or last
        family = family or (last if first else "")
    # The profile page lets the person correct what the provider did not send.
    return (given or email.split("@")[0])[:100], (family or "-")[:100]


def unusable_password() -> str:
    return NO_PASSWORD_PREFIX + secrets.token_urlsafe(16)


@dataclass
class _Outcome:
    user: User | None = None
    refusal: OidcFailed | None = None
    created: bool = False


def bind(ctx: Context, issuer: str, claims: Mapping[str, Any], address: str | None) -> User:
    """The account for these verified claims; see the module doc for the rules."""
    for attempt in range(2):
        try:
            with ctx.db.write() as session:
                outcome = _bind_in(session, ctx, issuer, claims, address)
            break
        except IntegrityError:  # the same identity or address was bound at the same moment
            if attempt:
                raise
    if outcome.refusal is not None:
        _refused(ctx, str(claims.get("email") or claims.get("sub")), address, outcome.refusal)
        raise outcome.refusal
    if outcome.user is None:  # an identity whose account was deleted in between
        raise OidcFailed(FAILED, "identity without account")
    return _admit(ctx, outcome.user, outcome.created, address)


def _bind_in(
    session: Session, ctx: Context, issuer: str, claims: Mapping[str, Any], address: str | None
) -> _Outcome:
    subject = str(claims["sub"])
    email = users.normalise_email(str(claims.get("email") or ""))
    verified = email_verified(claims)
    now = utcnow()
    identity = session.scalar(
        select(OidcIdentity).where(OidcIdentity.issuer == issuer, OidcIdentity.subject == subject)
    )
    if identity is not None:  # known: the address at the provider may have changed since
        identity.last_login_at = now
        return _Outcome(user=session.get(User, identity.user_id))
    if not email or not users.EMAIL_RE.match(email) or len(email) > 256:
        return _Outcome(refusal=OidcFailed(NO_EMAIL, "no usable email claim"))
    user = session.scalar(select(User).where(User.email == email))
    if user is not None:
        if not user.is_active:
            return _Outcome(refusal=OidcFailed(DISABLED, "account is deactivated"))
        if not verified:
            return _Outcome(refusal=OidcFailed(UNVERIFIED_EXISTING, "email not verified"))
        session.add(
            OidcIdentity(
                issuer=issuer, subject=subject, user_id=user.id, email=email, created_at=now
            )
        )
        details: dict[str, Any] = {"issuer": issuer, "userId": user.id}
        if not user.email_verified:
            # Someone registered this address without proving it; its owner has now proven
            # it. The unproven password may be the squatter's, so it stops working.
            user.email_verified, user.email_verified_at = True, now
            user.verification_token_hash = user.verification_token_expires_at = None
            user.password_hash = unusable_password()
            user.changed_at = now
            details["passwordCleared"] = True
        audit.record(session, user.id, audit.OIDC_LINKED, email, address, details)
        return _Outcome(user=user)
    first_name, last_name = _names(claims, email)
    user = User(
        email=email,
        password_hash=unusable_password(),
        first_name=first_name,
        last_name=last_name,
        role=users.MEMBER,
        email_verified=verified,
        email_verified_at=now if verified else None,
        registration_date=now,
        created_at=now,
    )
    token = None
    if not verified:
        token = secrets.token_urlsafe(32)
        user.verification_token_hash = hashlib.sha256(token.encode()).hexdigest()
        user.verification_token_expires_at = now + timedelta(hours=users.VERIFICATION_HOURS)
    session.add(user)
    session.flush()
    session.add(
        OidcIdentity(issuer=issuer, subject=subject, user_id=user.id, email=email, created_at=now)
    )
    if token is not None:
        notifications.verification(session, ctx, user, token, users.VERIFICATION_HOURS)
    notifications.registration(session, ctx, user)
    audit.record(session, user.id, audit.OIDC_REGISTERED, email, address, {"issuer": issuer})
    return _Outcome(user=user, created=True)


def _admit(ctx: Context, user: User, created: bool, address: str | None) -> User:
    """The same account checks as a password login, in the same order."""
    refusal = None
    if not user.is_active:
        refusal = OidcFailed(DISABLED, "account is deactivated")
    elif not user.email_verified:
        refusal = OidcFailed(
            CREATED_VERIFY if created else users.NOT_VERIFIED, "unverified", notice=created
        )
    elif not user.is_approved_for_booking:
        refusal = OidcFailed(
            CREATED_PENDING if created else users.NOT_APPROVED, "unapproved", notice=created
        )
    if refusal is not None:
        if not created:
            _refused(ctx, user.email, address, refusal)
        raise refusal
    with ctx.db.write() as session:
        row = session.get(User, user.id)
        if row is not None:
            row.last_login_at = utcnow()
        audit.record(session, user.id, audit.LOGIN, user.email, address, {"method": "oidc"})
    return user


def _refused(ctx: Context, subject: str, address: str | None, refusal: OidcFailed) -> None:
    log.info("OpenID Connect login refused: %s", refusal.reason)
    refusal.email = subject
    with ctx.db.write() as session:
        audit.record(
            session,
            None,
            audit.LOGIN_FAILED,
            subject,
            address,
            {"method": "oidc", "reason": refusal.reason},
        )


def identities(ctx: Context, user_id: int) -> list[OidcIdentity]:
    """The provider logins bound to an account (shown on the profile page)."""
    with ctx.db.read() as session:
        return list(
            session.scalars(
                select(OidcIdentity)
                .where(OidcIdentity.user_id == user_id)
                .order_by(OidcIdentity.created_at, OidcIdentity.id)
            )
        )
