"""Sleeping places (rooms, tents, campers, ...): members read the active ones, admins manage."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import select

from booking.db.models import SleepingAccommodation
from booking.domain import audit
from booking.domain.errors import NotFound, ValidationFailed
from booking.domain.users import require_admin
from booking.lib.schema import Model
from booking.lib.timeutil import utcnow, wire_datetime

if TYPE_CHECKING:
    from booking.db.models import User
    from booking.domain.context import Context

ROOM, TENT, CAMPER, OTHER = 0, 1, 2, 3
TYPES = (ROOM, TENT, CAMPER, OTHER)
MAX_NAME = 100


class PlaceIn(Model, camel=True):
    name: str
    type: int = ROOM
    max_capacity: int
    # Missing on PUT keeps the current state (the predecessor deactivated the place instead).
    is_active: bool | None = None


def validate_place(data: PlaceIn) -> str:
    """Return the cleaned name or raise with the predecessor's messages and keys."""
    errors: dict[str, list[str]] = {}
    name = data.name.strip()
    if not name:
        errors["Name"] = ["The Name field is required."]
    elif len(name) > MAX_NAME:
        errors["Name"] = [
            "The field Name must be a string with a minimum length of 1 and a maximum length of 100."
        ]
    if data.type not in TYPES:
        errors["Type"] = [
            "Unbekannter Typ. Erlaubt: 0 (Zimmer), 1 (Zelt), 2 (Wohnmobil), 3 (Sonstiges)."
        ]
    if not 1 <= data.max_capacity <= 100:
        errors["MaxCapacity"] = ["The field MaxCapacity must be between 1 and 100."]
    if errors:
        raise ValidationFailed(errors)
    return name


def place_out(place: SleepingAccommodation) -> dict[str, object]:
    return {
        "id": str(place.id),
        "name": place.name,
        "type": place.type,
        "maxCapacity": place.max_capacity,
        "isActive": place.is_active,
        "createdAt": wire_datetime(place.created_at),
        "changedAt": wire_datetime(place.changed_at),
    }


def list_places(
    ctx: Context, actor: User, include_inactive: bool = False
) -> list[dict[str, object]]:
    if include_inactive:
        require_admin(actor)
    query = select(SleepingAccommodation).order_by(SleepingAccommodation.name)
    if not include_inactive:
        query = query.where(SleepingAccommodation.is_active.is_(True))
    with ctx.db.read() as session:
        return [place_out(place) for place in session.scalars(query)]


def get_place(ctx: Context, actor: User, place_id: uuid.UUID) -> dict[str, object]:
    with ctx.db.read() as session:
        place = session.get(SleepingAccommodation, place_id)
    # Members see active places only; for them an inactive one does not exist.
    if place is None or (not place.is_active and not actor.is_admin):
        raise NotFound("Schlafmöglichkeit nicht gefunden.")
    return place_out(place)


def create_place(ctx: Context, actor: User, data: PlaceIn) -> dict[str, object]:
    require_admin(actor)
    name = validate_place(data)
    with ctx.db.write() as session:
        place = SleepingAccommodation(
            id=uuid.uuid4(),
            name=name,
            type=data.type,
            max_capacity=data.max_capacity,
            is_active=True,
            created_at=utcnow(),
        )
        session.add(place)
        audit.record(
            session, actor.id, audit.PLACE_CREATED, name, details={"placeId": str(place.id)}
        )
        return place_out(place)


def update_place(
    ctx: Context, actor: User, place_id: uuid.UUID, data: PlaceIn
) -> dict[str, object]:
    """Replace name, type and capacity; ``isActive`` deactivates or reactivates."""
    require_admin(actor)
    name = validate_place(data)
    with ctx.db.write() as session:
        place = session.get(SleepingAccommodation, place_id, with_for_update=True)
        if place is None:
            raise NotFound("Schlafmöglichkeit nicht gefunden.")
        active = place.is_active if data.is_active is None else data.is_active
        new = (name, data.type, data.max_capacity, active)
        old = (place.name, place.type, place.max_capacity, place.is_active)
        if new != old:
            place.name, place.type, place.max_capacity, place.is_active = new
            place.changed_at = utcnow()
            fields = ("name", "type", "maxCapacity", "isActive")
            changes: dict[str, object] = {"placeId": str(place.id)}
            changes.update({f: [a, b] for f, a, b in zip(fields, old, new, strict=True) if a != b})
            audit.record(session, actor.id, audit.PLACE_UPDATED, name, details=changes)
        return place_out(place)


def deactivate_place(ctx: Context, actor: User, place_id: uuid.UUID) -> None:
    """Soft delete; existing bookings keep the place. Already inactive is not an error."""
    _set_active(ctx, actor, place_id, False)


def reactivate_place(ctx: Context, actor: User, place_id: uuid.UUID) -> None:
    """The counterpart of ``deactivate_place``. Already active is not an error."""
    _set_active(ctx, actor, place_id, True)


def _set_active(ctx: Context, actor: User, place_id: uuid.UUID, active: bool) -> None:
    require_admin(actor)
    with ctx.db.write() as session:
        place = session.get(SleepingAccommodation, place_id, with_for_update=True)
        if place is None:
            raise NotFound("Schlafmöglichkeit nicht gefunden.")
        if place.is_active != active:
            place.is_active = active
            place.changed_at = utcnow()
            event = audit.PLACE_REACTIVATED if active else audit.PLACE_DEACTIVATED
            audit.record(session, actor.id, event, place.name, details={"placeId": str(place.id)})
