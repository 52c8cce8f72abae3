"""House rules: closed periods, the booking window, minimum notice, nights per stay and the
fair-use quota. Enforced here for the API and the pages alike.

Semantics (docs: README "House rules"):

* A stay's nights are ``[start, end)``; a closed period's ``first_night``..``last_night`` are
  inclusive nights. A stay may depart on a closed period's first night and arrive on the day
  after its last night.
* "Today" is the house's date (``settings.timezone``); the window ends ``booking_window_months``
  after today: the last allowed departure is that day (so its night is the first one outside).
  Minimum notice: arrival at the earliest ``minimum_notice_days`` after today.
* Window and notice bind members; administrators may book outside them (they run the house).
  Closed periods, nights per stay and the quota bind everyone.
* The quota counts nights per member and calendar year over Pending, Accepted and Confirmed
  stays (a stay over New Year counts in each year); administrators grant a member extra nights
  for a year with a reason (``QuotaException``) - the logged override.
* An edit is refused only for what it makes worse: new nights in a closed period, a later
  departure beyond the window, a changed arrival within the notice, more nights in a year over
  the quota. So a later change of the rules never silently invalidates an existing stay;
  ``conflicts`` lists such stays for the administrator instead.
* The rules in force are copied into the history entry of each booking and date change.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, select

from booking.db.models import (
    Booking,
    ClosedPeriod,
    HouseRules,
    QuotaException,
    User,
)
from booking.domain import audit
from booking.domain.availability import HOLDING
from booking.domain.errors import NotFound, ValidationFailed
from booking.domain.users import ADMIN, require_admin
from booking.lib.schema import Field, Model, to_camel
from booking.lib.timeutil import utcnow, wire_datetime

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

    from booking.domain.context import Context

# Rule keys (the API's ``errors`` keys). maxNights keeps the predecessor's key and text.
CLOSED_PERIOD = "closedPeriod"
BOOKING_WINDOW = "bookingWindow"
MINIMUM_NOTICE = "minimumNotice"
MIN_NIGHTS = "minNights"
MAX_NIGHTS = "maxNights"
YEARLY_QUOTA = "yearlyQuota"
ERROR_KEYS = {MAX_NIGHTS: "DateRange"}
LIMITS = {
    "bookingWindowMonths": (0, 60),
    "minimumNoticeDays": (0, 365),
    "minNights": (1, 365),
    "maxNights": (1, 365),
    "yearlyQuotaNights": (0, 366),
}
MAX_REASON = 200
MAX_EXCEPTION_REASON = 500

# German first (the pages translate it via the catalog), English for the API's ``rules``.
TEXTS: dict[str, tuple[str, str]] = {
    CLOSED_PERIOD: (
        "Das Haus ist vom {first} bis {last} geschlossen: {reason}",
        "The house is closed from {first} to {last}: {reason}",
    ),
    BOOKING_WINDOW: (
        "Buchungen sind höchstens {months} Monate im Voraus möglich (Abreise spätestens am {last})",
        "Bookings are possible at most {months} months ahead (departure on {last} at the latest)",
    ),
    MINIMUM_NOTICE: (
        "Buchungen brauchen {days} Tage Vorlauf (Anreise frühestens am {first})",
        "Bookings need {days} days' notice (arrival on {first} at the earliest)",
    ),
    MIN_NIGHTS: (
        "Eine Buchung muss mindestens {n} Nächte umfassen",
        "A stay must have at least {n} nights",
    ),
    MAX_NIGHTS: (
        "Die maximale Buchungsdauer beträgt {n} Tage",
        "The maximum booking duration is {n} days",
    ),
    YEARLY_QUOTA: (
        "Das Kontingent von {quota} Nächten im Jahr {year} ist überschritten "
        "({used} bereits gebucht, {requested} angefragt)",
        "The quota of {quota} nights in {year} is exceeded "
        "({used} already booked, {requested} requested)",
    ),
}


@dataclass(frozen=True)
class Rules:
    booking_window_months: int = 0
    minimum_notice_days: int = 0
    min_nights: int = 1
    max_nights: int = 30
    yearly_quota_nights: int = 0

    def wire(self) -> dict[str, int]:
        return {to_camel(key): value for key, value in asdict(self).items()}


DEFAULTS = Rules()


@dataclass
class Violation:
    rule: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def german(self) -> str:
        return TEXTS[self.rule][0].format(**self.params)

    @property
    def english(self) -> str:
        return TEXTS[self.rule][1].format(**self.params)


class HouseRuleViolation(ValidationFailed):
    """All the rules a stay breaks: ``errors`` keyed per rule (German, like every API error),
    ``violations`` with each rule's parameters and its German and English text."""

    def __init__(self, violations: list[Violation]) -> None:
        errors: dict[str, list[str]] = {}
        for violation in violations:
            errors.setdefault(ERROR_KEYS.get(violation.rule, violation.rule), []).append(
                violation.german
            )
        only_range = all(v.rule == MAX_NIGHTS for v in violations)
        super().__init__(errors, "Date Range Validation Error" if only_range else "House Rules")
        self.violations = violations
        self.extensions = {
            "rules": [
                {
                    "rule": v.rule,
                    "params": v.params,
                    "message": v.german,
                    "messageEn": v.english,
                }
                for v in violations
            ]
        }


