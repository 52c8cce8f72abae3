"""Calendar feeds (RFC 5545): a private feed per member, an optional house-wide feed, and a
one-off ``.ics`` file per booking.

Feed URLs carry a token of two parts: ``feed_key`` (random, stored, indexed) and an HMAC of it
under a key derived from the application secret (not stored). A lookup is one indexed query plus
a constant-time comparison; the profile can show the URL again for a second device; a leaked
database or backup alone reads no feed; a new key ends the old URL at once.

Events are all-day (``DTSTART``/``DTEND`` as dates, ``DTEND`` = departure day, exclusive, so the
event covers exactly the nights), their ``UID`` is the booking's id, ``SEQUENCE`` counts the
booking's changes from its history, and stays that were cancelled or rejected recently stay in
the feed as ``STATUS:CANCELLED`` so subscribed calendars remove them. ``icalendar`` escapes all
text; it is imported only when a feed is built.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select

from booking.db.models import (
    Booking,
    BookingHistory,
    BookingItem,
    CalendarFeed,
    HouseFeedSettings,
    SleepingAccommodation,
    User,
)
from booking.domain import audit
from booking.domain.availability import ACCEPTED, CANCELLED, CONFIRMED, PENDING, REJECTED
from booking.domain.errors import Forbidden, NotFound
from booking.domain.users import require_admin
from booking.lib.timeutil import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from booking.domain.context import Context

KEY_LENGTH = 16  # characters of secrets.token_urlsafe(12)
MAC_LENGTH = 22  # base64 characters of the HMAC kept in the URL (132 bits)
MEMBER_PURPOSE = "calendar-feed"
HOUSE_PURPOSE = "house-calendar-feed"
# Feeds stay small: stays that ended more than a year ago drop out, and a cancelled or rejected
# stay is kept (as CANCELLED) long enough for every subscribed calendar to have removed it.
PAST_DAYS = 365
CANCELLED_KEPT_DAYS = 60
# Hint for clients that honour it (Apple, Outlook): fetch about hourly.
REFRESH = timedelta(hours=1)
REFRESH_TEXT = "PT1H"  # X-PUBLISHED-TTL is not a property icalendar knows, so given as text

ICAL_STATUS = {
    PENDING: "TENTATIVE",
    ACCEPTED: "CONFIRMED",
    CONFIRMED: "CONFIRMED",
    CANCELLED: "CANCELLED",
    REJECTED: "CANCELLED",
}
STATUS_TEXT = {
    PENDING: "angefragt",
    ACCEPTED: "angenommen",
    CONFIRMED: "bestätigt",
    CANCELLED: "storniert",
    REJECTED: "abgelehnt",
}


# --- tokens --------------------------------------------------------------------------------


def _new_key() -> str:
    return secrets.token_urlsafe(12)


def _mac(ctx: Context, purpose: str, key: str) -> str:
    digest = hmac.new(ctx.derived_key(purpose), key.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:MAC_LENGTH]


def _token(ctx: Context, purpose: str, key: str) -> str:
    return key + _mac(ctx, purpose, key)


def _key_of(ctx: Context, purpose: str, token: str) -> str | None:
    """The stored key a token names, if the token is genuine."""
    if len(token) != KEY_LENGTH + MAC_LENGTH:
        return None
    key, mac = token[:KEY_LENGTH], token[KEY_LENGTH:]
    if not hmac.compare_digest(mac.encode(), _mac(ctx, purpose, key).encode()):
        return None
    return key


def member_feed_url(ctx: Context, token: str) -> str:
    return f"{ctx.settings.site_url}/feeds/{token}.ics"


def house_feed_url(ctx: Context, token: str) -> str:
    return f"{ctx.settings.site_url}/feeds/house/{token}.ics"


def webcal(url: str) -> str:
    """The same address with the scheme calendar apps open as a subscription."""
    return "webcal://" + url.split("://", 1)[1]


# --- member feeds --------------------------------------------------------------------------


def member_feed_token(ctx: Context, user: User) -> str | None:
    with ctx.db.read() as session:
        key = session.scalar(select(CalendarFeed.feed_key).where(CalendarFeed.user_id == user.id))
    return None if key is None else _token(ctx, MEMBER_PURPOSE, key)


def renew_member_feed(ctx: Context, user: User, address: str | None = None) -> str:
    """Create the member's feed, or give it a new address (the old one stops working)."""
    key = _new_key()
    with ctx.db.write() as session:
        feed = session.get(CalendarFeed, user.id, with_for_update=True)
        if feed is None:
            session.add(CalendarFeed(user_id=user.id, feed_key=key, created_at=utcnow()))
        else:
            feed.feed_key, feed.created_at = key, utcnow()
        audit.record(session, user.id, audit.CALENDAR_FEED_RENEWED, user.email, address)
    return _token(ctx, MEMBER_PURPOSE, key)


