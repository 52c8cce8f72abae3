"""Argon2id (booking/lib/passwords.py): the parameters, rehash on login when they change, the
dummy hash for unknown accounts, and at most two hashes at once; the common-password list
(booking/data), read lazily."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from argon2 import PasswordHasher, extract_parameters
from sqlalchemy import select

from booking.db.models import User
from booking.domain import users
from booking.domain.errors import ValidationFailed
from booking.lib import passwords
from booking.web.i18n import Translator
from tests import factories
from tests.factories import PASSWORD
from tests.live import ROOT
from tests.web.html import parse
from tests.web.test_account_pages import field_errors, submit


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


# --- the common-password list (booking/data, sources in booking/data/README.md) ---------------

COMMON = "Dieses Passwort ist zu verbreitet und leicht zu erraten. Bitte wählen Sie ein anderes."
# From zxcvbn's list, not from our own short one: the large list is really read.
ZXCVBN_ONLY = ["corvette", "steelers", "Maverick", "BIGDADDY", "1qaz2wsx3edc4rfv", "blink182"]


def _refusal(password: str) -> str | None:
    try:
        users.check_password_rules(password)
    except ValidationFailed as exc:
        return exc.errors["Password"][0]
    return None


@pytest.mark.parametrize("password", ZXCVBN_ONLY)
def test_well_known_passwords_are_refused_in_any_case(password):
    own = (ROOT / "booking" / "data" / "common-passwords.txt").read_text(encoding="utf-8")
    assert password.lower() not in own.split()
    assert _refusal(password) == COMMON
    assert Translator("en").gettext(COMMON) == (
        "This password is too common and easy to guess. Please choose another one."
    )


@pytest.mark.parametrize("password", ["passwort1", "ferienhaus", "12345678", "password"])
def test_our_own_list_still_counts(password):
    assert _refusal(password) == COMMON


@pytest.mark.parametrize("password", ["q7#Lm2x!", "Sommerhaus am See 2026", "kX9-vv2p-Rt4"])
def test_normal_passwords_pass(password):
    assert _refusal(password) is None


def test_the_list_is_large_and_only_holds_passwords_of_eight_or_more():
    data = ROOT / "booking" / "data" / "common-passwords-zxcvbn.txt"
    entries = [line for line in data.read_text(encoding="utf-8").splitlines() if line[:1] != "#"]
    assert len(entries) > 10_000 and len(set(entries)) == len(entries)
    assert min(map(len, entries)) >= users.MIN_PASSWORD_LENGTH
    assert "MIT" in (ROOT / "booking" / "data" / "README.md").read_text(encoding="utf-8")
    assert len(users._common_passwords()) > 10_000


def test_a_common_password_is_refused_on_the_english_registration_page(client):
    client.headers["Accept-Language"] = "en"
    data = {
        "first_name": "Eva",
        "last_name": "Muster",
        "email": "eva-common@example.com",
        "password": "Corvette",
        "password_confirm": "Corvette",
    }
    response = submit(client, "/register", "/register", data)
    assert response.status_code == 400
    assert field_errors(parse(response.text))["password"] == (
        "This password is too common and easy to guess. Please choose another one."
    )


def test_the_list_is_loaded_only_when_a_password_is_checked():
    # A fresh interpreter: importing the whole app (and serving pages) must not read the list.
    script = (
        "import booking.app\n"
        "from booking.domain import users\n"
        "before = users._common_passwords.cache_info().currsize\n"
        "users.check_password_rules('a-fine-password-2026')\n"
        "print(before, users._common_passwords.cache_info().currsize)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.split() == ["0", "1"]
