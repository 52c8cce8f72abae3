"""Tables. One schema for SQLite and PostgreSQL; timestamps are naive UTC (the predecessor's
wire format has no ``Z`` on stored times)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(256), unique=True)  # stored lower-case
    password_hash: Mapped[str] = mapped_column(String(256))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20), default="Member")
    is_active: Mapped[bool] = mapped_column(default=True)
    email_verified: Mapped[bool] = mapped_column(default=False)
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime)
    # SHA-256 of the token mailed to the user: a leaked database does not verify accounts.
    verification_token_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    verification_token_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    registration_date: Mapped[datetime | None] = mapped_column(DateTime)
    is_approved_for_booking: Mapped[bool] = mapped_column(default=False)
    approved_for_booking_at: Mapped[datetime | None] = mapped_column(DateTime)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Set while an administrator has taken away the right to book; login still works.
    booking_revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    changed_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    language: Mapped[str | None] = mapped_column(String(5))  # "de" | "en"; None: browser's choice
    reset_token_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    reset_token_expires_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (CheckConstraint("role IN ('Member', 'Administrator')", name="role"),)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_admin(self) -> bool:
        return self.role == "Administrator"


class SleepingAccommodation(Base):
    __tablename__ = "sleeping_accommodations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100))
    type: Mapped[int] = mapped_column(SmallInteger)
    max_capacity: Mapped[int] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(default=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    changed_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        CheckConstraint("max_capacity BETWEEN 1 AND 100", name="capacity"),
        CheckConstraint("type BETWEEN 0 AND 3", name="type"),
    )


class Booking(Base):
    __tablename__ = "bookings"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    status: Mapped[int] = mapped_column(SmallInteger, default=0)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    changed_at: Mapped[datetime | None] = mapped_column(DateTime)

    items: Mapped[list[BookingItem]] = relationship(
        back_populates="booking", cascade="all, delete-orphan", order_by="BookingItem.position"
    )

    __table_args__ = (
        CheckConstraint("end_date > start_date", name="dates"),
        CheckConstraint("status IN (0, 1, 2, 4, 5)", name="status"),
        # Overlap queries filter on end_date > :start first; start_date narrows the rest.
        Index("ix_bookings_end_start", "end_date", "start_date"),
        # No index on start_date alone: migration 0008 dropped it (see there).
    )


class BookingItem(Base):
    __tablename__ = "booking_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"))
    sleeping_accommodation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sleeping_accommodations.id"), index=True
    )
    person_count: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(SmallInteger, default=0)

    booking: Mapped[Booking] = relationship(back_populates="items")

    __table_args__ = (
        UniqueConstraint("booking_id", "sleeping_accommodation_id"),
        CheckConstraint("person_count BETWEEN 1 AND 20", name="persons"),
    )


class BookingHistory(Base):
    """Append-only: rows are inserted in the same transaction as the change they describe."""

    __tablename__ = "booking_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    booking_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("bookings.id", ondelete="CASCADE"), index=True
    )
    occurred_at: Mapped[datetime] = mapped_column(DateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    event_type: Mapped[str] = mapped_column(String(40))
    # JSON text: {"field": {"from": .., "to": ..}} or the initial snapshot for "Created".
    details: Mapped[str] = mapped_column(Text, default="{}")


class EmailSettings(Base):
    """A single row (id = 1) that overrides the SMTP environment settings from the admin UI."""

    __tablename__ = "email_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    smtp_host: Mapped[str] = mapped_column(String(255))
    smtp_port: Mapped[int] = mapped_column(Integer)
    smtp_username: Mapped[str] = mapped_column(String(255))
    smtp_password_encrypted: Mapped[str] = mapped_column(String(1000), default="")
    from_name: Mapped[str] = mapped_column(String(100))
    from_email: Mapped[str] = mapped_column(String(255))
    use_tls: Mapped[bool] = mapped_column(default=True)
    is_configured: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)


class WebSession(Base):
    """A browser login. The cookie holds a random token; only its SHA-256 is stored, so a leaked
    database cannot be replayed as cookies. Rows live in the database so that several app
    processes share them (DECISIONS 17)."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class OutboxMail(Base):
    """Mail waiting to be sent. Requests only insert here; a background sender claims rows with
    a compare-and-set update and retries with backoff, so SMTP trouble never fails a request
    and no mail is lost (DECISIONS 11, 17)."""

    __tablename__ = "mail_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    to_address: Mapped[str] = mapped_column(String(256))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    send_after: Mapped[datetime] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (Index("ix_mail_outbox_pending", "sent_at", "send_after"),)


