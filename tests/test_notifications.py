"""Every mail of DECISIONS 11 is queued by the domain action that causes it, in the recipient's
language, with a text and an HTML body (names and notes escaped in HTML), and arrives over SMTP."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from booking.db.models import User
from booking.domain import bookings, notifications, outbox, users
from booking.domain.bookings import BookingIn, BookingItemIn
from booking.domain.errors import DomainError
from tests.conftest import make_settings
from tests.factories import PASSWORD, make_booking, make_user
from tests.mails import Mail, mails
from tests.smtp import SmtpServer, parts

ACCEPTED, REJECTED, CONFIRMED = 4, 5, 1


def set_language(ctx, user: User, language: str | None) -> None:
    with ctx.db.write() as session:
        session.execute(update(User).where(User.id == user.id).values(language=language))
    user.language = language


def only(found: list[Mail]) -> Mail:
    assert len(found) == 1, [(m.to, m.subject) for m in found]
    return found[0]


def since(ctx, before: int) -> list[Mail]:
    return [m for m in mails(ctx) if m.id > before]


def last_id(ctx) -> int:
    found = mails(ctx)
    return found[-1].id if found else 0


def stay(ctx, place, persons: int = 2, days: int = 10, nights: int = 2, notes: str | None = None):
    start = ctx.today() + timedelta(days=days)
    return BookingIn(
        start_date=start,
        end_date=start + timedelta(days=nights),
        notes=notes,
        booking_items=[BookingItemIn(sleeping_accommodation_id=place.id, person_count=persons)],
    )


@pytest.fixture
def ada(ctx) -> User:
    """A second administrator who reads English."""
    user = make_user(ctx, "ada@example.com", admin=True, first_name="Ada")
    set_language(ctx, user, "en")
    return user


# --- accounts -------------------------------------------------------------------------------


def test_registration_mails_the_person_and_every_active_administrator(ctx, alice, ada):
    make_user(ctx, "old-admin@example.com", admin=True, active=False)
    users.register(ctx, "Dora@Example.com", PASSWORD, "Dora", "Diehl")

    verification = only(mails(ctx, "dora@example.com"))
    assert verification.subject == "Bitte bestätigen Sie Ihre E-Mail-Adresse"
    assert "http://testserver/verify-email?token=" in verification.text
    assert "innerhalb von 24 Stunden" in verification.text
    assert verification.html and "http://testserver/verify-email?token=" in verification.html

    german = only(mails(ctx, "alice@example.com"))
    assert german.subject == "Neue Registrierung wartet auf Freigabe"
    assert "Dora Diehl <dora@example.com>" in german.text
    assert "http://testserver/admin/users" in german.text
    english = only(mails(ctx, "ada@example.com"))
    assert english.subject == "New registration awaiting approval"
    assert german.html and 'lang="de"' in german.html
    assert english.html and 'lang="en"' in english.html
    assert mails(ctx, "old-admin@example.com") == []


def test_resend_verification_mails_a_new_link(ctx):
    users.register(ctx, "dora@example.com", PASSWORD, "Dora", "Diehl")
    before = last_id(ctx)
    users.resend_verification(ctx, "dora@example.com")
    users.resend_verification(ctx, "nobody@example.com")
    again = only(since(ctx, before))
    assert again.to == "dora@example.com"
    assert again.subject == "Bitte bestätigen Sie Ihre E-Mail-Adresse"


def test_password_reset_mails_a_link_to_known_addresses_only(ctx, bob):
    set_language(ctx, bob, "en")
    users.request_password_reset(ctx, "BOB@example.com")
    users.request_password_reset(ctx, "nobody@example.com")
    reset = only(mails(ctx))
    assert (reset.to, reset.subject) == ("bob@example.com", "Reset your password")
    assert "http://testserver/reset-password?token=" in reset.text
    assert "within 60 minutes" in reset.text


def test_approval_and_rejection_are_mailed_with_the_reason(ctx, alice):
    dora = make_user(ctx, "dora@example.com", first_name="Dora", approved=False)
    eve = make_user(ctx, "eve@example.com", first_name="Eve", approved=False)
    users.approve(ctx, alice, dora.id)
    users.reject(ctx, alice, eve.id, "Nur <b>Familie</b> & Freunde")
    approved = only(mails(ctx, "dora@example.com"))
    assert approved.subject == "Ihr Konto wurde freigeschaltet"
    assert "http://testserver/login" in approved.text
    rejected = only(mails(ctx, "eve@example.com"))
    assert rejected.subject == "Ihre Registrierung wurde abgelehnt"
    assert "Begründung: Nur <b>Familie</b> & Freunde" in rejected.text
    assert rejected.html and "Nur &lt;b&gt;Familie&lt;/b&gt; &amp; Freunde" in rejected.html


def test_a_rejection_without_reason_has_no_reason_line(ctx, alice):
    eve = make_user(ctx, "eve@example.com", first_name="Eve", approved=False)
    users.reject(ctx, alice, eve.id, "  ")
    assert "Begründung" not in only(mails(ctx, "eve@example.com")).text


# --- bookings -------------------------------------------------------------------------------


def test_a_member_booking_request_goes_to_the_administrators(ctx, alice, ada, bob, room):
    bookings.create_booking(ctx, bob, stay(ctx, room, notes="Wir kommen spät"))
    german = only(mails(ctx, "alice@example.com"))
    assert german.subject.startswith("Neue Buchungsanfrage: Bob Person, ")
    assert "Zimmer 1: 2 Personen" in german.text
    assert "Notizen: Wir kommen spät" in german.text
    assert "Status: Ausstehend" in german.text
    assert "(2 Nächte)" in german.text
    english = only(mails(ctx, "ada@example.com"))
    assert english.subject.startswith("New booking request: Bob Person, ")
    assert "Zimmer 1: 2 persons" in english.text
    assert mails(ctx, "bob@example.com") == []


def test_an_administrators_own_booking_goes_to_the_other_administrators(ctx, alice, ada, room):
    bookings.create_booking(ctx, alice, stay(ctx, room))
    assert mails(ctx, "alice@example.com") == []
    assert only(mails(ctx, "ada@example.com")).subject.startswith("New booking request: Alice")


@pytest.mark.parametrize(
    ("action", "subject"),
    [
        ("accept", "Ihre Buchung wurde angenommen: "),
        ("confirm", "Ihre Buchung wurde bestätigt: "),
        ("reject", "Ihre Buchung wurde abgelehnt: "),
    ],
)
def test_decisions_are_mailed_to_the_member(ctx, alice, bob, room, action, subject):
    booking = make_booking(ctx, bob, [(room, 2)])
    bookings.decide_booking(ctx, alice, booking.id, action)
    decided = only(mails(ctx, "bob@example.com"))
    start = booking.start_date.strftime("%d.%m.%Y")
    assert decided.subject.startswith(subject + start)
    assert f"http://testserver/bookings/{booking.id}" in decided.text
    assert mails(ctx, "alice@example.com") == []


def test_decisions_are_mailed_in_the_members_language(ctx, alice, bob, room):
    set_language(ctx, bob, "en")
    booking = make_booking(ctx, bob, [(room, 1)])
    bookings.decide_booking(ctx, alice, booking.id, "accept")
    mail = only(mails(ctx, "bob@example.com"))
    assert mail.subject.startswith("Your booking has been accepted: ")
    assert "Places: Zimmer 1: 1 person" in mail.text


def test_a_cancellation_by_an_administrator_is_mailed_to_the_member(ctx, alice, bob, room):
    booking = make_booking(ctx, bob, [(room, 2)], status=ACCEPTED)
    bookings.cancel_booking(ctx, alice, booking.id)
    mail = only(mails(ctx))
    assert mail.to == "bob@example.com"
    assert mail.subject.startswith("Ihre Buchung wurde storniert: ")
    assert "Alice Person hat Ihre Buchung storniert." in mail.text
    assert "Status: Storniert" in mail.text


def test_a_cancellation_by_the_member_is_mailed_to_the_administrators(ctx, alice, bob, room):
    booking = make_booking(ctx, bob, [(room, 2)], status=ACCEPTED)
    bookings.cancel_booking(ctx, bob, booking.id)
    mail = only(mails(ctx))
    assert mail.to == "alice@example.com"
    assert mail.subject.startswith("Buchung storniert: Bob Person, ")


def test_cancelling_a_rejected_booking_bothers_nobody(ctx, alice, bob, room):
    booking = make_booking(ctx, bob, [(room, 2)], status=REJECTED)
    bookings.cancel_booking(ctx, bob, booking.id)
    assert mails(ctx) == []


def test_an_administrators_edit_is_mailed_to_the_member(ctx, alice, bob, room):
    booking = make_booking(ctx, bob, [(room, 2)], start=ctx.today() + timedelta(days=10))
    bookings.update_booking(ctx, alice, booking.id, stay(ctx, room, persons=3, nights=3))
    mail = only(mails(ctx))
    assert mail.to == "bob@example.com"
    assert mail.subject.startswith("Ihre Buchung wurde geändert: ")
    assert "Alice Person hat Ihre Buchung geändert." in mail.text
    assert "Zimmer 1: 3 Personen" in mail.text
    assert "Vorher: " in mail.text and "Zimmer 1: 2" in mail.text


def test_a_members_change_of_dates_goes_to_the_administrators(ctx, alice, bob, room):
    booking = make_booking(
        ctx, bob, [(room, 2)], start=ctx.today() + timedelta(days=10), status=ACCEPTED
    )
    bookings.update_booking(ctx, bob, booking.id, stay(ctx, room, days=12))
    mail = only(mails(ctx))
    assert mail.to == "alice@example.com"
    assert mail.subject.startswith("Geänderte Buchung wartet auf Freigabe: Bob Person, ")
    assert "Status: Ausstehend" in mail.text


def test_a_members_notes_only_edit_sends_nothing(ctx, alice, bob, room):
    booking = make_booking(
        ctx, bob, [(room, 2)], start=ctx.today() + timedelta(days=10), status=ACCEPTED
    )
    bookings.update_booking(ctx, bob, booking.id, stay(ctx, room, notes="Hund kommt mit"))
    assert mails(ctx) == []


# --- transactions and escaping --------------------------------------------------------------


def test_a_refused_action_queues_no_mail(ctx, alice, bob, room):
    with pytest.raises(DomainError):
        bookings.create_booking(ctx, bob, stay(ctx, room, persons=5))  # room holds 4
    with pytest.raises(DomainError):
        users.register(ctx, "bob@example.com", PASSWORD, "Bob", "Again")
    assert mails(ctx) == []


def test_a_change_that_fails_after_queueing_its_mail_sends_nothing(
    ctx, alice, bob, room, monkeypatch
):
    """The mail is queued in the change's transaction: when that rolls back, so does the mail."""
    original = notifications.booking_requested

    def then_fail(*args, **kwargs):
        original(*args, **kwargs)
        raise RuntimeError("the database went away before the commit")

    monkeypatch.setattr(notifications, "booking_requested", then_fail)
    with pytest.raises(RuntimeError):
        bookings.create_booking(ctx, bob, stay(ctx, room))
    assert mails(ctx) == []
    assert bookings.list_bookings(ctx, alice, bookings.ALL) == []


