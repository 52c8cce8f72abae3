"""The English catalog and the pages' languages.

Catalog: every text the extractor finds (the same extraction as ``make messages``) has an English
translation, the committed ``.mo`` is the compiled ``.po``, placeholders survive translation, and
the domain texts listed in ``booking/web/domain_messages.py`` still exist in the domain.
Pages: ``Accept-Language`` and the user's own language choose German or English, including
domain error messages and dates."""

from __future__ import annotations

import ast
import gettext
import io
import string
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from starlette.testclient import TestClient

from booking.db.models import SleepingAccommodation, User
from booking.domain.context import Context
from booking.web import domain_messages
from booking.web.i18n import LOCALE_DIR, Translator
from tests import factories
from tests.web.html import Element, parse
from tests.web.test_account_pages import csrf, field_errors, get, logged_in

ROOT = Path(__file__).resolve().parents[2]
PO = LOCALE_DIR / "en" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
MsgId = str | tuple[str, ...]


# --- the catalog -----------------------------------------------------------------------------


def extracted() -> dict[MsgId, list[str]]:
    """msgid (a tuple for plurals) -> where it occurs; as ``pybabel extract -F babel.cfg``."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[MsgId, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map
    ):
        key = message if isinstance(message, str) else tuple(message)
        found.setdefault(key, []).append(f"{filename}:{lineno}")
    return found


def english() -> Catalog:
    with PO.open("rb") as file:
        return read_po(file, locale="en")


def entries(catalog: Catalog) -> Iterator[tuple[MsgId, tuple[str, ...]]]:
    for message in catalog:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else tuple(message.id)
        strings = (message.string,) if isinstance(message.string, str) else message.string
        yield key, tuple(strings)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_the_extraction_finds_pages_templates_and_domain_texts() -> None:
    found = extracted()
    assert "Anmelden" in found  # a template
    assert "Buchung gespeichert." in found  # a page module (N_)
    assert ("{n} Nacht", "{n} Nächte") in found  # a plural, in templates and Python
    assert "Passwort muss mindestens 8 Zeichen lang sein" in found  # domain_messages.py
    assert "Januar" in found  # i18n.py
    assert "done" not in found  # a dictionary key next to a gettext call is no message


def test_every_extracted_message_has_an_english_translation() -> None:
    translated = dict(entries(english()))
    missing = {}
    for key, places in extracted().items():
        strings = translated.get(key, ())
        if len(strings) < (1 if isinstance(key, str) else 2) or not all(strings):
            missing[key] = places[0]
    assert not missing, f"run `make messages` and translate in {PO.relative_to(ROOT)}: {missing}"


def test_the_committed_mo_is_the_compiled_po() -> None:
    compiled = io.BytesIO()
    write_mo(compiled, english())
    compiled.seek(0)
    fresh = gettext.GNUTranslations(compiled)
    with MO.open("rb") as file:
        committed = gettext.GNUTranslations(file)
    body = {key: value for key, value in vars(fresh)["_catalog"].items() if key != ""}
    shipped = {key: value for key, value in vars(committed)["_catalog"].items() if key != ""}
    assert shipped == body, "run `make messages` (the .mo is older than the .po)"
    assert fresh.plural(1) == committed.plural(1) == 0
    assert fresh.plural(2) == committed.plural(2) == 1


def test_placeholders_are_kept() -> None:
    wrong = []
    for key, strings in entries(english()):
        expected = set().union(
            *(placeholders(text) for text in ((key,) if isinstance(key, str) else key))
        )
        for text in strings:
            if placeholders(text) != expected:
                wrong.append((key, text))
            values = dict.fromkeys(expected, "x")
            text.format(**values)  # no stray braces
    assert not wrong


def test_no_fuzzy_or_obsolete_entries() -> None:
    catalog = english()
    assert not [m.id for m in catalog if m.id and m.fuzzy]
    assert not catalog.obsolete  # `make messages` drops texts no longer in the sources


def _domain_texts() -> set[str]:
    """Every string literal of ``booking/domain`` (f-strings with ``{}`` for their values)."""
    texts: set[str] = set()
    for path in (ROOT / "booking" / "domain").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                texts.add(node.value)
            elif isinstance(node, ast.JoinedStr):
                texts.add(
                    "".join(
                        part.value if isinstance(part, ast.Constant) else "{}"
                        for part in node.values
                    )
                )
    return texts


def test_listed_domain_messages_still_exist_in_the_domain() -> None:
    texts = _domain_texts()
    gone = [text for text in domain_messages.MESSAGES if text not in texts]
    for pattern in domain_messages.PATTERNS:
        # each fixed part of a pattern occurs in a domain f-string (maybe split over two)
        parts = [literal.strip(" .") for literal, *_ in string.Formatter().parse(pattern)]
        if not all(any(part in text for text in texts) for part in parts if part):
            gone.append(pattern)
    assert not gone, "the domain's wording changed: update booking/web/domain_messages.py"


def test_domain_texts_with_values_are_translated() -> None:
    t = Translator("en")
    assert (
        t.gettext("Schlafmöglichkeit 'Zelt {A}' hat nur 2 freie Plätze, 3 wurden angefragt")
        == "Sleeping place 'Zelt {A}' has only 2 free places, 3 were requested"
    )
    assert t.gettext("Benutzer Bob Person wurde abgelehnt.") == "Bob Person has been rejected."
    assert t.gettext("Etwas Unbekanntes") == "Etwas Unbekanntes"
    assert (
        Translator("de").gettext("Benutzer Bob wurde abgelehnt.") == "Benutzer Bob wurde abgelehnt."
    )


def test_dates_in_english_and_german() -> None:
    day = date(2031, 3, 4)
    en, de = Translator("en"), Translator("de")
    assert en.format_date(day, weekday=True) == "Tue, 4 March 2031"
    assert de.format_date(day, weekday=True) == "Di, 4. März 2031"
    assert en.short_date(day) == "04/03/2031"
    assert de.short_date(day) == "04.03.2031"
    assert en.ngettext("{n} Nacht", "{n} Nächte", 1) == "1 night"
    assert en.ngettext("{n} Nacht", "{n} Nächte", 2) == "2 nights"


# --- pages -----------------------------------------------------------------------------------


def english_client(client: TestClient) -> TestClient:
    client.headers["Accept-Language"] = "en-GB,en;q=0.9,de;q=0.5"
    return client


def set_language(ctx: Context, user: User, language: str | None) -> None:
    with ctx.db.write() as session:
        stored = session.get(User, user.id)
        assert stored is not None
        stored.language = language


def lang(doc: Element) -> str | None:
    return doc.one("html").get("lang")


def test_login_in_english_with_accept_language(client: TestClient) -> None:
    doc = get(english_client(client), "/login")
    assert lang(doc) == "en"
    assert doc.one("h1").text == "Log in"
    assert doc.one("title").text == "Log in · House booking"
    assert doc.one("label", for_="f-password").text.startswith("Password")


@pytest.mark.parametrize("header", [None, "de-DE,de;q=0.9", "fr-FR,fr;q=0.9", "en;q=0.1,de"])
def test_login_in_german_by_default(client: TestClient, header: str | None) -> None:
    if header:
        client.headers["Accept-Language"] = header
    doc = get(client, "/login")
    assert lang(doc) == "de"
    assert doc.one("h1").text == "Anmelden"


def test_login_errors_in_english(client: TestClient, bob: User) -> None:
    english_client(client)
    token = csrf(get(client, "/login"))
    response = client.post(
        "/login", data={"csrf_token": token, "email": "", "password": ""}, follow_redirects=False
    )
    assert response.status_code == 400
    assert field_errors(parse(response.text)) == {
        "email": "Email address is required",
        "password": "Password is required",
    }
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": bob.email, "password": "wrong-password"},
        follow_redirects=False,
    )
    assert response.status_code == 400
    alert = parse(response.text).one("div", class_="alert")
    assert alert.text == "Invalid email address or password."


def test_missing_csrf_and_not_found_pages_in_english(client: TestClient, bob: User) -> None:
    english_client(client)
    response = client.post("/login", data={"email": "x@example.com", "password": "x"})
    assert response.status_code == 403
    doc = parse(response.text)
    assert doc.one("h1").text == "Access denied"
    assert "The form has expired" in doc.one("main").text
    logged_in(client, bob.email)
    doc = get(client, f"/bookings/{uuid.uuid4()}", 404)
    assert doc.one("h1").text == "Page not found"
    assert "Booking not found." in doc.one("main").text


def test_users_language_choice_wins(client: TestClient, ctx: Context, bob: User) -> None:
    set_language(ctx, bob, "en")
    logged_in(client, bob.email)
    doc = get(client, "/bookings")  # no Accept-Language header
    assert lang(doc) == "en"
    assert doc.one("h1").text == "My bookings"
    nav = doc.one("nav", class_="site-nav").text
    assert "Bookings" in nav and "New booking" in nav and "Log out" in nav

    set_language(ctx, bob, "de")
    client.headers["Accept-Language"] = "en"
    doc = get(client, "/bookings")
    assert lang(doc) == "de"
    assert doc.one("h1").text == "Meine Buchungen"

    set_language(ctx, bob, None)  # the browser decides again
    assert lang(get(client, "/bookings")) == "en"


def test_choosing_english_in_the_profile(client: TestClient, bob: User) -> None:
    logged_in(client, bob.email)
    doc = get(client, "/profile")
    assert lang(doc) == "de"
    response = client.post(
        "/profile",
        data={
            "csrf_token": csrf(doc),
            "first_name": "Bob",
            "last_name": "Person",
            "language": "en",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    doc = get(client, "/profile")
    assert lang(doc) == "en"
    assert doc.one("div", class_="flash").text == "Your profile has been saved."
    assert doc.one("h1").text == "Profile"


def test_month_calendar_in_english(client: TestClient, ctx: Context, bob: User) -> None:
    place = factories.make_place(ctx, "Gartenzimmer", capacity=2)
    factories.make_booking(ctx, bob, [(place, 2)], start=date(2031, 3, 4), nights=2)
    set_language(ctx, bob, "en")
    logged_in(client, bob.email)
    doc = get(client, "/bookings?view=calendar&month=2031-03")
    assert doc.one("h2", id="cal-title").text == "March 2031"
    heads = doc.one("table", class_="calendar").find_all("abbr")
    assert [a.text for a in heads] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert heads[0]["title"] == "Monday"
    cell = doc.one("td", data_date="2031-03-04")
    assert "Tue, 4 March 2031" in cell.text
    event = cell.one("a", class_="event")
    assert event["title"] == "04/03/2031 – 06/03/2031, Pending"

    set_language(ctx, bob, "de")
    doc = get(client, "/bookings?view=calendar&month=2031-03")
    assert doc.one("h2", id="cal-title").text == "März 2031"
    assert doc.one("td", data_date="2031-03-04").one("a", class_="event")["title"] == (
        "04.03.2031 – 06.03.2031, Ausstehend"
    )


def test_booking_list_in_english(client: TestClient, ctx: Context, bob: User) -> None:
    place = factories.make_place(ctx, "Gartenzimmer", capacity=3)
    factories.make_booking(ctx, bob, [(place, 3)], start=date(2031, 3, 4), nights=1)
    logged_in(english_client(client), bob.email)
    text = get(client, "/bookings?view=list&timeRange=0").one("main").text
    assert "04/03/2031 – 05/03/2031" in text
    assert "1 night" in text and "3 people" in text
    assert "Pending" in text


def test_list_pages_in_english(client: TestClient, ctx: Context, bob: User) -> None:
    place = factories.make_place(ctx, "Gartenzimmer", capacity=3)
    factories.make_stays(ctx, [bob], [place], 120)
    logged_in(english_client(client), bob.email)
    doc = get(client, "/bookings?page=2")
    assert doc.one("p", class_="list-count").text == "120 bookings"
    nav = doc.one("nav", class_="list-pager")
    assert nav["aria-label"] == "Pages"
    assert nav.one("span", class_="pager-status").text == "Page 2 of 3"
    assert [a.text for a in nav.find_all("a")] == ["Previous", "Next"]


def _booking_form(client: TestClient, place: SleepingAccommodation, **data: str) -> Element:
    token = csrf(get(client, "/bookings/new"))
    response = client.post(
        "/bookings/new", data={"csrf_token": token, **data}, follow_redirects=False
    )
    assert response.status_code == 400, response.text[:500]
    return parse(response.text)


def test_domain_rules_in_english_on_the_booking_form(
    client: TestClient, ctx: Context, bob: User
) -> None:
    place = factories.make_place(ctx, "Dachzimmer", capacity=2)
    logged_in(english_client(client), bob.email)
    today = ctx.today()
    field = f"place_{place.id}"
    doc = _booking_form(
        client,
        place,
        start_date=(today - timedelta(days=1)).isoformat(),
        end_date=(today + timedelta(days=2)).isoformat(),
        **{field: "1"},
    )
    assert field_errors(doc)["start_date"] == "The arrival date cannot be in the past"
    doc = _booking_form(
        client,
        place,
        start_date=(today + timedelta(days=5)).isoformat(),
        end_date=(today + timedelta(days=3)).isoformat(),
        **{field: "1"},
    )
    assert "The departure date must be after the arrival date" in doc.one("main").text
    doc = _booking_form(
        client,
        place,
        start_date=(today + timedelta(days=3)).isoformat(),
        end_date=(today + timedelta(days=40)).isoformat(),
        **{field: "1"},
    )
    assert "A booking can be at most 30 days long" in doc.one("main").text
    dates = {
        "start_date": (today + timedelta(days=3)).isoformat(),
        "end_date": (today + timedelta(days=5)).isoformat(),
    }
    doc = _booking_form(client, place, **dates, notes="x" * 501, **{field: "1"})
    assert "Notes can be at most 500 characters long" in doc.one("main").text
    doc = _booking_form(client, place, **dates)
    assert "Please choose at least one sleeping place" in doc.one("main").text
    doc = _booking_form(client, place, **dates, **{field: "3"})
    assert (
        "Sleeping place 'Dachzimmer' has only 2 free places, 3 were requested"
        in doc.one("main").text
    )


def test_password_rule_in_english_on_registration(client: TestClient) -> None:
    english_client(client)
    token = csrf(get(client, "/register"))
    response = client.post(
        "/register",
        data={
            "csrf_token": token,
            "first_name": "Dora",
            "last_name": "Example",
            "email": "dora@example.com",
            "password": "Xq7!z",
            "password_confirm": "Xq7!z",
        },
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert field_errors(parse(response.text))["password"] == (
        "The password must be at least 8 characters long"
    )
