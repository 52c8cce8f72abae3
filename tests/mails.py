"""Read the mail the app queued: domain actions write to the outbox (``mail_outbox``) in their own
transaction, so tests read the rows instead of waiting for the sender.

    mails(client)                         # every queued mail, oldest first
    token(client, "/verify-email", to=x)  # the token of the last link to that path
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from booking.db.models import OutboxMail
from booking.domain.context import Context


@dataclass(frozen=True)
class Mail:
    id: int
    to: str
    subject: str
    text: str
    html: str | None
    sent: bool


def context_of(source: Any) -> Context:
    """A Context, a TestClient of the app, or anything with ``.ctx``."""
    if isinstance(source, Context):
        return source
    app = getattr(source, "app", None)
    if app is not None and hasattr(app, "state"):
        return app.state.ctx  # type: ignore[no-any-return]
    return source.ctx  # type: ignore[no-any-return]


def mails(source: Any, to: str | None = None) -> list[Mail]:
    query = select(OutboxMail).order_by(OutboxMail.id)
    if to is not None:
        query = query.where(OutboxMail.to_address == to)
    with context_of(source).db.read() as session:
        rows = session.scalars(query).all()
    return [
        Mail(r.id, r.to_address, r.subject, r.body_text, r.body_html, r.sent_at is not None)
        for r in rows
    ]


def tokens(source: Any, path: str, to: str | None = None) -> list[str]:
    pattern = re.compile(rf"{re.escape(path)}\?token=([\w-]+)")
    return [t for mail in mails(source, to) for t in pattern.findall(mail.text)]


def token(source: Any, path: str, to: str | None = None) -> str:
    found = tokens(source, path, to)
    assert found, f"no mail with a {path} link" + (f" to {to}" if to else "")
    return found[-1]


class Outbox:
    """The ``mail_log`` fixture of the page tests: the outbox of one test's database."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def mails(self, to: str | None = None) -> list[Mail]:
        return mails(self.ctx, to)

    def to(self, address: str) -> list[Mail]:
        return mails(self.ctx, address)

    def token(self, path: str, to: str | None = None) -> str:
        return token(self.ctx, path, to)