class Throttle(Base):
    """Failed attempts per key (``login:account:<email>``, ``login:ip:<address>``, ...), kept in
    the database so limits hold across restarts and across app processes."""

    __tablename__ = "throttles"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(DateTime)
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class AuditEvent(Base):
    """Security-relevant events (logins, approvals, role and settings changes); the app only
    ever inserts."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    event: Mapped[str] = mapped_column(String(50), index=True)
    subject: Mapped[str | None] = mapped_column(String(300))
    client_address: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text, default="{}")


# --- two-factor authentication (migration 0004) ---


class TwoFactor(Base):
    """A user's TOTP secret. The row exists from the start of the setup; ``enabled_at`` is set
    once a code from the app confirmed it. The secret is encrypted with a key derived from the
    app's secret key, so a leaked database alone cannot produce codes."""

    __tablename__ = "two_factor"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret_encrypted: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    enabled_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The newest time step whose code was accepted: a code is accepted once only (replay).
    last_used_step: Mapped[int | None] = mapped_column(Integer)
    # Successful second steps; a pending browser login is bound to it, so it works once.
    login_count: Mapped[int] = mapped_column(Integer, default=0)


class RecoveryCode(Base):
    """One-time codes for a lost phone; only their SHA-256 is stored."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (UniqueConstraint("user_id", "code_hash"),)


# --- OpenID Connect identities (migration 0005) ---


class OidcIdentity(Base):
    """An account's login at an OpenID Connect provider. Bound to (issuer, subject), the only
    pair a provider promises to keep stable; the e-mail address may change at the provider."""

    __tablename__ = "oidc_identities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    email: Mapped[str | None] = mapped_column(String(256))  # as the provider sent it when linked
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (UniqueConstraint("issuer", "subject"),)


# --- email change, session hardening (migration 0006) ---


class EmailChangeRequest(Base):
    """A requested change of a user's e-mail address, waiting for the link mailed to the new
    address (booking/domain/email_change.py). Only the token's SHA-256 is stored; the row is
    deleted when the link is used, so a link works once."""

    __tablename__ = "email_change_requests"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    new_email: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)


# --- house rules, closed periods, fair-use quota (migration 0007) ---


class HouseRules(Base):
    """The administrator's house rules: a single row (id = 1). Without a row the defaults of
    ``booking.domain.house_rules.DEFAULTS`` apply (which are the rules as they were before)."""

    __tablename__ = "house_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    booking_window_months: Mapped[int] = mapped_column(Integer)  # 0 = no limit
    minimum_notice_days: Mapped[int] = mapped_column(Integer)
    min_nights: Mapped[int] = mapped_column(Integer)
    max_nights: Mapped[int] = mapped_column(Integer)
    yearly_quota_nights: Mapped[int] = mapped_column(Integer)  # 0 = no limit
    changed_at: Mapped[datetime] = mapped_column(DateTime)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint("min_nights >= 1 AND max_nights >= min_nights", name="nights"),
    )


class ClosedPeriod(Base):
    """Nights nobody may book ("Sperrzeit"). Both dates are NIGHTS and inclusive: the nights
    from ``first_night`` to ``last_night`` are closed, so a stay may depart on ``first_night``
    and arrive on the day after ``last_night``."""

    __tablename__ = "closed_periods"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    first_night: Mapped[date] = mapped_column(Date)
    last_night: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        CheckConstraint("last_night >= first_night", name="nights"),
        Index("ix_closed_periods_last_first", "last_night", "first_night"),
    )


class QuotaException(Base):
    """Extra nights an administrator granted one member for one calendar year, with the reason
    (the fair-use quota's logged override)."""

    __tablename__ = "quota_exceptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    extra_nights: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (CheckConstraint("extra_nights BETWEEN 1 AND 366", name="extra_nights"),)


# --- indexes for large data sets (migration 0008) ---
# Migration 0008 drops ix_bookings_start_date (declared nowhere now). Without statistics SQLite
# used it for the overlap condition `start_date < :end` (every stay since the beginning) instead
# of ix_bookings_end_start with `end_date > :start` (the stays ending after the period starts):
# availability took 100 ms at 100,000 bookings instead of 1 ms (bench/README.md, "Scaling").
# A member's list ("my future bookings") by user and end date: ix_bookings_user_id alone reads
# all of the member's stays since they joined to find the few that are still ahead.
Index("ix_bookings_user_end", Booking.user_id, Booking.end_date)


# --- calendar feeds (migration 0009) ---


class CalendarFeed(Base):
    """A member's private iCalendar feed. The URL carries ``feed_key`` plus an HMAC of it under
    a key derived from the application secret (booking/domain/feeds.py); only ``feed_key`` is
    stored. So the profile can show the URL again (a second phone subscribes later) without the
    database holding a usable secret: a leaked database or backup alone reads no feed, and a new
    key (or a new application secret) ends every old URL at once."""

    __tablename__ = "calendar_feeds"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    feed_key: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class HouseFeedSettings(Base):
    """A single row (id = 1): the house-wide feed of accepted stays, off until an administrator
    enables it. ``feed_key`` works like CalendarFeed.feed_key."""

    __tablename__ = "house_feed_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=False)
    include_pending: Mapped[bool] = mapped_column(default=False)
    feed_key: Mapped[str] = mapped_column(String(32))
    changed_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)
