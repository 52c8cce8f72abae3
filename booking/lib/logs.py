"""Logging for ``booking serve``: one JSON object per line in production, readable text in
development (``BOOKING_LOG_FORMAT``), a request id on every line written while a request runs,
and redaction of secrets in every line whatever the format.

JSON lines (docs/observability.md)::

    {"ts": "2026-11-28T10:00:00.123Z", "level": "info", "logger": "booking.access",
     "message": "GET /api/bookings/{booking_id} 200 12.3 ms", "request_id": "9f0c...",
     "method": "GET", "route": "/api/bookings/{booking_id}", "status": 200,
     "duration_ms": 12.3, "client": "192.0.2.1"}

Errors carry the stack trace in ``exc`` (one string, so the line stays one line).

Redaction: values after ``password``, ``token``, ``secret``, ``session``, ``authorization``,
``cookie`` (as ``key=value``, ``key: value`` or JSON ``"key": "value"``), ``Bearer`` credentials
and anything shaped like a JWT are replaced by ``[REDACTED]``. In development the mail log line
(no SMTP host configured: the mail, verification link included, is written to the log) keeps its
text, because it is how a developer gets the link; in production it is redacted like the rest.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

REQUEST_ID: ContextVar[str | None] = ContextVar("booking_request_id", default=None)

# Attributes of every LogRecord; anything else passed with `extra=` becomes a field of its own.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_SECRET_KEYS = r"(?:password|passwort|passwd|token|secret|session(?:_?id)?|authorization|cookie|api[_-]?key|csrf)"  # noqa: S105 - names, not a secret
_PATTERNS = (
    # `Bearer abc.def`, `Basic dXNlcjpwYXNz` (an Authorization value on its own)
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [REDACTED]"),
    # JWTs anywhere (three base64url parts, the first one a JSON object)
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[REDACTED]"),
    # "password": "x" / 'token': 'x' (JSON and Python reprs)
    (
        re.compile(rf"""(?i)(["']\w*{_SECRET_KEYS}\w*["']\s*:\s*)(["'])(?:\\.|(?!\2).)*\2"""),
        r"\1\2[REDACTED]\2",
    ),
    # password='x y', token: "x" (quoted values, spaces included)
    (
        re.compile(
            rf"""(?i)(\b\w*{_SECRET_KEYS}\w*\b\s*[=:]\s*)(["'])(?!\[REDACTED\])(?:\\.|(?!\2).)*\2"""
        ),
        r"\1\2[REDACTED]\2",
    ),
    # password=x, ?token=x&..., Cookie: x, new_password: x
    (
        re.compile(
            rf"(?i)(\b\w*{_SECRET_KEYS}\w*\b\s*[=:]\s*)(?![\s\"']*\[REDACTED\])[^\s&;,\"'<>]+"
        ),
        r"\1[REDACTED]",
    ),
)
MAX_MESSAGE = 8000  # one line is never megabytes (a crafted header, a huge repr)


def redact(text: str) -> str:
    """``text`` with every secret-looking value replaced by ``[REDACTED]``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _reveals(record: logging.LogRecord, reveal_mail: bool) -> bool:
    return reveal_mail and record.name == "booking.mail"


class JsonFormatter(logging.Formatter):
    def __init__(self, reveal_mail: bool = False) -> None:
        super().__init__()
        self.reveal_mail = reveal_mail

    def format(self, record: logging.LogRecord) -> str:
        clean = (lambda s: s) if _reveals(record, self.reveal_mail) else redact
        created = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "ts": created.strftime("%Y-%m-%dT%H:%M:%S.") + f"{created.microsecond // 1000:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": clean(record.getMessage()[:MAX_MESSAGE]),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and key != "request_id" and not key.startswith("_"):
                entry[key] = clean(value) if isinstance(value, str) else value
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc_type"] = record.exc_info[0].__name__
            entry["exc"] = clean("".join(traceback.format_exception(*record.exc_info)))
        elif record.exc_text:
            entry["exc"] = clean(record.exc_text)
        if record.stack_info:
            entry["stack"] = clean(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``10:00:00 INFO booking.access [9f0c1a2b] GET / 200 3.1 ms``"""

    def __init__(self, reveal_mail: bool = False) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(rid)s %(message)s", "%H:%M:%S")
        self.reveal_mail = reveal_mail

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        record.rid = f" [{request_id[:8]}]" if request_id else ""
        text = super().format(record)
        return text if _reveals(record, self.reveal_mail) else redact(text)


def configure(
    fmt: Literal["json", "text"], level: str = "info", *, reveal_mail: bool = False
) -> None:
    """Send every logger (uvicorn's too) to stderr through one handler in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(reveal_mail) if fmt == "json" else TextFormatter(reveal_mail)
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