def _german_date(day: date) -> str:
    return day.strftime("%d.%m.%Y")


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later; the month's last day when it is shorter (31.1. + 1)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")


# --- reading ---------------------------------------------------------------------------------


def rules_in(session: Session) -> Rules:
    """One primary-key lookup (the row may not exist: then the defaults apply)."""
    row = session.get(HouseRules, 1)
    if row is None:
        return DEFAULTS
    return Rules(
        row.booking_window_months,
        row.minimum_notice_days,
        row.min_nights,
        row.max_nights,
        row.yearly_quota_nights,
    )


_RULES_ROW = select(
    HouseRules.booking_window_months,
    HouseRules.minimum_notice_days,
    HouseRules.min_nights,
    HouseRules.max_nights,
    HouseRules.yearly_quota_nights,
).where(HouseRules.id == 1)


def rules_read(connection: Connection) -> Rules:
    """The rules for display paths, in the caller's (Core) transaction: one primary-key select,
    no ORM session. Writers use ``rules_in`` inside their write transaction (it also sees their
    own unflushed changes)."""
    row = connection.execute(_RULES_ROW).first()
    return DEFAULTS if row is None else Rules(*row)


def current(ctx: Context) -> Rules:
    with ctx.db.connect() as connection:
        return rules_read(connection)


# Built once: on the calendar page, building the select cost more than running it.
_CLOSED_IN = (
    select(ClosedPeriod.first_night, ClosedPeriod.last_night, ClosedPeriod.reason)
    .where(
        ClosedPeriod.last_night >= bindparam("start"), ClosedPeriod.first_night < bindparam("end")
    )
    .order_by(ClosedPeriod.first_night)
)


def closed_nights(session: Session | Connection, start: date, end: date) -> dict[date, str]:
    """Closed nights in [start, end) with their reason."""
    rows = session.execute(_CLOSED_IN, {"start": start, "end": end}).all()
    nights: dict[date, str] = {}
    for first, last, reason in rows:
        day = max(first, start)
        while day <= last and day < end:
            nights.setdefault(day, reason)
            day += timedelta(days=1)
    return nights


def nights_per_year(start: date, end: date) -> dict[int, int]:
    counts: dict[int, int] = {}
    for year in range(start.year, (end - timedelta(days=1)).year + 1):
        first = max(start, date(year, 1, 1))
        after = min(end, date(year + 1, 1, 1))
        if after > first:
            counts[year] = (after - first).days
    return counts


def _used_nights(
    session: Session, user_id: int, years: list[int], exclude: uuid.UUID | None
) -> dict[int, int]:
    query = select(Booking.start_date, Booking.end_date).where(
        Booking.user_id == user_id,
        Booking.status.in_(HOLDING),
        Booking.end_date > date(min(years), 1, 1),
        Booking.start_date < date(max(years) + 1, 1, 1),
    )
    if exclude is not None:
        query = query.where(Booking.id != exclude)
    used = dict.fromkeys(years, 0)
    for start, end in session.execute(query):
        for year, nights in nights_per_year(start, end).items():
            if year in used:
                used[year] += nights
    return used


def _extra_nights(session: Session, user_id: int, years: list[int]) -> dict[int, list[Any]]:
    rows = session.execute(
        select(QuotaException.year, QuotaException.extra_nights, QuotaException.reason).where(
            QuotaException.user_id == user_id, QuotaException.year.in_(years)
        )
    ).all()
    found: dict[int, list[Any]] = {}
    for year, extra, reason in rows:
        found.setdefault(year, []).append((extra, reason))
    return found


# --- checking a stay ---------------------------------------------------------------------------


