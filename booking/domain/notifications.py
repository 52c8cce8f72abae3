"""The mails of DECISIONS 11, rendered from templates and queued in the outbox.

Every function takes the write session of the change that causes the mail, so the mail is
queued in the same transaction (see ``outbox``). Each mail has a plain-text and an HTML body from
``mail_templates/<language>/<name>.txt`` (blocks ``subject`` and ``body``) and ``<name>.html``
(autoescaped: names and notes with markup arrive as text). The language is the recipient's
``users.language``, German by default.

Who gets what:

* verification, password reset, approval, rejection (with the reason): the person.
* new registration: every active administrator.
* booking requested: every active administrator except the one who booked.
* booking accepted (or confirmed), rejected: the member, unless they decided it themselves.
* booking cancelled: the member when someone else (an administrator) cancelled it; the other
  administrators when the member cancelled a booking that held places.
* booking changed: the member when an administrator edited it; the administrators when the
  member changed dates or places of a booking that holds places (it needs approval again).
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from booking.db.models import Booking, SleepingAccommodation, User
from booking.domain import outbox
from booking.domain.availability import HOLDING, REJECTED

if TYPE_CHECKING:
    from jinja2 import Environment
    from sqlalchemy.orm import Session

    from booking.domain.context import Context

TEMPLATE_DIR = Path(__file__).parent / "mail_templates"
LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"
ADMIN = "Administrator"
MONTHS_EN = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
STATUS = {
    "de": {
        0: "Ausstehend",
        1: "Bestätigt",
        2: "Storniert",
        3: "Abgeschlossen",
        4: "Angenommen",
        5: "Abgelehnt",
    },
    "en": {
        0: "Pending",
        1: "Confirmed",
        2: "Cancelled",
        3: "Completed",
        4: "Accepted",
        5: "Rejected",
    },
}


def format_day(value: date, language: str) -> str:
    if language == "en":
        return f"{value.day} {MONTHS_EN[value.month - 1]} {value.year}"
    return value.strftime("%d.%m.%Y")


@functools.cache
def _environment() -> Environment:
    """Built on the first mail, so processes that never mail never import Jinja."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters["day"] = format_day
    return env


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def language_of(value: str | None) -> str:
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def render(name: str, language: str | None, **values: Any) -> Rendered:
    """Subject, text and HTML of mail ``name`` in ``language`` (German when unknown)."""
    lang = language_of(language)
    env = _environment()
    values = {"lang": lang, "status_labels": STATUS[lang], **values}
    text_template = env.get_template(f"{lang}/{name}.txt")
    context = text_template.new_context(values)
    subject = " ".join("".join(text_template.blocks["subject"](context)).split())
    text = "".join(text_template.blocks["body"](context)).strip() + "\n"
    html = env.get_template(f"{lang}/{name}.html").render(subject=subject, **values)
    return Rendered(subject, text, html)


@dataclass(frozen=True)
class Recipient:
    email: str
    first_name: str
    name: str
    language: str

    @classmethod
    def of(cls, user: User) -> Recipient:
        return cls(user.email, user.first_name, user.full_name, language_of(user.language))


def _queue(session: Session, to: Recipient, template: str, **values: Any) -> None:
    mail = render(template, to.language, recipient=to, **values)
    outbox.enqueue(session, to.email, mail.subject, mail.text, mail.html)


def _admins(session: Session, exclude: int | None = None) -> list[Recipient]:
    query = select(User).where(User.role == ADMIN, User.is_active.is_(True)).order_by(User.id)
    if exclude is not None:
        query = query.where(User.id != exclude)
    return [Recipient.of(user) for user in session.scalars(query)]


# --- accounts -------------------------------------------------------------------------------


def verification(session: Session, ctx: Context, user: User, token: str, hours: int) -> None:
    link = f"{ctx.settings.site_url}/verify-email?token={token}"
    _queue(session, Recipient.of(user), "verification", link=link, hours=hours)


def registration(session: Session, ctx: Context, user: User) -> None:
    """To every active administrator: someone registered and will wait for approval."""
    for admin in _admins(session, exclude=user.id):
        _queue(
            session,
            admin,
            "registration",
            person=Recipient.of(user),
            link=f"{ctx.settings.site_url}/admin/users",
        )


def approved(session: Session, ctx: Context, user: User) -> None:
    _queue(session, Recipient.of(user), "approved", link=f"{ctx.settings.site_url}/login")


def rejected(session: Session, ctx: Context, user: User, reason: str | None) -> None:
    _queue(session, Recipient.of(user), "rejected", reason=(reason or "").strip())


def password_reset(session: Session, ctx: Context, user: User, token: str, minutes: int) -> None:
    link = f"{ctx.settings.site_url}/reset-password?token={token}"
    _queue(session, Recipient.of(user), "password_reset", link=link, minutes=minutes)


# E-mail change (booking/domain/email_change.py): the link goes to the new address, a notice to
# the old one; a new address that is taken gets "already registered" instead of a link.


def _at(user: User, address: str) -> Recipient:
    return Recipient(address, user.first_name, user.full_name, language_of(user.language))


