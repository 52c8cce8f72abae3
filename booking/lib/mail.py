"""Outgoing mail. Without an SMTP host the message is written to the log instead, so a fresh
install shows verification links in its output."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from email.message import EmailMessage

log = logging.getLogger("booking.mail")


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str
    password: str
    security: str  # none | starttls | tls
    from_email: str
    from_name: str = "Booking"


def build_message(
    config: SmtpConfig, to: str, subject: str, body: str, html: str | None = None
) -> EmailMessage:
    # Imported here: the email package is only needed when a mail goes out.
    from email.message import EmailMessage
    from email.utils import formataddr, make_msgid

    message = EmailMessage()
    message["From"] = formataddr((config.from_name, config.from_email))
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=config.from_email.rpartition("@")[2] or None)
    message.set_content(body)
    if html is not None:  # multipart/alternative: plain text first, HTML preferred by readers
        message.add_alternative(html, subtype="html")
    return message


def send(
    config: SmtpConfig,
    to: str,
    subject: str,
    body: str,
    html: str | None = None,
    timeout: float = 15,
) -> None:
    """Send one mail (plain text, plus an HTML alternative when given); raises smtplib/OSError
    on failure."""
    message = build_message(config, to, subject, body, html)
    if not config.host:
        log.info("mail (no SMTP host configured) to=%s subject=%r\n%s", to, subject, body)
        return
    import smtplib
    import ssl

    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if config.security == "tls":
        smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(config.host, config.port, timeout=timeout)
    with smtp:
        if config.security == "starttls":
            smtp.starttls(context=context)
        if config.username:
            smtp.login(config.username, config.password)
        smtp.send_message(message)
