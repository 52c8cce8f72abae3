"""What every page needs: the logged-in user, language, CSRF, flash messages, form parsing,
content-hashed static files and rendering."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from booking.api.deps import SESSION_COOKIE, CtxDep
from booking.db.models import User
from booking.domain import sessions
from booking.domain.bookings import STATUS_NAMES
from booking.domain.context import Context
from booking.http import Depends, Router
from booking.web.i18n import N_, Translator, negotiate

if TYPE_CHECKING:
    from jinja2 import Environment

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
CSRF_COOKIE = "booking_csrf"
FLASH_COOKIE = "booking_flash"
MAX_FORM_BYTES = 64 * 1024

# Status labels and colours as the predecessor showed them (reference §1.1, §4.4).
STATUS_LABELS = {
    0: N_("Ausstehend"),
    1: N_("Bestätigt"),
    2: N_("Storniert"),
    3: N_("Abgeschlossen"),
    4: N_("Angenommen"),
    5: N_("Abgelehnt"),
}
STATUS_CLASSES = {number: name.lower() for number, name in STATUS_NAMES.items()}
PLACE_TYPES = {0: N_("Zimmer"), 1: N_("Zelt"), 2: N_("Wohnmobil"), 3: N_("Sonstiges")}


class PageError(Exception):
    """Ends a page request with an error page (403, 404, ...)."""

    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(message or str(status))
        self.status = status
        self.message = message


class LoginRequired(Exception):
    pass


class TwoFactorSetupRequired(Exception):
    """An administrator without 2FA while BOOKING_REQUIRE_ADMIN_2FA is on: every page but the
    setup page (and logging out) sends them to set it up."""


# Pages an administrator who must set up 2FA can still reach.
TWO_FACTOR_EXEMPT = ("/profile/two-factor", "/logout", "/login")


# --- static files ---------------------------------------------------------------------------


def _build_manifest() -> tuple[dict[str, str], dict[str, Path]]:
    """``css/app.css`` -> ``css/app.1a2b3c4d.css``, and the reverse lookup to files."""
    names: dict[str, str] = {}
    files: dict[str, Path] = {}
    for path in sorted(STATIC_DIR.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(STATIC_DIR).as_posix()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
        stem, dot, suffix = relative.rpartition(".")
        hashed = f"{stem}.{digest}.{suffix}" if dot else f"{relative}.{digest}"
        names[relative] = hashed
        files[hashed] = path
    return names, files


STATIC_NAMES, STATIC_FILES = _build_manifest()


def static_url(name: str) -> str:
    return f"/static/{STATIC_NAMES[name]}"


# --- sessions, CSRF and flash -----------------------------------------------------------------


def _sign(ctx: Context, value: str) -> str:
    return hmac.new(ctx.derived_key("web-csrf"), value.encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """Bound to the session (or, before login, to a random cookie set on the first page)."""
    ctx: Context = request.app.state.ctx
    if not hasattr(request.state, "csrf_seed"):
        request.state.csrf_seed = csrf_seed(request)
    base = request.cookies.get(SESSION_COOKIE) or request.state.csrf_seed
    return _sign(ctx, base)


def check_csrf(request: Request, form: dict[str, str]) -> None:
    sent = form.get("csrf_token", "")
    if not sent or not hmac.compare_digest(sent, csrf_token(request)):
        raise PageError(
            403,
            N_(
                "Das Formular ist abgelaufen oder wurde nicht von dieser Seite gesendet. "
                "Bitte laden Sie die Seite neu und versuchen Sie es erneut."
            ),
        )


def secure_cookies(ctx: Context) -> bool:
    return ctx.settings.site_url.startswith("https://")


def set_cookie(response: Response, ctx: Context, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(ctx),
        path="/",
    )


def renewed_session(response: Response, ctx: Context, user: User) -> Response:
    """After the user changed their password or e-mail address: the other sessions have ended,
    this browser continues with a new session token (and so a new CSRF token)."""
    token = sessions.renew_session(ctx, user.id)
    set_cookie(response, ctx, SESSION_COOKIE, token, sessions.cookie_max_age(ctx))
    return response


def flash(response: Response, ctx: Context, message: str, kind: str = "success") -> None:
    """A one-time message shown on the next page (after a redirect)."""
    payload = base64.urlsafe_b64encode(json.dumps([kind, message]).encode()).decode()
    set_cookie(response, ctx, FLASH_COOKIE, f"{payload}.{_sign(ctx, payload)[:32]}", 60)


def _read_flash(request: Request) -> tuple[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE, "")
    payload, _, signature = raw.partition(".")
    ctx: Context = request.app.state.ctx
    if not payload or not hmac.compare_digest(signature, _sign(ctx, payload)[:32]):
        return None
    try:
        kind, message = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, TypeError):
        return None
    return str(kind), str(message)


def redirect(url: str, request: Request | None = None, message: str | None = None) -> Response:
    """303 See Other: redirect-after-POST, optionally with a flash message."""
    response = RedirectResponse(url, status_code=303)
    if message and request is not None:
        flash(response, request.app.state.ctx, message)
    return response


# --- who is asking ------------------------------------------------------------------------------


def page_user(request: Request, ctx: CtxDep) -> User | None:
    """Read once per request (the router's ``_prepare`` reads it first)."""
    if not hasattr(request.state, "user"):
        token = request.cookies.get(SESSION_COOKIE, "")
        request.state.user = sessions.session_user(ctx, token) if token else None
    user: User | None = request.state.user
    return user


MaybeUser = Annotated[User | None, Depends(page_user)]


def require_user(user: MaybeUser) -> User:
    if user is None:
        raise LoginRequired()
    return user


def require_admin(user: Annotated[User, Depends(require_user)]) -> User:
    if not user.is_admin:
        raise PageError(403, N_("Diese Seite ist Administratoren vorbehalten."))
    return user


PageUser = Annotated[User, Depends(require_user)]
PageAdmin = Annotated[User, Depends(require_admin)]


def translator(request: Request) -> Translator:
    user: User | None = getattr(request.state, "user", None)
    language = user.language if user and user.language else None
    return Translator(language or negotiate(request.headers.get("accept-language")))


# --- forms ------------------------------------------------------------------------------------


def form_data(request: Request, body: bytes) -> dict[str, str]:
    """URL-encoded form fields (last value wins; ``getlist`` is not needed by our forms).
    The router has read ``body`` before, so this runs in the page's worker thread."""
    if len(body) > MAX_FORM_BYTES:
        raise PageError(413, N_("Die Anfrage ist zu groß."))
    content_type = request.headers.get("content-type", "")
    if body and not content_type.startswith("application/x-www-form-urlencoded"):
        raise PageError(400, N_("Unerwartetes Formularformat."))
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as exc:
        raise PageError(400, N_("Das Formular konnte nicht gelesen werden.")) from exc
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key in fields and key.endswith("[]"):
            fields[key] += "\x00" + value
        else:
            fields[key] = value
    return fields


FormData = Annotated[dict[str, str], Depends(form_data)]


# --- rendering --------------------------------------------------------------------------------


@functools.cache
def _environment() -> Environment:
    """Built on the first page, so a server that only answers the API never loads Jinja."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.globals.update(
        static_url=static_url,
        STATUS_LABELS=STATUS_LABELS,
        STATUS_CLASSES=STATUS_CLASSES,
        PLACE_TYPES=PLACE_TYPES,
    )
    return env


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    t = translator(request)
    user: User | None = getattr(request.state, "user", None)
    values: dict[str, Any] = {
        "request": request,
        "user": user,
        "lang": t.language,
        "t": t,
        "_": t.gettext,
        "ngettext": t.ngettext,
        "csrf_token": csrf_token(request),
        "flash": _read_flash(request),
        "path": request.url.path,
    }
    values.update(context)
    html = _environment().get_template(template).render(values)
    response = HTMLResponse(html, status_code=status)
    if values["flash"]:
        response.delete_cookie(FLASH_COOKIE, path="/")
    if not request.cookies.get(SESSION_COOKIE) and not request.cookies.get(CSRF_COOKIE):
        # the seed the page's forms were signed with; kept for a day
        set_cookie(response, request.app.state.ctx, CSRF_COOKIE, request.state.csrf_seed, 86400)
    response.headers["Cache-Control"] = "no-store"
    return response


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(target)}"


def safe_next(target: str | None) -> str:
    """Only local paths: an open redirect would let a phishing link borrow our domain.

    No control characters either: browsers drop tabs and newlines from URLs, so a link to
    ``/\\t/evil.example`` (the cancel button of a confirmation page) would lead to //evil.example."""
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and target.isprintable()
    ):
        return target
    return "/bookings"


def csrf_seed(request: Request) -> str:
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


def _prepare(request: Request, ctx: CtxDep) -> None:
    user = page_user(request, ctx)
    request.state.csrf_seed = csrf_seed(request)
    if (
        user is not None
        and user.is_admin
        and ctx.settings.admin_2fa_required
        and not request.url.path.startswith(TWO_FACTOR_EXEMPT)
    ):
        from booking.domain import two_factor

        if not two_factor.is_enabled(ctx, user.id):
            raise TwoFactorSetupRequired()


def page_router() -> Router:
    """Every page knows its user and has a CSRF seed before the handler runs."""
    return Router(include_in_schema=False, dependencies=[_prepare])
