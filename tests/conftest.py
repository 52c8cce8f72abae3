"""Test fixtures: a real database per backend (SQLite always, PostgreSQL when
BOOKING_TEST_POSTGRES_URL is set), fresh data per test, personas and an in-process client.

Personas (HC style): ``alice`` is an administrator, ``bob`` a member, ``charlie`` another member
who must not see or touch bob's bookings.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from booking.app import create_app
from booking.config import Settings, load_settings
from booking.db import Database, normalise_url
from booking.db.models import SleepingAccommodation, User
from booking.domain.context import Context
from tests import factories

PG_URL = os.environ.get("BOOKING_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
TABLES = [
    "house_rules",
    "closed_periods",
    "quota_exceptions",
    "audit_log",
    "calendar_feeds",
    "house_feed_settings",
    "mail_outbox",
    "throttles",
    "booking_history",
    "booking_items",
    "bookings",
    "email_settings",
    "sleeping_accommodations",
    "web_sessions",
    "users",
]


def make_settings(tmp: Path, **overrides: str) -> Settings:
    env = {
        "BOOKING_DATA_DIR": str(tmp),
        "BOOKING_SECRET_KEY": "test-secret-key-0123456789-abcdefghijklmnop",
        "BOOKING_SITE_URL": "http://testserver",
        # Tests read queued mail from the outbox (tests/mails.py) and drive the sender themselves.
        "BOOKING_MAIL_SENDER": "false",
        # The suite logs in and registers many times from one address; tests/test_throttle.py
        # switches throttling on where it is the subject.
        "BOOKING_THROTTLE_ENABLED": "false",
    }
    env.update({f"BOOKING_{key.upper()}": value for key, value in overrides.items()})
    return load_settings(env)


def migrate_url(url: str) -> None:
    from booking.__main__ import migrate

    migrate(load_settings({"BOOKING_DATABASE_URL": url, "BOOKING_SECRET_KEY": "x" * 40}))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (faster than migrating per test)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    migrate_url(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of its own for this test process, created and dropped here."""
    if not PG_URL:
        pytest.skip("BOOKING_TEST_POSTGRES_URL is not set")
    name = f"booking_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = Database(PG_URL)
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = normalise_url(PG_URL).rsplit("/", 1)[0]
    url = f"{base}/{name}"
    migrate_url(url)
    yield url
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def postgres_db(postgres_url: str) -> Iterator[Database]:
    db = Database(postgres_url)
    yield db
    db.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database of each backend."""
    if request.param == "sqlite":
        path = tmp_path / "booking.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    db: Database = request.getfixturevalue("postgres_db")
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url=database_url)


@pytest.fixture
def ctx(settings: Settings) -> Iterator[Context]:
    context = Context(db=Database(settings.effective_database_url), settings=settings)
    yield context
    context.db.dispose()


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx.settings, ctx), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def alice(ctx: Context) -> User:
    return factories.make_user(ctx, "alice@example.com", admin=True, first_name="Alice")


@pytest.fixture
def bob(ctx: Context) -> User:
    return factories.make_user(ctx, "bob@example.com", first_name="Bob")


@pytest.fixture
def charlie(ctx: Context) -> User:
    return factories.make_user(ctx, "charlie@example.com", first_name="Charlie")


@pytest.fixture
def room(ctx: Context) -> SleepingAccommodation:
    return factories.make_place(ctx, "Zimmer 1", capacity=4)


def auth(ctx: Context, user: User) -> dict[str, Any]:
    """Headers with a bearer token for ``user``."""
    return factories.auth_headers(ctx, user)
