"""Response documentation for the OpenAPI document: JSON Schemas of every answer, per operation
and status, including the error shapes.

The API's routers build no response models (booking/api/deps.py: validating every answer again
would cost CPU on each request), so FastAPI alone documents nothing about responses. This module
is imported only when ``/api/openapi.json`` is first generated (booking/app.py), adds the wire
contract of the predecessor (reference/predecessor.md, DECISIONS 4, 5, 10) to the document, and
costs nothing on the request path. tests/test_api_fuzz.py checks every live answer against it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

JSON = "application/json"
PROBLEM = "application/problem+json"
Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
NULLABLE_STRING: Schema = {"type": ["string", "null"]}
NULLABLE_INT: Schema = {"type": ["integer", "null"]}
DATE_TIME: Schema = {
    "type": "string",
    "description": "ISO 8601 without zone, e.g. 2027-01-10T00:00:00",
}
NULLABLE_DATE_TIME: Schema = {**DATE_TIME, "type": ["string", "null"]}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    """An object with these members; more members may be added later (clients ignore them)."""
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
    }


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


SCHEMAS: dict[str, Schema] = {
    # DECISIONS 4: RFC 9457 problem details with the predecessor's `errors` keys and `message`.
    "Problem": obj(
        {"type": STRING, "title": STRING, "status": INT, "message": STRING},
        {
            "errors": {"type": "object", "additionalProperties": array(STRING)},
            "retryAfter": INT,
        },
    ),
    # Auth and admin-user endpoints keep the predecessor's plain {"message"}.
    "Message": obj({"message": STRING}),
    "User": obj(
        {
            "id": INT,
            "email": STRING,
            "firstName": STRING,
            "lastName": STRING,
            "role": {"type": "integer", "enum": [0, 1], "description": "0 Member, 1 Administrator"},
        }
    ),
    "AdminUser": {
        "allOf": [
            ref("User"),
            obj(
                {
                    "isActive": BOOL,
                    "emailVerified": BOOL,
                    "isApprovedForBooking": BOOL,
                    "canBook": BOOL,
                    "bookingRevokedAt": NULLABLE_DATE_TIME,
                    "registrationDate": NULLABLE_DATE_TIME,
                    "lastLoginAt": NULLABLE_DATE_TIME,
                }
            ),
        ]
    },
    "PendingUser": obj(
        {
            "id": INT,
            "email": STRING,
            "firstName": STRING,
            "lastName": STRING,
            "registrationDate": DATE_TIME,
            "emailVerifiedAt": NULLABLE_DATE_TIME,
            "emailVerified": BOOL,
        }
    ),
    "UserChanged": obj({"message": STRING, "user": ref("AdminUser")}),
    "Place": obj(
        {
            "id": {"type": "string", "format": "uuid"},
            "name": STRING,
            "type": {"type": "integer", "enum": [0, 1, 2, 3]},
            "maxCapacity": INT,
            "isActive": BOOL,
            "createdAt": NULLABLE_DATE_TIME,
            "changedAt": NULLABLE_DATE_TIME,
        }
    ),
    "Booking": obj(
        {
            "id": {"type": "string", "format": "uuid"},
            "userId": INT,
            "userName": STRING,
            "userEmail": STRING,
            "startDate": DATE_TIME,
            "endDate": DATE_TIME,
            "status": {"type": "integer", "enum": [0, 1, 2, 3, 4, 5]},
            "notes": NULLABLE_STRING,
            "bookingItems": array(
                obj(
                    {
                        "sleepingAccommodationId": {"type": "string", "format": "uuid"},
                        "sleepingAccommodationName": NULLABLE_STRING,
                        "personCount": INT,
                    }
                )
            ),
            "totalPersons": INT,
            "numberOfNights": INT,
            "createdAt": NULLABLE_DATE_TIME,
            "changedAt": NULLABLE_DATE_TIME,
        }
    ),
    "BookingHistoryEntry": obj(
        {
            "id": INT,
            "bookingId": {"type": "string", "format": "uuid"},
            "eventType": STRING,
            "occurredAt": DATE_TIME,
            "userId": NULLABLE_INT,
            "userName": STRING,
            "details": {"type": "object"},
        }
    ),
    "Availability": obj(
        {
            "startDate": DATE_TIME,
            "endDate": DATE_TIME,
            "accommodations": array(
                obj(
                    {
                        "id": {"type": "string", "format": "uuid"},
                        "name": STRING,
                        "maxCapacity": INT,
                        "isAvailable": BOOL,
                        "availableCapacity": INT,
                        "conflictingBookings": array(
                            obj(
                                {
                                    "bookingId": {"type": "string", "format": "uuid"},
                                    "startDate": DATE_TIME,
                                    "endDate": DATE_TIME,
                                    "personCount": INT,
                                    "userName": NULLABLE_STRING,
                                }
                            )
                        ),
                    }
                )
            ),
        }
    ),
    "DayAvailability": obj(
        {
            "date": {"type": "string", "format": "date"},
            "freeBeds": INT,
            "totalBeds": INT,
            "full": BOOL,
            "places": {"type": "object", "additionalProperties": INT},
        }
    ),
    "BookingValidation": obj(
        {
            "isValid": BOOL,
            "message": STRING,
            "validatedAt": STRING,
            "dateRange": obj({"startDate": DATE_TIME, "endDate": DATE_TIME, "nights": INT}),
            "totalPersons": INT,
            "accommodationCount": INT,
        }
    ),
    "EmailSettings": obj(
        {
            "smtpHost": STRING,
            "smtpPort": INT,
            "smtpUsername": STRING,
            "smtpPassword": {
                "type": "string",
                "enum": ["", "********"],
                "description": "Never the password itself: a mask when one is stored",
            },
            "fromName": STRING,
            "fromEmail": STRING,
            "useTls": BOOL,
            "isConfigured": BOOL,
        }
    ),
    "AuditEntry": obj(
        {
            "id": INT,
            "occurredAt": DATE_TIME,
            "event": STRING,
            "label": STRING,
            "actorId": NULLABLE_INT,
            "actorEmail": NULLABLE_STRING,
            "subject": NULLABLE_STRING,
            "clientAddress": NULLABLE_STRING,
            "details": {"type": "object"},
        }
    ),
    "HouseRules": obj(
        {
            "bookingWindowMonths": INT,
            "minimumNoticeDays": INT,
            "minNights": INT,
            "maxNights": INT,
            "yearlyQuotaNights": INT,
        }
    ),
    "ClosedPeriod": obj(
        {
            "id": {"type": "string", "format": "uuid"},
            "firstNight": {"type": "string", "format": "date"},
            "lastNight": {"type": "string", "format": "date"},
            "reason": STRING,
        },
        {"createdAt": NULLABLE_DATE_TIME},
    ),
    "QuotaException": obj(
        {
            "id": INT,
            "userId": INT,
            "year": INT,
            "extraNights": INT,
            "reason": STRING,
        },
        {"userName": STRING, "userEmail": NULLABLE_STRING, "createdAt": NULLABLE_DATE_TIME},
    ),
    "RuleConflict": obj(
        {
            "bookingId": {"type": "string", "format": "uuid"},
            "userId": INT,
            "startDate": {"type": "string", "format": "date"},
            "endDate": {"type": "string", "format": "date"},
            "status": INT,
            "rules": array(obj({"rule": STRING, "message": STRING})),
        }
    ),
}

# (method, path as in the document) -> (success status, schema or None for an empty body)
SUCCESS: dict[tuple[str, str], tuple[int, Schema | None]] = {
    ("get", "/health"): (200, obj({"status": {"const": "healthy"}})),
    ("get", "/api/health"): (200, obj({"status": {"const": "healthy"}})),
    ("get", "/health/ready"): (
        200,
        obj(
            {
                "status": {"enum": ["ready", "degraded"]},
                "checks": {"type": "object", "additionalProperties": STRING},
            }
        ),
    ),
    ("post", "/api/auth/login"): (
        200,
        obj({"token": STRING, "message": STRING, "user": ref("User")}),
    ),
    ("post", "/api/auth/register"): (200, obj({"message": STRING, "userId": INT})),
    ("post", "/api/auth/verify-email"): (200, obj({"message": STRING, "requiresApproval": BOOL})),
    ("post", "/api/auth/resend-verification"): (200, ref("Message")),
    ("get", "/api/auth/me"): (200, {"allOf": [ref("User"), obj({"canBook": BOOL})]}),
    ("post", "/api/auth/change-password"): (200, ref("Message")),
    ("post", "/api/auth/forgot-password"): (200, ref("Message")),
    ("post", "/api/auth/reset-password"): (200, ref("Message")),
    ("put", "/api/auth/profile"): (
        200,
        {"allOf": [ref("User"), obj({"language": NULLABLE_STRING})]},
    ),
    ("get", "/api/admin/users/pending"): (200, array(ref("PendingUser"))),
    ("get", "/api/admin/users"): (200, array(ref("AdminUser"))),
    ("post", "/api/admin/users/{user_id}/approve"): (200, ref("Message")),
    ("post", "/api/admin/users/{user_id}/reject"): (200, ref("Message")),
    ("post", "/api/admin/users/{user_id}/revoke-booking"): (200, ref("UserChanged")),
    ("post", "/api/admin/users/{user_id}/restore-booking"): (200, ref("UserChanged")),
    ("put", "/api/admin/users/{user_id}/role"): (200, ref("UserChanged")),
    ("get", "/api/sleeping-accommodations"): (200, array(ref("Place"))),
    ("post", "/api/sleeping-accommodations"): (201, ref("Place")),
    ("get", "/api/sleeping-accommodations/{place_id}"): (200, ref("Place")),
    ("put", "/api/sleeping-accommodations/{place_id}"): (200, ref("Place")),
    ("delete", "/api/sleeping-accommodations/{place_id}"): (204, None),
    ("get", "/api/bookings"): (200, array(ref("Booking"))),
    ("post", "/api/bookings"): (201, ref("Booking")),
    ("get", "/api/bookings/availability"): (200, ref("Availability")),
    ("post", "/api/bookings/validate"): (200, ref("BookingValidation")),
    ("get", "/api/bookings/{booking_id}"): (200, ref("Booking")),
    ("put", "/api/bookings/{booking_id}"): (200, ref("Booking")),
    ("get", "/api/bookings/{booking_id}/history"): (200, array(ref("BookingHistoryEntry"))),
    ("post", "/api/bookings/{booking_id}/cancel"): (204, None),
    ("post", "/api/bookings/{booking_id}/accept"): (204, None),
    ("post", "/api/bookings/{booking_id}/reject"): (204, None),
    ("post", "/api/bookings/{booking_id}/confirm"): (204, None),
    ("get", "/api/calendar/availability"): (200, array(ref("DayAvailability"))),
    ("get", "/api/admin/email-settings"): (200, ref("EmailSettings")),
    ("put", "/api/admin/email-settings"): (
        200,
        obj({"message": STRING, "settings": ref("EmailSettings")}),
    ),
    ("post", "/api/admin/email-settings/test"): (200, obj({"message": STRING, "success": BOOL})),
    ("get", "/api/admin/audit"): (200, array(ref("AuditEntry"))),
    ("get", "/api/auth/two-factor"): (
        200,
        obj({"enabled": BOOL, "recoveryCodesLeft": INT, "required": BOOL}),
    ),
    ("post", "/api/auth/change-email"): (200, ref("Message")),
    ("post", "/api/auth/confirm-email-change"): (200, obj({"message": STRING, "email": STRING})),
    ("get", "/api/admin/security"): (
        200,
        obj(
            {
                "checks": array(
                    obj(
                        {
                            "key": STRING,
                            "title": STRING,
                            "status": STRING,
                            "detail": STRING,
                            "fix": NULLABLE_STRING,
                        }
                    )
                )
            }
        ),
    ),
    ("get", "/api/house-rules"): (
        200,
        {"allOf": [ref("HouseRules"), obj({"closedPeriods": array(ref("ClosedPeriod"))})]},
    ),
    ("get", "/api/admin/house-rules"): (
        200,
        {
            "allOf": [
                ref("HouseRules"),
                obj({"changedAt": NULLABLE_DATE_TIME, "changedById": NULLABLE_INT}),
            ]
        },
    ),
    ("put", "/api/admin/house-rules"): (
        200,
        {"allOf": [ref("HouseRules"), obj({"conflicts": array(ref("RuleConflict"))})]},
    ),
    ("get", "/api/admin/house-rules/conflicts"): (200, array(ref("RuleConflict"))),
    ("get", "/api/admin/closed-periods"): (200, array(ref("ClosedPeriod"))),
    ("post", "/api/admin/closed-periods"): (201, ref("ClosedPeriod")),
    ("delete", "/api/admin/closed-periods/{period_id}"): (204, None),
    ("get", "/api/admin/quota-exceptions"): (200, array(ref("QuotaException"))),
    ("post", "/api/admin/quota-exceptions"): (201, ref("QuotaException")),
    ("delete", "/api/admin/quota-exceptions/{exception_id}"): (204, None),
}

# Answers besides success and the common errors, per operation.
EXTRA: dict[tuple[str, str], dict[int, str]] = {
    ("get", "/health/ready"): {503: "The database is unreachable or its schema is outdated"},
    ("post", "/api/admin/email-settings/test"): {400: "The mail could not be sent"},
}
THROTTLED_PREFIXES = ("/api/auth/",)
CONFLICT_PREFIXES = (
    "/api/bookings",
    "/api/sleeping-accommodations",
    "/api/admin/users",
    "/api/admin/closed-periods",
    "/api/admin/quota-exceptions",
    "/api/admin/house-rules",
)

DESCRIPTIONS = {
    400: "Invalid request: problem details (validation, rules) or {message} (auth)",
    401: "Not logged in, or the token is invalid or the account no longer usable",
    403: "Not allowed for this caller",
    404: "Not found (or not visible to this caller)",
    409: "A business rule forbids it (capacity, status)",
    413: "Request body larger than 256 KiB",
    429: "Too many attempts; retry after Retry-After seconds",
    503: "Not ready",
}


def _content(schema: Schema, *media_types: str) -> dict[str, Any]:
    return {media_type: {"schema": schema} for media_type in media_types}


def _error(status: int) -> dict[str, Any]:
    if status == 400:  # the rule errors are problems, auth refusals the predecessor's {message}
        content = {**_content(ref("Problem"), PROBLEM), **_content(ref("Message"), JSON)}
    elif status == 503:
        content = _content({"type": "object"}, JSON)
    else:
        content = _content(ref("Problem"), PROBLEM)
    return {"description": DESCRIPTIONS.get(status, "Error"), "content": content}


def _needs_user(route: APIRoute) -> bool:
    """Whether the operation reads the caller (bearer token) anywhere in its dependencies."""
    from booking.api.deps import current_user

    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if dependency.call is current_user:
            return True
        pending.extend(dependency.dependencies)
    return False


def _operations(app: FastAPI) -> dict[tuple[str, str], APIRoute]:
    """(method, document path) -> route; FastAPI nests included routers, as its own document
    generator does, iter_route_contexts flattens them."""
    from fastapi.routing import iter_route_contexts

    found = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and context.path_format:
            for method in context.methods or ():
                found[(method.lower(), context.path_format)] = route
    return found


def document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document with the responses described (called once, then cached by FastAPI)."""
    doc = FastAPI.openapi(app)
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {}).update(SCHEMAS)
    components["schemas"].pop("HTTPValidationError", None)
    components["schemas"].pop("ValidationError", None)
    components.setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The token from POST /api/auth/login",
    }
    routes = _operations(app)
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            route = routes.get((method, path))
            _describe(operation, method, path, route is not None and _needs_user(route))
    return doc


def _describe(operation: dict[str, Any], method: str, path: str, needs_user: bool) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)  # validation errors are 400 problems here (DECISIONS 4)
    known = SUCCESS.get((method, path))
    if known is not None:
        status, schema = known
        for other in [code for code in responses if code.startswith("2") and code != str(status)]:
            del responses[other]
        described = responses.setdefault(str(status), {"description": "Success"})
        if schema is None:
            described.pop("content", None)
        else:
            described["content"] = _content(schema, JSON)
    errors = {400, 404, *EXTRA.get((method, path), {})}
    if method in ("post", "put", "patch"):
        errors.add(413)
    if needs_user:
        errors |= {401, 403}
        operation["security"] = [{"bearer": []}]
    if path.startswith(THROTTLED_PREFIXES):
        errors.add(429)
    if path.startswith(CONFLICT_PREFIXES) and method != "get":
        errors.add(409)
    for status in sorted(errors):
        error = _error(status)
        if status in EXTRA.get((method, path), {}):
            error["description"] = EXTRA[(method, path)][status]
        responses.setdefault(str(status), error)
