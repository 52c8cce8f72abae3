"""Page: "Sicherheit", the checks of the running instance for administrators
(booking/domain/security_checks.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from booking.api.deps import CtxDep
from booking.domain import security_checks
from booking.web.core import PageAdmin, page_router, render
from booking.web.i18n import N_

router = page_router()

# Every title and text of booking/domain/security_checks.py, marked for the catalog (the
# extractor reads booking/web only); tests/web/test_security_page.py keeps the list complete.
CHECK_TEXTS = [
    N_("HTTPS"),
    N_("Sicherheits-Header"),
    N_("Geheimer Schlüssel"),
    N_(
        "Einen neuen zufälligen Schlüssel erzeugen (`python -c 'import secrets; print(secrets.token_urlsafe(48))'`), als BOOKING_SECRET_KEY_FILE hinterlegen und neu starten. Danach melden sich alle neu an."
    ),
    N_("Zwei-Faktor-Anmeldung für Administratoren"),
    N_("Demo-Konten"),
    N_("Sicherungen"),
    N_(
        "`booking backup` täglich laufen lassen (deploy/systemd/booking-backup.timer oder der Backup-Dienst in Compose) und sein Protokoll prüfen."
    ),
    N_("E-Mail-Versand"),
    N_("Schutz vor Passwort-Raten"),
    N_("Die Seite wird über HTTPS ausgeliefert ({url})."),
    N_(
        "{url} liefert alle Sicherheits-Header (CSP, HSTS, nosniff, Referrer- und Permissions-Policy)."
    ),
    N_("Der Schlüssel ist {length} Zeichen lang und wirkt zufällig (geschätzt {bits} Bit)."),
    N_("Alle Administratoren melden sich mit zweitem Faktor an."),
    N_("Keine Demo-Konten mit bekanntem Passwort."),
    N_("Die neueste Sicherung ist {hours} Stunden alt."),
    N_("E-Mails gehen über {host}."),
    N_("Fehlgeschlagene Anmeldungen werden begrenzt (höchstens {count} pro Konto)."),
    N_(
        "Die öffentliche Adresse {url} verwendet kein HTTPS: Passwörter und Sitzungen gehen unverschlüsselt über das Netz."
    ),
    N_(
        "BOOKING_SITE_URL auf die https://-Adresse setzen und nginx mit einem Zertifikat davor betreiben (docs/deployment.md)."
    ),
    N_("Die öffentliche Adresse verwendet HTTPS, aber diese Anfrage kam beim Server als HTTP an."),
    N_(
        "nginx muss X-Forwarded-Proto setzen (deploy/nginx/proxy.conf) und `booking serve --forwarded-allow-ips` die Adresse des Proxys enthalten; die Seite über https:// aufrufen."
    ),
    N_("Nicht prüfbar: {url} war vom Server aus nicht erreichbar."),
    N_(
        "Prüfen, ob BOOKING_SITE_URL stimmt und der Server seine eigene öffentliche Adresse erreichen kann (DNS, Firewall); dann die Seite neu laden."
    ),
    N_("Bei {url} fehlen oder sind zu schwach: {names}."),
    N_(
        "Die nginx-Konfiguration aus deploy/nginx verwenden (security-headers.conf in jedem location-Block, der eigene add_header-Zeilen hat) und nginx neu laden."
    ),
    N_("Der Schlüssel ist ein bekannter Beispielwert."),
    N_("Der Schlüssel ist nur {length} Zeichen lang (mindestens {minimum})."),
    N_(
        "Der Schlüssel wirkt nicht zufällig (geschätzt {bits} Bit, empfohlen mindestens {minimum})."
    ),
    N_("Ohne Zwei-Faktor-Anmeldung: {names}."),
    N_(
        "Diese Administratoren richten die Zwei-Faktor-Anmeldung in ihrem Profil ein; BOOKING_REQUIRE_ADMIN_2FA=true verlangt es von allen."
    ),
    N_("Demo-Konten mit bekanntem Passwort sind aktiv: {emails}."),
    N_(
        "Diese Konten unter Verwaltung → Benutzer sperren oder ihr Passwort ändern; für den Betrieb eine Datenbank ohne `booking demo` verwenden."
    ),
    N_("In {directory} liegt keine Sicherung."),
    N_("Die neueste Sicherung ist {hours} Stunden alt (höchstens {limit})."),
    N_(
        "Kein SMTP-Server eingerichtet: E-Mails (Bestätigungen, Passwort-Links) landen nur im Protokoll."
    ),
    N_(
        "Unter Verwaltung → E-Mail einen SMTP-Server eintragen oder BOOKING_SMTP_HOST setzen, dann eine Test-E-Mail senden."
    ),
    N_("Die Begrenzung fehlgeschlagener Anmeldungen ist ausgeschaltet."),
    N_("BOOKING_THROTTLE_ENABLED entfernen (Standard: an) und neu starten."),
    N_("Nicht prüfbar: diese Version kennt keine Zwei-Faktor-Anmeldung."),
]

# The look of each status (CSS class of the badge) and its label (German message id).
STATUS_CLASSES = {
    security_checks.OK: "status-accepted",
    security_checks.WARNING: "status-pending",
    security_checks.PROBLEM: "status-cancelled",
    security_checks.UNKNOWN: "status-completed",
}


@router.get("/admin/security")
def security_page(request: Request, admin: PageAdmin, ctx: CtxDep) -> Response:
    checks = security_checks.run_checks(ctx, request.url.scheme)
    counts = dict.fromkeys(security_checks.STATUSES, 0)
    for check in checks:
        counts[check.status] += 1
    return render(
        request,
        "admin/security.html",
        checks=checks,
        counts=counts,
        status_classes=STATUS_CLASSES,
    )
