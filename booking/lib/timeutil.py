"""Clock helpers. Stored times are naive UTC; "today" is the house's local date."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def today_in(zone: ZoneInfo) -> date:
    return datetime.now(zone).date()


def wire_datetime(value: datetime | None) -> str | None:
    """The predecessor's format for stored times: ISO 8601 without a zone suffix."""
    return None if value is None else value.isoformat(timespec="microseconds")


def wire_date(value: date) -> str:
    """Dates went over the wire as midnight date-times."""
    return f"{value.isoformat()}T00:00:00"
