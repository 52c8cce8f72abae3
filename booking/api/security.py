"""``/api/admin/security``: the checks of the "Sicherheit" page as JSON, for administrators."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from booking.api.deps import AdminDep, CtxDep
from booking.domain import security_checks
from booking.http import Router

router = Router(prefix="/api/admin/security")


@router.get("")
def security_checks_json(request: Request, admin: AdminDep, ctx: CtxDep) -> dict[str, Any]:
    checks = security_checks.run_checks(ctx, request.url.scheme)
    return {"checks": [check.as_json() for check in checks]}
