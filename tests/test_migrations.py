"""Migrations and models agree, the app knows the head revision, and history is append-only."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from booking.db import schema
from booking.db.models import BookingHistory
from booking.lib.timeutil import utcnow
from tests.factories import make_booking

MIGRATIONS = Path(__file__).resolve().parent.parent / "booking" / "db" / "migrations"


def _config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


def test_the_app_expects_alembics_head():
    assert ScriptDirectory.from_config(_config("sqlite://")).get_current_head() == schema.HEAD


def test_models_and_migrations_do_not_drift(ctx, database_url):
    # `alembic check` compares the migrated schema with the models; any difference fails.
    command.check(_config(database_url))
    assert schema.is_current(ctx.db.engine)


def test_history_rows_cannot_be_changed(ctx, bob, room):
    booking = make_booking(ctx, bob, [(room, 1)])
    with ctx.db.write() as session:
        session.add(
            BookingHistory(
                booking_id=booking.id,
                occurred_at=utcnow(),
                actor_id=bob.id,
                event_type="Created",
                details="{}",
            )
        )
    with pytest.raises(DBAPIError, match="append-only"), ctx.db.write() as session:
        session.execute(text("UPDATE booking_history SET event_type = 'Forged'"))


def test_readiness_reports_an_unmigrated_database(tmp_path):
    from starlette.testclient import TestClient

    from booking.app import create_app
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, database_url=f"sqlite:///{tmp_path}/{uuid.uuid4().hex}.db")
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").json() == {"status": "healthy"}
        ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["migrations"] != "ok"
