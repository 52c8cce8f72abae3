"""Who may call what: every endpoint of the JSON API for four callers (anonymous, the owner bob,
the stranger charlie, the administrator alice). A new API route without a row fails here."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from typing import Any

import pytest

from booking.db.models import EmailSettings, User
from booking.domain.users import _token_hash
from booking.lib.timeutil import utcnow
from tests import factories
from tests.factories import PASSWORD, booking_body

CALLERS = ("anonymous", "bob", "charlie", "alice")
EVERYONE = (200, 200, 200, 200)
SIGNED_IN = (401, 200, 200, 200)
OWNER = (401, 200, 403, 200)
ADMIN = (401, 403, 403, 200)


@dataclass
class World:
    """Fresh targets for one call, created on first use."""

    ctx: Any
    bob: User
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @cached_property
    def place(self) -> Any:
        return factories.make_place(self.ctx, f"Platz {self.tag}", capacity=10)

    @cached_property
    def booking(self) -> Any:
        return factories.make_booking(
            self.ctx, self.bob, [(self.place, 1)], start=self.ctx.today() + timedelta(days=7)
        )

    def user(self, **kwargs: Any) -> User:
        return factories.make_user(self.ctx, f"{self.tag}@example.com", **kwargs)

    @cached_property
    def pending_user(self) -> User:
        return self.user(approved=False)

    @cached_property
    def member(self) -> User:
        return self.user()

    @cached_property
    def verification_token(self) -> str:
        token = f"token-{self.tag}"
        user = self.user(verified=False, approved=False)
        with self.ctx.db.write() as session:
            row = session.get(User, user.id)
            assert row is not None
            row.verification_token_hash = _token_hash(token)
            row.verification_token_expires_at = utcnow() + timedelta(hours=1)
        return token

    def mail_without_host(self) -> None:
        """Configured settings without an SMTP host: the test mail goes to the log."""
        with self.ctx.db.write() as session:
            session.merge(
                EmailSettings(
                    id=1,
                    smtp_host="",
                    smtp_port=25,
                    smtp_username="",
                    smtp_password_encrypted="",
                    from_name="Booking",
                    from_email="noreply@example.com",
                    use_tls=False,
                    is_configured=True,
                    created_at=utcnow(),
                )
            )

    @cached_property
    def closed_period(self) -> str:
        from booking.domain import house_rules

        admin = self.user(admin=True)
        data = house_rules.ClosedPeriodIn(
            first_night=date(2031, 2, 1), last_night=date(2031, 2, 2), reason=self.tag
        )
        return str(house_rules.add_closed_period(self.ctx, admin, data)["id"])

    @cached_property
    def quota_exception(self) -> int:
        from booking.domain import house_rules

        admin = self.user(admin=True)
        data = house_rules.QuotaExceptionIn(
            user_id=admin.id, year=2031, extra_nights=2, reason=self.tag
        )
        return int(house_rules.grant_quota_exception(self.ctx, admin, data)["id"])

    def booking_url(self, suffix: str = "") -> str:
        return f"/api/bookings/{self.booking.id}{suffix}"

    def new_booking(self) -> dict[str, Any]:
        return booking_body([(self.place, 1)], self.ctx.today() + timedelta(days=3))

    def notes_edit(self) -> dict[str, Any]:
        return booking_body(
            [(self.place, 1)], self.booking.start_date, nights=2, notes=f"Notiz {self.tag}"
        )


@dataclass(frozen=True)
class Row:
    url: Callable[[World], str]
    expected: tuple[int, int, int, int]  # anonymous, bob (owner), charlie, alice (admin)
    body: Callable[[World], Any] | None = None


def place_body(w: World) -> dict[str, Any]:
    return {"name": f"Neu {w.tag}", "type": 0, "maxCapacity": 3, "isActive": True}


def email_body(w: World) -> dict[str, Any]:
    return {
        "smtpHost": "smtp.example.com",
        "smtpPort": 587,
        "smtpUsername": "mailer",
        "smtpPassword": "geheim",
        "fromName": "Booking",
        "fromEmail": "noreply@example.com",
        "useTls": True,
    }


def mail_test_url(w: World) -> str:
    w.mail_without_host()
    return "/api/admin/email-settings/test"


ADMIN_USERS = "/api/admin/users/{user_id:int}"
PLACE = "/api/sleeping-accommodations/{place_id:uuid}"
BOOKING = "/api/bookings/{booking_id:uuid}"

MATRIX: dict[tuple[str, str], Row] = {
    # health and documentation
    ("GET", "/health"): Row(lambda w: "/health", EVERYONE),
    ("GET", "/api/health"): Row(lambda w: "/api/health", EVERYONE),
    ("GET", "/health/ready"): Row(lambda w: "/health/ready", EVERYONE),
    ("GET", "/api/openapi.json"): Row(lambda w: "/api/openapi.json", EVERYONE),
    ("GET", "/api/docs"): Row(lambda w: "/api/docs", EVERYONE),
    # auth
    ("POST", "/api/auth/login"): Row(
        lambda w: "/api/auth/login",
        EVERYONE,
        lambda w: {"email": "bob@example.com", "password": PASSWORD},
    ),
    ("POST", "/api/auth/register"): Row(
        lambda w: "/api/auth/register",
        EVERYONE,
        lambda w: {
            "email": f"neu-{w.tag}@example.com",
            "password": "ein-langes-passwort-2026",
            "firstName": "Neu",
            "lastName": "Person",
        },
    ),
    ("POST", "/api/auth/verify-email"): Row(
        lambda w: "/api/auth/verify-email", EVERYONE, lambda w: {"token": w.verification_token}
    ),
    ("POST", "/api/auth/resend-verification"): Row(
        lambda w: "/api/auth/resend-verification",
        EVERYONE,
        lambda w: {"email": "nobody@example.com"},
    ),
    ("POST", "/api/auth/forgot-password"): Row(
        lambda w: "/api/auth/forgot-password", EVERYONE, lambda w: {"email": "bob@example.com"}
    ),
    ("POST", "/api/auth/reset-password"): Row(
        lambda w: "/api/auth/reset-password",
        (400, 400, 400, 400),
        lambda w: {"token": "not-a-valid-token", "newPassword": "ein-neues-passwort-2026"},
    ),
    ("PUT", "/api/auth/profile"): Row(
        lambda w: "/api/auth/profile",
        SIGNED_IN,
        lambda w: {"firstName": "Neuer", "lastName": "Name", "language": "de"},
    ),
    ("GET", "/api/calendar/availability"): Row(
        lambda w: (
            f"/api/calendar/availability?startDate={w.ctx.today()}"
            f"&endDate={w.ctx.today() + timedelta(days=7)}"
        ),
        SIGNED_IN,
    ),
    ("GET", "/api/auth/me"): Row(lambda w: "/api/auth/me", SIGNED_IN),
    ("GET", "/api/auth/two-factor"): Row(lambda w: "/api/auth/two-factor", SIGNED_IN),
    ("POST", "/api/auth/change-password"): Row(
        lambda w: "/api/auth/change-password",
        SIGNED_IN,
        lambda w: {"currentPassword": PASSWORD, "newPassword": "ein-anderes-passwort-2026"},
    ),
    ("POST", "/api/auth/change-email"): Row(
        lambda w: "/api/auth/change-email",
        SIGNED_IN,
        lambda w: {"newEmail": f"neu-{w.tag}@example.com", "password": PASSWORD},
    ),
    ("POST", "/api/auth/confirm-email-change"): Row(
        lambda w: "/api/auth/confirm-email-change",
        (400, 400, 400, 400),
        lambda w: {"token": "not-a-valid-token"},
    ),
    # admin: users
    ("GET", "/api/admin/users/pending"): Row(lambda w: "/api/admin/users/pending", ADMIN),
    ("GET", "/api/admin/users"): Row(lambda w: "/api/admin/users", ADMIN),
    ("POST", f"{ADMIN_USERS}/approve"): Row(
        lambda w: f"/api/admin/users/{w.pending_user.id}/approve", ADMIN
    ),
    ("POST", f"{ADMIN_USERS}/reject"): Row(
        lambda w: f"/api/admin/users/{w.pending_user.id}/reject", ADMIN, lambda w: {"reason": "x"}
    ),
    ("POST", f"{ADMIN_USERS}/revoke-booking"): Row(
        lambda w: f"/api/admin/users/{w.member.id}/revoke-booking", ADMIN
    ),
    ("POST", f"{ADMIN_USERS}/restore-booking"): Row(
        lambda w: f"/api/admin/users/{w.member.id}/restore-booking", ADMIN
    ),
    ("PUT", f"{ADMIN_USERS}/role"): Row(
        lambda w: f"/api/admin/users/{w.member.id}/role", ADMIN, lambda w: {"role": 1}
    ),
    # sleeping accommodations
    ("GET", "/api/sleeping-accommodations"): Row(
        lambda w: "/api/sleeping-accommodations", SIGNED_IN
    ),
    ("GET", PLACE): Row(lambda w: f"/api/sleeping-accommodations/{w.place.id}", SIGNED_IN),
    ("POST", "/api/sleeping-accommodations"): Row(
        lambda w: "/api/sleeping-accommodations", (401, 403, 403, 201), place_body
    ),
    ("PUT", PLACE): Row(lambda w: f"/api/sleeping-accommodations/{w.place.id}", ADMIN, place_body),
    ("DELETE", PLACE): Row(
        lambda w: f"/api/sleeping-accommodations/{w.place.id}", (401, 403, 403, 204)
    ),
    # bookings
    ("GET", "/api/bookings"): Row(lambda w: "/api/bookings?timeRange=1", SIGNED_IN),
    ("GET", "/api/bookings/availability"): Row(
        lambda w: (
            f"/api/bookings/availability?startDate={w.ctx.today() + timedelta(days=1)}"
            f"&endDate={w.ctx.today() + timedelta(days=3)}"
        ),
        SIGNED_IN,
    ),
    ("POST", "/api/bookings/validate"): Row(
        lambda w: "/api/bookings/validate", SIGNED_IN, World.new_booking
    ),
    ("POST", "/api/bookings"): Row(
        lambda w: "/api/bookings", (401, 201, 201, 201), World.new_booking
    ),
    ("GET", BOOKING): Row(lambda w: w.booking_url(), OWNER),
    ("GET", f"{BOOKING}/history"): Row(lambda w: w.booking_url("/history"), OWNER),
    ("PUT", BOOKING): Row(lambda w: w.booking_url(), OWNER, World.notes_edit),
    ("POST", f"{BOOKING}/cancel"): Row(lambda w: w.booking_url("/cancel"), (401, 204, 403, 204)),
    ("POST", f"{BOOKING}/accept"): Row(lambda w: w.booking_url("/accept"), (401, 403, 403, 204)),
    ("POST", f"{BOOKING}/reject"): Row(lambda w: w.booking_url("/reject"), (401, 403, 403, 204)),
    ("POST", f"{BOOKING}/confirm"): Row(lambda w: w.booking_url("/confirm"), (401, 403, 403, 204)),
    # admin: email settings
    ("GET", "/api/admin/email-settings"): Row(lambda w: "/api/admin/email-settings", ADMIN),
    ("PUT", "/api/admin/email-settings"): Row(
        lambda w: "/api/admin/email-settings", ADMIN, email_body
    ),
    ("POST", "/api/admin/email-settings/test"): Row(
        mail_test_url, ADMIN, lambda w: {"toEmail": "someone@example.com"}
    ),
    # admin: audit log
    ("GET", "/api/admin/audit"): Row(lambda w: "/api/admin/audit?limit=5", ADMIN),
    # admin: the "Sicherheit" checks
    ("GET", "/api/admin/security"): Row(lambda w: "/api/admin/security", ADMIN),
    # house rules (booking/api/house_rules.py)
    ("GET", "/api/house-rules"): Row(lambda w: "/api/house-rules", SIGNED_IN),
    ("GET", "/api/admin/house-rules"): Row(lambda w: "/api/admin/house-rules", ADMIN),
    ("PUT", "/api/admin/house-rules"): Row(
        lambda w: "/api/admin/house-rules", ADMIN, lambda w: {"maxNights": 30}
    ),
    ("GET", "/api/admin/house-rules/conflicts"): Row(
        lambda w: "/api/admin/house-rules/conflicts", ADMIN
    ),
    ("GET", "/api/admin/closed-periods"): Row(lambda w: "/api/admin/closed-periods", ADMIN),
    ("POST", "/api/admin/closed-periods"): Row(
        lambda w: "/api/admin/closed-periods",
        (401, 403, 403, 201),
        lambda w: {"firstNight": "2031-01-05", "lastNight": "2031-01-06", "reason": w.tag},
    ),
    ("DELETE", "/api/admin/closed-periods/{period_id:uuid}"): Row(
        lambda w: f"/api/admin/closed-periods/{w.closed_period}", (401, 403, 403, 204)
    ),
    ("GET", "/api/admin/quota-exceptions"): Row(lambda w: "/api/admin/quota-exceptions", ADMIN),
    ("POST", "/api/admin/quota-exceptions"): Row(
        lambda w: "/api/admin/quota-exceptions",
        (401, 403, 403, 201),
        lambda w: {"userId": w.member.id, "year": 2031, "extraNights": 3, "reason": "Umzug"},
    ),
    ("DELETE", "/api/admin/quota-exceptions/{exception_id:int}"): Row(
        lambda w: f"/api/admin/quota-exceptions/{w.quota_exception}", (401, 403, 403, 204)
    ),
}


def _flatten(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Routes as (full path, route), through mounted sub-apps should there be any."""
    for route in routes:
        if hasattr(route, "routes") and not hasattr(route, "methods"):
            yield from _flatten(route.routes, prefix + getattr(route, "path", ""))
        else:
            yield prefix + route.path, route