def last_departure(rules: Rules, today: date) -> date | None:
    """The booking window's last allowed departure (its night is the first outside); None
    without a window. Members only: administrators are not bound."""
    if not rules.booking_window_months:
        return None
    return add_months(today, rules.booking_window_months)


def first_arrival(rules: Rules, today: date) -> date | None:
    """The earliest arrival the minimum notice allows; None without a notice. Members only."""
    if not rules.minimum_notice_days:
        return None
    return today + timedelta(days=rules.minimum_notice_days)


def window_violation(rules: Rules, last: date) -> Violation:
    return Violation(
        BOOKING_WINDOW, {"months": rules.booking_window_months, "last": _german_date(last)}
    )


def notice_violation(rules: Rules, first: date) -> Violation:
    return Violation(
        MINIMUM_NOTICE, {"days": rules.minimum_notice_days, "first": _german_date(first)}
    )


@dataclass
class Previous:
    """The stay before an edit (an edit is refused only for what it makes worse)."""

    start: date
    end: date


def check_stay(
    session: Session,
    rules: Rules,
    today: date,
    *,
    start: date,
    end: date,
    owner_id: int,
    is_admin: bool,
    booking_id: uuid.UUID | None = None,
    previous: Previous | None = None,
) -> tuple[list[Violation], dict[str, Any]]:
    """Every rule the stay breaks, and the quota exception it uses (empty when none)."""
    violations: list[Violation] = []
    nights = (end - start).days
    old_nights = set()
    if previous is not None:
        old_nights = {
            previous.start + timedelta(days=i) for i in range((previous.end - previous.start).days)
        }
    # closed periods: the first closed night of each period the stay (newly) touches
    closed = closed_nights(session, start, end)
    reported: set[str] = set()
    for night, reason in sorted(closed.items()):
        if night in old_nights or reason in reported:
            continue
        reported.add(reason)
        period = session.execute(
            select(ClosedPeriod.first_night, ClosedPeriod.last_night)
            .where(ClosedPeriod.first_night <= night, ClosedPeriod.last_night >= night)
            .limit(1)
        ).one()
        violations.append(
            Violation(
                CLOSED_PERIOD,
                {
                    "first": _german_date(period.first_night),
                    "last": _german_date(period.last_night),
                    "reason": reason,
                    "night": night.isoformat(),
                },
            )
        )
    if not is_admin:
        last = last_departure(rules, today)
        later = previous is None or end > previous.end
        if last is not None and end > last and later:
            violations.append(window_violation(rules, last))
        first = first_arrival(rules, today)
        moved = previous is None or start != previous.start
        if first is not None and start < first and moved:
            violations.append(notice_violation(rules, first))
    changed_length = previous is None or nights != (previous.end - previous.start).days
    if nights < rules.min_nights and changed_length:
        violations.append(Violation(MIN_NIGHTS, {"n": rules.min_nights}))
    if nights > rules.max_nights and changed_length:
        violations.append(Violation(MAX_NIGHTS, {"n": rules.max_nights}))
    used_exception: dict[str, Any] = {}
    if rules.yearly_quota_nights:
        wanted = nights_per_year(start, end)
        before = nights_per_year(previous.start, previous.end) if previous else {}
        years = sorted(wanted)
        used = _used_nights(session, owner_id, years, booking_id)
        extras = _extra_nights(session, owner_id, years)
        for year in years:
            total = used[year] + wanted[year]
            if total <= rules.yearly_quota_nights:
                continue
            extra = sum(e for e, _ in extras.get(year, []))
            if total <= rules.yearly_quota_nights + extra:
                used_exception[str(year)] = {
                    "extraNights": extra,
                    "reasons": [r for _, r in extras[year]],
                    "nightsInYear": total,
                }
                continue
            if wanted[year] <= before.get(year, 0):
                continue  # the edit does not add nights in this year
            violations.append(
                Violation(
                    YEARLY_QUOTA,
                    {
                        "quota": rules.yearly_quota_nights + extra,
                        "year": year,
                        "used": used[year],
                        "requested": wanted[year],
                    },
                )
            )
    return violations, used_exception


