"""``/api/admin/security``: the checks of the "Sicherheit" page as JSON, for administrators."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from booking.api.deps import AdminDep, CtxDep, Router
from booking.domain import security_checks

router = Router(prefix="/api/admin/security", tags=["admin: security"])


@router.get("")
def security_checks_json(request: Request, admin: AdminDep, ctx: CtxDep) -> dict[str, Any]:
    checks = security_checks.run_checks(ctx, request.url.scheme)
    return {"checks": [check.as_json() for check in checks]}
