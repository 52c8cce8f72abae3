"""The administrators' "Sicherheit" page: checks of the running instance, each with a status and,
when something is wrong, what to do about it (docs/security.md).

Texts are German message ids with ``{placeholders}``; the page translates them
(booking/web/locale), the API sends them formatted in German like its other messages.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from booking.config import MIN_SECRET_LENGTH, WEAK_SECRETS

if TYPE_CHECKING:
    from booking.domain.context import Context

OK = "ok"
WARNING = "warning"
PROBLEM = "problem"
UNKNOWN = "unknown"  # "nicht prüfbar"
STATUSES = (OK, WARNING, PROBLEM, UNKNOWN)

FETCH_TIMEOUT = 3.0  # seconds; the page must not hang on an unreachable proxy
BACKUP_MAX_AGE = timedelta(hours=26)  # a daily backup plus some slack
SECRET_MIN_BITS = 128
# Secret keys that appeared in examples, documentation or tests: known, so not secret.
KNOWN_SECRETS = WEAK_SECRETS | {
    "test-secret-key-0123456789-abcdefghijklmnop",
    "please-change-this-secret-key-in-production",
}
SECRET_HINT_WORDS = ("change", "secret", "example", "test", "password", "default")
HEADER_NAMES = (
    "content-security-policy",
    "x-content-type-options",
    "referrer-policy",
    "permissions-policy",
    "strict-transport-security",
)


@dataclass(frozen=True)
class Check:
    key: str
    title: str
    status: str
    detail: str  # the state found
    fix: str | None = None  # what to do (None when nothing is to do)
    values: dict[str, Any] = field(default_factory=dict)  # for the {placeholders}

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "status": self.status,
            "detail": self.detail.format(**self.values),
            "fix": self.fix.format(**self.values) if self.fix else None,
        }


def _bad(ctx: Context) -> str:
    """Where a development instance may be lax, a production one has a problem."""
    return PROBLEM if ctx.settings.is_production else WARNING


# --- HTTPS ----------------------------------------------------------------------------------


def https_check(ctx: Context, request_scheme: str | None) -> Check:
    title = "HTTPS"
    url = ctx.settings.site_url
    if not url.startswith("https://"):
        return Check(
            "https",
            title,
            _bad(ctx),
            "Die öffentliche Adresse {url} verwendet kein HTTPS: Passwörter und Sitzungen "
            "gehen unverschlüsselt über das Netz.",
            "BOOKING_SITE_URL auf die https://-Adresse setzen und nginx mit einem Zertifikat "
            "davor betreiben (docs/deployment.md).",
            {"url": url},
        )
    if request_scheme == "http":
        return Check(
            "https",
            title,
            WARNING,
            "Die öffentliche Adresse verwendet HTTPS, aber diese Anfrage kam beim Server als "
            "HTTP an.",
            "nginx muss X-Forwarded-Proto setzen (deploy/nginx/proxy.conf) und `booking serve "
            "--forwarded-allow-ips` die Adresse des Proxys enthalten; die Seite über "
            "https:// aufrufen.",
        )
    return Check(
        "https", title, OK, "Die Seite wird über HTTPS ausgeliefert ({url}).", None, {"url": url}
    )


# --- response headers -----------------------------------------------------------------------


def fetch_headers(url: str, timeout: float = FETCH_TIMEOUT) -> Mapping[str, str] | None:
    """The headers a client sees for ``url`` (redirects followed); None when unreachable."""
    import urllib.error  # here: urllib.request loads ssl and http.client, only this page needs them
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "booking-security-check"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - our own URL
            return {name.lower(): value for name, value in response.headers.items()}
    except urllib.error.HTTPError as exc:  # an error answer still shows the headers
        return {name.lower(): value for name, value in exc.headers.items()}
    except (OSError, ValueError):
        return None


def header_problems(headers: Mapping[str, str], https: bool) -> list[str]:
    """Which required headers are missing or too weak (empty list: all fine)."""
    found = {name.lower(): value for name, value in headers.items()}
    missing: list[str] = []
    csp = found.get("content-security-policy", "")
    directives = {
        part.strip().split(" ", 1)[0]: part.strip() for part in csp.split(";") if part.strip()
    }
    script = directives.get("script-src", directives.get("default-src", ""))
    if (
        directives.get("default-src") != "default-src 'self'"
        or directives.get("frame-ancestors") != "frame-ancestors 'none'"
        or "'unsafe-inline'" in script
        or "'unsafe-eval'" in script
    ):
        missing.append("Content-Security-Policy")
    if found.get("x-content-type-options", "").lower() != "nosniff":
        missing.append("X-Content-Type-Options")
    if not found.get("referrer-policy"):
        missing.append("Referrer-Policy")
    if "camera=()" not in found.get("permissions-policy", ""):
        missing.append("Permissions-Policy")
    if https and "max-age=" not in found.get("strict-transport-security", ""):
        missing.append("Strict-Transport-Security")
    return missing


def headers_check(ctx: Context, headers: Mapping[str, str] | None = None) -> Check:
    """Fetches ``site_url``/health from the server itself, through whatever proxy is in front,
    so it sees what a browser sees (unless ``headers`` are given)."""
    title = "Sicherheits-Header"
    url = ctx.settings.site_url + "/health"
    if headers is None:
        headers = fetch_headers(url)
    if headers is None:
        return Check(
            "headers",
            title,
            UNKNOWN,
            "Nicht prüfbar: {url} war vom Server aus nicht erreichbar.",
            "Prüfen, ob BOOKING_SITE_URL stimmt und der Server seine eigene öffentliche "
            "Adresse erreichen kann (DNS, Firewall); dann die Seite neu laden.",
            {"url": url},
        )
    missing = header_problems(headers, ctx.settings.site_url.startswith("https://"))
    if missing:
        return Check(
            "headers",
            title,
            PROBLEM,
            "Bei {url} fehlen oder sind zu schwach: {names}.",
            "Die nginx-Konfiguration aus deploy/nginx verwenden (security-headers.conf in jedem "
            "location-Block, der eigene add_header-Zeilen hat) und nginx neu laden.",
            {"url": url, "names": ", ".join(missing)},
        )
    return Check(
        "headers",
        title,
        OK,
        "{url} liefert alle Sicherheits-Header (CSP, HSTS, nosniff, Referrer- und "
        "Permissions-Policy).",
        None,
        {"url": url},
    )


# --- secret key -----------------------------------------------------------------------------


def secret_bits(key: str) -> float:
    """Estimated entropy: Shannon entropy of the characters times the length (a repeated or
    patterned key scores low, a random token high)."""
    if not key:
        return 0.0
    counts = Counter(key)
    per_char = -sum(n / len(key) * math.log2(n / len(key)) for n in counts.values())
    return per_char * len(key)


def secret_check(ctx: Context) -> Check:
    title = "Geheimer Schlüssel"
    key = ctx.settings.secret_key.get_secret_value()
    fix = (
        "Einen neuen zufälligen Schlüssel erzeugen (`python -c 'import secrets; "
        "print(secrets.token_urlsafe(48))'`), als BOOKING_SECRET_KEY_FILE hinterlegen und neu "
        "starten. Danach melden sich alle neu an."
    )
    if key.lower() in KNOWN_SECRETS:
        return Check(
            "secret_key", title, PROBLEM, "Der Schlüssel ist ein bekannter Beispielwert.", fix
        )
    if len(key) < MIN_SECRET_LENGTH:
        return Check(
            "secret_key",
            title,
            PROBLEM,
            "Der Schlüssel ist nur {length} Zeichen lang (mindestens {minimum}).",
            fix,
            {"length": len(key), "minimum": MIN_SECRET_LENGTH},
        )
    bits = secret_bits(key)
    if bits < SECRET_MIN_BITS or any(word in key.lower() for word in SECRET_HINT_WORDS):
        return Check(
            "secret_key",
            title,
            WARNING,
            "Der Schlüssel wirkt nicht zufällig (geschätzt {bits} Bit, empfohlen mindestens "
            "{minimum}).",
            fix,
            {"bits": int(bits), "minimum": SECRET_MIN_BITS},
        )
    return Check(
        "secret_key",
        title,
        OK,
        "Der Schlüssel ist {length} Zeichen lang und wirkt zufällig (geschätzt {bits} Bit).",
        None,
        {"length": len(key), "bits": int(bits)},
    )


# --- accounts -------------------------------------------------------------------------------


def two_factor_check(ctx: Context) -> Check:
    title = "Zwei-Faktor-Anmeldung für Administratoren"
    try:
        from booking.domain.two_factor import admins_without_two_factor

        admins = admins_without_two_factor(ctx)
    except (ImportError, AttributeError):
        return Check(
            "admin_2fa",
            title,
            UNKNOWN,
            "Nicht prüfbar: diese Version kennt keine Zwei-Faktor-Anmeldung.",
            None,
        )
    if admins:
        return Check(
            "admin_2fa",
            title,
            _bad(ctx),
            "Ohne Zwei-Faktor-Anmeldung: {names}.",
            "Diese Administratoren richten die Zwei-Faktor-Anmeldung in ihrem Profil ein; "
            "BOOKING_REQUIRE_ADMIN_2FA=true verlangt es von allen.",
            {"names": ", ".join(f"{a.full_name} ({a.email})" for a in admins)},
        )
    return Check("admin_2fa", title, OK, "Alle Administratoren melden sich mit zweitem Faktor an.")


def demo_accounts_present(ctx: Context) -> list[str]:
    """Accounts of ``booking demo`` that still exist with their published password."""
    from booking.db.models import User
    from booking.demo import ACCOUNTS
    from booking.lib import passwords

    published = {email: password for email, password, *_ in ACCOUNTS}
    with ctx.db.read() as session:
        rows = session.execute(
            select(User.email, User.password_hash).where(
                User.email.in_(published), User.is_active.is_(True)
            )
        ).all()
    return sorted(
        email for email, hashed in rows if passwords.verify_password(hashed, published[email])
    )


def demo_check(ctx: Context) -> Check:
    title = "Demo-Konten"
    found = demo_accounts_present(ctx)
    if found:
        return Check(
            "demo_accounts",
            title,
            _bad(ctx),
            "Demo-Konten mit bekanntem Passwort sind aktiv: {emails}.",
            "Diese Konten unter Verwaltung → Benutzer sperren oder ihr Passwort ändern; für "
            "den Betrieb eine Datenbank ohne `booking demo` verwenden.",
            {"emails": ", ".join(found)},
        )
    return Check("demo_accounts", title, OK, "Keine Demo-Konten mit bekanntem Passwort.")


# --- operations -----------------------------------------------------------------------------


def newest_backup(ctx: Context) -> datetime | None:
    from booking.ops.backup import list_archives

    archives = list_archives(ctx.settings.effective_backup_dir)
    return archives[-1].created if archives else None


def backup_check(ctx: Context, now: datetime | None = None) -> Check:
    title = "Sicherungen"
    directory = str(ctx.settings.effective_backup_dir)
    fix = (
        "`booking backup` täglich laufen lassen (deploy/systemd/booking-backup.timer oder der "
        "Backup-Dienst in Compose) und sein Protokoll prüfen."
    )
    newest = newest_backup(ctx)
    if newest is None:
        return Check(
            "backups",
            title,
            _bad(ctx),
            "In {directory} liegt keine Sicherung.",
            fix,
            {"directory": directory},
        )
    now = now or datetime.now(UTC)
    age = now - newest
    hours = int(age.total_seconds() // 3600)
    if age > BACKUP_MAX_AGE:
        return Check(
            "backups",
            title,
            _bad(ctx),
            "Die neueste Sicherung ist {hours} Stunden alt (höchstens {limit}).",
            fix,
            {"hours": hours, "limit": int(BACKUP_MAX_AGE.total_seconds() // 3600)},
        )
    return Check(
        "backups",
        title,
        OK,
        "Die neueste Sicherung ist {hours} Stunden alt.",
        None,
        {"hours": hours},
    )


def smtp_check(ctx: Context) -> Check:
    from booking.db.models import EmailSettings

    title = "E-Mail-Versand"
    with ctx.db.read() as session:
        row = session.get(EmailSettings, 1)
    host = row.smtp_host if row is not None and row.is_configured else ctx.settings.smtp_host
    if not host:
        return Check(
            "smtp",
            title,
            _bad(ctx),
            "Kein SMTP-Server eingerichtet: E-Mails (Bestätigungen, Passwort-Links) landen nur "
            "im Protokoll.",
            "Unter Verwaltung → E-Mail einen SMTP-Server eintragen oder BOOKING_SMTP_HOST "
            "setzen, dann eine Test-E-Mail senden.",
        )
    return Check("smtp", title, OK, "E-Mails gehen über {host}.", None, {"host": host})


def throttle_check(ctx: Context) -> Check:
    title = "Schutz vor Passwort-Raten"
    if not ctx.settings.throttle_enabled:
        return Check(
            "throttle",
            title,
            _bad(ctx),
            "Die Begrenzung fehlgeschlagener Anmeldungen ist ausgeschaltet.",
            "BOOKING_THROTTLE_ENABLED entfernen (Standard: an) und neu starten.",
        )
    return Check(
        "throttle",
        title,
        OK,
        "Fehlgeschlagene Anmeldungen werden begrenzt (höchstens {count} pro Konto).",
        None,
        {"count": ctx.settings.throttle_login_account},
    )


def run_checks(ctx: Context, request_scheme: str | None = None) -> list[Check]:
    """Every check, in the order the page shows them."""
    return [
        https_check(ctx, request_scheme),
        headers_check(ctx),
        secret_check(ctx),
        two_factor_check(ctx),
        demo_check(ctx),
        backup_check(ctx),
        smtp_check(ctx),
        throttle_check(ctx),
    ]
