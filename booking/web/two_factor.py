"""Pages: setting up two-factor authentication (``/profile/two-factor``) and the second login
step (``/login/two-factor``).

Between the password and the code the browser holds no session, only a signed, five-minute
"pending login" cookie bound to the user and to the account's count of second steps: once a
code was accepted (here or on another device) the cookie is worthless.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time

from starlette.requests import Request
from starlette.responses import Response

from booking.api.deps import CtxDep, client_address
from booking.db.models import User
from booking.domain import two_factor, users
from booking.domain.context import Context
from booking.domain.errors import AuthFailed, Throttled
from booking.lib import totp
from booking.web.core import (
    FormData,
    PageUser,
    check_csrf,
    flash,
    page_router,
    redirect,
    render,
    safe_next,
    set_cookie,
    translator,
)
from booking.web.i18n import N_

router = page_router()
PENDING_COOKIE = "booking_2fa_pending"
PENDING_SECONDS = 300
SETUP_URL = "/profile/two-factor"
FORCED = N_(
    "Administratoren müssen die Zwei-Faktor-Anmeldung verwenden. Bitte richten Sie sie jetzt "
    "ein; vorher sind die anderen Seiten gesperrt."
)
EXPIRED = N_("Die Anmeldung ist abgelaufen. Bitte melden Sie sich erneut an.")


def _now() -> float:
    return time.time()  # a function, so tests can move the clock


# --- the pending login ------------------------------------------------------------------------


def _sign(ctx: Context, payload: str) -> str:
    key = ctx.derived_key("web-two-factor-pending")
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def start_pending_login(
    response: Response, ctx: Context, user: User, count: int, target: str
) -> None:
    """Remember "password accepted" for five minutes (signed; nothing secret inside)."""
    data = [user.id, int(_now()) + PENDING_SECONDS, count, target]
    payload = base64.urlsafe_b64encode(json.dumps(data).encode()).decode()
    set_cookie(response, ctx, PENDING_COOKIE, f"{payload}.{_sign(ctx, payload)}", PENDING_SECONDS)


def _pending(request: Request, ctx: Context) -> tuple[User, int, str] | None:
    """The user, the login count and the target of a valid pending login, or None."""
    payload, _, signature = request.cookies.get(PENDING_COOKIE, "").partition(".")
    if not payload or not hmac.compare_digest(signature, _sign(ctx, payload)):
        return None
    try:
        user_id, expires, count, target = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, TypeError):
        return None
    if int(expires) <= _now():
        return None
    user = users.active_user(ctx, int(user_id))
    return (user, int(count), safe_next(str(target))) if user is not None else None


def second_step_redirect(ctx: Context, user: User, target: str) -> Response | None:
    """For finish_login: a redirect to the code form when ``user`` uses 2FA, else None."""
    count = two_factor.login_count(ctx, user.id)
    if count is None:
        return None
    response = redirect("/login/two-factor")
    start_pending_login(response, ctx, user, count, target)
    return response


def _expired(request: Request) -> Response:
    response = redirect("/login", request, translator(request).gettext(EXPIRED))
    response.delete_cookie(PENDING_COOKIE, path="/")
    return response


@router.get("/login/two-factor")
def code_form(request: Request, ctx: CtxDep) -> Response:
    if _pending(request, ctx) is None:
        return _expired(request)
    return render(request, "auth/two_factor.html", errors={})


@router.post("/login/two-factor")
def check_code(request: Request, form: FormData, ctx: CtxDep) -> Response:
    check_csrf(request, form)
    pending = _pending(request, ctx)
    if pending is None:
        return _expired(request)
    user, count, target = pending
    t = translator(request)
    code = form.get("code", "").strip()
    status, headers = 400, {}
    if not code:
        errors = {"code": t.gettext("Bitte geben Sie einen Code ein.")}
    else:
        try:
            two_factor.verify(ctx, user, code[:100], client_address(request), pending_login=count)
        except AuthFailed as exc:
            errors = {"code": t.gettext(exc.message)}
        except Throttled as exc:
            errors = {"_form": t.gettext(exc.message)}
            status, headers = 429, {"Retry-After": str(exc.retry_after)}
        else:
            from booking.web.public import start_browser_session  # public imports this module

            response = start_browser_session(ctx, user, target)
            response.delete_cookie(PENDING_COOKIE, path="/")
            return response
    page = render(request, "auth/two_factor.html", status, errors=errors)
    page.headers.update(headers)
    return page


# --- setup on the profile ---------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def qr_svg(uri: str) -> str:
    """The QR code as inline SVG: only a path with presentation attributes, no ``style`` and
    no script, so the strict CSP allows it."""
    import segno  # imported here: only the setup page draws QR codes

    code = segno.make(uri, error="m")
    svg: str = code.svg_inline(scale=5, dark="#000", light="#fff", svgclass="qr-code")
    return svg


def _status_page(
    request: Request, ctx: Context, user: User, status: int = 200, **extra: object
) -> Response:
    values: dict[str, object] = {"errors": {}, "forced": two_factor.setup_required(ctx, user)}
    if two_factor.is_enabled(ctx, user.id):
        values["enabled"] = True
        values["remaining"] = two_factor.remaining_recovery_codes(ctx, user.id)
        values["can_disable"] = not (user.is_admin and ctx.settings.admin_2fa_required)
    else:
        secret = two_factor.begin_setup(ctx, user)
        values["enabled"] = False
        values["secret"] = totp.group(secret)
        values["qr"] = qr_svg(two_factor.provisioning_uri(user, secret))
    values.update(extra)
    return render(request, "account/two_factor.html", status, **values)


def _codes_page(request: Request, codes: list[str], message: str) -> Response:
    return render(request, "account/recovery_codes.html", codes=codes, message=message)


def _errors(request: Request, errors: dict[str, str]) -> dict[str, str]:
    t = translator(request)
    return {key: t.gettext(text) for key, text in errors.items()}


def _code_error(exc: AuthFailed | Throttled) -> tuple[dict[str, str], int]:
    if isinstance(exc, Throttled):
        return {"_form": exc.message}, 429
    return {"code": exc.message}, 400


@router.get("/profile/two-factor")
def setup_page(request: Request, user: PageUser, ctx: CtxDep) -> Response:
    return _status_page(request, ctx, user)


@router.post("/profile/two-factor/confirm")
def confirm(request: Request, user: PageUser, form: FormData, ctx: CtxDep) -> Response:
    check_csrf(request, form)
    code = form.get("code", "").strip()[:100]
    try:
        codes = two_factor.confirm_setup(ctx, user, code, client_address(request))
    except (AuthFailed, Throttled) as exc:
        errors, status = _code_error(exc)
        return _status_page(request, ctx, user, status, errors=_errors(request, errors))
    return _codes_page(request, codes, N_("Die Zwei-Faktor-Anmeldung ist jetzt eingerichtet."))


@router.post("/profile/two-factor/recovery-codes")
def regenerate(request: Request, user: PageUser, form: FormData, ctx: CtxDep) -> Response:
    check_csrf(request, form)
    code = form.get("code", "").strip()[:100]
    try:
        codes = two_factor.regenerate_recovery_codes(ctx, user, code, client_address(request))
    except (AuthFailed, Throttled) as exc:
        errors, status = _code_error(exc)
        return _status_page(request, ctx, user, status, regen_errors=_errors(request, errors))
    return _codes_page(request, codes, N_("Neue Wiederherstellungscodes wurden erzeugt."))


@router.post("/profile/two-factor/disable")
def disable(request: Request, user: PageUser, form: FormData, ctx: CtxDep) -> Response:
    check_csrf(request, form)
    password, code = form.get("password", ""), form.get("code", "").strip()[:100]
    try:
        two_factor.disable(ctx, user, password, code, client_address(request))
    except (AuthFailed, Throttled) as exc:
        errors, status = _code_error(exc)
        if exc.message == "Das aktuelle Passwort ist falsch.":
            errors = {"password": exc.message}
        return _status_page(request, ctx, user, status, disable_errors=_errors(request, errors))
    message = translator(request).gettext("Die Zwei-Faktor-Anmeldung wurde ausgeschaltet.")
    return redirect("/profile", request, message)


def forced_setup_redirect(request: Request) -> Response:
    """Where an administrator without 2FA is sent while BOOKING_REQUIRE_ADMIN_2FA is on."""
    response = redirect(SETUP_URL)
    flash(response, request.app.state.ctx, translator(request).gettext(FORCED), "error")
    return response
