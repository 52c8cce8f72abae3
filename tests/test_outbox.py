"""The mail outbox and its sender (DECISIONS 11, 17), against a real SMTP server (aiosmtpd).

The sender is driven step by step with an injected clock: no test sleeps through a backoff."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, select
from starlette.testclient import TestClient

from booking.app import create_app
from booking.config import Settings
from booking.db import Database
from booking.db.models import OutboxMail
from booking.domain import outbox
from booking.domain.context import Context
from booking.lib import mail
from booking.lib.schema import SecretStr
from booking.lib.timeutil import utcnow
from tests.conftest import make_settings
from tests.factories import PASSWORD
from tests.mails import mails
from tests.smtp import SmtpServer, parts

SMTP_PASSWORD = "smtp-secret-Passw0rd"


class Clock:
    """Starts a little ahead of the real clock, so mail queued just now is due."""

    def __init__(self) -> None:
        self.now = utcnow() + timedelta(seconds=5)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """Not running: each test starts it when the server should be up."""
    server = SmtpServer()
    yield server
    server.stop()


@pytest.fixture
def settings(tmp_path, database_url: str, smtp: SmtpServer) -> Settings:
    return make_settings(
        tmp_path,
        database_url=database_url,
        smtp_host="127.0.0.1",
        smtp_port=str(smtp.port),
        smtp_security="none",
        mail_from="haus@example.com",
    )


def queue(ctx: Context, to: str, subject: str, text: str = "Hallo", html: str | None = None):
    with ctx.db.write() as session:
        queued = outbox.enqueue(session, to, subject, text, html)
        session.flush()
        return queued.id


def row(ctx: Context, mail_id: int) -> OutboxMail:
    with ctx.db.read() as session:
        found = session.get(OutboxMail, mail_id)
    assert found is not None
    return found


# --- delivery -------------------------------------------------------------------------------


def test_it_delivers_a_queued_mail_with_text_and_html(ctx, smtp):
    smtp.start()
    mail_id = queue(ctx, "dora@example.com", "Grüße", "Hallo Dora", "<p>Hallo <b>Dora</b></p>")
    sender = outbox.Sender(ctx)
    assert sender.run_once() == 1
    [message] = smtp.received()
    assert (str(message["To"]), str(message["Subject"])) == ("dora@example.com", "Grüße")
    assert "haus@example.com" in str(message["From"])
    text, html = parts(message)
    assert text.strip() == "Hallo Dora"
    assert html.strip() == "<p>Hallo <b>Dora</b></p>"
    sent = row(ctx, mail_id)
    assert sent.sent_at is not None and sent.attempts == 1 and sent.last_error is None
    assert sender.run_once() == 0  # nothing is sent twice
    assert len(smtp.received()) == 1


def test_an_idle_pass_is_one_query(ctx, smtp):
    sender = outbox.Sender(ctx)
    sender.run_once()  # the first pass also purges old rows
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "INSERT")):
            statements.append(statement)

    event.listen(ctx.db.engine, "before_cursor_execute", count)
    try:
        for _ in range(10):
            assert sender.run_once() == 0
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", count)
    assert len(statements) == 10, statements


def test_a_rolled_back_change_queues_nothing(ctx, smtp):
    with pytest.raises(RuntimeError), ctx.db.write() as session:
        outbox.enqueue(session, "dora@example.com", "Nie gesendet", "x")
        raise RuntimeError("the change fails after queueing its mail")
    assert mails(ctx) == []
    smtp.start()
    assert outbox.Sender(ctx).run_once() == 0
    assert smtp.received() == []


def test_subjects_cannot_inject_headers(ctx, smtp):
    smtp.start()
    queue(ctx, "dora@example.com", "Hallo\r\nBcc: eve@example.com")
    outbox.Sender(ctx).run_once()
    [message] = smtp.received()
    assert message["Bcc"] is None
    assert smtp.recipients == [["dora@example.com"]]


# --- SMTP down, retries and backoff ---------------------------------------------------------


def test_retry_delays_double_from_30_seconds_up_to_an_hour():
    delays = [outbox.retry_delay(n).total_seconds() for n in range(1, 11)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    assert outbox.retry_delay(1000) == timedelta(hours=1)


def test_mail_waits_while_smtp_is_down_and_goes_out_when_it_is_back(ctx, smtp):
    clock = Clock()
    sender = outbox.Sender(ctx, clock=clock)
    mail_id = queue(ctx, "dora@example.com", "Bitte bestätigen")

    assert sender.run_once() == 1  # the server is down: the attempt fails
    failed = row(ctx, mail_id)
    assert failed.sent_at is None and failed.attempts == 1 and failed.claimed_until is None
    assert "Connection refused" in (failed.last_error or "") or "Errno" in (failed.last_error or "")
    assert failed.send_after == clock.now + timedelta(seconds=30)
    backlog = outbox.backlog(ctx, clock.now)
    assert (backlog.pending, backlog.failing) == (1, 1)
    assert backlog.last_error == failed.last_error

    assert sender.run_once() == 0  # not due yet
    clock.advance(31)
    assert sender.run_once() == 1  # still down: the second delay is a minute
    again = row(ctx, mail_id)
    assert again.attempts == 2 and again.send_after == clock.now + timedelta(seconds=60)

    for _ in range(10):  # a long outage: the delay stops growing at an hour
        clock.advance(3600)
        sender.run_once()
    capped = row(ctx, mail_id)
    assert capped.attempts == 12 and capped.send_after == clock.now + timedelta(hours=1)
    assert smtp.received() == []

    smtp.start()  # the server is back
    clock.advance(3600)
    assert sender.run_once() == 1
    [message] = smtp.received()
    assert str(message["Subject"]) == "Bitte bestätigen"
    delivered = row(ctx, mail_id)
    assert delivered.sent_at == clock.now and delivered.attempts == 13
    assert delivered.last_error is None
    assert outbox.backlog(ctx, clock.now).pending == 0
    assert (sender.sent, sender.failed) == (1, 12)


def test_the_stored_error_never_holds_the_smtp_password(ctx):
    clock = Clock()

    def leaky(config: mail.SmtpConfig, to: str, subject: str, text: str, html: str | None):
        raise RuntimeError(f"535 login failed for {config.username}:{config.password}")

    settings = ctx.settings.model_copy(
        update={"smtp_username": "mailer", "smtp_password": SecretStr(SMTP_PASSWORD)}
    )
    secret_ctx = Context(db=ctx.db, settings=settings)
    mail_id = queue(ctx, "dora@example.com", "x")
    outbox.Sender(secret_ctx, clock=clock, transport=leaky).run_once()
    error = row(ctx, mail_id).last_error or ""
    assert "535 login failed for mailer:********" in error
    assert SMTP_PASSWORD not in error


def test_a_lease_of_a_crashed_sender_expires(ctx, smtp):
    """A sender that died after claiming leaves a lease; after it expires the mail goes out."""
    smtp.start()
    clock = Clock()
    mail_id = queue(ctx, "dora@example.com", "x")
    assert outbox.claim(ctx, mail_id, clock.now) is not None  # then the process "dies"
    sender = outbox.Sender(ctx, clock=clock)
    assert sender.run_once() == 0
    clock.advance(outbox.LEASE.total_seconds() + 1)
    assert sender.run_once() == 1
    assert len(smtp.received()) == 1


def test_the_backlog_reports_pending_age_and_failures(ctx):
    clock = Clock()
    assert outbox.backlog(ctx, clock.now) == outbox.Backlog(0, None, 0, None)
    queue(ctx, "a@example.com", "a")
    queue(ctx, "b@example.com", "b")
    clock.advance(90)
    backlog = outbox.backlog(ctx, clock.now)
    assert backlog.pending == 2 and backlog.failing == 0
    assert backlog.oldest_pending_seconds is not None and backlog.oldest_pending_seconds >= 89
    assert set(backlog.as_dict()) == {"pending", "oldestPendingSeconds", "failing", "lastError"}


def test_sent_mail_is_purged_after_a_week(ctx, smtp):
    smtp.start()
    clock = Clock()
    queue(ctx, "a@example.com", "a")
    sender = outbox.Sender(ctx, clock=clock)
    sender.run_once()
    assert len(mails(ctx)) == 1
    clock.advance(outbox.KEEP_SENT.total_seconds() + outbox.PURGE_EVERY.total_seconds() + 1)
    sender.run_once()
    assert mails(ctx) == []


def test_without_an_smtp_host_mail_is_written_to_the_log(ctx, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="booking.mail")
    local = Context(db=ctx.db, settings=make_settings(tmp_path, database_url=ctx.db.url))
    mail_id = queue(local, "dora@example.com", "Bitte bestätigen", "Link: http://x/verify")
    assert outbox.Sender(local).run_once() == 1
    [record] = [r for r in caplog.records if r.name == "booking.mail"]
    assert "to=dora@example.com" in record.getMessage()
    assert "http://x/verify" in record.getMessage()
    assert row(local, mail_id).sent_at is not None


# --- several senders ------------------------------------------------------------------------


def test_two_senders_racing_never_send_a_mail_twice(ctx, smtp):
    """Two senders with their own engines (as two processes would have) claim the same rows."""
    smtp.start()
    count = 30
    with ctx.db.write() as session:
        for n in range(count):
            outbox.enqueue(session, f"m{n}@example.com", f"mail {n}", "x")

    contexts = [Context(db=Database(ctx.db.url), settings=ctx.settings) for _ in range(2)]
    senders = [outbox.Sender(c, batch=10) for c in contexts]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def drain(sender: outbox.Sender) -> None:
        try:
            barrier.wait()
            while sender.run_once() or outbox.due_ids(sender.ctx, utcnow()):
                pass
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(s,)) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for c in contexts:
        c.db.dispose()
    assert not errors, errors
    subjects = Counter(str(m["Subject"]) for m in smtp.received())
    assert sorted(subjects) == sorted(f"mail {n}" for n in range(count))
    assert max(subjects.values()) == 1, [s for s, n in subjects.items() if n > 1]
    assert sum(s.sent for s in senders) == count
    assert all(s.sent > 0 for s in senders), [s.sent for s in senders]
    assert sum(s.lost for s in senders) > 0  # they really did compete for rows
    with ctx.db.read() as session:
        assert session.scalar(select(OutboxMail.id).where(OutboxMail.sent_at.is_(None))) is None


# --- in the app and as `booking worker` -----------------------------------------------------


def test_a_request_never_waits_for_smtp(client, ctx, alice, smtp):
    """No SMTP server runs: its port is held by a listener that never answers, so a request
    that talked to SMTP would hang until smtplib's 15 s timeout. Registering answers at once;
    the mails wait in the outbox and go out when a server runs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as hole:
        hole.bind(("127.0.0.1", smtp.port))
        hole.listen(16)
        hole.setblocking(False)
        response = client.post(
            "/api/auth/register",
            json={
                "email": "dora@example.com",
                "password": PASSWORD,
                "firstName": "D",
                "lastName": "X",
            },
        )
        with pytest.raises(BlockingIOError):
            hole.accept()  # nobody knocked: the request never tried to reach SMTP
    assert response.status_code == 200
    queued = mails(ctx)
    assert {m.to for m in queued} == {"dora@example.com", "alice@example.com"}
    assert not any(m.sent for m in queued)
    smtp.start()
    assert outbox.Sender(ctx).run_once() == 2
    assert sorted(str(m["To"]) for m in smtp.received()) == [
        "alice@example.com",
        "dora@example.com",
    ]


