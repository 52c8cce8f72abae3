"""Settings from the environment (``BOOKING_*``), every secret also as ``BOOKING_*_FILE``.

Built once at start-up and passed down; nothing else reads the environment. Bad values fail at
start with a message that names the variable, so a typo never turns into a silent default.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from booking.lib.schema import AfterValidator, Field, Model, SecretStr, ValidationError

PREFIX = "BOOKING_"
# Secrets that may also come from a file named by BOOKING_<NAME>_FILE (Docker/systemd secrets).
SECRET_FIELDS = ("secret_key", "smtp_password", "database_url", "oidc_client_secret")
# Keys that shipped in examples or that people type when they mean "later".
WEAK_SECRETS = {"changethis", "changeme", "secret", "password", "booking", "development"}
MIN_SECRET_LENGTH = 32
# BOOKING_TEST_* belongs to the test suite (e.g. BOOKING_TEST_POSTGRES_URL), not to the app.
RESERVED_PREFIXES = ("BOOKING_TEST_",)


class ConfigError(Exception):
    """A setting is missing, unknown or malformed; the message says which and why."""


def _known_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


def _absolute_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value.rstrip("/")


def _supported_database(value: str) -> str:
    if value and not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
        raise ValueError("must be a sqlite:/// or postgresql:// URL")
    return value


def _issuer_url(value: str) -> str:
    if value and not value.startswith(("http://", "https://")):
        raise ValueError("must start with https:// (http:// only in development)")
    return value.rstrip("/")


def _openid_scopes(value: str) -> str:
    scopes = value.split()
    if "openid" not in scopes or "email" not in scopes:
        raise ValueError("must include `openid` and `email`")
    return " ".join(scopes)


class Settings(Model, extra="forbid", frozen=True):
    env: Literal["development", "production"] = Field(
        default="development",
        description="`production` enforces safe settings (strong secret key, ...).",
    )
    data_dir: Path = Field(
        default=Path("./data"), description="Directory for the SQLite file and state."
    )
    backup_dir: Path | None = Field(
        default=None,
        description="Where `booking backup` writes archives. Default: `backups` in the data directory.",
    )
    database_url: Annotated[str, AfterValidator(_supported_database)] = Field(
        default="",
        description="SQLAlchemy URL: `sqlite:///path.db` or `postgresql://user@host/db`. "
        "Default: SQLite file `booking.sqlite3` in the data directory.",
    )
    secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="Signs tokens and sessions; at least 32 characters. Required in production; "
        "in development a random key is kept in the data directory.",
    )
    site_url: Annotated[str, AfterValidator(_absolute_url)] = Field(
        default="http://127.0.0.1:8000", description="Public base URL, used for links in mails."
    )
    timezone: Annotated[str, AfterValidator(_known_timezone)] = Field(
        default="Europe/Berlin", description="Time zone of the house; defines today."
    )
    smtp_host: str = Field(
        default="", description="SMTP server; empty: mails are written to the log."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP port.")
    smtp_username: str = Field(default="", description="SMTP user name (empty: no login).")
    smtp_password: SecretStr = Field(default=SecretStr(""), description="SMTP password.")
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        default="starttls",
        description="`none`, `starttls` or `tls` (implicit TLS, usually port 465).",
    )
    mail_from: str = Field(
        default="booking@localhost", description="Sender address of outgoing mail."
    )
    mail_sender: bool = Field(
        default=True,
        description="Run the mail sender (outbox) as a thread in each app process. `false` "
        "when `booking worker` runs separately; several senders at once are safe.",
    )
    mail_poll_seconds: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description="How often an idle mail sender looks for due mail (one indexed query); "
        "mail queued in the same process is sent at once.",
    )
    jwt_minutes: int = Field(
        default=60, ge=1, le=7 * 24 * 60, description="Lifetime of API tokens."
    )
    # Browser sessions (booking/domain/sessions.py, docs/security.md). A family member books a
    # few times a month from their own phone or laptop: two weeks without a visit end the
    # session, so a forgotten login on a borrowed device does not last; 30 days after the login
    # the password is asked again in any case, so a stolen cookie is worth at most a month.
    session_idle_hours: int = Field(
        default=14 * 24,
        ge=1,
        le=90 * 24,
        description="Hours without a request after which a browser session ends.",
    )
    session_absolute_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="Days after the login after which a browser session ends in any case.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Log level."
    )
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto",
        description="`json`: one JSON object per line (request id, route, status, duration); "
        "`text`: readable lines; `auto`: `json` in production, `text` in development.",
    )
    require_admin_2fa: bool | None = Field(
        default=None,
        description="Administrators must set up two-factor authentication (TOTP) before they "
        "can use any page or admin API call. Default (empty): on in production, off otherwise.",
    )
    # Throttling (booking/domain/throttle.py, docs/security.md). Each action counts per account
    # (e-mail address) and per client address; reaching a limit blocks for the base delay, and
    # every further counted attempt before the series ends doubles it, up to the maximum.
    throttle_enabled: bool = Field(
        default=True,
        description="Throttle logins, registrations, password resets and verification "
        "(HTTP 429 + Retry-After). `false` only for load tests and development; refused in "
        "production.",
    )
    throttle_login_account: int = Field(
        default=5, ge=1, description="Failed logins per account before it is blocked."
    )
    throttle_login_address: int = Field(
        default=20, ge=1, description="Failed logins per client address before it is blocked."
    )
    throttle_login_window: int = Field(
        default=900,
        ge=1,
        description="Seconds without a failed login (after any block) that end a series.",
    )
    throttle_register_account: int = Field(
        default=3, ge=1, description="Registrations per e-mail address in a series."
    )
    throttle_register_address: int = Field(
        default=10, ge=1, description="Registrations per client address in a series."
    )
    throttle_register_window: int = Field(
        default=3600, ge=1, description="Seconds without a registration attempt that end a series."
    )
    throttle_reset_account: int = Field(
        default=3, ge=1, description="Password reset requests per e-mail address in a series."
    )
    throttle_reset_address: int = Field(
        default=10,
        ge=1,
        description="Password reset requests and invalid reset links per client address.",
    )
    throttle_reset_window: int = Field(
        default=3600, ge=1, description="Seconds without a reset attempt that end a series."
    )
    throttle_verify_account: int = Field(
        default=3, ge=1, description="Verification mails requested per e-mail address in a series."
    )
    throttle_verify_address: int = Field(
        default=20,
        ge=1,
        description="Verification mail requests and invalid verification links per client address.",
    )
    throttle_verify_window: int = Field(
        default=3600, ge=1, description="Seconds without a verification attempt that end a series."
    )
    throttle_base_delay: int = Field(
        default=60, ge=1, description="Seconds of the first block when a limit is reached."
    )
    throttle_max_delay: int = Field(
        default=3600, ge=1, description="Longest block in seconds (the delay doubles up to this)."
    )
    # Login with an OpenID Connect provider (booking/domain/oidc.py, docs/security.md).
    oidc_issuer: Annotated[str, AfterValidator(_issuer_url)] = Field(
        default="",
        description="Issuer URL of an OpenID Connect provider, e.g. "
        "`https://accounts.google.com`; empty: no login with a provider. The redirect URI to "
        "register there is `<BOOKING_SITE_URL>/login/oidc/callback`.",
    )
    oidc_client_id: str = Field(default="", description="Client ID registered at the provider.")
    oidc_client_secret: SecretStr = Field(
        default=SecretStr(""), description="Client secret registered at the provider."
    )
    oidc_name: str = Field(
        default="Google",
        max_length=40,
        description='Provider name on the login button ("Mit Google anmelden").',
    )
    oidc_scopes: Annotated[str, AfterValidator(_openid_scopes)] = Field(
        default="openid email profile",
        description="Scopes requested from the provider; must include `openid` and `email`.",
    )

    def model_check(self) -> None:
        self._complete_oidc()
        self._safe_in_production()

    def _complete_oidc(self) -> None:
        if self.oidc_issuer:
            if not self.oidc_client_id or not self.oidc_client_secret.get_secret_value():
                raise ValueError(
                    "BOOKING_OIDC_ISSUER needs BOOKING_OIDC_CLIENT_ID and "
                    "BOOKING_OIDC_CLIENT_SECRET (or BOOKING_OIDC_CLIENT_SECRET_FILE)"
                )
            if self.env == "production" and not self.oidc_issuer.startswith("https://"):
                raise ValueError("BOOKING_OIDC_ISSUER must be an https:// URL in production")

    def _safe_in_production(self) -> None:
        if self.env == "production":
            key = self.secret_key.get_secret_value()
            if len(key) < MIN_SECRET_LENGTH or key.lower() in WEAK_SECRETS or len(set(key)) < 8:
                raise ValueError(
                    "BOOKING_SECRET_KEY must be set to a random value of at least "
                    f"{MIN_SECRET_LENGTH} characters in production "
                    "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
                )
            if not self.throttle_enabled:
                raise ValueError(
                    "BOOKING_THROTTLE_ENABLED=false is not allowed in production "
                    "(login throttling protects the accounts)"
                )

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'booking.sqlite3').as_posix()}"

    @property
    def effective_backup_dir(self) -> Path:
        return self.backup_dir or self.data_dir / "backups"

    @property
    def effective_log_format(self) -> Literal["json", "text"]:
        if self.log_format == "auto":
            return "json" if self.env == "production" else "text"
        return self.log_format

    @property
    def admin_2fa_required(self) -> bool:
        if self.require_admin_2fa is None:
            return self.env == "production"
        return self.require_admin_2fa

    def secret_bytes(self) -> bytes:
        return self.secret_key.get_secret_value().encode()


def _env_from_files(environ: dict[str, str]) -> dict[str, str]:
    """Resolve BOOKING_<SECRET>_FILE into BOOKING_<SECRET>; both at once is ambiguous."""
    resolved = dict(environ)
    for name in SECRET_FIELDS:
        var = PREFIX + name.upper()
        file_var = var + "_FILE"
        if file_var not in environ:
            continue
        if var in environ:
            raise ConfigError(f"{var} and {file_var} are both set; use one of them")
        try:
            resolved[var] = Path(environ[file_var]).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{file_var}: cannot read {environ[file_var]!r}: {exc}") from exc
        del resolved[file_var]
    return resolved


def _reject_unknown(environ: dict[str, str]) -> None:
    known = {PREFIX + name.upper() for name in Settings.model_fields}
    known |= {PREFIX + name.upper() + "_FILE" for name in SECRET_FIELDS}
    for var in environ:
        if var.startswith(PREFIX) and var not in known and not var.startswith(RESERVED_PREFIXES):
            raise ConfigError(f"unknown setting {var} (see the configuration table in README.md)")


def _dev_secret(data_dir: Path) -> str:
    """A random key kept in the data directory, so a development restart keeps sessions valid."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read settings from ``environ`` (default: the process environment); raise ConfigError."""
    env = dict(os.environ if environ is None else environ)
    _reject_unknown(env)
    env = _env_from_files(env)
    values = {
        key[len(PREFIX) :].lower(): value
        for key, value in env.items()
        if key.startswith(PREFIX) and not key.startswith(RESERVED_PREFIXES)
    }
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    if not settings.secret_key.get_secret_value():
        key = _dev_secret(settings.data_dir)
        settings = settings.model_copy(update={"secret_key": SecretStr(key)})
    return settings


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        name = PREFIX + field.upper() if field else "settings"
        lines.append(f"{name}: {error['msg']}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def settings_table() -> str:
    """The README's configuration table, generated from the Settings fields."""
    rows = ["| Variable | Default | Description |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, SecretStr):
            default = default.get_secret_value()
        shown = f"`{default}`" if default not in ("", None) else "(empty)"
        file_note = f" Also `{PREFIX}{name.upper()}_FILE`." if name in SECRET_FIELDS else ""
        rows.append(f"| `{PREFIX}{name.upper()}` | {shown} | {field.description}{file_note} |")
    return "\n".join(rows)