def email_change_confirm(
    session: Session, ctx: Context, user: User, new_email: str, token: str, hours: int
) -> None:
    link = f"{ctx.settings.site_url}/confirm-email-change?token={token}"
    _queue(session, _at(user, new_email), "email_change_confirm", link=link, hours=hours)


def email_taken(session: Session, ctx: Context, user: User, new_email: str) -> None:
    _queue(
        session,
        _at(user, new_email),
        "email_change_taken",
        login=f"{ctx.settings.site_url}/login",
        forgot=f"{ctx.settings.site_url}/forgot-password",
    )


def email_change_notice(session: Session, ctx: Context, user: User, new_email: str) -> None:
    _queue(
        session,
        Recipient.of(user),
        "email_change_notice",
        new_email=new_email,
        profile=f"{ctx.settings.site_url}/profile",
    )


# --- bookings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    name: str
    persons: int


@dataclass(frozen=True)
class BookingView:
    """What the booking mails show, independent of the recipient's language."""

    id: uuid.UUID
    url: str
    member: Recipient
    start: date
    end: date
    status: int
    notes: str | None
    places: list[Place] = field(default_factory=list)

    @property
    def nights(self) -> int:
        return (self.end - self.start).days

    @property
    def persons(self) -> int:
        return sum(place.persons for place in self.places)


def _place_names(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = session.execute(
        select(SleepingAccommodation.id, SleepingAccommodation.name).where(
            SleepingAccommodation.id.in_(ids)
        )
    )
    return {row[0]: row[1] for row in rows}


def _view(
    session: Session,
    ctx: Context,
    booking: Booking,
    member: User,
    snapshot: dict[str, Any] | None = None,
) -> BookingView:
    """The booking as it is now, or as ``snapshot`` (``bookings.snapshot``) describes it."""
    if snapshot is None:
        claims = [(i.sleeping_accommodation_id, i.person_count) for i in booking.items]
        start, end, status, notes = (
            booking.start_date,
            booking.end_date,
            booking.status,
            booking.notes,
        )
    else:
        claims = [
            (uuid.UUID(i["sleepingAccommodationId"]), int(i["personCount"]))
            for i in snapshot["bookingItems"]
        ]
        start = date.fromisoformat(snapshot["startDate"])
        end = date.fromisoformat(snapshot["endDate"])
        status, notes = int(snapshot["status"]), snapshot["notes"]
    names = _place_names(session, [place_id for place_id, _ in claims])
    return BookingView(
        id=booking.id,
        url=f"{ctx.settings.site_url}/bookings/{booking.id}",
        member=Recipient.of(member),
        start=start,
        end=end,
        status=status,
        notes=notes,
        places=[Place(names.get(place_id, "?"), persons) for place_id, persons in claims],
    )


def _member(session: Session, booking: Booking) -> User | None:
    return session.get(User, booking.user_id)


def booking_requested(session: Session, ctx: Context, booking: Booking, actor: User) -> None:
    member = _member(session, booking)
    if member is None:
        return
    view = _view(session, ctx, booking, member)
    for admin in _admins(session, exclude=actor.id):
        _queue(session, admin, "booking_requested", booking=view)


def booking_decided(session: Session, ctx: Context, booking: Booking, actor: User) -> None:
    """Accepted, confirmed or rejected: tell the member (unless they decided it themselves)."""
    member = _member(session, booking)
    if member is None or member.id == actor.id or not member.is_active:
        return
    template = "booking_rejected" if booking.status == REJECTED else "booking_accepted"
    _queue(session, Recipient.of(member), template, booking=_view(session, ctx, booking, member))


def booking_cancelled(
    session: Session, ctx: Context, booking: Booking, actor: User, previous_status: int
) -> None:
    member = _member(session, booking)
    if member is None:
        return
    view = _view(session, ctx, booking, member)
    if member.id != actor.id:
        if member.is_active:
            _queue(
                session,
                Recipient.of(member),
                "booking_cancelled",
                booking=view,
                actor=actor.full_name,
            )
        return
    if previous_status in HOLDING:
        for admin in _admins(session, exclude=actor.id):
            _queue(session, admin, "booking_cancelled_by_member", booking=view)


def booking_changed(
    session: Session,
    ctx: Context,
    booking: Booking,
    actor: User,
    before: dict[str, Any],
    claims_changed: bool,
) -> None:
    """An administrator's edit goes to the member; a member's change of dates or places of a
    booking that holds places goes to the administrators (it waits for approval again)."""
    member = _member(session, booking)
    if member is None:
        return
    view = _view(session, ctx, booking, member)
    previous = _view(session, ctx, booking, member, before)
    if member.id != actor.id:
        if member.is_active:
            _queue(
                session,
                Recipient.of(member),
                "booking_changed",
                booking=view,
                previous=previous,
                actor=actor.full_name,
            )
        return
    if claims_changed and booking.status in HOLDING:
        for admin in _admins(session, exclude=actor.id):
            _queue(session, admin, "booking_changed_by_member", booking=view, previous=previous)