def api_routes(app: Any) -> set[tuple[str, str]]:
    found = set()
    for path, route in _flatten(app.routes):
        if not (path.startswith("/api/") or path == "/health" or path.startswith("/health/")):
            continue
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                found.add((method, path))
    return found


def test_it_has_a_matrix_row_for_every_api_route(client):
    routes = api_routes(client.app)
    assert len(routes) > 30  # the flattening found the routers
    assert sorted(routes - set(MATRIX)) == [], "API routes without a permission-matrix row"
    assert sorted(set(MATRIX) - routes) == [], "matrix rows for routes that do not exist"


def _check_body(response: Any, expected: int) -> str | None:
    """Errors are JSON (problem details with a matching status); successes are JSON or empty."""
    content_type = response.headers.get("content-type", "")
    if expected == 204:
        return None if response.content == b"" else "204 with a body"
    if expected >= 400:
        if not content_type.startswith(("application/json", "application/problem+json")):
            return f"error body is {content_type!r}"
        body = response.json()
        if content_type.startswith("application/problem+json") and body.get("status") != expected:
            return f"problem status {body.get('status')} != {expected}"
        if not isinstance(body.get("message"), str) or not body["message"]:
            return "error body without message"
        return None
    if content_type.startswith("text/html"):
        return None  # the API docs page
    if not content_type.startswith("application/json"):
        return f"success body is {content_type!r}"
    response.json()
    return None


# change-password goes last: it changes the caller's own password
ORDER = sorted(MATRIX, key=lambda key: key[1] == "/api/auth/change-password")


@pytest.mark.parametrize("caller", CALLERS)
def test_it_answers_each_caller_as_the_matrix_says(client, ctx, alice, bob, charlie, caller):
    user = {"anonymous": None, "bob": bob, "charlie": charlie, "alice": alice}[caller]
    column = CALLERS.index(caller)
    wrong = []
    for key in ORDER:
        row = MATRIX[key]
        world = World(ctx, bob)
        url = row.url(world)
        kwargs: dict[str, Any] = {}
        if row.body is not None:
            kwargs["json"] = row.body(world)
        headers = factories.auth_headers(ctx, user) if user is not None else {}
        response = client.request(key[0], url, headers=headers, **kwargs)
        expected = row.expected[column]
        if response.status_code != expected:
            wrong.append(f"{key}: {response.status_code} != {expected}: {response.text[:200]}")
            continue
        problem = _check_body(response, expected)
        if problem:
            wrong.append(f"{key}: {problem}")
    assert wrong == []
