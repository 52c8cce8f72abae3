"""Throttling of logins, registrations, password resets and e-mail verification.

Every action counts per account (the e-mail address typed) and per client address, in the
``throttles`` table, so the limits hold across restarts and across app processes
(DECISIONS 16, 17). Rules (docs/security.md):

- A *series* of counted attempts ends when ``window`` seconds pass without one (counted from
  the end of the last block), then counting starts again at zero.
- When a key reaches its limit it is blocked for ``base_delay`` seconds; every further counted
  attempt in the same series doubles the block, up to ``max_delay``.
- While a key is blocked the action is refused with :class:`Throttled` (HTTP 429 with
  ``Retry-After``); refused attempts are not counted, so waiting always helps.

Logins, verification links and reset links count *failures* (``check`` before, ``record`` after
a failure; a successful login ``clear``s the account's series). Actions that send mail or create
accounts count *every* attempt (``attempt``: check and count in one transaction).

Counting is a row lock, not a read-modify-write race: ``INSERT ... ON CONFLICT DO NOTHING`` makes
sure the row exists, ``SELECT ... FOR UPDATE`` (PostgreSQL) or the write lock taken by
``BEGIN IMMEDIATE`` (SQLite) serialises the writers of one key.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from booking.db.models import Throttle
from booking.domain.errors import Throttled
from booking.lib.timeutil import utcnow

if TYPE_CHECKING:
    from booking.config import Settings
    from booking.domain.context import Context

LOGIN = "login"
REGISTER = "register"
RESET = "reset"  # password reset requests and reset links
VERIFY = "verify"  # verification links and "send the mail again"
# Wrong two-factor codes: a series of its own (a correct password must not end it, or knowing
# the password would allow unlimited code guessing), with the limits of LOGIN.
TWO_FACTOR = "two_factor"
ACTIONS = (LOGIN, REGISTER, RESET, VERIFY, TWO_FACTOR)
LIMITS_OF = {TWO_FACTOR: LOGIN}
# Rows of series that ended long ago are deleted now and then by writers.
FORGET_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Rule:
    account_limit: int
    address_limit: int
    window: timedelta
    base_delay: int
    max_delay: int

    def delay(self, count: int, limit: int) -> timedelta:
        """The block after the ``count``-th counted attempt (``count >= limit``)."""
        doublings = min(count - limit, 30)
        return timedelta(seconds=min(self.base_delay * 2**doublings, self.max_delay))


def rule(settings: Settings, action: str) -> Rule:
    limits = LIMITS_OF.get(action, action)
    return Rule(
        account_limit=getattr(settings, f"throttle_{limits}_account"),
        address_limit=getattr(settings, f"throttle_{limits}_address"),
        window=timedelta(seconds=getattr(settings, f"throttle_{limits}_window")),
        base_delay=settings.throttle_base_delay,
        max_delay=settings.throttle_max_delay,
    )


def account_key(action: str, account: str) -> str:
    account = account.strip().lower()
    if len(account) > 200:  # typed input can be long; the key column holds 300 characters
        account = "sha256:" + hashlib.sha256(account.encode()).hexdigest()
    return f"{action}:account:{account}"


def address_key(action: str, address: str) -> str:
    return f"{action}:ip:{address[:64]}"


def _keys(action: str, account: str | None, address: str | None, r: Rule) -> list[tuple[str, int]]:
    keys = []
    if account and account.strip():
        keys.append((account_key(action, account), r.account_limit))
    if address:
        keys.append((address_key(action, address), r.address_limit))
    return keys


def _retry_after(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))


def check(ctx: Context, action: str, account: str | None, address: str | None) -> None:
    """Raise :class:`Throttled` if the account or the address is blocked for ``action``."""
    if not ctx.settings.throttle_enabled:
        return
    keys = [key for key, _ in _keys(action, account, address, rule(ctx.settings, action))]
    if not keys:
        return
    now = utcnow()
    with ctx.db.connect() as connection:
        blocks = connection.execute(
            select(Throttle.blocked_until).where(
                Throttle.key.in_(keys), Throttle.blocked_until > now
            )
        ).scalars()
        until = max((value for value in blocks if value is not None), default=None)
    if until is not None:
        raise Throttled(_retry_after(until, now))


def record(ctx: Context, action: str, account: str | None, address: str | None) -> None:
    """Count one failed attempt for the account and the address (own transaction)."""
    if not ctx.settings.throttle_enabled:
        return
    with ctx.db.write() as session:
        record_in(session, ctx.settings, action, account, address)


def record_in(
    session: Session, settings: Settings, action: str, account: str | None, address: str | None
) -> None:
    """Count one attempt inside the caller's write transaction."""
    if not settings.throttle_enabled:
        return
    r = rule(settings, action)
    now = utcnow()
    for key, limit in _keys(action, account, address, r):
        _bump(_locked(session, key, now), limit, r, now)
    session.flush()
    _forget_old(session, now)


def attempt(ctx: Context, action: str, account: str | None, address: str | None) -> None:
    """Check and count one attempt in a single transaction: the attempt that reaches a limit
    is still allowed, the next one is refused until the block ends."""
    if not ctx.settings.throttle_enabled:
        return
    r = rule(ctx.settings, action)
    with ctx.db.write() as session:
        now = utcnow()
        keys = _keys(action, account, address, r)
        rows = [(_locked(session, key, now), limit) for key, limit in keys]
        blocked = [row.blocked_until for row, _ in rows if row.blocked_until]
        until = max((value for value in blocked if value > now), default=None)
        if until is not None:
            raise Throttled(_retry_after(until, now))
        for row, limit in rows:
            _bump(row, limit, r, now)
        session.flush()
        _forget_old(session, now)


def clear(session: Session, action: str, account: str) -> None:
    """End the account's series (a successful login, a password reset)."""
    session.execute(delete(Throttle).where(Throttle.key == account_key(action, account)))


def _locked(session: Session, key: str, now: datetime) -> Throttle:
    """The row of ``key``, created if missing and locked until the transaction ends."""
    # The dialect's own INSERT ... ON CONFLICT, imported for the database in use only: the
    # PostgreSQL dialect package costs 1.5 MB of RSS in a SQLite install.
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql as dialect
    else:
        from sqlalchemy.dialects import sqlite as dialect  # type: ignore[no-redef]
    session.execute(
        dialect.insert(Throttle)
        .values(key=key, failures=0, window_started_at=now, blocked_until=None, updated_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return session.execute(
        select(Throttle)
        .where(Throttle.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def _bump(row: Throttle, limit: int, r: Rule, now: datetime) -> None:
    quiet_since = max(row.updated_at, row.blocked_until or row.updated_at)
    if row.failures and now >= quiet_since + r.window:  # the series ended: start again
        row.failures = 0
        row.window_started_at = now
        row.blocked_until = None
    row.failures += 1
    row.updated_at = now
    if row.failures >= limit:
        row.blocked_until = now + r.delay(row.failures, limit)


def _forget_old(session: Session, now: datetime) -> None:
    if secrets.randbelow(20):
        return
    cutoff = now - FORGET_AFTER
    session.execute(
        delete(Throttle).where(
            Throttle.updated_at < cutoff,
            or_(Throttle.blocked_until.is_(None), Throttle.blocked_until < cutoff),
        )
    )


def state(ctx: Context, key: str) -> Throttle | None:
    """The stored row of one key (for tests and the admin's curiosity)."""
    with ctx.db.read() as session:
        return session.get(Throttle, key)
