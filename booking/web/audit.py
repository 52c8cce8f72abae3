"""Page: the audit log for administrators (``/admin/audit``), newest first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from starlette.requests import Request
from starlette.responses import Response

from booking.api.deps import CtxDep
from booking.domain import audit
from booking.http import Query
from booking.web.core import PageAdmin, page_router, render

router = page_router()
PAGE_SIZE = 100


def _local(ctx: CtxDep, stamp: str | None) -> str:
    if not stamp:
        return ""
    moment = datetime.fromisoformat(stamp).replace(tzinfo=UTC).astimezone(ctx.settings.zone)
    return moment.strftime("%d.%m.%Y %H:%M:%S")


def _details(details: dict[str, object]) -> str:
    return ", ".join(f"{key}: {value}" for key, value in details.items())


@router.get("/admin/audit")
def audit_page(
    request: Request,
    admin: PageAdmin,
    ctx: CtxDep,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    events = audit.recent(ctx, PAGE_SIZE + 1, offset)
    rows = [
        {**event, "when": _local(ctx, event["occurredAt"]), "text": _details(event["details"])}
        for event in events[:PAGE_SIZE]
    ]
    return render(
        request,
        "admin/audit.html",
        events=rows,
        offset=offset,
        newer=max(0, offset - PAGE_SIZE) if offset else None,
        older=offset + PAGE_SIZE if len(events) > PAGE_SIZE else None,
    )
