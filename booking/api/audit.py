"""``/api/admin/audit``: the audit log for administrators, newest first."""

from __future__ import annotations

from typing import Annotated, Any

from booking.api.deps import AdminDep, CtxDep
from booking.domain import audit
from booking.http import Query, Router

router = Router(prefix="/api/admin/audit")


@router.get("")
def audit_log(
    admin: AdminDep,
    ctx: CtxDep,
    limit: Annotated[int, Query(ge=1, le=audit.MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[dict[str, Any]]:
    return audit.recent(ctx, limit, offset)
