"""Domain errors. Each surface maps them to its own shape (problem details, form errors)."""

from __future__ import annotations

VALIDATION_TITLE = "One or more validation errors occurred."


class DomainError(Exception):
    """Base class; ``message`` is the first human-readable text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(DomainError):
    """Input breaks a rule. ``errors`` maps the predecessor's keys (``DateRange``,
    ``Availability``, ``Domain``, ``BookingItems[0].PersonCount``, ...) to messages."""

    def __init__(self, errors: dict[str, list[str]], title: str = VALIDATION_TITLE) -> None:
        super().__init__(next(iter(errors.values()))[0])
        self.errors = errors
        self.title = title

    @classmethod
    def one(cls, key: str, message: str, title: str = VALIDATION_TITLE) -> ValidationFailed:
        return cls({key: [message]}, title)


class DateRangeInvalid(ValidationFailed):
    def __init__(self, message: str) -> None:
        super().__init__({"DateRange": [message]}, "Date Range Validation Error")


class Unavailable(ValidationFailed):
    """Not enough free places; raised after the lock is held, so it is the final answer."""

    def __init__(self, message: str) -> None:
        super().__init__({"Availability": [message]})


class BusinessRuleViolation(DomainError):
    """The request is well-formed but the current state forbids it (HTTP 409)."""


class NotFound(DomainError):
    pass


class Forbidden(DomainError):
    pass


class AuthFailed(DomainError):
    """Auth and user-administration errors; the API answers 400 ``{"message": ...}``."""


class Throttled(DomainError):
    """Too many attempts; ``retry_after`` seconds until the block ends (HTTP 429)."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, retry_after)
        if self.retry_after < 120:
            wait = f"{self.retry_after} Sekunden"
        else:
            wait = f"{-(-self.retry_after // 60)} Minuten"
        super().__init__(f"Zu viele Versuche. Bitte warten Sie {wait}.")
