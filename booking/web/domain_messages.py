"""The domain's German texts that pages show (error messages, a few answers), marked for the
extractor so ``locale/en`` translates them. The domain itself stays free of i18n: pages pass its
texts through ``_()`` / ``t.gettext()`` when they render them.

``MESSAGES`` are fixed texts (the catalog translates them directly). ``PATTERNS`` are texts with a
name or number inside: ``Translator.gettext`` matches an untranslated text against them and
translates the pattern with the values it found (see ``translate_dynamic``). A test checks that
every text here still occurs in ``booking/domain`` (a reworded domain text must be updated here).
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from booking.web.i18n import N_

if TYPE_CHECKING:
    from booking.web.i18n import Translator

MESSAGES = [
    # booking rules (booking/domain/bookings.py)
    N_("Anreisedatum kann nicht vor heute liegen"),
    N_("Abreisedatum kann nicht vor heute liegen"),
    N_("Das Anreisedatum kann nicht vor heute liegen"),
    N_("Das Abreisedatum muss nach dem Anreisedatum liegen"),
    N_("Notizen dürfen maximal 500 Zeichen lang sein"),
    N_("Mindestens eine Schlafmöglichkeit muss ausgewählt werden"),
    N_("Jede Schlafmöglichkeit darf nur einmal gewählt werden"),
    N_("Personenanzahl muss zwischen 1 und 20 liegen"),
    N_("Buchung nicht gefunden."),
    N_("Sie dürfen nur Ihre eigenen Buchungen ändern."),
    N_("Sie dürfen nur Ihre eigenen Buchungen sehen."),
    # sleeping places (booking/domain/places.py)
    N_("Schlafmöglichkeit nicht gefunden."),
    N_("Unbekannter Typ. Erlaubt: 0 (Zimmer), 1 (Zelt), 2 (Wohnmobil), 3 (Sonstiges)."),
    # e-mail settings (booking/domain/email_settings.py)
    N_("E-Mail-Einstellungen müssen erst konfiguriert werden."),
    # users, login, passwords (booking/domain/users.py)
    N_("Ungültige E-Mail-Adresse oder Passwort."),
    N_(
        "Bitte bestätigen Sie zuerst Ihre E-Mail-Adresse. Überprüfen Sie Ihr E-Mail-Postfach "
        "oder fordern Sie eine neue Bestätigungs-E-Mail an."
    ),
    N_(
        "Ihr Konto wartet noch auf die Freigabe durch einen Administrator. Sie werden per E-Mail "
        "benachrichtigt, sobald Ihr Konto freigeschaltet wurde."
    ),
    N_("Ihre Berechtigung zum Buchen wurde von einem Administrator entzogen."),
    N_("Diese Aktion ist Administratoren vorbehalten."),
    N_("Dieses Passwort ist zu verbreitet und leicht zu erraten. Bitte wählen Sie ein anderes."),
    N_("Passwort muss mindestens 8 Zeichen lang sein"),
    N_("Passwort darf höchstens 256 Zeichen lang sein"),
    N_("Ungültige E-Mail-Adresse"),
    N_("Vorname ist erforderlich"),
    N_("Vorname darf höchstens 100 Zeichen lang sein"),
    N_("Nachname ist erforderlich"),
    N_("Nachname darf höchstens 100 Zeichen lang sein"),
    N_("E-Mail-Adresse ist bereits registriert."),
    N_("Ungültiger oder abgelaufener Verifizierungstoken."),
    N_("Das aktuelle Passwort ist falsch."),
    N_("Ungültiger oder abgelaufener Link zum Zurücksetzen des Passworts."),
    N_("Unbekannte Sprache."),
    N_("Benutzer nicht gefunden."),
    N_("Benutzer nicht gefunden oder bereits freigegeben."),
    N_("Benutzer nicht gefunden oder bereits verarbeitet."),
    N_("Der Benutzer ist noch nicht freigegeben."),
    N_("Sie können sich die Buchungsberechtigung nicht selbst entziehen."),
    N_("Unbekannte Rolle."),
    N_("Der letzte Administrator kann nicht herabgestuft werden."),
    # login with an OpenID Connect provider (booking/domain/oidc.py)
    N_("Die Anmeldung beim Anbieter ist fehlgeschlagen. Bitte versuchen Sie es erneut."),
    N_(
        "Die Anmeldung beim Anbieter ist abgelaufen oder wurde in einem anderen Fenster "
        "begonnen. Bitte versuchen Sie es erneut."
    ),
    N_("Die Anmeldung beim Anbieter wurde abgebrochen."),
    N_("Der Anbieter ist zurzeit nicht erreichbar. Bitte versuchen Sie es später erneut."),
    N_(
        "Der Anbieter hat keine E-Mail-Adresse übermittelt. Bitte erlauben Sie den "
        "Zugriff auf Ihre E-Mail-Adresse oder registrieren Sie sich mit Passwort."
    ),
    N_(
        "Zu dieser E-Mail-Adresse gibt es bereits ein Konto, aber der Anbieter hat die "
        "Adresse nicht bestätigt. Bitte melden Sie sich mit Ihrem Passwort an."
    ),
    N_("Für dieses Konto ist keine Anmeldung möglich."),
    N_(
        "Ihr Konto wurde angelegt. Es wartet noch auf die Freigabe durch einen "
        "Administrator; Sie werden per E-Mail benachrichtigt, sobald Sie buchen können."
    ),
    N_(
        "Ihr Konto wurde angelegt. Bitte bestätigen Sie Ihre E-Mail-Adresse mit dem Link,"
        " den wir Ihnen geschickt haben; danach wartet es auf die Freigabe durch einen "
        "Administrator."
    ),
    # audit log event labels (booking/domain/audit.py: LABELS)
    N_("Anmeldung"),
    N_("Fehlgeschlagene Anmeldung"),
    N_("Auf allen Geräten abgemeldet"),
    N_("Benutzer freigegeben"),
    N_("Registrierung abgelehnt"),
    N_("Buchungsberechtigung entzogen"),
    N_("Buchungsberechtigung wiederhergestellt"),
    N_("Rolle geändert"),
    N_("E-Mail-Einstellungen geändert"),
    N_("Passwort geändert"),
    N_("Passwort zurückgesetzt"),
    N_("Schlafmöglichkeit angelegt"),
    N_("Schlafmöglichkeit geändert"),
    N_("Schlafmöglichkeit deaktiviert"),
    N_("Schlafmöglichkeit aktiviert"),
    N_("Hausregeln geändert"),
    N_("Sperrzeit angelegt"),
    N_("Sperrzeit gelöscht"),
    N_("Kontingent-Ausnahme gewährt"),
    N_("Kontingent-Ausnahme gelöscht"),
    N_("Kontingent-Ausnahme genutzt"),
    N_("Zwei-Faktor-Anmeldung eingerichtet"),
    N_("Zwei-Faktor-Anmeldung ausgeschaltet"),
    N_("Zwei-Faktor-Anmeldung zurückgesetzt"),
    N_("Falscher Zwei-Faktor-Code"),
    N_("Wiederherstellungscode benutzt"),
    N_("Wiederherstellungscodes neu erzeugt"),
    # two-factor authentication (booking/domain/two_factor.py)
    N_("Der Code ist ungültig oder wurde bereits verwendet."),
    N_("Die Zwei-Faktor-Anmeldung ist bereits eingerichtet."),
    N_("Die Zwei-Faktor-Anmeldung ist nicht eingerichtet."),
    N_(
        "Administratoren müssen die Zwei-Faktor-Anmeldung verwenden; sie kann nicht "
        "ausgeschaltet werden."
    ),
    N_(
        "Der Zwei-Faktor-Schlüssel kann nicht mehr gelesen werden (der geheime Schlüssel der App "
        "wurde geändert). Bitte lassen Sie die Zwei-Faktor-Anmeldung von einem Administrator "
        "zurücksetzen."
    ),
    N_("Bitte geben Sie den Code aus Ihrer Authenticator-App ein."),
    # house rules (booking/domain/house_rules.py)
    N_("Die Mindestdauer darf nicht größer als die Höchstdauer sein"),
    N_("Bitte geben Sie einen Grund an"),
    N_("Die letzte Nacht darf nicht vor der ersten liegen"),
    N_("Ungültiges Jahr"),
    N_("Sperrzeit nicht gefunden."),
    N_("Ausnahme nicht gefunden."),
    N_("Anmeldung über Anbieter verknüpft"),
    N_("Registrierung über Anbieter"),
    N_("Kalender-Adresse neu erzeugt"),
    N_("Kalender-Adresse gelöscht"),
    N_("Hauskalender geändert"),
]

# Texts the domain builds with values (f-strings there; ``{name}`` placeholders here).
PATTERNS = [
    N_("Höchstens {max} Schlafmöglichkeiten pro Buchung"),
    N_("Schlafmöglichkeit mit ID {id} nicht gefunden"),
    N_("Schlafmöglichkeit '{name}' ist für den gewählten Zeitraum nicht verfügbar"),
    N_("Schlafmöglichkeit '{name}' hat nur {free} freie Plätze, {requested} wurden angefragt"),
    N_("Fehler beim Senden der Test-E-Mail: {error}"),
    N_("Test-E-Mail wurde erfolgreich an {to} gesendet."),
    N_("Benutzer {name} wurde erfolgreich für Buchungen freigeschaltet."),
    N_("Benutzer {name} wurde abgelehnt."),
    # house rules (booking/domain/house_rules.py: TEXTS and the settings' checks)
    N_("Das Haus ist vom {first} bis {last} geschlossen: {reason}"),
    N_("Buchungen sind höchstens {months} Monate im Voraus möglich (Abreise spätestens am {last})"),
    N_("Buchungen brauchen {days} Tage Vorlauf (Anreise frühestens am {first})"),
    N_("Eine Buchung muss mindestens {n} Nächte umfassen"),
    N_("Die maximale Buchungsdauer beträgt {n} Tage"),
    N_(
        "Das Kontingent von {quota} Nächten im Jahr {year} ist überschritten "
        "({used} bereits gebucht, {requested} angefragt)"
    ),
    N_("Der Wert muss zwischen {low} und {high} liegen"),
    N_("Der Grund darf höchstens {max} Zeichen lang sein"),
    # booking/domain/errors.py: Throttled
    N_("Zu viele Versuche. Bitte warten Sie {n} Sekunden."),
    N_("Zu viele Versuche. Bitte warten Sie {n} Minuten."),
]

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@functools.cache
def _compiled() -> list[tuple[str, re.Pattern[str]]]:
    """Each pattern as a regular expression with one named group per placeholder."""
    compiled = []
    for pattern in PATTERNS:
        parts = _PLACEHOLDER.split(pattern)  # text, name, text, name, ..., text
        regex = "".join(
            re.escape(part) if index % 2 == 0 else f"(?P<{part}>.+?)"
            for index, part in enumerate(parts)
        )
        compiled.append((pattern, re.compile(regex, re.DOTALL)))
    return compiled


def translate_dynamic(t: Translator, message: str) -> str:
    """``message`` in ``t``'s language if it is one of the ``PATTERNS`` filled in, else as is."""
    for pattern, regex in _compiled():
        match = regex.fullmatch(message)
        if match:
            return t.gettext(pattern, **match.groupdict())
    return message
