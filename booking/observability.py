"""Metrics (``GET /metrics``, Prometheus text format) and the per-request access log.

``Observe`` is the outermost middleware: it gives every request an id (``X-Request-ID``: a sane
id sent by nginx is kept, otherwise a new one), counts and times the request by *route template*
(``/api/bookings/{booking_id}``, never the raw path, so ids and tokens never become labels), and
writes one access log line (booking/lib/logs.py).

Everything that lives in the database (bookings, pending approvals, failed logins, throttled
keys, the mail outbox) is read at scrape time with a few grouped counts, so every app process
reports the same values and nothing has to be kept in step across processes or restarts.

``/metrics`` is not protected by the app: nginx answers 404 for it on the public site, and in
Compose only the internal ``monitoring`` network reaches the app's port (docs/observability.md).

The build's git commit comes from the environment variable ``BOOKING_BUILD_COMMIT`` (set by the
image build, deploy/Dockerfile); it is not a setting because nothing but this label uses it.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from booking import __version__
from booking.http import Router
from booking.lib.logs import REQUEST_ID
from booking.lib.metrics import (
    CONTENT_TYPE,
    Counter,
    Family,
    Gauge,
    Histogram,
    ProcessCollector,
    PythonCollector,
    Registry,
    family,
)

if TYPE_CHECKING:
    from booking.domain.context import Context

access_log = logging.getLogger("booking.access")
log = logging.getLogger("booking.observability")

BUILD_COMMIT_ENV = "BOOKING_BUILD_COMMIT"
# Latency buckets (seconds): fine where a page should be, coarse up to the 2 s alert and beyond.
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
UNMATCHED = "unmatched"  # 404s of unknown paths: one label, whatever scanners try
# Requests that monitoring and health checks make all day: counted, but logged at debug level.
QUIET_ROUTES = {"/health", "/api/health", "/health/ready", "/metrics"}
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def build_commit() -> str:
    commit = os.environ.get(BUILD_COMMIT_ENV, "").strip()
    return commit[:40] if re.fullmatch(r"[0-9A-Za-z._-]+", commit) else "unknown"


class Metrics:
    """The registry of one app: HTTP metrics, the database collector and the process."""

    def __init__(self, ctx: Context | None) -> None:
        self.registry = r = Registry()
        self.requests = r.register(
            Counter(
                "booking_http_requests_total",
                "HTTP requests by route template, method and status.",
                ["method", "route", "status"],
            )
        )
        self.duration = r.register(
            Histogram(
                "booking_http_request_duration_seconds",
                "Time from the request to the end of the response, by route template and method.",
                ["method", "route"],
                buckets=BUCKETS,
            )
        )
        self.in_flight = r.register(
            Gauge("booking_http_requests_in_flight", "Requests being handled right now.")
        )
        info = r.register(
            Gauge(
                "booking_build_info",
                "Always 1; the labels name the running build.",
                ["version", "commit"],
            )
        )
        info.labels(__version__, build_commit()).set(1)
        r.register(ProcessCollector())  # process_resident_memory_bytes, process_cpu_seconds_total
        r.register(PythonCollector())  # python_info, python_gc_*
        if ctx is not None:
            r.register(DatabaseCollector(ctx))

    def render(self) -> bytes:
        return self.registry.render()


class DatabaseCollector:
    """Values read from the database at scrape time (cheap grouped counts on indexed columns)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def collect(self) -> Iterable[Family]:
        yield from self._pool()
        try:
            metrics, up = list(self._from_database()), 1
        except Exception:  # the scrape still reports HTTP and process metrics
            log.warning("metrics: database unavailable", exc_info=True)
            metrics, up = [], 0
        yield family(
            "gauge", "booking_database_up", "1 when the scrape could read the database, else 0.", up
        )
        yield from metrics

    def _pool(self) -> Iterable[Family]:
        pool: Any = self.ctx.db.engine.pool
        if not all(hasattr(pool, name) for name in ("checkedout", "size", "overflow")):
            return
        yield family(
            "gauge",
            "booking_db_pool_checked_out",
            "Database connections in use by requests right now.",
            pool.checkedout(),
        )
        yield family(
            "gauge",
            "booking_db_pool_size",
            "Connections the pool keeps (its overflow comes on top).",
            pool.size(),
        )
        yield family(
            "gauge",
            "booking_db_pool_overflow",
            "Connections beyond the pool size (negative: pool slots not opened yet).",
            pool.overflow(),
        )

    def _from_database(self) -> Iterable[Family]:
        from booking.db.models import AuditEvent, Booking, OutboxMail, Throttle, User
        from booking.domain import audit, outbox
        from booking.domain.bookings import STATUS_NAMES
        from booking.lib.backup_status import last_success
        from booking.lib.timeutil import utcnow

        now = utcnow()
        with self.ctx.db.connect() as connection:
            by_status = dict(
                connection.execute(
                    select(Booking.status, func.count()).group_by(Booking.status)
                ).all()
            )
            pending_users = connection.scalar(
                select(func.count()).where(
                    User.is_active.is_(True),
                    User.email_verified.is_(True),
                    User.is_approved_for_booking.is_(False),
                )
            )
            failed_logins = connection.scalar(
                select(func.count()).where(AuditEvent.event == audit.LOGIN_FAILED)
            )
            blocked = dict(
                connection.execute(
                    select(Throttle.key, Throttle.blocked_until).where(Throttle.blocked_until > now)
                ).all()
            )
            sent_recently = connection.scalar(
                select(func.count()).where(OutboxMail.sent_at > now - timedelta(hours=1))
            )
        bookings = Family("gauge", "booking_bookings", "Bookings by stored status.", ["status"])
        for status, name in sorted(STATUS_NAMES.items()):
            bookings.add([name.lower()], by_status.get(status, 0))
        yield bookings
        yield family(
            "gauge",
            "booking_users_pending_approval",
            "Verified, active users waiting for an administrator's approval.",
            pending_users or 0,
        )
        yield family(
            "counter",
            "booking_login_failures_total",
            f"Failed logins recorded in the audit log (event {audit.LOGIN_FAILED!r}).",
            failed_logins or 0,
        )
        throttled = Family(
            "gauge",
            "booking_throttle_blocked_keys",
            "Throttle keys (account or client address per action) blocked right now.",
            ["action", "kind"],
        )
        counts: dict[tuple[str, str], int] = {}
        for key in blocked:
            action, kind, _ = (key.split(":", 2) + ["", ""])[:3]
            counts[(action, kind)] = counts.get((action, kind), 0) + 1
        from booking.domain.throttle import ACTIONS

        for action in ACTIONS:
            for kind in ("account", "ip"):
                throttled.add([action, kind], counts.get((action, kind), 0))
        yield throttled
        backlog = outbox.backlog(self.ctx, now)
        yield family("gauge", "booking_mail_outbox_pending", "Mails not sent yet.", backlog.pending)
        yield family(
            "gauge",
            "booking_mail_outbox_oldest_pending_seconds",
            "Age of the oldest unsent mail (0 when the outbox is empty).",
            backlog.oldest_pending_seconds or 0.0,
        )
        yield family(
            "gauge",
            "booking_mail_outbox_failing",
            "Unsent mails whose delivery failed at least once.",
            backlog.failing,
        )
        yield family(
            "gauge",
            "booking_mail_sent_last_hour",
            "Mails delivered in the last hour.",
            sent_recently or 0,
        )
        finished = last_success(self.ctx.settings.effective_backup_dir)
        yield family(
            "gauge",
            "booking_backup_last_success_timestamp_seconds",
            "Unix time of the last good `booking backup` (0: none yet).",
            finished.timestamp() if finished else 0.0,
        )


