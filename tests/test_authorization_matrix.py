"""Who may reach what: every route of the app (pages and API, every method) for six callers.

The personas log in for real (the login form gives the browser a session cookie, the API login
a bearer token). Two of them lose their account state afterwards, which is the only way to hold
credentials while unverified or unapproved (users.authenticate refuses them a login, and
DECISIONS 18 says a token or session issued earlier stops working at once):

    anonymous   no credentials
    unverified  logged in, then the e-mail address counts as unconfirmed again
    unapproved  logged in, then no longer approved for booking
    member      bob, owns the booking under test
    other       charlie, an approved member who does not own it
    admin       alice

Path parameters are real: the member's booking, a place, a target user, created per call.
Page POSTs carry a valid CSRF token of the persona's own session, so authorization decides, not
the CSRF check (tests/test_attacks.py covers CSRF). Outcomes:

    ok      the handler ran: 2xx, a redirect that is not to the login, or a form's own 400/409
            answer (the request passed authorization and reached validation)
    login   303 to /login?next=... (a plain redirect to /login, e.g. after logging out, is ok)
    401 403 404  the status

A route missing from MATRIX, or a row for a route that no longer exists, fails the test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any

import pytest
from sqlalchemy import func, select, update
from starlette.testclient import TestClient

from booking.db.models import Booking, User
from booking.domain.context import Context
from tests import factories
from tests.api.test_permission_matrix import _flatten
from tests.factories import PASSWORD
from tests.web.html import parse

PERSONAS = ("anonymous", "unverified", "unapproved", "member", "other", "admin")
Outcomes = tuple[str, str, str, str, str, str]

# pages
PUBLIC: Outcomes = ("ok",) * 6
USER: Outcomes = ("login", "login", "login", "ok", "ok", "ok")
OWNER_PAGE: Outcomes = ("login", "login", "login", "ok", "404", "ok")
ADMIN_PAGE: Outcomes = ("login", "login", "login", "403", "403", "ok")
# API
EVERYONE: Outcomes = ("ok",) * 6
SIGNED_IN: Outcomes = ("401", "401", "401", "ok", "ok", "ok")
OWNER: Outcomes = ("401", "401", "401", "ok", "403", "ok")
ADMIN: Outcomes = ("401", "401", "401", "403", "403", "ok")

# Not routes of the application itself; each with the reason it is left out.
SKIPPED = {
    ("GET", "/static/{name:path}"): "static files (tests/web: hashed names, cache headers)",
}


@dataclass
class World:
    """Fresh targets for one request, created on first use."""

    ctx: Context
    member: User
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @cached_property
    def place(self) -> Any:
        return factories.make_place(self.ctx, f"Platz {self.tag}", capacity=10)

    @cached_property
    def booking(self) -> Any:
        return factories.make_booking(
            self.ctx, self.member, [(self.place, 1)], start=self.ctx.today() + timedelta(days=9)
        )

    @cached_property
    def pending_user(self) -> User:
        return factories.make_user(self.ctx, f"pending-{self.tag}@example.com", approved=False)

    @cached_property
    def target_user(self) -> User:
        return factories.make_user(self.ctx, f"target-{self.tag}@example.com")

    def today(self, days: int = 0) -> str:
        return (self.ctx.today() + timedelta(days=days)).isoformat()


@dataclass(frozen=True)
class Row:
    expected: Outcomes
    url: Callable[[World], str] | None = None  # default: path parameters filled in
    body: Callable[[World], Any] | None = None  # API: JSON; pages: form fields
    user: str = "target"  # which user a {user_id} stands for: "target" or "pending"


def place_body(w: World) -> dict[str, Any]:
    return {"name": f"Neu {w.tag}", "type": 0, "maxCapacity": 3, "isActive": True}


def booking_body(w: World) -> dict[str, Any]:
    return factories.booking_body([(w.place, 1)], w.ctx.today() + timedelta(days=3))


def notes_edit(w: World) -> dict[str, Any]:
    return factories.booking_body(
        [(w.place, 1)], w.booking.start_date, nights=2, notes=f"Notiz {w.tag}"
    )


def dates(w: World) -> str:
    return f"startDate={w.today(1)}&endDate={w.today(3)}"


B = "/bookings/{booking_id:uuid}"
AU = "/admin/users/{user_id}"
AP = "/admin/places/{place_id}"
API_B = "/api/bookings/{booking_id:uuid}"
API_U = "/api/admin/users/{user_id:int}"
API_P = "/api/sleeping-accommodations/{place_id:uuid}"

MATRIX: dict[tuple[str, str], Row] = {
    # --- health, metrics, documentation ---------------------------------------------------
    ("GET", "/health"): Row(EVERYONE),
    ("GET", "/api/health"): Row(EVERYONE),
    ("GET", "/health/ready"): Row(EVERYONE),
    # internal network only (nginx does not forward it); the app itself answers everyone
    ("GET", "/metrics"): Row(EVERYONE),
    ("GET", "/api/openapi.json"): Row(EVERYONE),
    ("GET", "/api/docs"): Row(EVERYONE),
    # --- public pages ----------------------------------------------------------------------
    ("GET", "/"): Row(PUBLIC),
    ("GET", "/login"): Row(PUBLIC),
    ("POST", "/login"): Row(PUBLIC, body=lambda w: {"email": "x@example.com", "password": "x"}),
    ("POST", "/logout"): Row(PUBLIC),
    ("GET", "/register"): Row(PUBLIC),
    ("POST", "/register"): Row(PUBLIC),
    ("GET", "/register/success"): Row(PUBLIC),
    ("GET", "/verify-email"): Row(PUBLIC),
    ("POST", "/verify-email"): Row(PUBLIC, body=lambda w: {"token": "nope"}),
    ("GET", "/verify-email/done"): Row(PUBLIC),
    ("GET", "/resend-verification"): Row(PUBLIC),
    ("POST", "/resend-verification"): Row(PUBLIC, body=lambda w: {"email": "x@example.com"}),
    ("GET", "/forgot-password"): Row(PUBLIC),
    ("POST", "/forgot-password"): Row(PUBLIC, body=lambda w: {"email": "x@example.com"}),
    ("GET", "/reset-password"): Row(PUBLIC),
    ("POST", "/reset-password"): Row(PUBLIC, body=lambda w: {"token": "nope"}),
    # --- the signed-in user's own pages -------------------------------------------------------
    ("GET", "/profile"): Row(USER),
    ("POST", "/profile"): Row(USER),
    ("POST", "/profile/password"): Row(USER),
    ("POST", "/profile/logout-all"): Row(USER),
    # --- bookings (pages) --------------------------------------------------------------------
    ("GET", "/bookings"): Row(USER),
    ("GET", "/bookings/new"): Row(USER),
    ("POST", "/bookings/new"): Row(USER),
    ("GET", f"{B}"): Row(OWNER_PAGE),
    ("GET", f"{B}/edit"): Row(OWNER_PAGE),
    ("POST", f"{B}/edit"): Row(OWNER_PAGE),
    ("GET", f"{B}/cancel"): Row(OWNER_PAGE),
    ("POST", f"{B}/cancel"): Row(OWNER_PAGE),
    ("GET", f"{B}/accept"): Row(ADMIN_PAGE),
    ("POST", f"{B}/accept"): Row(ADMIN_PAGE),
    ("GET", f"{B}/reject"): Row(ADMIN_PAGE),
    ("POST", f"{B}/reject"): Row(ADMIN_PAGE),
    ("GET", f"{B}.ics"): Row(OWNER_PAGE),
    # --- administration (pages) -------------------------------------------------------------
    ("GET", "/admin"): Row(ADMIN_PAGE),
    ("GET", "/admin/users"): Row(ADMIN_PAGE),
    ("POST", f"{AU}/approve"): Row(ADMIN_PAGE, user="pending"),
    ("GET", f"{AU}/reject"): Row(ADMIN_PAGE, user="pending"),
    ("POST", f"{AU}/reject"): Row(ADMIN_PAGE, user="pending"),
    ("GET", f"{AU}/revoke"): Row(ADMIN_PAGE),
    ("POST", f"{AU}/revoke"): Row(ADMIN_PAGE),
    ("POST", f"{AU}/restore"): Row(ADMIN_PAGE),
    ("GET", f"{AU}/role"): Row(
        ADMIN_PAGE, url=lambda w: f"/admin/users/{w.target_user.id}/role?to=Administrator"
    ),
    ("GET", f"{AU}/two-factor-reset"): Row(ADMIN_PAGE),
    ("POST", f"{AU}/two-factor-reset"): Row(ADMIN_PAGE),
    ("POST", f"{AU}/role"): Row(ADMIN_PAGE, body=lambda w: {"role": "Member"}),
    ("GET", "/admin/places"): Row(ADMIN_PAGE),
    ("GET", "/admin/places/new"): Row(ADMIN_PAGE),
    ("POST", "/admin/places/new"): Row(ADMIN_PAGE),
    ("GET", f"{AP}/edit"): Row(ADMIN_PAGE),
    ("POST", f"{AP}/edit"): Row(ADMIN_PAGE),
    ("GET", f"{AP}/deactivate"): Row(ADMIN_PAGE),
    ("POST", f"{AP}/deactivate"): Row(ADMIN_PAGE),
    ("POST", f"{AP}/reactivate"): Row(ADMIN_PAGE),
    ("GET", "/admin/email"): Row(ADMIN_PAGE),
    ("POST", "/admin/email"): Row(ADMIN_PAGE),
    ("POST", "/admin/email/test"): Row(ADMIN_PAGE),
    ("GET", "/admin/audit"): Row(ADMIN_PAGE),
    ("GET", "/admin/security"): Row(ADMIN_PAGE),
    ("GET", "/admin/calendar"): Row(ADMIN_PAGE),
    ("POST", "/admin/calendar"): Row(ADMIN_PAGE),
    ("GET", "/admin/rules"): Row(ADMIN_PAGE),
    ("POST", "/admin/rules"): Row(ADMIN_PAGE),
    ("POST", "/admin/rules/closed-periods"): Row(ADMIN_PAGE),
    # unknown ids: administrators get 404, everyone else is stopped before the lookup
    ("POST", "/admin/rules/closed-periods/{period_id}/delete"): Row(
        ("login", "login", "login", "403", "403", "404"),
        url=lambda w: f"/admin/rules/closed-periods/{uuid.uuid4()}/delete",
    ),
    ("POST", "/admin/rules/quota-exceptions"): Row(ADMIN_PAGE),
    ("POST", "/admin/rules/quota-exceptions/{exception_id}/delete"): Row(
        ("login", "login", "login", "403", "403", "404"),
        url=lambda w: "/admin/rules/quota-exceptions/999999/delete",
    ),
    # --- sign-in variants, e-mail change, two-factor, calendar feeds (pages) --------------------
    # OpenID Connect is not configured here (tests/test_oidc.py runs it configured)
    ("GET", "/login/oidc"): Row(("404",) * 6),
    ("GET", "/login/oidc/callback"): Row(("404",) * 6),
    ("GET", "/login/two-factor"): Row(PUBLIC),
    ("POST", "/login/two-factor"): Row(PUBLIC, body=lambda w: {"code": "123456"}),
    ("GET", "/confirm-email-change"): Row(PUBLIC),
    ("POST", "/confirm-email-change"): Row(PUBLIC, body=lambda w: {"token": "nope"}),
    ("GET", "/profile/email"): Row(USER),
    ("POST", "/profile/email"): Row(USER),
    ("GET", "/profile/two-factor"): Row(USER),
    ("POST", "/profile/two-factor/confirm"): Row(USER, body=lambda w: {"code": "123456"}),
    ("POST", "/profile/two-factor/disable"): Row(USER, body=lambda w: {"password": "wrong"}),
    ("POST", "/profile/two-factor/recovery-codes"): Row(USER, body=lambda w: {"code": "1"}),
    ("POST", "/profile/calendar-feed"): Row(USER),
    ("POST", "/profile/calendar-feed/delete"): Row(USER),
    ("GET", "/feeds/{token}.ics"): Row(("404",) * 6, url=lambda w: "/feeds/not-a-token.ics"),
    ("GET", "/feeds/house/{token}.ics"): Row(
        ("404",) * 6, url=lambda w: "/feeds/house/not-a-token.ics"
    ),
    # --- API: auth ---------------------------------------------------------------------------
    ("POST", "/api/auth/login"): Row(
        EVERYONE, body=lambda w: {"email": "bob@example.com", "password": PASSWORD}
    ),
    ("POST", "/api/auth/register"): Row(
        EVERYONE,
        body=lambda w: {
            "email": f"neu-{w.tag}@example.com",
            "password": "ein-langes-passwort-2026",
            "firstName": "Neu",
            "lastName": "Person",
        },
    ),
    ("POST", "/api/auth/verify-email"): Row(("400",) * 6, body=lambda w: {"token": "not-a-token"}),
    ("POST", "/api/auth/resend-verification"): Row(
        EVERYONE, body=lambda w: {"email": "nobody@example.com"}
    ),
    ("POST", "/api/auth/forgot-password"): Row(
        EVERYONE, body=lambda w: {"email": "nobody@example.com"}
    ),
    ("POST", "/api/auth/reset-password"): Row(
        ("400",) * 6, body=lambda w: {"token": "not-a-token", "newPassword": "ein-neues-pw-2026"}
    ),
    ("GET", "/api/auth/me"): Row(SIGNED_IN),
    ("GET", "/api/auth/two-factor"): Row(SIGNED_IN),
    ("POST", "/api/auth/change-email"): Row(
        ("401", "401", "401", "400", "400", "400"),  # a wrong password: no change
        body=lambda w: {"newEmail": f"neu-{w.tag}@example.com", "password": "wrong-password"},
    ),
    ("POST", "/api/auth/confirm-email-change"): Row(
        ("400",) * 6, body=lambda w: {"token": "not-a-token"}
    ),
    ("PUT", "/api/auth/profile"): Row(
        SIGNED_IN, body=lambda w: {"firstName": "Neuer", "lastName": "Name", "language": "de"}
    ),
    ("POST", "/api/auth/change-password"): Row(
        ("401", "401", "401", "400", "400", "400"),  # a wrong current password: no change
        body=lambda w: {"currentPassword": "wrong-password", "newPassword": "ein-neues-pw-2026"},
    ),
    # --- API: administration of users -------------------------------------------------------
    ("GET", "/api/admin/users/pending"): Row(ADMIN),
    ("GET", "/api/admin/users"): Row(ADMIN),
    ("POST", f"{API_U}/approve"): Row(ADMIN, user="pending"),
    ("POST", f"{API_U}/reject"): Row(ADMIN, body=lambda w: {"reason": "x"}, user="pending"),
    ("POST", f"{API_U}/revoke-booking"): Row(ADMIN),
    ("POST", f"{API_U}/restore-booking"): Row(ADMIN),
    ("PUT", f"{API_U}/role"): Row(ADMIN, body=lambda w: {"role": 0}),
    # --- API: places ---------------------------------------------------------------------------
    ("GET", "/api/sleeping-accommodations"): Row(SIGNED_IN),
    ("GET", API_P): Row(SIGNED_IN),
    ("POST", "/api/sleeping-accommodations"): Row(ADMIN, body=place_body),
    ("PUT", API_P): Row(ADMIN, body=place_body),
    ("DELETE", API_P): Row(ADMIN),
    # --- API: bookings -------------------------------------------------------------------------
    ("GET", "/api/bookings"): Row(SIGNED_IN),
    ("GET", "/api/bookings/availability"): Row(
        SIGNED_IN, url=lambda w: f"/api/bookings/availability?{dates(w)}"
    ),
    ("GET", "/api/calendar/availability"): Row(
        SIGNED_IN, url=lambda w: f"/api/calendar/availability?{dates(w)}"
    ),
    ("POST", "/api/bookings/validate"): Row(SIGNED_IN, body=booking_body),
    ("POST", "/api/bookings"): Row(SIGNED_IN, body=booking_body),
    ("GET", API_B): Row(OWNER),
    ("GET", f"{API_B}/history"): Row(OWNER),
    ("PUT", API_B): Row(OWNER, body=notes_edit),
    ("POST", f"{API_B}/cancel"): Row(OWNER),
    ("POST", f"{API_B}/accept"): Row(ADMIN),
    ("POST", f"{API_B}/reject"): Row(ADMIN),
    ("POST", f"{API_B}/confirm"): Row(ADMIN),
    # --- API: mail settings and audit log ----------------------------------------------------------
    ("GET", "/api/admin/email-settings"): Row(ADMIN),
    ("PUT", "/api/admin/email-settings"): Row(
        ("401", "401", "401", "403", "403", "ok"),
        body=lambda w: {
            "smtpHost": "smtp.example.com",
            "smtpPort": 587,
            "smtpUsername": "mailer",
            "smtpPassword": "geheim",
            "fromName": "Booking",
            "fromEmail": "noreply@example.com",
            "useTls": True,
        },
    ),
    ("POST", "/api/admin/email-settings/test"): Row(
        ("401", "401", "401", "403", "403", "400"),  # no SMTP server here: not sent
        body=lambda w: {"toEmail": "someone@example.com"},
    ),
    ("GET", "/api/admin/audit"): Row(ADMIN),
    ("GET", "/api/admin/security"): Row(ADMIN),
    # --- API: house rules --------------------------------------------------------------------------
    ("GET", "/api/house-rules"): Row(SIGNED_IN),
    ("GET", "/api/admin/house-rules"): Row(ADMIN),
    ("PUT", "/api/admin/house-rules"): Row(ADMIN, body=lambda w: {}),
    ("GET", "/api/admin/house-rules/conflicts"): Row(ADMIN),
    ("GET", "/api/admin/closed-periods"): Row(ADMIN),
    ("POST", "/api/admin/closed-periods"): Row(
        ADMIN,
        body=lambda w: {"firstNight": w.today(200), "lastNight": w.today(202), "reason": "Umbau"},
    ),
    ("DELETE", "/api/admin/closed-periods/{period_id:uuid}"): Row(
        ("401", "401", "401", "403", "403", "404"),
        url=lambda w: f"/api/admin/closed-periods/{uuid.uuid4()}",
    ),
    ("GET", "/api/admin/quota-exceptions"): Row(ADMIN),
    ("POST", "/api/admin/quota-exceptions"): Row(
        ADMIN,
        body=lambda w: {
            "userId": w.target_user.id,
            "year": w.ctx.today().year,
            "extraNights": 3,
            "reason": "Familienfest",
        },
    ),
    ("DELETE", "/api/admin/quota-exceptions/{exception_id:int}"): Row(
        ("401", "401", "401", "403", "403", "404"),
        url=lambda w: "/api/admin/quota-exceptions/999999",
    ),
}
# Routes that end the caller's own session run last (and the persona logs in again first).
ENDS_SESSION = {("POST", "/logout"), ("POST", "/profile/logout-all")}


def app_routes(app: Any) -> set[tuple[str, str]]:
    found = set()
    for path, route in _flatten(app.routes):
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                found.add((method, path))
    return found - set(SKIPPED)


def fill(path: str, row: Row, world: World) -> str:
    user = world.pending_user if row.user == "pending" else world.target_user
    values = {
        "{booking_id:uuid}": lambda: str(world.booking.id),
        "{place_id:uuid}": lambda: str(world.place.id),
        "{place_id}": lambda: str(world.place.id),
        "{user_id:int}": lambda: str(user.id),
        "{user_id}": lambda: str(user.id),
    }
    for placeholder, value in values.items():
        if placeholder in path:
            path = path.replace(placeholder, value())
    assert "{" not in path, f"no value for a parameter of {path}"
    return path


def outcome(response: Any) -> str:
    status = response.status_code
    location = response.headers.get("location", "")
    if status in (302, 303) and location.startswith("/login?next="):
        return "login"
    if (
        status < 400
        or status in (400, 409)
        and not response.headers.get("content-type", "").startswith("application/")
    ):
        return "ok"
    return str(status)


def api_outcome(response: Any) -> str:
    return "ok" if response.status_code < 300 else str(response.status_code)


class Persona:
    """One caller: a browser (cookie jar) and an API client (bearer token, no cookies)."""

    def __init__(self, app: Any, ctx: Context, name: str, email: str | None) -> None:
        self.ctx, self.name, self.email = ctx, name, email
        self.browser = TestClient(app, follow_redirects=False)
        self.api = TestClient(app, follow_redirects=False)
        self.headers: dict[str, str] = {}
        if email is not None:
            self.log_in()

    def log_in(self) -> None:
        assert self.email is not None
        self.browser.cookies.clear()
        page = self.browser.get("/login")
        response = self.browser.post(
            "/login",
            data={"email": self.email, "password": PASSWORD, "csrf_token": csrf(page.text)},
        )
        assert response.status_code == 303, response.text[:300]
        assert not response.headers["location"].startswith("/login")
        answer = self.api.post("/api/auth/login", json={"email": self.email, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        self.headers = {"Authorization": f"Bearer {answer.json()['token']}"}

    def csrf_token(self) -> str:
        for page in ("/login", "/profile"):
            response = self.browser.get(page)
            if response.status_code == 200:
                return csrf(response.text)
        raise AssertionError(f"no page with a form for {self.name}")


def csrf(html: str) -> str:
    field_ = parse(html).find("input", name="csrf_token")
    assert field_ is not None, "a page without a CSRF field"
    return field_["value"]


def make_personas(app: Any, ctx: Context) -> tuple[dict[str, Persona], User]:
    """The six callers, and the member (who owns the bookings the rows create)."""
    factories.make_user(ctx, "alice@example.com", admin=True, first_name="Alice")
    bob = factories.make_user(ctx, "bob@example.com", first_name="Bob")
    factories.make_user(ctx, "charlie@example.com", first_name="Charlie")
    factories.make_user(ctx, "ulrike@example.com", first_name="Ulrike")
    factories.make_user(ctx, "udo@example.com", first_name="Udo")
    emails = {
        "anonymous": None,
        "unverified": "ulrike@example.com",
        "unapproved": "udo@example.com",
        "member": "bob@example.com",
        "other": "charlie@example.com",
        "admin": "alice@example.com",
    }
    personas = {name: Persona(app, ctx, name, email) for name, email in emails.items()}
    # Their credentials were issued while the account was usable; now it is not.
    with ctx.db.write() as session:
        session.execute(
            update(User).where(User.email == "ulrike@example.com").values(email_verified=False)
        )
        session.execute(
            update(User)
            .where(User.email == "udo@example.com")
            .values(is_approved_for_booking=False)
        )
    return personas, bob


def test_every_route_has_a_row(client):
    routes = app_routes(client.app)
    assert len(routes) > 90  # the flattening found pages and API
    missing = sorted(routes - set(MATRIX))
    assert missing == [], "routes without an authorization-matrix row:\n" + "\n".join(
        f"{method} {path}" for method, path in missing
    )
    assert sorted(set(MATRIX) - routes) == [], "matrix rows for routes that do not exist"


def test_the_stale_personas_cannot_log_in_again(client, ctx):
    make_personas(client.app, ctx)
    for email in ("ulrike@example.com", "udo@example.com"):
        answer = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert answer.status_code == 400, answer.text
        assert "token" not in answer.json()


ORDER = sorted(MATRIX, key=lambda key: key in ENDS_SESSION)


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_persona_gets_what_the_matrix_says(client, ctx, persona):
    personas, member = make_personas(client.app, ctx)
    caller = personas[persona]
    column = PERSONAS.index(persona)
    wrong = []
    for key in ORDER:
        method, path = key
        row = MATRIX[key]
        world = World(ctx, member)
        url = row.url(world) if row.url else fill(path, row, world)
        body = row.body(world) if row.body else None
        if (
            key in ENDS_SESSION
            and caller.email is not None
            and persona in ("member", "other", "admin")
        ):
            caller.log_in()
        if path.startswith("/api/") or path.startswith("/health") or path == "/metrics":
            response = caller.api.request(method, url, headers=caller.headers, json=body)
            got = api_outcome(response)
        elif method == "GET":
            response = caller.browser.get(url)
            got = outcome(response)
        else:
            form = {"csrf_token": caller.csrf_token(), **(body or {})}
            response = caller.browser.post(url, data=form)
            got = outcome(response)
        expected = row.expected[column]
        if response.status_code >= 500 or got != expected:
            wrong.append(f"{method} {path}: {got} != {expected} ({response.status_code})")
    assert wrong == [], "\n".join(wrong)


def test_a_member_whose_right_to_book_was_revoked_reads_but_cannot_book(client, ctx):
    """The seventh state (DECISIONS 18): approved, logged in, then the right to book revoked by
    an administrator. Reading goes on; booking stops at once, through both doors."""
    personas, member = make_personas(client.app, ctx)
    place = factories.make_place(ctx, "Zimmer R", capacity=4)
    own = factories.make_booking(ctx, member, [(place, 1)], start=ctx.today() + timedelta(days=9))
    admin = personas["admin"]
    revoked = admin.api.post(f"/api/admin/users/{member.id}/revoke-booking", headers=admin.headers)
    assert revoked.status_code == 200, revoked.text
    bob = personas["member"]
    assert bob.api.get("/api/bookings", headers=bob.headers).status_code == 200
    assert bob.api.get(f"/api/bookings/{own.id}", headers=bob.headers).status_code == 200
    body = factories.booking_body([(place, 1)], ctx.today() + timedelta(days=3))
    assert bob.api.post("/api/bookings", headers=bob.headers, json=body).status_code == 403
    edit = factories.booking_body([(place, 2)], own.start_date)
    assert bob.api.put(f"/api/bookings/{own.id}", headers=bob.headers, json=edit).status_code == 403
    # The revocation ended the browser's session (users.set_booking_right); a new login works.
    assert bob.browser.get("/bookings").headers["location"].startswith("/login?next=")
    bob.log_in()
    assert bob.browser.get("/bookings").status_code == 200
    start = ctx.today() + timedelta(days=3)
    form = {
        "csrf_token": bob.csrf_token(),
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=2)).isoformat(),
        f"place_{place.id}": "1",
    }
    assert bob.browser.post("/bookings/new", data=form).status_code == 403
    with ctx.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Booking)) == 1
