"""Security headers on every response the app sends: pages, API JSON, static files, redirects,
errors (404, 405, 413, 500), /health and /metrics (docs/security.md).

``SecurityHeaders`` wraps the whole application, outside Starlette's error middleware, so even
the 500 of an unhandled exception carries them. nginx (deploy/nginx/security-headers.conf) sends
the same values and hides the app's copies; tests/test_headers.py keeps the two in step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from booking.web import CSP

if TYPE_CHECKING:
    from booking.config import Settings

# The API docs page (Swagger UI, booking/api/docs.py) loads its script and style from
# cdn.jsdelivr.net and starts with one inline script: that page alone gets this wider policy
# (nginx: the map $booking_csp in deploy/nginx/nginx.conf).
DOCS_PATH = "/api/docs"
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
# Browser features the site never uses are switched off, so injected content cannot use them.
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
# One year; no includeSubDomains: other hosts of the domain are not ours to pin.
HSTS = "max-age=31536000"


def secure_site(settings: Settings) -> bool:
    return settings.site_url.startswith("https://")


def header_list(https: bool, path: str) -> list[tuple[bytes, bytes]]:
    csp = DOCS_CSP if path.lower() == DOCS_PATH else CSP
    headers = [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),  # old browsers; frame-ancestors for new ones
        (b"permissions-policy", PERMISSIONS_POLICY.encode()),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if https:
        # Only when the site is served over HTTPS: over plain HTTP the header is ignored at
        # best, and a development instance must not pin localhost to HTTPS.
        headers.append((b"strict-transport-security", HSTS.encode()))
    return headers


class SecurityHeaders:
    def __init__(self, app: ASGIApp, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = header_list(self.https, scope["path"])
        names = {name for name, _ in extra}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = kept + extra
            await send(message)

        await self.app(scope, receive, sending)
