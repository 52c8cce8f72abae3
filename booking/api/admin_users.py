"""``/api/admin/users``: approval of new members (reference §2.3) and the user management the
predecessor planned: list, revoke or restore the right to book, change role."""

from __future__ import annotations

from typing import Annotated, Any

from booking.api.auth import user_out
from booking.api.deps import AdminDep, CtxDep
from booking.db.models import User
from booking.domain import users
from booking.http import Path, Router
from booking.lib.schema import Field, Model
from booking.lib.timeutil import wire_datetime

router = Router(prefix="/api/admin/users")
NEVER = "0001-01-01T00:00:00"
# Ids are 32-bit integers; a larger number must be a 400, not a database overflow (a 500).
UserId = Annotated[int, Path(ge=0, le=2**31 - 1)]


class RejectIn(Model):
    reason: str | None = Field(default=None, max_length=1000)


class RoleIn(Model):
    role: int = Field(ge=0, le=1, description="0 = Member, 1 = Administrator")


def _pending_out(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "registrationDate": wire_datetime(user.registration_date) or NEVER,
        "emailVerifiedAt": wire_datetime(user.email_verified_at),
        "emailVerified": user.email_verified,
    }


def _full_out(user: User) -> dict[str, Any]:
    return {
        **user_out(user),
        "isActive": user.is_active,
        "emailVerified": user.email_verified,
        "isApprovedForBooking": user.is_approved_for_booking,
        "canBook": users.can_book(user),
        "bookingRevokedAt": wire_datetime(user.booking_revoked_at),
        "registrationDate": wire_datetime(user.registration_date),
        "lastLoginAt": wire_datetime(user.last_login_at),
    }


@router.get("/pending")
def pending(admin: AdminDep, ctx: CtxDep) -> list[dict[str, Any]]:
    return [_pending_out(user) for user in users.pending_users(ctx)]


@router.get("")
def all_users(admin: AdminDep, ctx: CtxDep) -> list[dict[str, Any]]:
    return [_full_out(user) for user in users.all_users(ctx)]


@router.post("/{user_id:int}/approve")
def approve(user_id: UserId, admin: AdminDep, ctx: CtxDep) -> dict[str, str]:
    return {"message": users.approve(ctx, admin, user_id)}


@router.post("/{user_id:int}/reject")
def reject(user_id: UserId, admin: AdminDep, ctx: CtxDep, body: RejectIn) -> dict[str, str]:
    return {"message": users.reject(ctx, admin, user_id, body.reason)}


@router.post("/{user_id:int}/revoke-booking")
def revoke_booking(user_id: UserId, admin: AdminDep, ctx: CtxDep) -> dict[str, Any]:
    user = users.set_booking_right(ctx, admin, user_id, allowed=False)
    return {"message": f"{user.full_name} darf nicht mehr buchen.", "user": _full_out(user)}


@router.post("/{user_id:int}/restore-booking")
def restore_booking(user_id: UserId, admin: AdminDep, ctx: CtxDep) -> dict[str, Any]:
    user = users.set_booking_right(ctx, admin, user_id, allowed=True)
    return {"message": f"{user.full_name} darf wieder buchen.", "user": _full_out(user)}


@router.put("/{user_id:int}/role")
def set_role(user_id: UserId, body: RoleIn, admin: AdminDep, ctx: CtxDep) -> dict[str, Any]:
    user = users.set_role(ctx, admin, user_id, users.ROLES[body.role])
    return {"message": f"Rolle von {user.full_name} geändert.", "user": _full_out(user)}
