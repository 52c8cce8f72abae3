"""Calendar feeds: the subscription URLs (no session: the token is the key), the one-off
``.ics`` download of a booking, the feed section of the profile and the house feed settings."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from booking.api.deps import CtxDep, client_address
from booking.db.models import User
from booking.domain import feeds
from booking.domain.context import Context
from booking.domain.errors import Forbidden, NotFound
from booking.http import Router
from booking.web.core import (
    FormData,
    PageAdmin,
    PageError,
    PageUser,
    check_csrf,
    page_router,
    redirect,
    render,
    translator,
)
from booking.web.i18n import N_

# Subscriptions are fetched by calendar apps without cookies: no page dependencies here.
feed_router = Router(include_in_schema=False)
router = page_router()

CALENDAR_TYPE = "text/calendar; charset=utf-8"
# Private (the URL is a secret), short enough that a change shows within minutes.
FEED_CACHE = "private, max-age=300"
NOT_FOUND = "Not found"


def _calendar_response(request: Request, body: bytes, **headers: str) -> Response:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    common = {"ETag": etag, "X-Robots-Tag": "noindex", **headers}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=common)
    content = b"" if request.method == "HEAD" else body
    response = Response(content, media_type=CALENDAR_TYPE, headers=common)
    if request.method == "HEAD":
        response.headers["content-length"] = str(len(body))
    return response


def _not_found() -> Response:
    return Response(NOT_FOUND, status_code=404, media_type="text/plain")


# --- subscriptions -----------------------------------------------------------------------------


@feed_router.get("/feeds/house/{token}.ics")  # and HEAD
def house_feed(request: Request, token: str, ctx: CtxDep) -> Response:
    body = feeds.house_feed(ctx, token)
    if body is None:  # unknown token or feed switched off: the same answer
        return _not_found()
    return _calendar_response(request, body, **{"Cache-Control": FEED_CACHE})


@feed_router.get("/feeds/{token}.ics")  # and HEAD
def member_feed(request: Request, token: str, ctx: CtxDep) -> Response:
    body = feeds.member_feed(ctx, token)
    if body is None:
        return _not_found()
    return _calendar_response(request, body, **{"Cache-Control": FEED_CACHE})


# --- one booking ---------------------------------------------------------------------------------


@router.get("/bookings/{booking_id:uuid}.ics")
def booking_ics(request: Request, booking_id: uuid.UUID, user: PageUser, ctx: CtxDep) -> Response:
    try:
        body, filename = feeds.booking_ics(ctx, user, booking_id)
    except (NotFound, Forbidden) as exc:
        # Like the detail page: someone else's booking is "not found", not "forbidden".
        raise PageError(404, N_("Buchung nicht gefunden.")) from exc
    return _calendar_response(
        request,
        body,
        **{
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-cache",
        },
    )


# --- profile section -------------------------------------------------------------------------------


def profile_feed(ctx: Context, user: User) -> dict[str, str] | None:
    """The member's feed addresses for the profile page, or None before one was created."""
    token = feeds.member_feed_token(ctx, user)
    if token is None:
        return None
    url = feeds.member_feed_url(ctx, token)
    return {"url": url, "webcal": feeds.webcal(url)}


@router.post("/profile/calendar-feed")
def renew_feed(request: Request, user: PageUser, form: FormData, ctx: CtxDep) -> Response:
    check_csrf(request, form)
    feeds.renew_member_feed(ctx, user, client_address(request))
    message = translator(request).gettext(
        "Die Kalender-Adresse wurde erzeugt. Frühere Adressen funktionieren nicht mehr."
    )
    return redirect("/profile#calendar-feed", request, message)


@router.post("/profile/calendar-feed/delete")
def delete_feed(request: Request, user: PageUser, form: FormData, ctx: CtxDep) -> Response:
    check_csrf(request, form)
    feeds.delete_member_feed(ctx, user, client_address(request))
    message = translator(request).gettext("Die Kalender-Adresse wurde gelöscht.")
    return redirect("/profile#calendar-feed", request, message)


# --- house feed (administrators) -----------------------------------------------------------------


def _settings_page(request: Request, settings: dict[str, Any]) -> Response:
    webcal = feeds.webcal(settings["url"]) if settings["url"] else None
    return render(request, "admin/calendar.html", feed=settings, webcal=webcal)


@router.get("/admin/calendar")
def house_settings(request: Request, admin: PageAdmin, ctx: CtxDep) -> Response:
    return _settings_page(request, feeds.house_feed_settings(ctx, admin))


@router.post("/admin/calendar")
def save_house_settings(
    request: Request, admin: PageAdmin, form: FormData, ctx: CtxDep
) -> Response:
    check_csrf(request, form)
    feeds.update_house_feed(
        ctx,
        admin,
        enabled=form.get("enabled") == "on",
        include_pending=form.get("include_pending") == "on",
        renew=form.get("renew") == "1",
    )
    t = translator(request)
    if form.get("renew") == "1":
        message = t.gettext("Neue Adresse erzeugt. Die bisherige funktioniert nicht mehr.")
    else:
        message = t.gettext("Einstellungen gespeichert.")
    return redirect("/admin/calendar", request, message)
