"""``/api/admin/audit``: the audit log for administrators, newest first."""

from __future__ import annotations

from typing import Any

from fastapi import Query

from booking.api.deps import AdminDep, CtxDep, Router
from booking.domain import audit

router = Router(prefix="/api/admin/audit", tags=["admin: audit"])


@router.get("")
def audit_log(
    admin: AdminDep,
    ctx: CtxDep,
    limit: int = Query(100, ge=1, le=audit.MAX_LIMIT),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> list[dict[str, Any]]:
    return audit.recent(ctx, limit, offset)