def delete_member_feed(ctx: Context, user: User, address: str | None = None) -> None:
    with ctx.db.write() as session:
        feed = session.get(CalendarFeed, user.id, with_for_update=True)
        if feed is not None:
            session.delete(feed)
            audit.record(session, user.id, audit.CALENDAR_FEED_DELETED, user.email, address)


def member_feed(ctx: Context, token: str) -> bytes | None:
    """The member's own stays, or None (404) for an unknown token or an inactive account."""
    key = _key_of(ctx, MEMBER_PURPOSE, token)
    if key is None:
        return None
    with ctx.db.read() as session:
        user_id = session.scalar(
            select(User.id)
            .join(CalendarFeed, CalendarFeed.user_id == User.id)
            .where(CalendarFeed.feed_key == key, User.is_active.is_(True))
        )
        if user_id is None:
            return None
        stays = _stays(session, ctx, Booking.user_id == user_id, include_pending=True)
    return _calendar(ctx, "Meine Aufenthalte", [_event(ctx, s, house=False) for s in stays])


# --- the house feed ------------------------------------------------------------------------


def _house_row(session: Session) -> HouseFeedSettings:
    row = session.get(HouseFeedSettings, 1, with_for_update=True)
    if row is None:
        row = HouseFeedSettings(
            id=1, enabled=False, include_pending=False, feed_key=_new_key(), changed_at=utcnow()
        )
        session.add(row)
    return row


def house_feed_settings(ctx: Context, actor: User) -> dict[str, Any]:
    require_admin(actor)
    with ctx.db.read() as session:
        row = session.get(HouseFeedSettings, 1)
    if row is None:
        return {"enabled": False, "includePending": False, "url": None}
    url = house_feed_url(ctx, _token(ctx, HOUSE_PURPOSE, row.feed_key)) if row.enabled else None
    return {"enabled": row.enabled, "includePending": row.include_pending, "url": url}


def update_house_feed(
    ctx: Context, actor: User, *, enabled: bool, include_pending: bool, renew: bool = False
) -> dict[str, Any]:
    require_admin(actor)
    with ctx.db.write() as session:
        row = _house_row(session)
        changes: dict[str, Any] = {}
        if row.enabled != enabled:
            changes["enabled"] = enabled
        if row.include_pending != include_pending:
            changes["includePending"] = include_pending
        if renew:
            changes["newAddress"] = True
            row.feed_key = _new_key()
        row.enabled, row.include_pending, row.changed_at = enabled, include_pending, utcnow()
        if changes:
            audit.record(session, actor.id, audit.HOUSE_FEED_CHANGED, "house", details=changes)
    return house_feed_settings(ctx, actor)


def house_feed(ctx: Context, token: str) -> bytes | None:
    """All accepted stays (and pending ones as TENTATIVE when enabled), or None while off."""
    key = _key_of(ctx, HOUSE_PURPOSE, token)
    if key is None:
        return None
    with ctx.db.read() as session:
        row = session.get(HouseFeedSettings, 1)
        if row is None or not row.enabled or not hmac.compare_digest(row.feed_key, key):
            return None
        stays = _stays(session, ctx, None, include_pending=row.include_pending)
    return _calendar(ctx, "Belegung des Hauses", [_event(ctx, s, house=True) for s in stays])


# --- one booking ---------------------------------------------------------------------------


def booking_ics(ctx: Context, actor: User, booking_id: uuid.UUID) -> tuple[bytes, str]:
    """One stay as an ``.ics`` file (for its owner or an administrator) and a file name."""
    with ctx.db.read() as session:
        stays = _stays(session, ctx, Booking.id == booking_id, include_pending=True, window=False)
    if not stays:
        raise NotFound("Buchung nicht gefunden.")
    stay = stays[0]
    if stay.user_id != actor.id and not actor.is_admin:
        raise Forbidden("Sie dürfen nur Ihre eigenen Buchungen sehen.")
    others = stay.user_id != actor.id
    body = _calendar(ctx, "Aufenthalt", [_event(ctx, stay, house=others)])
    return body, f"aufenthalt-{stay.start.isoformat()}.ics"


# --- reading stays -------------------------------------------------------------------------


@dataclass
class Stay:
    id: uuid.UUID
    user_id: int
    guest: str
    start: date
    end: date
    status: int
    notes: str | None
    created_at: datetime
    changed_at: datetime | None
    changes: int
    items: list[tuple[str, int]] = field(default_factory=list)

    @property
    def persons(self) -> int:
        return sum(persons for _, persons in self.items)


