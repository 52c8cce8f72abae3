"""The HTML surface: server-rendered pages over the same domain functions as the API."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from booking.http import exception_handler
from booking.web import (
    account,
    admin,
    audit,
    bookings,
    core,
    email_change,
    feeds,
    house_rules,
    oidc,
    public,
    security,
    two_factor,
)
from booking.web.i18n import N_

log = logging.getLogger("booking.web")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "object-src 'none'"
)
ERROR_TITLES = {
    400: N_("Ungültige Anfrage"),
    403: N_("Keine Berechtigung"),
    404: N_("Seite nicht gefunden"),
    405: N_("Nicht erlaubt"),
    413: N_("Anfrage zu groß"),
    429: N_("Zu viele Versuche"),
    500: N_("Interner Fehler"),
}


def error_page(request: Request, status: int, message: str | None = None) -> Response:
    try:
        if not hasattr(request.state, "user"):
            core.page_user(request, request.app.state.ctx)
    except Exception:  # the error page must render even when the database is down
        request.state.user = None
    return core.render(
        request,
        "errors/error.html",
        status=status,
        code=status,
        title=ERROR_TITLES.get(status, N_("Fehler")),
        message=message,
    )


async def serve_static(request: Request) -> Response:
    """A plain Starlette endpoint: a file read needs no worker thread of its own (FileResponse
    reads it in one when it sends)."""
    name: str = request.path_params["name"]
    path = core.STATIC_FILES.get(name)
    if path is not None:  # a hashed name never changes its content
        return FileResponse(path, headers={"Cache-Control": "public, max-age=31536000, immutable"})
    plain = core.STATIC_NAMES.get(name)
    if plain is not None:
        return FileResponse(core.STATIC_FILES[plain], headers={"Cache-Control": "no-cache"})
    return Response("Not found", status_code=404, media_type="text/plain")


def install(app: Starlette) -> None:
    routes = app.router.routes
    for module in (public, oidc, account, bookings, admin, audit, two_factor):
        routes.extend(module.router.routes)
    for router in (house_rules.router, email_change.router, security.router):
        routes.extend(router.routes)
    routes.extend(feeds.router.routes + feeds.feed_router.routes)
    app.add_route("/static/{name:path}", serve_static, methods=["GET"], include_in_schema=False)

    @exception_handler(app, core.PageError)
    async def _page_error(request: Request, exc: core.PageError) -> Response:
        return error_page(request, exc.status, exc.message)

    @exception_handler(app, core.TwoFactorSetupRequired)
    async def _two_factor_setup(request: Request, exc: core.TwoFactorSetupRequired) -> Response:
        return two_factor.forced_setup_redirect(request)

    @exception_handler(app, core.LoginRequired)
    async def _login(request: Request, exc: core.LoginRequired) -> Response:
        return core.redirect(core.login_url(request))
