"""Landing page, login and logout."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from booking.api.deps import SESSION_COOKIE, CtxDep, client_address
from booking.db.models import User
from booking.domain import sessions, users
from booking.domain.context import Context
from booking.domain.errors import AuthFailed, Throttled
from booking.web.core import (
    CSRF_COOKIE,
    FormData,
    MaybeUser,
    check_csrf,
    page_router,
    redirect,
    render,
    safe_next,
    set_cookie,
    translator,
)

router = page_router()


@router.get("/")
def landing(request: Request, user: MaybeUser) -> Response:
    if user is not None:
        return redirect("/bookings")
    return render(request, "auth/login.html", errors={}, email="", next="/bookings")


@router.get("/login")
def login_form(request: Request, user: MaybeUser, next: str = "/bookings") -> Response:  # noqa: A002
    if user is not None:
        return redirect(safe_next(next))
    return render(request, "auth/login.html", errors={}, email="", next=safe_next(next))


@router.post("/login")
def login(request: Request, form: FormData, ctx: CtxDep) -> Response:
    check_csrf(request, form)
    email, target = form.get("email", "").strip(), safe_next(form.get("next"))
    t = translator(request)
    errors: dict[str, str] = {}
    status, headers = 400, {}
    if not email:
        errors["email"] = t.gettext("E-Mail-Adresse ist erforderlich")
    if not form.get("password"):
        errors["password"] = t.gettext("Passwort ist erforderlich")
    if not errors:
        try:
            user = users.authenticate(ctx, email, form["password"], client_address(request))
        except AuthFailed as exc:
            errors["_form"] = t.gettext(exc.message)
        except Throttled as exc:
            errors["_form"] = t.gettext(exc.message)
            status, headers = 429, {"Retry-After": str(exc.retry_after)}
        else:
            return finish_login(request, ctx, user, target)
    page = render(request, "auth/login.html", status, errors=errors, email=email, next=target)
    page.headers.update(headers)
    return page


def finish_login(request: Request, ctx: Context, user: User, target: str) -> Response:
    """The one way a browser becomes logged in (password or OpenID Connect). An account with
    two-factor authentication gets no session yet, only the way to the code form."""
    from booking.web import two_factor  # imported here: it imports this module

    second_step = two_factor.second_step_redirect(ctx, user, target)
    if second_step is not None:
        return second_step
    return start_browser_session(ctx, user, target)


def start_browser_session(ctx: Context, user: User, target: str) -> Response:
    """A fresh session token, so a token planted before login is worthless."""
    response = redirect(target)
    token = sessions.start_session(ctx, user.id)
    set_cookie(response, ctx, SESSION_COOKIE, token, sessions.cookie_max_age(ctx))
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(request: Request, form: FormData, ctx: CtxDep) -> Response:
    check_csrf(request, form)
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        sessions.end_session(ctx, token)
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
