from __future__ import annotations

import pytest

from booking.config import ConfigError, load_settings

STRONG = "k3y-" + "abcdefghijklmnopqrstuvwxyz0123456789"


def test_it_runs_with_no_configuration(tmp_path):
    settings = load_settings({"BOOKING_DATA_DIR": str(tmp_path)})
    assert settings.env == "development"
    assert settings.effective_database_url == f"sqlite:///{tmp_path}/booking.sqlite3"
    assert settings.timezone == "Europe/Berlin"
    assert settings.jwt_minutes == 60
    # A development key is generated once and kept, so restarts keep tokens valid.
    key = settings.secret_key.get_secret_value()
    assert len(key) >= 32
    assert load_settings({"BOOKING_DATA_DIR": str(tmp_path)}).secret_key.get_secret_value() == key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_it_reads_secrets_from_files(tmp_path):
    (tmp_path / "key").write_text(STRONG + "\n")
    (tmp_path / "smtp").write_text("smtp-pass")
    settings = load_settings(
        {
            "BOOKING_SECRET_KEY_FILE": str(tmp_path / "key"),
            "BOOKING_SMTP_PASSWORD_FILE": str(tmp_path / "smtp"),
            "BOOKING_ENV": "production",
        }
    )
    assert settings.secret_key.get_secret_value() == STRONG
    assert settings.smtp_password.get_secret_value() == "smtp-pass"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"BOOKING_SMTP_PORT": "abc"}, "BOOKING_SMTP_PORT"),
        ({"BOOKING_SMTP_PORT": "70000"}, "BOOKING_SMTP_PORT"),
        ({"BOOKING_SMTP_SECURITY": "ssl"}, "BOOKING_SMTP_SECURITY"),
        ({"BOOKING_ENV": "prod"}, "BOOKING_ENV"),
        ({"BOOKING_TIMEZONE": "Mars/Olympus"}, "BOOKING_TIMEZONE"),
        ({"BOOKING_JWT_MINUTES": "0"}, "BOOKING_JWT_MINUTES"),
        ({"BOOKING_SITE_URL": "example.org"}, "BOOKING_SITE_URL"),
        ({"BOOKING_DATABASE_URL": "mysql://x"}, "BOOKING_DATABASE_URL"),
        ({"BOOKING_SMTP_HOSTNAME": "x"}, "unknown setting BOOKING_SMTP_HOSTNAME"),
        ({"BOOKING_SECRET_KEY_FILE": "/nonexistent/key"}, "BOOKING_SECRET_KEY_FILE"),
        (
            {"BOOKING_SECRET_KEY": STRONG, "BOOKING_SECRET_KEY_FILE": "/x"},
            "both set",
        ),
    ],
)
def test_it_fails_fast_on_bad_values(tmp_path, env, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_settings({"BOOKING_DATA_DIR": str(tmp_path), **env})


@pytest.mark.parametrize("key", ["", "changethis", "short-key", "a" * 40])
def test_it_refuses_a_weak_secret_in_production(tmp_path, key):
    env = {"BOOKING_ENV": "production", "BOOKING_DATA_DIR": str(tmp_path)}
    if key:
        env["BOOKING_SECRET_KEY"] = key
    with pytest.raises(ConfigError, match="BOOKING_SECRET_KEY"):
        load_settings(env)


def test_it_accepts_a_strong_secret_in_production(tmp_path):
    settings = load_settings({"BOOKING_ENV": "production", "BOOKING_SECRET_KEY": STRONG})
    assert settings.is_production


def test_test_variables_are_not_settings(tmp_path):
    settings = load_settings(
        {"BOOKING_DATA_DIR": str(tmp_path), "BOOKING_TEST_POSTGRES_URL": "postgresql://x/y"}
    )
    assert settings.database_url == ""
