"""House rules: ``/api/house-rules`` (everyone signed in reads them) and the administrators'
``/api/admin/house-rules``, ``/api/admin/closed-periods`` and ``/api/admin/quota-exceptions``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from starlette.responses import Response

from booking.api.deps import AdminDep, CtxDep, UserDep
from booking.domain import house_rules
from booking.domain.house_rules import ClosedPeriodIn, QuotaExceptionIn, RulesIn
from booking.http import Path, Router

router = Router()


@router.get("/api/house-rules")
def read_public(user: UserDep, ctx: CtxDep) -> dict[str, Any]:
    """The rules in force and the closed periods that are not over yet."""
    return {
        **house_rules.current(ctx).wire(),
        "closedPeriods": house_rules.list_closed_periods(ctx),
    }


@router.get("/api/admin/house-rules")
def read_rules(admin: AdminDep, ctx: CtxDep) -> dict[str, Any]:
    return house_rules.get_rules(ctx, admin)


@router.put("/api/admin/house-rules")
def write_rules(body: RulesIn, admin: AdminDep, ctx: CtxDep) -> dict[str, Any]:
    """Save the rules; the answer lists existing stays that conflict with them (they stay)."""
    saved = house_rules.set_rules(ctx, admin, body)
    return {**saved, "conflicts": house_rules.conflicts(ctx, admin)}


@router.get("/api/admin/house-rules/conflicts")
def read_conflicts(admin: AdminDep, ctx: CtxDep) -> list[dict[str, Any]]:
    return house_rules.conflicts(ctx, admin)


@router.get("/api/admin/closed-periods")
def list_periods(admin: AdminDep, ctx: CtxDep) -> list[dict[str, Any]]:
    return house_rules.list_closed_periods(ctx, include_past=True)


@router.post("/api/admin/closed-periods", status_code=201)
def add_period(body: ClosedPeriodIn, admin: AdminDep, ctx: CtxDep) -> dict[str, Any]:
    return house_rules.add_closed_period(ctx, admin, body)


@router.delete("/api/admin/closed-periods/{period_id:uuid}", status_code=204)
def remove_period(period_id: uuid.UUID, admin: AdminDep, ctx: CtxDep) -> Response:
    house_rules.remove_closed_period(ctx, admin, period_id)
    return Response(status_code=204)


@router.get("/api/admin/quota-exceptions")
def list_exceptions(admin: AdminDep, ctx: CtxDep) -> list[dict[str, Any]]:
    return house_rules.list_quota_exceptions(ctx, admin)


@router.post("/api/admin/quota-exceptions", status_code=201)
def grant_exception(body: QuotaExceptionIn, admin: AdminDep, ctx: CtxDep) -> dict[str, Any]:
    return house_rules.grant_quota_exception(ctx, admin, body)


@router.delete("/api/admin/quota-exceptions/{exception_id:int}", status_code=204)
def remove_exception(
    # Ids are 32-bit integers; a larger number must be a 400, not a database overflow (a 500).
    exception_id: Annotated[int, Path(ge=0, le=2**31 - 1)],
    admin: AdminDep,
    ctx: CtxDep,
) -> Response:
    house_rules.remove_quota_exception(ctx, admin, exception_id)
    return Response(status_code=204)
