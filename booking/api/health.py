"""Liveness (no database) and readiness (database reachable, schema current, mail backlog).

Readiness answers 503 only when the app cannot serve: the database is unreachable or the schema
is not current. A mail backlog (the oldest unsent mail waits longer than MAIL_BACKLOG_LIMIT, or
deliveries fail) is reported as ``"status": "degraded"`` with HTTP 200: readiness decides whether
nginx, Compose and the blue-green switch send traffic to this process, and a slow or broken SMTP
server must not take the booking site down with it; the alert ``BookingMailBacklog`` (deploy/
prometheus/rules) tells the administrators instead.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from starlette.responses import JSONResponse

from booking.api.deps import CtxDep
from booking.db import schema
from booking.domain.context import Context
from booking.http import Router

router = Router()
HEALTHY = {"status": "healthy"}
MAIL_BACKLOG_LIMIT = timedelta(minutes=30)


@router.get("/health")
@router.get("/api/health")
async def health() -> dict[str, str]:
    return HEALTHY


def mail_check(ctx: Context) -> str:
    """``ok``, or what is wrong with the outbox (counts only, never addresses or errors)."""
    from booking.domain import outbox

    try:
        backlog = outbox.backlog(ctx)
    except Exception:  # reported, but it never makes the app unready by itself
        return "unknown"
    if backlog.failing:
        return f"failing ({backlog.failing} unsent after errors)"
    oldest = backlog.oldest_pending_seconds or 0.0
    if oldest > MAIL_BACKLOG_LIMIT.total_seconds():
        return f"backlog ({backlog.pending} pending, oldest {oldest / 60:.0f} min)"
    return "ok"


@router.get("/health/ready")
def ready(ctx: CtxDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        with ctx.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
        revision = schema.current_revision(ctx.db.engine)
        checks["migrations"] = "ok" if revision == schema.HEAD else f"outdated ({revision})"
    except Exception:  # any failure means "not ready"; the details belong in the log
        checks["database"] = "unreachable"
    ok = checks.get("database") == "ok" and checks.get("migrations") == "ok"
    if ok:
        checks["mail"] = mail_check(ctx)
    status = "unavailable" if not ok else "ready" if checks["mail"] == "ok" else "degraded"
    return JSONResponse({"status": status, "checks": checks}, status_code=200 if ok else 503)
