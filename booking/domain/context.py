"""What every domain function needs besides its input: the database, the settings, a clock and
a way to queue mail. Built once by the app (or the CLI, or a test) and passed in."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from booking.config import Settings
from booking.db import Database
from booking.lib.timeutil import today_in


@dataclass
class Context:
    db: Database
    settings: Settings
    # Tests replace the clock to check rules at the edges of "today".
    clock: Callable[[], date] | None = None

    def today(self) -> date:
        return self.clock() if self.clock else today_in(self.settings.zone)

    def derived_key(self, purpose: str) -> bytes:
        """A separate key per purpose, so a token of one kind never validates as another."""
        return hmac.new(self.settings.secret_bytes(), purpose.encode(), hashlib.sha256).digest()

    def send_mail(self, to: str, subject: str, body: str, html: str | None = None) -> None:
        """Queue a mail in a transaction of its own; the outbox sender delivers it.

        Prefer ``outbox.enqueue(session, ...)`` (or a function of ``notifications``) inside the
        write transaction of the change that causes the mail: then a rolled-back change sends
        nothing and a committed one never loses its mail."""
        from booking.domain import outbox

        with self.db.write() as session:
            outbox.enqueue(session, to, subject, body, html)
