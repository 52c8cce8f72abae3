"""Argon2id (booking/lib/passwords.py): the parameters, rehash on login when they change, the
dummy hash for unknown accounts, and at most two hashes at once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher, extract_parameters
from sqlalchemy import select

from booking.db.models import User
from booking.domain import users
from booking.lib import passwords
from tests import factories
from tests.factories import PASSWORD


def test_parameters_are_at_least_owasps_minimum():
    current = passwords.PARAMETERS
    assert current.type.name == "ID"
    assert current.memory_cost >= 19 * 1024 and current.time_cost >= 2
    assert current.parallelism == 1
    assert extract_parameters(passwords.hash_password("x" * 12)) == current


def test_the_dummy_hash_costs_the_same_as_a_real_one():
    # An unknown account is verified against it: other parameters would time differently.
    assert extract_parameters(passwords._DUMMY_HASH) == passwords.PARAMETERS


def test_a_hash_with_old_parameters_is_upgraded_at_login(ctx):
    user = factories.make_user(ctx, "old@example.com")
    old = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    with ctx.db.write() as session:
        row = session.get(User, user.id)
        assert row is not None
        row.password_hash = old
    assert passwords.needs_rehash(old)
    users.authenticate(ctx, "old@example.com", PASSWORD)
    with ctx.db.read() as session:
        stored = session.scalar(select(User.password_hash).where(User.id == user.id))
    assert stored is not None and stored != old
    assert extract_parameters(stored) == passwords.PARAMETERS
    assert passwords.verify_password(stored, PASSWORD)
    users.authenticate(ctx, "old@example.com", PASSWORD)  # and the new hash is kept
    with ctx.db.read() as session:
        assert session.scalar(select(User.password_hash).where(User.id == user.id)) == stored


class SlowHasher:
    """Stands in for the Argon2 hasher and records how many calls overlap."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def _work(self) -> None:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        with self.lock:
            self.running -= 1

    def hash(self, password: str) -> str:
        self._work()
        return "$argon2id$fake"

    def verify(self, password_hash: str, password: str) -> bool:
        self._work()
        return True


def test_at_most_two_hashes_run_at_once(monkeypatch):
    fake = SlowHasher()
    monkeypatch.setattr(passwords, "_hasher", fake)
    barrier = threading.Barrier(8)

    def work(number: int) -> None:
        barrier.wait()
        if number % 2:
            passwords.hash_password("p")
        else:
            passwords.verify_password(None, "p")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    assert fake.most == 2