router = Router(include_in_schema=False)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    registry: Metrics = request.app.state.metrics
    # The classic text format (0.0.4): what Prometheus 2.x and every scraper understand; the
    # names here are plain ASCII, so the newer 1.0.0 format would be the same text anyway.
    return Response(registry.render(), media_type=CONTENT_TYPE)


def route_template(scope: Scope) -> str:
    """The path pattern that served the request (``/api/bookings/{booking_id}``); the router
    leaves the matched route in the scope."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not path:
        return UNMATCHED
    return f"{path}/{{path}}" if isinstance(route, Mount) else str(path)


def request_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class Observe:
    """Request id, metrics and access log for every HTTP request (the outermost layer)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        token = REQUEST_ID.set(request_id)
        header = (b"x-request-id", request_id.encode())
        status = 500
        started = time.perf_counter()
        m = self.metrics

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        m.in_flight.inc()
        failure: Exception | None = None
        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            failure = exc
            raise
        finally:
            m.in_flight.dec()
            elapsed = time.perf_counter() - started
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            route = route_template(scope)
            m.requests.labels(method, route, str(status)).inc()
            m.duration.labels(method, route).observe(elapsed)
            client = scope.get("client")
            fields = {
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 1),
                "client": client[0] if client else None,
            }
            message = "%s %s %s %.1f ms"
            args = (method, route, status, elapsed * 1000)
            if failure is not None:
                # The stack trace follows from the app's error handler (booking/api/errors.py)
                # and uvicorn, outside this middleware: keep the request id set for them (the
                # request's task ends right after).
                fields["exc_type"] = type(failure).__name__
                access_log.error(message, *args, extra=fields)
            else:
                level = logging.DEBUG if route in QUIET_ROUTES and status < 400 else logging.INFO
                access_log.log(level, message, *args, extra=fields)
                REQUEST_ID.reset(token)


def install(app: Any, ctx: Context | None) -> Metrics:
    """The registry behind ``/metrics`` (``router``, included with the others) and the Observe
    middleware. Call it after the other middlewares, so Observe is the outermost and sees every
    response, the 413s of ApiPaths included."""
    registry = Metrics(ctx)
    app.state.metrics = registry
    app.add_middleware(Observe, metrics=registry)
    return registry
