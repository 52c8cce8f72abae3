"""The ``booking`` command, run as a real subprocess like an operator would."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import func, select, text

from booking.db import Database
from booking.db.models import Booking, SleepingAccommodation, User

SECRET = "cli-test-secret-0123456789-abcdefghijklmnop"


def run(tmp_path, *args, env=None, stdin=None):
    environ = {"PATH": "/usr/bin:/bin", "BOOKING_DATA_DIR": str(tmp_path), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "booking", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
    )


def test_it_refuses_to_serve_an_outdated_schema(tmp_path):
    result = run(tmp_path, "serve", "--port", "1")
    assert result.returncode == 1
    assert "booking migrate" in result.stderr


def test_it_migrates_seeds_demo_data_and_refuses_to_seed_twice(tmp_path):
    assert run(tmp_path, "migrate").returncode == 0
    first = run(tmp_path, "demo")
    assert first.returncode == 0, first.stderr
    db = Database(f"sqlite:///{tmp_path}/booking.sqlite3")
    with db.read() as session:
        emails = set(session.scalars(select(User.email)))
        places = session.scalar(select(func.count(SleepingAccommodation.id)))
        bookings = session.scalar(select(func.count(Booking.id)))
    db.dispose()
    assert {"admin@booking.com", "member@booking.com"} <= emails
    assert places == 4
    assert bookings >= 100
    again = run(tmp_path, "demo")
    assert again.returncode == 1
    assert "bereits Daten" in again.stderr
    assert run(tmp_path, "demo", "--if-empty").returncode == 0


def test_demo_refuses_production(tmp_path):
    result = run(tmp_path, "demo", env={"BOOKING_ENV": "production", "BOOKING_SECRET_KEY": SECRET})
    assert result.returncode == 1
    assert "Produktion" in result.stderr


def test_it_creates_an_admin_who_can_log_in(tmp_path):
    from starlette.testclient import TestClient

    from booking.app import create_app
    from booking.config import load_settings

    assert run(tmp_path, "migrate").returncode == 0
    (tmp_path / "pw").write_text("a-good-password\n")
    result = run(
        tmp_path,
        "create-admin",
        "--email", "Root@Example.org", "--first-name", "Ro", "--last-name", "Ot",
        "--password-file", str(tmp_path / "pw"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    settings = load_settings({"BOOKING_DATA_DIR": str(tmp_path)})
    with TestClient(create_app(settings)) as client:
        login = client.post(
            "/api/auth/login", json={"email": "root@example.org", "password": "a-good-password"}
        )
    assert login.status_code == 200
    assert login.json()["user"]["role"] == 1
    duplicate = run(
        tmp_path,
        "create-admin",
        "--email", "root@example.org", "--first-name", "A", "--last-name", "B",
        "--password-file", str(tmp_path / "pw"),
    )  # fmt: skip
    assert duplicate.returncode == 1
    assert "bereits registriert" in duplicate.stderr


def test_config_masks_secrets(tmp_path):
    result = run(
        tmp_path,
        "config",
        env={
            "BOOKING_SECRET_KEY": SECRET,
            "BOOKING_SMTP_PASSWORD": "smtp-secret",
            "BOOKING_DATABASE_URL": "postgresql://booking:dbpass@db:5432/booking",
        },
    )
    assert result.returncode == 0
    assert SECRET not in result.stdout
    assert "smtp-secret" not in result.stdout
    assert "dbpass" not in result.stdout
    assert "BOOKING_SECRET_KEY=********" in result.stdout
    assert "BOOKING_TIMEZONE=Europe/Berlin" in result.stdout


@pytest.mark.parametrize("args", [["config"], ["migrate"], ["serve"]])
def test_it_reports_bad_configuration_clearly(tmp_path, args):
    result = run(tmp_path, *args, env={"BOOKING_SMTP_PORT": "many"})
    assert result.returncode == 2
    assert "BOOKING_SMTP_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/x.sqlite3")
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
    db.dispose()
