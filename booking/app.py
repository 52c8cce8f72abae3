"""The ASGI application (Starlette): routers, error handlers and two small pure-ASGI
middlewares."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from booking import observability, web
from booking.api import (
    admin_users,
    audit,
    auth,
    bookings,
    calendar,
    docs,
    email_settings,
    errors,
    health,
    house_rules,
    places,
    security,
)
from booking.config import Settings
from booking.db import Database
from booking.domain.audit import REQUEST_ADDRESS as request_address
from booking.domain.context import Context
from booking.headers import SecurityHeaders, secure_site
from booking.http import Router

MAX_BODY_BYTES = 256 * 1024
# Sync endpoints run in anyio's thread pool (40 threads by default). On a one-core board more
# threads add no throughput, only stacks and memory; eight still overlap database waits.
REQUEST_THREADS = 8


class ApiPaths:
    """Route ``/api/...`` case-insensitively (the predecessor served ``/api/Auth/login`` and
    ``/api/auth/login`` alike) and refuse bodies larger than MAX_BODY_BYTES with a JSON 413."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # For audit events of domain functions that are not told the address (admin actions).
        client = scope.get("client")
        request_address.set(client[0] if client else None)
        path: str = scope["path"]
        if path[:5].lower() == "/api/" and path != path.lower():
            # In place, not a copy: the outer Observe layer reads the matched route from it.
            scope["path"], scope["raw_path"] = path.lower(), path.lower().encode()
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            await _too_large(send)
            return
        if length is None and scope["method"] in ("POST", "PUT", "PATCH"):
            # A chunked body has no declared length: read it here, within the limit.
            messages = await _read_within_limit(receive)
            if messages is None:
                await _too_large(send)
                return
            receive = _replay(messages, receive)
        await self.app(scope, receive, send)


async def _read_within_limit(receive: Receive) -> list[Message] | None:
    messages, seen = [], 0
    while True:
        message = await receive()
        messages.append(message)
        seen += len(message.get("body", b""))
        if seen > MAX_BODY_BYTES:
            return None
        if message["type"] != "http.request" or not message.get("more_body", False):
            return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


async def _too_large(send: Send) -> None:
    body = json.dumps(
        {
            "type": "https://tools.ietf.org/html/rfc9110#section-15.5.14",
            "title": "Content Too Large",
            "status": 413,
            "message": "Die Anfrage ist zu groß.",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/problem+json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def _lifespan(app: BookingApp) -> AsyncIterator[None]:
    to_thread.current_default_thread_limiter().total_tokens = REQUEST_THREADS
    ctx: Context = app.state.ctx
    sender = None
    if ctx.settings.mail_sender:  # the outbox sender (DECISIONS 11, 17); or `booking worker`
        from booking.domain.outbox import Sender

        sender = Sender(ctx, poll_seconds=ctx.settings.mail_poll_seconds)
        sender.start()
    try:
        yield
    finally:
        if sender is not None:
            await to_thread.run_sync(sender.stop)


class BookingApp(Starlette):
    """Starlette with the security headers outside everything, its error middleware included,
    so the 500 of an unhandled exception carries them too (booking/headers.py)."""

    def build_middleware_stack(self) -> ASGIApp:
        ctx: Context = self.state.ctx
        return SecurityHeaders(super().build_middleware_stack(), https=secure_site(ctx.settings))

    def include_router(self, router: Router) -> None:
        self.router.routes.extend(router.routes)


def create_app(settings: Settings, ctx: Context | None = None) -> BookingApp:
    ctx = ctx or Context(db=Database(settings.effective_database_url), settings=settings)
    app = BookingApp(routes=docs.routes, lifespan=_lifespan)
    app.state.ctx = ctx
    errors.install(app, html=web.error_page)
    for module in (health, auth, admin_users, places, bookings, calendar, email_settings, audit):
        app.include_router(module.router)
    app.include_router(house_rules.router)
    app.include_router(security.router)
    app.include_router(observability.router)  # /metrics (internal network only, see its doc)
    web.install(app)
    app.add_middleware(ApiPaths)
    observability.install(app, ctx)  # outermost: request id, access log, HTTP metrics
    return app


def app_factory() -> Any:
    """For ``uvicorn --factory booking.app:app_factory``."""
    from booking.config import load_settings

    return create_app(load_settings())
