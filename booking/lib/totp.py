"""Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): HMAC-SHA1, 30-second steps,
6 digits, the format every authenticator app understands. Small enough to own instead of adding
a dependency; tests check it against the RFC's vectors and against pyotp."""

from __future__ import annotations

import base64
import hmac
import secrets
import struct
import time
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
SECRET_BYTES = 20  # 160 bits, the size RFC 4226 recommends for HMAC-SHA1
# Clocks of phones drift: the previous and the next step are accepted too.
WINDOW = 1


def new_secret() -> str:
    """A random base32 secret (32 characters, no padding)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    cleaned = secret.replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def hotp(key: bytes, counter: int, digits: int = DIGITS, digest: str = "sha1") -> str:
    """RFC 4226 section 5.3: HMAC over the 8-byte counter, dynamic truncation."""
    mac = hmac.new(key, struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def step_at(unix_time: float) -> int:
    return int(unix_time // STEP_SECONDS)


def now_step() -> int:
    return step_at(time.time())


def code_at(secret: str, step: int) -> str:
    return hotp(_key(secret), step)


def matching_step(secret: str, code: str, step: int | None = None) -> int | None:
    """The step (within ±WINDOW of ``step``, default now) whose code equals ``code``, or None.

    The newest match wins, so a code of the current step is never mistaken for an older one."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    current = now_step() if step is None else step
    key = _key(secret)
    found = None
    for candidate in range(current - WINDOW, current + WINDOW + 1):
        # compare every candidate: the time taken does not tell which one matched
        if hmac.compare_digest(hotp(key, candidate), code):
            found = candidate
    return found


def group(secret: str, size: int = 4) -> str:
    """``JBSWY3DPEHPK3PXP`` -> ``JBSW Y3DP EHPK 3PXP`` for typing it into an app by hand."""
    return " ".join(secret[i : i + size] for i in range(0, len(secret), size))


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI (Google Authenticator key URI format) a QR code carries."""
    label = quote(f"{issuer}:{account}", safe="@:")
    params = {
        "secret": secret,
        "issuer": issuer,
        "algorithm": "SHA1",
        "digits": DIGITS,
        "period": STEP_SECONDS,
    }
    return f"otpauth://totp/{label}?{urlencode(params, quote_via=quote)}"
