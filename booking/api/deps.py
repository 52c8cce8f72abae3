"""Request dependencies: the domain context and the calling user."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.datastructures import DefaultPlaceholder

from booking.api.errors import Unauthenticated
from booking.db.models import User
from booking.domain import sessions, users
from booking.domain.context import Context
from booking.lib import jwt


class Router(APIRouter):
    """An APIRouter that does not turn return annotations into response models: FastAPI would
    validate every response again (in a worker thread) although the domain built it."""

    def add_api_route(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        if isinstance(kwargs.get("response_model"), DefaultPlaceholder):
            kwargs["response_model"] = None
        super().add_api_route(path, endpoint, **kwargs)


# Dependencies without I/O are async so FastAPI runs them inline, not in the thread pool.
async def get_ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


CtxDep = Annotated[Context, Depends(get_ctx)]


def client_address(request: Request) -> str | None:
    """The caller's address (uvicorn has applied X-Forwarded-For from trusted proxies)."""
    return request.client.host if request.client else None


def token_key(ctx: Context) -> bytes:
    return ctx.derived_key("api-token")


def issue_token(ctx: Context, user: User) -> str:
    claims = jwt.user_claims(
        user.id, user.email, user.full_name, user.role, ctx.settings.jwt_minutes
    )
    return jwt.encode(claims, token_key(ctx))


SESSION_COOKIE = "booking_session"


def current_user(request: Request, ctx: CtxDep) -> User:
    """The bearer token's user, checked against the account's current state on every call.

    Pages' scripts may read (GET) with the browser's session cookie; changes through the API
    need a bearer token, so a cross-site form can never drive the API with a cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header and request.method in ("GET", "HEAD"):
        cookie = request.cookies.get(SESSION_COOKIE, "")
        user = sessions.session_user(ctx, cookie) if cookie else None
        if user is None:
            raise Unauthenticated()
        return user
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated()
    try:
        user_id = jwt.user_id_from(jwt.decode(token.strip(), token_key(ctx)))
    except jwt.InvalidToken:
        raise Unauthenticated(invalid_token=True) from None
    user = users.active_user(ctx, user_id)
    if user is None:
        raise Unauthenticated(invalid_token=True)
    return user


UserDep = Annotated[User, Depends(current_user)]


async def admin_user(user: UserDep) -> User:
    users.require_admin(user)
    return user


AdminDep = Annotated[User, Depends(admin_user)]
