"""The mail outbox and its sender (DECISIONS 11, 17).

Requests never talk to SMTP. Domain code calls :func:`enqueue` inside the write transaction of
the change that causes the mail, so a rolled-back change sends nothing and a committed one
never loses its mail. A :class:`Sender` (a thread in every app process, or ``booking worker``)
delivers due rows:

* A row is claimed with a compare-and-set update (``claimed_until`` is a lease of
  :data:`LEASE`); only the process whose update changed exactly one row sends it, so any number
  of senders in any number of processes can run against one database.
* Success sets ``sent_at``. Failure increments ``attempts``, keeps the error (never the SMTP
  password) in ``last_error`` and moves ``send_after`` by an exponential backoff: 30 s, 1 min,
  2 min, ... capped at one hour. A mail is never given up: when the SMTP server comes back,
  everything pending goes out. :func:`backlog` shows what is waiting and failing.
* Delivery is at least once: a process that dies between SMTP's "250 OK" and marking the row
  sent leaves a lease that expires, and the mail is sent again. Nothing else sends twice.
* Sent rows are deleted after :data:`KEEP_SENT` (their links hold tokens, long expired by then).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import case, delete, event, func, or_, select, update

from booking.db.models import OutboxMail
from booking.lib import mail
from booking.lib.timeutil import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from booking.domain.context import Context

log = logging.getLogger("booking.outbox")

LEASE = timedelta(minutes=2)  # longer than one SMTP conversation (timeout 15 s per step)
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=1)
BATCH = 20
KEEP_SENT = timedelta(days=7)
PURGE_EVERY = timedelta(hours=1)
MAX_ERROR_CHARS = 500

Transport = Callable[[mail.SmtpConfig, str, str, str, str | None], None]

# Wake-up events of the senders running in this process; set after a commit that queued mail,
# so a mail leaves within milliseconds instead of at the next poll.
_senders: weakref.WeakSet[Sender] = weakref.WeakSet()


def enqueue(
    session: Session,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    *,
    now: datetime | None = None,
) -> OutboxMail:
    """Queue a mail in ``session``'s transaction; it is sent only if that transaction commits."""
    now = now or utcnow()
    row = OutboxMail(
        to_address=to,
        subject=" ".join(subject.split())[:300],  # no line breaks: no header injection
        body_text=text,
        body_html=html,
        created_at=now,
        send_after=now,
        attempts=0,
    )
    session.add(row)
    if not session.info.get("outbox_wake"):
        session.info["outbox_wake"] = True
        event.listen(session, "after_commit", _wake_local_senders, once=True)
    return row


def _wake_local_senders(session: Session) -> None:
    session.info.pop("outbox_wake", None)
    for sender in list(_senders):
        sender.wake()


def retry_delay(attempts: int) -> timedelta:
    """Backoff after the ``attempts``-th failure: 30 s, 1 min, 2 min, ... at most one hour."""
    if attempts > 20:  # 2**20 * 30 s is far past the cap; avoid huge numbers
        return MAX_RETRY
    delay: timedelta = FIRST_RETRY * (2 ** max(attempts - 1, 0))
    return min(delay, MAX_RETRY)


def _describe_error(exc: BaseException, config: mail.SmtpConfig) -> str:
    text = f"{type(exc).__name__}: {exc}"
    for secret in (config.password,):
        if secret:
            text = text.replace(secret, "********")
    return text[:MAX_ERROR_CHARS]


def _send(config: mail.SmtpConfig, to: str, subject: str, text: str, html: str | None) -> None:
    mail.send(config, to, subject, text, html)


def due_ids(ctx: Context, now: datetime, limit: int = BATCH) -> list[int]:
    """Rows that may be claimed now: one indexed query, the whole cost of an idle poll."""
    query = (
        select(OutboxMail.id)
        .where(
            OutboxMail.sent_at.is_(None),
            OutboxMail.send_after <= now,
            or_(OutboxMail.claimed_until.is_(None), OutboxMail.claimed_until < now),
        )
        .order_by(OutboxMail.send_after, OutboxMail.id)
        .limit(limit)
    )
    with ctx.db.connect() as connection:
        return list(connection.scalars(query))