def _stays(
    session: Session,
    ctx: Context,
    condition: Any,
    *,
    include_pending: bool,
    window: bool = True,
) -> list[Stay]:
    """Stays with their places in one query (a row per item), in date order."""
    changes = (
        select(func.count(BookingHistory.id))
        .where(BookingHistory.booking_id == Booking.id)
        .correlate(Booking)
        .scalar_subquery()
    )
    query = (
        select(
            Booking.id,
            Booking.user_id,
            Booking.start_date,
            Booking.end_date,
            Booking.status,
            Booking.notes,
            Booking.created_at,
            Booking.changed_at,
            User.first_name,
            User.last_name,
            SleepingAccommodation.name,
            BookingItem.person_count,
            changes.label("changes"),
        )  # fmt: skip
        .join(User, User.id == Booking.user_id)
        .join(BookingItem, BookingItem.booking_id == Booking.id)
        .join(
            SleepingAccommodation, SleepingAccommodation.id == BookingItem.sleeping_accommodation_id
        )
        .order_by(Booking.start_date, Booking.id, BookingItem.position)
    )
    if condition is not None:
        query = query.where(condition)
    if window:
        query = query.where(_shown(ctx, include_pending))
    stays: dict[uuid.UUID, Stay] = {}
    for row in session.execute(query):
        stay = stays.get(row.id)
        if stay is None:
            stay = stays[row.id] = Stay(
                id=row.id,
                user_id=row.user_id,
                guest=f"{row.first_name} {row.last_name}".strip(),
                start=row.start_date,
                end=row.end_date,
                status=row.status,
                notes=row.notes,
                created_at=row.created_at,
                changed_at=row.changed_at,
                changes=row.changes,
            )
        stay.items.append((row.name, row.person_count))
    return list(stays.values())


def _shown(ctx: Context, include_pending: bool) -> Any:
    live = [ACCEPTED, CONFIRMED] + ([PENDING] if include_pending else [])
    gone = [CANCELLED] + ([REJECTED] if include_pending else [])
    recently = utcnow() - timedelta(days=CANCELLED_KEPT_DAYS)
    return (Booking.end_date >= ctx.today() - timedelta(days=PAST_DAYS)) & or_(
        Booking.status.in_(live),
        Booking.status.in_(gone)
        & (func.coalesce(Booking.changed_at, Booking.created_at) >= recently),
    )


# --- iCalendar -----------------------------------------------------------------------------


def _host(ctx: Context) -> str:
    return urlsplit(ctx.settings.site_url).hostname or "booking"


def uid(ctx: Context, booking_id: uuid.UUID) -> str:
    return f"booking-{booking_id}@{_host(ctx)}"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)  # stored times are naive UTC


def _places(stay: Stay) -> str:
    return ", ".join(name for name, _ in stay.items)


def _summary(stay: Stay, house: bool) -> str:
    text = f"{_places(stay)} ({stay.persons} Pers.)"
    text = f"{stay.guest}: {text}" if house else f"Aufenthalt: {text}"
    return f"{text} – angefragt" if stay.status == PENDING else text


def _description(ctx: Context, stay: Stay, house: bool) -> str:
    nights = (stay.end - stay.start).days
    lines = [f"{name}: {n} {'Person' if n == 1 else 'Personen'}" for name, n in stay.items]
    lines.append(
        f"{nights} {'Nacht' if nights == 1 else 'Nächte'}, Anreise {stay.start:%d.%m.%Y}, "
        f"Abreise {stay.end:%d.%m.%Y}"
    )
    lines.append(f"Status: {STATUS_TEXT[stay.status]}")
    if house:
        lines.append(f"Gast: {stay.guest}")
    elif stay.notes:  # notes are the member's own; the house feed leaves them out
        lines.append(f"Notizen: {stay.notes}")
    lines.append(f"{ctx.settings.site_url}/bookings/{stay.id}")
    return "\n".join(lines)


def _event(ctx: Context, stay: Stay, house: bool) -> Any:
    from icalendar import Event

    modified = _utc(stay.changed_at or stay.created_at)
    event = Event()
    event.add("uid", uid(ctx, stay.id))
    # The first history entry is the creation; every later one is a change.
    event.add("sequence", max(stay.changes - 1, 0))
    # The time of the last change, not of the request: the same data gives the same bytes, so
    # the ETag holds and calendars do not re-import unchanged events.
    event.add("dtstamp", modified)
    event.add("created", _utc(stay.created_at))
    event.add("last-modified", modified)
    event.add("dtstart", stay.start)
    event.add("dtend", stay.end)
    event.add("summary", _summary(stay, house))
    event.add("description", _description(ctx, stay, house))
    event.add("status", ICAL_STATUS[stay.status])
    # Other people's stays do not make the subscriber busy.
    event.add("transp", "TRANSPARENT" if house else "OPAQUE")
    event.add("url", f"{ctx.settings.site_url}/bookings/{stay.id}")
    return event


def _calendar(ctx: Context, name: str, events: list[Any]) -> bytes:
    from icalendar import Calendar

    calendar = Calendar()
    calendar.add("prodid", f"-//booking//{_host(ctx)}//DE")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", REFRESH_TEXT)
    for event in events:
        calendar.add_component(event)
    body: bytes = calendar.to_ical()
    return body
