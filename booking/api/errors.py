"""One error shape for the API: RFC 9457 problem details with the predecessor's ``errors`` keys,
``status`` equal to the HTTP status, and ``message`` for clients that only show that."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DataError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from booking.domain.errors import (
    VALIDATION_TITLE,
    AuthFailed,
    BusinessRuleViolation,
    Forbidden,
    NotFound,
    Throttled,
    ValidationFailed,
)
from booking.http import RequestValidationError, exception_handler

log = logging.getLogger("booking.api")
PROBLEM = "application/problem+json"
RFC = "https://tools.ietf.org/html/rfc9110#section-15."
TYPES = {400: "5.1", 401: "5.2", 403: "5.4", 404: "5.5", 405: "5.6", 409: "5.10", 413: "5.14"}
TITLES = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Business Rule Violation",
    413: "Content Too Large",
    500: "Internal Server Error",
}


class Unauthenticated(Exception):
    def __init__(self, invalid_token: bool = False) -> None:
        super().__init__("unauthenticated")
        self.invalid_token = invalid_token


def problem(
    status: int,
    message: str,
    *,
    title: str | None = None,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": RFC + TYPES.get(status, "6.1"),
        "title": title or TITLES.get(status, "Error"),
        "status": status,
    }
    if errors is not None:
        body["errors"] = errors
    body["message"] = message
    body.update(extensions or {})  # e.g. the house rules' ``rules`` (RFC 9457 extension member)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def message(status: int, text: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"message": text, **extra}, status_code=status)


def _field_key(loc: tuple[Any, ...]) -> str:
    """``("body", "bookingItems", 0, "personCount")`` -> ``BookingItems[0].PersonCount``."""
    source, *path = loc
    if source != "body":
        return ".".join(str(part) for part in path)
    key = ""
    for part in path:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            name = str(part)
            key += ("." if key else "") + name[:1].upper() + name[1:]
    return key


_MESSAGES = {
    "json_invalid": "Ungültiges JSON im Anfrage-Body.",
    "date_parsing": "Ungültiges Datum. Erwartet wird JJJJ-MM-TT.",
    "date_from_datetime_parsing": "Ungültiges Datum. Erwartet wird JJJJ-MM-TT.",
    "date_from_datetime_inexact": "Ungültiges Datum. Erwartet wird JJJJ-MM-TT.",
    "date_type": "Ungültiges Datum. Erwartet wird JJJJ-MM-TT.",
    "int_parsing": "Der Wert muss eine ganze Zahl sein.",
    "int_type": "Der Wert muss eine ganze Zahl sein.",
    "int_from_float": "Der Wert muss eine ganze Zahl sein.",
    "uuid_parsing": "Ungültige ID.",
    "uuid_type": "Ungültige ID.",
    "string_type": "Der Wert muss ein Text sein.",
    "bool_parsing": "Der Wert muss true oder false sein.",
    "bool_type": "Der Wert muss true oder false sein.",
    "list_type": "Der Wert muss eine Liste sein.",
    "model_type": "Der Wert muss ein Objekt sein.",
    "model_attributes_type": "Der Wert muss ein Objekt sein.",
    "dict_type": "Der Wert muss ein Objekt sein.",
    "literal_error": "Unbekannter Wert.",
    "enum": "Unbekannter Wert.",
}


def _message_for(error: dict[str, Any], key: str) -> str:
    kind = error["type"]
    if kind == "missing":
        return f"The {key.rsplit('.', 1)[-1] or 'body'} field is required."
    if kind == "string_too_long":
        return f"Der Text ist zu lang (höchstens {error['ctx']['max_length']} Zeichen)."
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return "Der Wert liegt außerhalb des erlaubten Bereichs."
    if kind == "value_error" and key.endswith("Date"):
        return _MESSAGES["date_parsing"]
    return _MESSAGES.get(kind, "Ungültiger Wert.")


def validation_errors(exc: RequestValidationError) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in exc.errors():
        loc = tuple(error["loc"])
        if error["type"] == "json_invalid":
            key, text = "$", _MESSAGES["json_invalid"]
        elif loc == ("body",) and error["type"] == "missing":
            key, text = "", "A non-empty request body is required."
        else:
            key = _field_key(loc)
            text = _message_for(error, key)
        errors.setdefault(key, [])
        if text not in errors[key]:
            errors[key].append(text)
    return errors


HtmlErrors = Callable[[Request, int, str | None], Response]


def install(app: Starlette, html: HtmlErrors | None = None) -> None:
    """JSON for ``/api/...``; pages get ``html`` (an error page) when it is given.

    Starlette hands the handler for ``Exception`` to its outermost ServerErrorMiddleware."""

    def for_pages(request: Request) -> bool:
        return html is not None and not request.url.path.startswith("/api/")

    @exception_handler(app, RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc)
        first = next(iter(errors.values()), ["Ungültige Anfrage."])[0]
        return problem(400, first, title=VALIDATION_TITLE, errors=errors)

    @exception_handler(app, ValidationFailed)
    async def _rule(request: Request, exc: ValidationFailed) -> Response:
        if for_pages(request):
            return html(request, 400, exc.message)  # type: ignore[misc]
        extensions = getattr(exc, "extensions", None)
        return problem(400, exc.message, title=exc.title, errors=exc.errors, extensions=extensions)

    @exception_handler(app, BusinessRuleViolation)
    async def _conflict(request: Request, exc: BusinessRuleViolation) -> Response:
        if for_pages(request):
            return html(request, 409, exc.message)  # type: ignore[misc]
        return problem(409, exc.message, errors={"Business": [exc.message]})

    @exception_handler(app, NotFound)
    async def _missing(request: Request, exc: NotFound) -> Response:
        if for_pages(request):
            return html(request, 404, exc.message)  # type: ignore[misc]
        return problem(404, exc.message)

    @exception_handler(app, Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        if for_pages(request):
            return html(request, 403, exc.message)  # type: ignore[misc]
        return problem(403, exc.message)

    @exception_handler(app, AuthFailed)
    async def _auth(request: Request, exc: AuthFailed) -> Response:
        if for_pages(request):
            return html(request, 400, exc.message)  # type: ignore[misc]
        return message(400, exc.message)

    @exception_handler(app, Throttled)
    async def _throttled(request: Request, exc: Throttled) -> Response:
        retry = {"Retry-After": str(exc.retry_after)}
        if for_pages(request):
            response = html(request, 429, exc.message)  # type: ignore[misc]
            response.headers.update(retry)
            return response
        body = {
            "type": "https://tools.ietf.org/html/rfc6585#section-4",
            "title": "Too Many Requests",
            "status": 429,
            "message": exc.message,
            "retryAfter": exc.retry_after,
        }
        return JSONResponse(body, status_code=429, media_type=PROBLEM, headers=retry)

    @exception_handler(app, Unauthenticated)
    async def _anonymous(_request: Request, exc: Unauthenticated) -> JSONResponse:
        challenge = 'Bearer error="invalid_token"' if exc.invalid_token else "Bearer"
        return problem(401, "Bitte melden Sie sich an.", headers={"WWW-Authenticate": challenge})

    @exception_handler(app, HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if for_pages(request):
            return html(request, exc.status_code, None)  # type: ignore[misc]
        texts = {404: "Nicht gefunden.", 405: "Methode nicht erlaubt."}
        return problem(exc.status_code, texts.get(exc.status_code, str(exc.detail)))

    @exception_handler(app, DataError)
    async def _bad_data(request: Request, exc: DataError) -> Response:
        # Input the database refuses although it passed validation: PostgreSQL rejects NUL
        # characters in text and numbers beyond its column types. The caller's mistake, and
        # the transaction has rolled back; logged without the values (they may be personal).
        log.info("database refused a value on %s %s", request.method, request.url.path)
        if for_pages(request):
            return html(request, 400, None)  # type: ignore[misc]
        return problem(400, "Die Anfrage enthält ungültige Zeichen oder Werte.")

    @exception_handler(app, Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        if for_pages(request):
            return html(request, 500, None)  # type: ignore[misc]
        return problem(500, "Interner Serverfehler. Bitte versuchen Sie es später erneut.")
