"""HS256 JSON Web Tokens in the predecessor's format.

Only HS256 with a fixed issuer and audience is needed, so this is the small subset of RFC 7519
written out (hmac + json) rather than a JWT library that would also import a crypto stack. The
tests check it against PyJWT in both directions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

ISSUER = "BookingApi"
AUDIENCE = "BookingApp"
CLAIM_ID = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"
CLAIM_EMAIL = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
CLAIM_NAME = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
CLAIM_ROLE = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
_HEADER = {"alg": "HS256", "typ": "JWT"}


class InvalidToken(Exception):
    pass


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise InvalidToken("malformed base64") from exc


def _sign(key: bytes, signing_input: bytes) -> str:
    return _b64encode(hmac.new(key, signing_input, hashlib.sha256).digest())


def encode(claims: dict[str, Any], key: bytes) -> str:
    header = _b64encode(json.dumps(_HEADER, separators=(",", ":")).encode())
    payload = _b64encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    return f"{header}.{payload}.{_sign(key, signing_input)}"


def decode(token: str, key: bytes, *, now: float | None = None) -> dict[str, Any]:
    """Verify signature, algorithm, issuer, audience and expiry (no clock skew)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("not a JWT")
    header_b64, payload_b64, signature = parts
    expected = _sign(key, f"{header_b64}.{payload_b64}".encode("ascii", "replace"))
    if not hmac.compare_digest(expected, signature):
        raise InvalidToken("bad signature")
    try:
        header = json.loads(_b64decode(header_b64))
        claims = json.loads(_b64decode(payload_b64))
    except ValueError as exc:
        raise InvalidToken("malformed JSON") from exc
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise InvalidToken("unexpected algorithm")
    if not isinstance(claims, dict):
        raise InvalidToken("malformed claims")
    _check_claims(claims, time.time() if now is None else now)
    return claims


def _check_claims(claims: dict[str, Any], now: float) -> None:
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp <= now:
        raise InvalidToken("expired")
    not_before = claims.get("nbf")
    if not_before is not None and (not isinstance(not_before, int | float) or not_before > now):
        raise InvalidToken("not yet valid")
    if claims.get("iss") != ISSUER:
        raise InvalidToken("wrong issuer")
    audience = claims.get("aud")
    if audience != AUDIENCE and not (isinstance(audience, list) and AUDIENCE in audience):
        raise InvalidToken("wrong audience")


def user_claims(user_id: int, email: str, name: str, role: str, minutes: int) -> dict[str, Any]:
    return {
        CLAIM_ID: str(user_id),
        CLAIM_EMAIL: email,
        CLAIM_NAME: name,
        CLAIM_ROLE: role,
        "user_id": str(user_id),
        "exp": int(time.time()) + minutes * 60,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }


def user_id_from(claims: dict[str, Any]) -> int:
    raw = claims.get("user_id", claims.get(CLAIM_ID))
    try:
        return int(str(raw))
    except ValueError as exc:
        raise InvalidToken("Invalid user ID in token") from exc
