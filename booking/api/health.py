"""Liveness (no database) and readiness (database reachable, schema current)."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from sqlalchemy import text

from booking.api.deps import CtxDep, Router
from booking.db import schema

router = Router(tags=["health"])
HEALTHY = {"status": "healthy"}


@router.get("/health")
@router.get("/api/health")
async def health() -> dict[str, str]:
    return HEALTHY


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
    ok = all(value == "ok" for value in checks.values()) and len(checks) == 2
    body = {"status": "ready" if ok else "unavailable", "checks": checks}
    return JSONResponse(body, status_code=200 if ok else 503)
