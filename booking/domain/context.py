"""What every domain function needs besides its input: the database, the settings, a clock and
the mail sender. Built once by the app (or the CLI, or a test) and passed in."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from booking.config import Settings
from booking.db import Database
from booking.lib import mail
from booking.lib.timeutil import today_in

log = logging.getLogger("booking.domain")


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

    def send_mail(self, to: str, subject: str, body: str) -> None:
        """Send now; a failing SMTP server is logged and never fails the caller's request."""
        from booking.domain.email_settings import smtp_config

        try:
            mail.send(smtp_config(self), to, subject, body)
        except Exception:
            log.exception("sending mail to %s failed", to)
