"""``/api/sleeping-accommodations``: members read active places, administrators manage them."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from booking.api.deps import AdminDep, CtxDep, UserDep
from booking.domain import places
from booking.domain.places import PlaceIn
from booking.http import Router

router = Router(prefix="/api/sleeping-accommodations")


@router.get("")
def list_places(user: UserDep, ctx: CtxDep, includeInactive: bool = False) -> list[dict[str, Any]]:  # noqa: N803
    return places.list_places(ctx, user, includeInactive)


@router.get("/{place_id:uuid}")
def get_place(place_id: uuid.UUID, user: UserDep, ctx: CtxDep) -> dict[str, Any]:
    return places.get_place(ctx, user, place_id)


@router.post("", status_code=201)
def create_place(body: PlaceIn, admin: AdminDep, ctx: CtxDep, request: Request) -> JSONResponse:
    place = places.create_place(ctx, admin, body)
    location = str(request.url_for("get_place", place_id=place["id"]))
    return JSONResponse(place, status_code=201, headers={"Location": location})


@router.put("/{place_id:uuid}")
def update_place(
    place_id: uuid.UUID, body: PlaceIn, admin: AdminDep, ctx: CtxDep
) -> dict[str, Any]:
    return places.update_place(ctx, admin, place_id, body)


@router.delete("/{place_id:uuid}", status_code=204)
def delete_place(place_id: uuid.UUID, admin: AdminDep, ctx: CtxDep) -> Response:
    places.deactivate_place(ctx, admin, place_id)
    return Response(status_code=204)