def enforce(
    session: Session,
    ctx: Context,
    actor: User,
    *,
    start: date,
    end: date,
    owner_id: int,
    booking_id: uuid.UUID | None = None,
    previous: Previous | None = None,
) -> dict[str, Any]:
    """Raise HouseRuleViolation with every broken rule; else the history's record of the rules
    in force (and of a quota exception used, which also goes to the audit log)."""
    rules = rules_in(session)
    if rules.yearly_quota_nights:
        # Serialises two requests of the same member, so both cannot pass the quota.
        session.execute(select(User.id).where(User.id == owner_id).with_for_update())
    today = ctx.today()
    violations, exception = check_stay(
        session,
        rules,
        today,
        start=start,
        end=end,
        owner_id=owner_id,
        is_admin=actor.is_admin,
        booking_id=booking_id,
        previous=previous,
    )
    if violations:
        raise HouseRuleViolation(violations)
    record: dict[str, Any] = {"rules": {**rules.wire(), "checkedOn": today.isoformat()}}
    if exception:
        record["quotaException"] = exception
        audit.record(
            session,
            actor.id,
            audit.QUOTA_EXCEPTION_USED,
            subject=str(booking_id) if booking_id else None,
            details={"userId": owner_id, "years": exception},
        )
    return record


def validate(ctx: Context, actor: User, start: date, end: date) -> None:
    """The house rules for a new stay of ``actor``, read-only (``POST /api/bookings/validate``)."""
    with ctx.db.read() as session:
        violations, _ = check_stay(
            session,
            rules_in(session),
            ctx.today(),
            start=start,
            end=end,
            owner_id=actor.id,
            is_admin=actor.is_admin,
        )
    if violations:
        raise HouseRuleViolation(violations)


# --- administration --------------------------------------------------------------------------


class _Camel(Model, camel=True):
    """camelCase on the wire (``minNights``), snake_case in Python."""


class RulesIn(_Camel):
    booking_window_months: int = DEFAULTS.booking_window_months
    minimum_notice_days: int = DEFAULTS.minimum_notice_days
    min_nights: int = DEFAULTS.min_nights
    max_nights: int = DEFAULTS.max_nights
    yearly_quota_nights: int = DEFAULTS.yearly_quota_nights


class ClosedPeriodIn(_Camel):
    first_night: date
    last_night: date
    reason: str


class QuotaExceptionIn(_Camel):
    user_id: int = Field(ge=1, le=2**31 - 1)  # a larger number overflowed the database (a 500)
    year: int
    extra_nights: int
    reason: str


def _range_errors(data: RulesIn) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for key, (low, high) in LIMITS.items():
        value = getattr(data, key_to_attr(key))
        if not low <= value <= high:
            errors[key[:1].upper() + key[1:]] = [f"Der Wert muss zwischen {low} und {high} liegen"]
    if not errors and data.min_nights > data.max_nights:
        errors["MinNights"] = ["Die Mindestdauer darf nicht größer als die Höchstdauer sein"]
    return errors


def key_to_attr(key: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in key)


def get_rules(ctx: Context, admin: User) -> dict[str, Any]:
    require_admin(admin)
    with ctx.db.read() as session:
        row = session.get(HouseRules, 1)
        rules = rules_in(session)
    return {
        **rules.wire(),
        "changedAt": wire_datetime(row.changed_at) if row else None,
        "changedById": row.changed_by_id if row else None,
    }


def set_rules(ctx: Context, admin: User, data: RulesIn) -> dict[str, Any]:
    require_admin(admin)
    errors = _range_errors(data)
    if errors:
        raise ValidationFailed(errors)
    with ctx.db.write() as session:
        row = session.get(HouseRules, 1, with_for_update=True)
        before = rules_in(session).wire()
        if row is None:
            row = HouseRules(id=1)
            session.add(row)
        row.booking_window_months = data.booking_window_months
        row.minimum_notice_days = data.minimum_notice_days
        row.min_nights = data.min_nights
        row.max_nights = data.max_nights
        row.yearly_quota_nights = data.yearly_quota_nights
        row.changed_at = utcnow()
        row.changed_by_id = admin.id
        after = rules_in(session).wire()
        changes = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
        audit.record(session, admin.id, audit.HOUSE_RULES_CHANGED, details=changes)
    return get_rules(ctx, admin)


def _period_out(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "firstNight": row.first_night.isoformat(),
        "lastNight": row.last_night.isoformat(),
        "reason": row.reason,
        "createdAt": wire_datetime(row.created_at),
    }


def list_closed_periods(ctx: Context, *, include_past: bool = False) -> list[dict[str, Any]]:
    """For everyone signed in: the house's closures (by default those not over yet)."""
    query = select(ClosedPeriod).order_by(ClosedPeriod.first_night)
    if not include_past:
        query = query.where(ClosedPeriod.last_night >= ctx.today())
    with ctx.db.read() as session:
        return [_period_out(row) for row in session.scalars(query)]