def test_names_and_notes_are_escaped_in_html_mails(ctx, alice, room):
    mallory = make_user(ctx, "mallory@example.com", first_name="<script>alert(1)</script>")
    bookings.create_booking(ctx, mallory, stay(ctx, room, notes='<img src=x onerror="alert(2)">'))
    mail = only(mails(ctx, "alice@example.com"))
    assert mail.html is not None
    assert "<script>" not in mail.html and "<img" not in mail.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in mail.html
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in mail.html
    assert "<script>alert(1)</script>" in mail.text  # plain text shows the name as typed
    assert "<script>" in mail.subject


# --- over SMTP ------------------------------------------------------------------------------


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


def test_notifications_arrive_over_smtp_with_both_parts(ctx, alice, ada, bob, room, smtp, tmp_path):
    set_language(ctx, bob, "en")
    settings = make_settings(
        tmp_path,
        database_url=ctx.db.url,
        smtp_host="127.0.0.1",
        smtp_port=str(smtp.port),
        smtp_security="none",
        mail_from="haus@example.com",
    )
    from booking.domain.context import Context

    mailing = Context(db=ctx.db, settings=settings)
    created = bookings.create_booking(mailing, bob, stay(ctx, room))
    bookings.decide_booking(mailing, alice, uuid.UUID(created["id"]), "accept")
    sender = outbox.Sender(mailing)
    assert sender.run_once() == 3  # to alice and ada (request), to bob (accepted)

    to_alice = only_message(smtp.to("alice@example.com"))
    assert str(to_alice["Subject"]).startswith("Neue Buchungsanfrage: Bob Person, ")
    text, html = parts(to_alice)
    assert "Zimmer 1: 2 Personen" in text and "Zimmer 1: 2 Personen" in html
    assert 'lang="de"' in html

    to_ada = only_message(smtp.to("ada@example.com"))
    assert str(to_ada["Subject"]).startswith("New booking request: Bob Person, ")
    assert 'lang="en"' in parts(to_ada)[1]

    to_bob = only_message(smtp.to("bob@example.com"))
    assert str(to_bob["Subject"]).startswith("Your booking has been accepted: ")
    text, html = parts(to_bob)
    assert f"http://testserver/bookings/{created['id']}" in text
    assert f'href="http://testserver/bookings/{created["id"]}"' in html
    assert "haus@example.com" in str(to_bob["From"])


def only_message(found):
    assert len(found) == 1, [str(m["Subject"]) for m in found]
    return found[0]


def test_every_template_renders_in_both_languages():
    """A template that is missing or broken in one language fails here, not in the sender."""
    names = {p.stem for p in notifications.TEMPLATE_DIR.glob("de/*.txt")} - {"_booking"}
    assert names == {p.stem for p in notifications.TEMPLATE_DIR.glob("en/*.txt")} - {"_booking"}
    assert len(names) == 15
    for name in names:
        for language in ("de", "en"):
            assert (notifications.TEMPLATE_DIR / language / f"{name}.html").exists()
    assert notifications.language_of(None) == "de"
    assert notifications.language_of("fr") == "de"
