"""German first, English second. Message ids are the German texts (the reference's messages are
German, and so is the domain's); ``locale/en`` translates them. Catalogs are compiled with Babel
(``make messages``) and read with the standard library's gettext at run time."""

from __future__ import annotations

import functools
import gettext
from datetime import date
from pathlib import Path

LANGUAGES = ("de", "en")
DEFAULT = "de"
LOCALE_DIR = Path(__file__).parent / "locale"


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, translate later"
    return message


MONTHS = [
    N_("Januar"), N_("Februar"), N_("März"), N_("April"), N_("Mai"), N_("Juni"),
    N_("Juli"), N_("August"), N_("September"), N_("Oktober"), N_("November"), N_("Dezember"),
]  # fmt: skip
WEEKDAYS = [N_("Montag"), N_("Dienstag"), N_("Mittwoch"), N_("Donnerstag"), N_("Freitag")]
WEEKDAYS += [N_("Samstag"), N_("Sonntag")]
WEEKDAYS_SHORT = [N_("Mo"), N_("Di"), N_("Mi"), N_("Do"), N_("Fr"), N_("Sa"), N_("So")]


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    if language == DEFAULT:
        return gettext.NullTranslations()
    return gettext.translation("messages", LOCALE_DIR, languages=[language], fallback=True)


def negotiate(accept_language: str | None) -> str:
    """The best of our languages for an Accept-Language header (quality values honoured)."""
    best, best_q = DEFAULT, -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        try:
            quality = float(params.strip()[2:]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            quality = 0.0
        if primary in LANGUAGES and quality > best_q:
            best, best_q = primary, quality
    return best


class Translator:
    """What templates and pages call: ``_``, ``ngettext`` and date formatting for one language."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else DEFAULT
        self._t = translations(self.language)

    def gettext(self, message: str, **values: object) -> str:
        text = self._t.gettext(message)
        if values:
            return text.format(**values)
        if text == message and self.language != DEFAULT:
            # a domain text with a name or number inside (see domain_messages.PATTERNS)
            from booking.web.domain_messages import translate_dynamic

            return translate_dynamic(self, message)
        return text

    def ngettext(self, singular: str, plural: str, n: int, **values: object) -> str:
        return self._t.ngettext(singular, plural, n).format(n=n, **values)

    def month(self, number: int) -> str:
        return self.gettext(MONTHS[number - 1])

    def weekday(self, day: date, short: bool = False) -> str:
        names = WEEKDAYS_SHORT if short else WEEKDAYS
        return self.gettext(names[day.weekday()])

    def format_date(self, day: date, weekday: bool = False) -> str:
        if self.language == "en":
            text = f"{day.day} {self.month(day.month)} {day.year}"
        else:
            text = f"{day.day}. {self.month(day.month)} {day.year}"
        return f"{self.weekday(day, short=True)}, {text}" if weekday else text

    def short_date(self, day: date) -> str:
        return day.strftime("%d/%m/%Y") if self.language == "en" else day.strftime("%d.%m.%Y")
