"""Login with an OpenID Connect provider (booking/domain/oidc.py): the button's redirect to the
provider and the provider's redirect back. Every failure ends on the login page with a German
message, never on an error page."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from booking.api.deps import CtxDep, client_address
from booking.domain import oidc
from booking.domain.context import Context
from booking.web.core import (
    MaybeUser,
    PageError,
    page_router,
    redirect,
    render,
    safe_next,
    secure_cookies,
    translator,
)
from booking.web.public import finish_login

log = logging.getLogger("booking.web")
router = page_router()
# Sent only to the two routes below; lax, because the provider's redirect back is a top-level
# GET from another site.
FLOW_COOKIE = "booking_oidc"
FLOW_PATH = "/login/oidc"


def _enabled(ctx: Context) -> None:
    if not oidc.enabled(ctx.settings):
        raise PageError(404)


def _login_page(request: Request, message: str, status: int, target: str) -> Response:
    t = translator(request)
    page = render(
        request, "auth/login.html", status, errors={"_form": t.gettext(message)}, email="",
        next=target,
    )  # fmt: skip
    page.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return page


@router.get("/login/oidc")
def start(request: Request, user: MaybeUser, ctx: CtxDep, next: str = "/bookings") -> Response:  # noqa: A002
    _enabled(ctx)
    target = safe_next(next)
    if user is not None:
        return redirect(target)
    try:
        url, flow = oidc.start(ctx, target)
    except oidc.OidcFailed as exc:
        log.warning("OpenID Connect login could not start: %s", exc.reason)
        return _login_page(request, exc.message, 503, target)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        FLOW_COOKIE,
        oidc.seal(ctx, flow),
        max_age=oidc.FLOW_SECONDS,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(ctx),
        path=FLOW_PATH,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/login/oidc/callback")
def callback(request: Request, ctx: CtxDep) -> Response:
    _enabled(ctx)
    flow = oidc.unseal(ctx, request.cookies.get(FLOW_COOKIE, ""))
    target = flow.next if flow else "/bookings"
    params = dict(request.query_params)
    try:
        user = oidc.complete(ctx, flow, params, client_address(request))
    except oidc.OidcFailed as exc:
        if exc.notice:  # an account was made and waits for its mail or an administrator
            response = redirect("/login", request, translator(request).gettext(exc.message))
            response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
            return response
        log.info("OpenID Connect login failed: %s", exc.reason)
        return _login_page(request, exc.message, 400, target)
    response = finish_login(request, ctx, user, safe_next(target))
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return response