def test_the_app_sends_queued_mail_in_the_background(ctx, smtp, alice):
    smtp.start()
    settings = ctx.settings.model_copy(update={"mail_sender": True, "mail_poll_seconds": 30.0})
    app_ctx = Context(db=ctx.db, settings=settings)
    with TestClient(create_app(settings, app_ctx)) as client:
        client.post("/api/auth/forgot-password", json={"email": "alice@example.com"})
        # woken by the commit: the 30 s poll would not deliver within the wait
        [message] = smtp.wait_for(1, timeout=10)
        assert str(message["To"]) == "alice@example.com"
        assert any(t.name == "booking-mail-sender" for t in threading.enumerate())
    assert not any(t.name == "booking-mail-sender" for t in threading.enumerate())


def test_the_sender_loop_stops_when_asked(ctx, smtp):
    smtp.start()
    sender = outbox.Sender(ctx, poll_seconds=0.05)
    sender.start()
    try:
        queue(ctx, "dora@example.com", "x")
        smtp.wait_for(1, timeout=5)
    finally:
        sender.stop()
    assert sender._thread is None


def test_booking_worker_once_sends_due_mail(ctx, smtp, monkeypatch, tmp_path, capsys):
    from booking.__main__ import main

    smtp.start()
    queue(ctx, "dora@example.com", "Vom Worker")
    for key in list(os.environ):
        if key.startswith("BOOKING_") and not key.startswith("BOOKING_TEST_"):
            monkeypatch.delenv(key)
    for key, value in {
        "BOOKING_DATABASE_URL": ctx.db.url,
        "BOOKING_SECRET_KEY": "test-secret-key-0123456789-abcdefghijklmnop",
        "BOOKING_DATA_DIR": str(tmp_path),
        "BOOKING_SMTP_HOST": "127.0.0.1",
        "BOOKING_SMTP_PORT": str(smtp.port),
        "BOOKING_SMTP_SECURITY": "none",
    }.items():
        monkeypatch.setenv(key, value)
    assert main(["worker", "--once"]) == 0
    assert "1 E-Mail(s) verarbeitet." in capsys.readouterr().out
    assert [str(m["Subject"]) for m in smtp.received()] == ["Vom Worker"]
