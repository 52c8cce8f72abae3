"""Request dependencies: the domain context and the calling user."""

from __future__ import annotations

import hmac
from typing import Annotated

from starlette.requests import Request
from starlette.responses import Response

from booking.api.errors import Unauthenticated
from booking.db.models import User
from booking.domain import sessions, users
from booking.domain.context import Context
from booking.domain.errors import Forbidden
from booking.http import Depends
from booking.lib import jwt


def get_ctx(request: Request) -> Context:
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


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CSRF_HEADER = "x-csrf-token"
CSRF_REFUSED = (
    "Fehlendes oder ungültiges CSRF-Token: Änderungen mit dem Sitzungs-Cookie brauchen den "
    "Header X-CSRF-Token der Seite."
)


def current_user(request: Request, ctx: CtxDep) -> User:
    """The bearer token's user, checked against the account's current state on every call.

    Pages' scripts may also use the browser's session cookie. A change (POST, PUT, PATCH,
    DELETE) with the cookie needs the page's CSRF token in ``X-CSRF-Token`` (the ``csrf-token``
    meta element of every page): a cross-site form cannot set that header, and a cross-site
    script cannot read the token. Bearer tokens are not sent by browsers on their own, so they
    need no CSRF token."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header and SESSION_COOKIE in request.cookies:
        cookie = request.cookies[SESSION_COOKIE]
        user = sessions.session_user(ctx, cookie) if cookie else None
        if user is None:
            raise Unauthenticated()
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            expected = sessions.csrf_token_for(ctx, cookie)
            if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
                raise Forbidden(CSRF_REFUSED)
        request.state.session_cookie = cookie
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


def renew_cookie_session(request: Request, response: Response, ctx: Context, user: User) -> None:
    """After a password or e-mail change through the API by a page's script: the browser keeps
    its login with a new session token (the domain ended every session)."""
    if getattr(request.state, "session_cookie", None) is None:
        return
    response.set_cookie(
        SESSION_COOKIE,
        sessions.renew_session(ctx, user.id),
        max_age=sessions.cookie_max_age(ctx),
        httponly=True,
        samesite="lax",
        secure=ctx.settings.site_url.startswith("https://"),
        path="/",
    )


def admin_user(user: UserDep, ctx: CtxDep) -> User:
    users.require_admin(user)
    if ctx.settings.admin_2fa_required:  # BOOKING_REQUIRE_ADMIN_2FA
        from booking.domain import two_factor

        two_factor.require_for_admin(ctx, user)
    return user


AdminDep = Annotated[User, Depends(admin_user)]