def add_closed_period(ctx: Context, admin: User, data: ClosedPeriodIn) -> dict[str, Any]:
    require_admin(admin)
    reason = data.reason.strip()
    errors: dict[str, list[str]] = {}
    if not reason:
        errors["Reason"] = ["Bitte geben Sie einen Grund an"]
    elif len(reason) > MAX_REASON:
        errors["Reason"] = [f"Der Grund darf höchstens {MAX_REASON} Zeichen lang sein"]
    if data.last_night < data.first_night:
        errors["LastNight"] = ["Die letzte Nacht darf nicht vor der ersten liegen"]
    if errors:
        raise ValidationFailed(errors)
    with ctx.db.write() as session:
        row = ClosedPeriod(
            id=uuid.uuid4(),
            first_night=data.first_night,
            last_night=data.last_night,
            reason=reason,
            created_at=utcnow(),
            created_by_id=admin.id,
        )
        session.add(row)
        audit.record(
            session,
            admin.id,
            audit.CLOSED_PERIOD_ADDED,
            subject=reason,
            details={"firstNight": row.first_night, "lastNight": row.last_night},
        )
        session.flush()
        return _period_out(row)


def remove_closed_period(ctx: Context, admin: User, period_id: uuid.UUID) -> None:
    require_admin(admin)
    with ctx.db.write() as session:
        row = session.get(ClosedPeriod, period_id)
        if row is None:
            raise NotFound("Sperrzeit nicht gefunden.")
        audit.record(
            session,
            admin.id,
            audit.CLOSED_PERIOD_REMOVED,
            subject=row.reason,
            details={"firstNight": row.first_night, "lastNight": row.last_night},
        )
        session.delete(row)


def list_quota_exceptions(ctx: Context, admin: User) -> list[dict[str, Any]]:
    require_admin(admin)
    with ctx.db.read() as session:
        rows = session.execute(
            select(QuotaException, User.first_name, User.last_name, User.email)
            .join(User, User.id == QuotaException.user_id)
            .order_by(QuotaException.year.desc(), QuotaException.id)
        ).all()
    return [
        {
            "id": row.id,
            "userId": row.user_id,
            "userName": f"{first} {last}".strip(),
            "userEmail": email,
            "year": row.year,
            "extraNights": row.extra_nights,
            "reason": row.reason,
            "createdAt": wire_datetime(row.created_at),
            "createdById": row.created_by_id,
        }
        for row, first, last, email in rows
    ]


def grant_quota_exception(ctx: Context, admin: User, data: QuotaExceptionIn) -> dict[str, Any]:
    """An administrator lets a member exceed the yearly quota, with a reason (audit-logged)."""
    require_admin(admin)
    reason = data.reason.strip()
    errors: dict[str, list[str]] = {}
    if not reason:
        errors["Reason"] = ["Bitte geben Sie einen Grund an"]
    elif len(reason) > MAX_EXCEPTION_REASON:
        errors["Reason"] = [f"Der Grund darf höchstens {MAX_EXCEPTION_REASON} Zeichen lang sein"]
    if not 1 <= data.extra_nights <= 366:
        errors["ExtraNights"] = ["Der Wert muss zwischen 1 und 366 liegen"]
    if not 2000 <= data.year <= 2200:
        errors["Year"] = ["Ungültiges Jahr"]
    if errors:
        raise ValidationFailed(errors)
    with ctx.db.write() as session:
        user = session.get(User, data.user_id)
        if user is None:
            raise NotFound("Benutzer nicht gefunden.")
        row = QuotaException(
            user_id=user.id,
            year=data.year,
            extra_nights=data.extra_nights,
            reason=reason,
            created_at=utcnow(),
            created_by_id=admin.id,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            admin.id,
            audit.QUOTA_EXCEPTION_GRANTED,
            subject=user.email,
            details={"year": data.year, "extraNights": data.extra_nights, "reason": reason},
        )
        exception_id = row.id
    return next(e for e in list_quota_exceptions(ctx, admin) if e["id"] == exception_id)


def remove_quota_exception(ctx: Context, admin: User, exception_id: int) -> None:
    require_admin(admin)
    with ctx.db.write() as session:
        row = session.get(QuotaException, exception_id)
        if row is None:
            raise NotFound("Ausnahme nicht gefunden.")
        audit.record(
            session,
            admin.id,
            audit.QUOTA_EXCEPTION_REMOVED,
            subject=str(row.user_id),
            details={"year": row.year, "extraNights": row.extra_nights},
        )
        session.execute(delete(QuotaException).where(QuotaException.id == exception_id))


