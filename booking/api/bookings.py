"""``/api/bookings``: the predecessor's booking endpoints plus the booking history."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from booking.api.deps import AdminDep, CtxDep, UserDep
from booking.domain import bookings
from booking.domain.bookings import STATUS_NAMES, TIME_RANGE_NAMES, BookingIn, WireDate
from booking.domain.errors import ValidationFailed
from booking.http import Query, Router

router = Router(prefix="/api/bookings")


def _enum(value: str | None, names: dict[str, int], key: str, default: int | None) -> int | None:
    """Integer or name, as ASP.NET bound them; unknown values are a 400, not a silent default."""
    if value is None or value == "":
        return default
    by_name = {name.lower(): number for name, number in names.items()}
    if value.lstrip("-").isdigit() and int(value) in names.values():
        return int(value)
    if value.lower() in by_name:
        return by_name[value.lower()]
    raise ValidationFailed.one(key, f"The value '{value[:50]}' is not valid for {key}.")


@router.get("")
def list_bookings(
    user: UserDep,
    ctx: CtxDep,
    time_range: Annotated[str | None, Query(alias="timeRange", max_length=20)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
) -> JSONResponse:
    statuses = {name: number for number, name in STATUS_NAMES.items()}
    time_value = _enum(time_range, TIME_RANGE_NAMES, "timeRange", bookings.FUTURE)
    status_value = _enum(status, statuses, "status", None)
    return JSONResponse(bookings.list_bookings(ctx, user, time_value or 0, status_value))


@router.get("/availability")
def availability(
    user: UserDep,
    ctx: CtxDep,
    start_date: Annotated[WireDate, Query(alias="startDate")],
    end_date: Annotated[WireDate, Query(alias="endDate")],
    exclude_booking_id: Annotated[uuid.UUID | None, Query(alias="excludeBookingId")] = None,
) -> JSONResponse:
    return JSONResponse(bookings.check_availability(ctx, start_date, end_date, exclude_booking_id))


@router.post("/validate")
def validate(body: BookingIn, user: UserDep, ctx: CtxDep) -> dict[str, Any]:
    return bookings.validate_request(ctx, user, body)


@router.get("/{booking_id:uuid}")
def get_booking(booking_id: uuid.UUID, user: UserDep, ctx: CtxDep) -> dict[str, Any]:
    return bookings.get_booking(ctx, user, booking_id)


@router.get("/{booking_id:uuid}/history")
def history(booking_id: uuid.UUID, user: UserDep, ctx: CtxDep) -> list[dict[str, Any]]:
    return bookings.history(ctx, user, booking_id)


@router.post("", status_code=201)
def create_booking(body: BookingIn, user: UserDep, ctx: CtxDep, request: Request) -> JSONResponse:
    booking = bookings.create_booking(ctx, user, body)
    location = str(request.url_for("get_booking", booking_id=booking["id"]))
    return JSONResponse(booking, status_code=201, headers={"Location": location})


@router.put("/{booking_id:uuid}")
def update_booking(
    booking_id: uuid.UUID, body: BookingIn, user: UserDep, ctx: CtxDep
) -> dict[str, Any]:
    return bookings.update_booking(ctx, user, booking_id, body)


@router.post("/{booking_id:uuid}/cancel", status_code=204)
def cancel(booking_id: uuid.UUID, user: UserDep, ctx: CtxDep) -> Response:
    bookings.cancel_booking(ctx, user, booking_id)
    return Response(status_code=204)


def _decision(action: str) -> Any:
    def decide(booking_id: uuid.UUID, admin: AdminDep, ctx: CtxDep) -> Response:
        bookings.decide_booking(ctx, admin, booking_id, action)
        return Response(status_code=204)

    decide.__name__ = f"{action}_booking"
    return decide


for _action in ("accept", "reject", "confirm"):
    router.add_api_route(
        f"/{{booking_id:uuid}}/{_action}",
        _decision(_action),
        methods=["POST"],
        status_code=204,
    )
