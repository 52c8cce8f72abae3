"""Reading calendar feeds in tests, three ways that must agree: ``icalendar``'s parser,
``recurring-ical-events`` (what calendar apps do: expand events in a date range) and a small
content-line reader written here from RFC 5545 §3.1 (folding, escaping), which shares no code
with the library that wrote the feed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import recurring_ical_events
from icalendar import Calendar

_NAME = re.compile(r"^[A-Za-z0-9-]+$")


@dataclass
class FeedEvent:
    uid: str
    start: date
    end: date
    sequence: int
    status: str
    summary: str
    description: str
    url: str


def content_lines(body: bytes) -> list[tuple[str, dict[str, str], str]]:
    """RFC 5545 §3.1: CRLF line ends, lines of at most 75 octets, folding by CRLF + space."""
    assert body.endswith(b"\r\n"), "the last line must end with CRLF"
    physical = body[:-2].split(b"\r\n")
    for line in physical:
        assert len(line) <= 75, f"line longer than 75 octets: {line!r}"
        assert b"\n" not in line and b"\r" not in line, f"bare line break in {line!r}"
    unfolded: list[bytes] = []
    for line in physical:
        if line[:1] in (b" ", b"\t"):
            unfolded[-1] += line[1:]
        else:
            unfolded.append(line)
    result = []
    for raw in unfolded:
        text = raw.decode("utf-8")
        head, _, value = text.partition(":")  # parameter values here never hold ':'
        name, *params = head.split(";")
        assert _NAME.match(name), f"bad property name in {text!r}"
        parameters = dict(p.split("=", 1) for p in params)
        result.append((name.upper(), parameters, value))
    return result


def unescape(value: str) -> str:
    """TEXT values (RFC 5545 §3.3.11)."""
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m[1] in "nN" else m[1], value)


def _raw_events(body: bytes) -> list[dict[str, str]]:
    lines = content_lines(body)
    assert lines[0][0] == "BEGIN" and lines[0][2] == "VCALENDAR"
    assert lines[-1][0] == "END" and lines[-1][2] == "VCALENDAR"
    stack: list[str] = []
    events: list[dict[str, str]] = []
    for name, parameters, value in lines:
        if name == "BEGIN":
            stack.append(value)
            if value == "VEVENT":
                events.append({})
        elif name == "END":
            assert stack and stack.pop() == value, f"unbalanced END:{value}"
        elif stack == ["VCALENDAR", "VEVENT"]:
            if name in ("DTSTART", "DTEND"):
                assert parameters.get("VALUE") == "DATE", "stays are all-day events"
            events[-1][name] = value
    assert not stack
    return events


def read_feed(body: bytes) -> dict[str, FeedEvent]:
    """Events by UID, checked to be the same in all three readers."""
    calendar = Calendar.from_ical(body)
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["METHOD"]) == "PUBLISH"
    assert str(calendar["CALSCALE"]) == "GREGORIAN"
    assert calendar.get("PRODID")
    parsed: dict[str, FeedEvent] = {}
    for event in calendar.walk("VEVENT"):
        for required in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SEQUENCE", "STATUS"):
            assert required in event, f"{required} missing"
        item = FeedEvent(
            uid=str(event["UID"]),
            start=event.decoded("DTSTART"),
            end=event.decoded("DTEND"),
            sequence=int(event["SEQUENCE"]),
            status=str(event["STATUS"]),
            summary=str(event["SUMMARY"]),
            description=str(event["DESCRIPTION"]),
            url=str(event["URL"]),
        )
        assert type(item.start) is date and type(item.end) is date
        assert item.uid not in parsed, "UIDs must be unique within a feed"
        parsed[item.uid] = item

    expanded = recurring_ical_events.of(calendar).between(date(1970, 1, 1), date(2200, 1, 1))
    seen = {str(e["UID"]): (e.start, e.end, str(e["STATUS"])) for e in expanded}
    assert seen == {uid: (e.start, e.end, e.status) for uid, e in parsed.items()}

    raw = {unescape(e["UID"]): e for e in _raw_events(body)}
    assert set(raw) == set(parsed)
    for uid, event in parsed.items():
        line = raw[uid]
        assert line["DTSTART"] == event.start.strftime("%Y%m%d")
        assert line["DTEND"] == event.end.strftime("%Y%m%d")
        assert unescape(line["SUMMARY"]) == event.summary
        assert unescape(line["DESCRIPTION"]) == event.description
        assert line["STATUS"] == event.status
    return parsed


def calendar_name(body: bytes) -> Any:
    return str(Calendar.from_ical(body)["X-WR-CALNAME"])