# --- existing stays that break the current rules ------------------------------------------------


def conflicts(ctx: Context, admin: User) -> list[dict[str, Any]]:
    """Current and future holding stays that the rules in force would refuse today (they stay
    valid: rules are checked when a stay is booked or its dates change). Minimum notice is left
    out: every stay comes closer to its arrival. A handful of queries however many stays there
    are (the check itself runs in memory)."""
    require_admin(admin)
    today = ctx.today()
    with ctx.db.read() as session:
        rules = rules_in(session)
        rows = session.execute(
            select(Booking.id, Booking.user_id, Booking.start_date, Booking.end_date,
                   Booking.status, User.first_name, User.last_name, User.role)
            .join(User, User.id == Booking.user_id)
            .where(Booking.status.in_(HOLDING), Booking.end_date > today)
            .order_by(Booking.start_date, Booking.id)
        ).all()  # fmt: skip
        if not rows:
            return []
        periods = session.execute(
            select(ClosedPeriod.first_night, ClosedPeriod.last_night, ClosedPeriod.reason)
            .where(ClosedPeriod.last_night >= today)
            .order_by(ClosedPeriod.first_night)
        ).all()
        used, extra = _quota_usage(session, rules, rows)
    window_end = add_months(today, rules.booking_window_months)
    found = []
    for row in rows:
        violations = [
            Violation(
                CLOSED_PERIOD,
                {
                    "first": _german_date(first),
                    "last": _german_date(last),
                    "reason": reason,
                    "night": max(first, row.start_date).isoformat(),
                },
            )
            for first, last, reason in periods
            if first < row.end_date and last >= row.start_date
        ]
        if rules.booking_window_months and row.role != ADMIN and row.end_date > window_end:
            violations.append(
                Violation(
                    BOOKING_WINDOW,
                    {"months": rules.booking_window_months, "last": _german_date(window_end)},
                )
            )
        nights = (row.end_date - row.start_date).days
        if nights < rules.min_nights:
            violations.append(Violation(MIN_NIGHTS, {"n": rules.min_nights}))
        if nights > rules.max_nights:
            violations.append(Violation(MAX_NIGHTS, {"n": rules.max_nights}))
        if rules.yearly_quota_nights:
            for year, own in nights_per_year(row.start_date, row.end_date).items():
                allowed = rules.yearly_quota_nights + extra.get((row.user_id, year), 0)
                total = used.get((row.user_id, year), 0)
                if total > allowed:
                    params = {"quota": allowed, "year": year, "used": total - own}
                    violations.append(Violation(YEARLY_QUOTA, {**params, "requested": own}))
        if violations:
            found.append(
                {
                    "bookingId": str(row.id),
                    "userId": row.user_id,
                    "userName": f"{row.first_name} {row.last_name}".strip(),
                    "startDate": row.start_date.isoformat(),
                    "endDate": row.end_date.isoformat(),
                    "status": row.status,
                    "rules": [
                        {"rule": v.rule, "message": v.german, "messageEn": v.english}
                        for v in violations
                    ],
                }
            )
    return found


def _quota_usage(
    session: Session, rules: Rules, rows: Sequence[Any]
) -> tuple[dict[tuple[int, int], int], dict[tuple[int, int], int]]:
    """Nights per (member, year) over all holding stays of the years the given stays touch, and
    the extra nights granted per (member, year)."""
    if not rules.yearly_quota_nights:
        return {}, {}
    years = sorted({y for r in rows for y in nights_per_year(r.start_date, r.end_date)})
    members = sorted({r.user_id for r in rows})
    used: dict[tuple[int, int], int] = {}
    for user_id, start, end in session.execute(
        select(Booking.user_id, Booking.start_date, Booking.end_date).where(
            Booking.user_id.in_(members),
            Booking.status.in_(HOLDING),
            Booking.end_date > date(years[0], 1, 1),
            Booking.start_date < date(years[-1] + 1, 1, 1),
        )
    ):
        for year, nights in nights_per_year(start, end).items():
            used[(user_id, year)] = used.get((user_id, year), 0) + nights
    extra: dict[tuple[int, int], int] = {}
    for user_id, year, nights in session.execute(
        select(QuotaException.user_id, QuotaException.year, QuotaException.extra_nights).where(
            QuotaException.user_id.in_(members), QuotaException.year.in_(years)
        )
    ):
        extra[(user_id, year)] = extra.get((user_id, year), 0) + nights
    return used, extra