def claim(ctx: Context, mail_id: int, now: datetime) -> OutboxMail | None:
    """Take the lease on one row; None when another sender was faster or it is already sent."""
    with ctx.db.write() as session:
        result = session.execute(
            update(OutboxMail)
            .where(
                OutboxMail.id == mail_id,
                OutboxMail.sent_at.is_(None),
                or_(OutboxMail.claimed_until.is_(None), OutboxMail.claimed_until < now),
            )
            .values(claimed_until=now + LEASE)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return session.get(OutboxMail, mail_id)


def _mark_sent(ctx: Context, mail_id: int, now: datetime) -> None:
    with ctx.db.write() as session:
        session.execute(
            update(OutboxMail)
            .where(OutboxMail.id == mail_id)
            .values(
                sent_at=now,
                claimed_until=None,
                attempts=OutboxMail.attempts + 1,
                last_error=None,
            )
            .execution_options(synchronize_session=False)
        )


def _mark_failed(ctx: Context, row: OutboxMail, now: datetime, error: str) -> None:
    attempts = row.attempts + 1
    with ctx.db.write() as session:
        session.execute(
            update(OutboxMail)
            .where(OutboxMail.id == row.id, OutboxMail.sent_at.is_(None))
            .values(
                attempts=attempts,
                last_error=error,
                send_after=now + retry_delay(attempts),
                claimed_until=None,
            )
            .execution_options(synchronize_session=False)
        )


def purge_sent(ctx: Context, now: datetime, keep: timedelta = KEEP_SENT) -> int:
    with ctx.db.write() as session:
        result = session.execute(
            delete(OutboxMail)
            .where(OutboxMail.sent_at.is_not(None), OutboxMail.sent_at < now - keep)
            .execution_options(synchronize_session=False)
        )
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Backlog:
    """What waits in the outbox, for readiness checks and metrics."""

    pending: int  # not sent yet (due or waiting for a retry)
    oldest_pending_seconds: float | None  # age of the oldest unsent mail
    failing: int  # unsent mails that failed at least once
    last_error: str | None  # the error of the most recently failed unsent mail

    def as_dict(self) -> dict[str, object]:
        return {
            "pending": self.pending,
            "oldestPendingSeconds": self.oldest_pending_seconds,
            "failing": self.failing,
            "lastError": self.last_error,
        }


def backlog(ctx: Context, now: datetime | None = None) -> Backlog:
    now = now or utcnow()
    unsent = OutboxMail.sent_at.is_(None)
    with ctx.db.connect() as connection:
        pending, oldest, failing = connection.execute(
            select(
                func.count(OutboxMail.id),
                func.min(OutboxMail.created_at),
                func.coalesce(func.sum(case((OutboxMail.attempts > 0, 1), else_=0)), 0),
            ).where(unsent)
        ).one()
        last_error = None
        if failing:
            last_error = connection.scalar(
                select(OutboxMail.last_error)
                .where(unsent, OutboxMail.attempts > 0)
                .order_by(OutboxMail.send_after.desc(), OutboxMail.id.desc())
                .limit(1)
            )
    age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else None
    return Backlog(int(pending), age, int(failing), last_error)


class Sender:
    """Delivers due mail. :meth:`run_once` is one pass (tests drive it step by step with their
    own clock); :meth:`start` runs passes in a daemon thread until :meth:`stop`."""

    def __init__(
        self,
        ctx: Context,
        *,
        poll_seconds: float = 2.0,
        clock: Callable[[], datetime] = utcnow,
        transport: Transport = _send,
        batch: int = BATCH,
    ) -> None:
        self.ctx = ctx
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.transport = transport
        self.batch = batch
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_purge: datetime | None = None
        self._failing_loop = False
        # Counters since start: delivered, failed attempts, claims another sender won.
        self.sent = self.failed = self.lost = 0

    # --- one pass ---------------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim and send the due mails of one batch; returns how many were attempted."""
        ids = due_ids(self.ctx, self.clock(), self.batch)
        config: mail.SmtpConfig | None = None
        attempted = 0
        for mail_id in ids:
            if self._stopping.is_set():
                break
            row = claim(self.ctx, mail_id, self.clock())
            if row is None:
                self.lost += 1
                continue
            if config is None:  # read (and decrypt) the SMTP settings only when there is work
                from booking.domain.email_settings import smtp_config

                config = smtp_config(self.ctx)
            attempted += 1
            self._deliver(row, config)
        self._maybe_purge()
        return attempted

    def _deliver(self, row: OutboxMail, config: mail.SmtpConfig) -> None:
        try:
            self.transport(config, row.to_address, row.subject, row.body_text, row.body_html)
        except Exception as exc:  # any SMTP or socket error: retry later
            error = _describe_error(exc, config)
            _mark_failed(self.ctx, row, self.clock(), error)
            self.failed += 1
            log.warning(
                "mail %s to %s failed (attempt %s): %s",
                row.id,
                row.to_address,
                row.attempts + 1,
                error,
            )
            return
        _mark_sent(self.ctx, row.id, self.clock())
        self.sent += 1

    def _maybe_purge(self) -> None:
        now = self.clock()
        if self._last_purge is None or now - self._last_purge >= PURGE_EVERY:
            self._last_purge = now
            purge_sent(self.ctx, now)

    # --- the loop ---------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def run(self) -> None:
        """Passes until :meth:`stop`; waits ``poll_seconds`` (or until woken) when idle."""
        _senders.add(self)
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                attempted = self._pass()
                if attempted < self.batch:  # a full batch: more may be due, go on at once
                    self._wake.wait(self.poll_seconds)
        finally:
            _senders.discard(self)

    def _pass(self) -> int:
        try:
            attempted = self.run_once()
        except Exception:  # database gone for a moment: log once per outage, keep polling
            if not self._failing_loop:
                log.exception("mail sender pass failed; retrying every %ss", self.poll_seconds)
            self._failing_loop = True
            return 0
        if self._failing_loop:
            log.info("mail sender recovered")
            self._failing_loop = False
        return attempted

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        _senders.add(self)
        self._thread = threading.Thread(target=self.run, name="booking-mail-sender", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """End the loop after the mail in flight (safe to call from a signal handler)."""
        self._stopping.set()
        self._wake.set()

    def stop(self, timeout: float = 20.0) -> None:
        """Ask the loop to end and wait for the mail in flight (SMTP times out after 15 s)."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
