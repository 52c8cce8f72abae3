"""Command line: ``booking serve | migrate | create-admin | demo | config``."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from pathlib import Path

from booking.config import SECRET_FIELDS, ConfigError, Settings, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        print(f"booking: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _context(settings: Settings):  # type: ignore[no-untyped-def]
    from booking.db import Database
    from booking.domain.context import Context

    return Context(db=Database(settings.effective_database_url, pool_size=2), settings=settings)


def migrate(settings: Settings) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "db" / "migrations"))
    config.set_main_option("sqlalchemy.url", settings.effective_database_url.replace("%", "%%"))
    command.upgrade(config, "head")


def cmd_migrate(args: argparse.Namespace) -> int:
    migrate(_settings())
    print("Datenbankschema ist aktuell.")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings()
    from booking.db import make_engine, schema

    engine = make_engine(settings.effective_database_url)
    revision = schema.current_revision(engine)
    engine.dispose()
    if revision != schema.HEAD:
        print(f"booking: {schema.outdated_message(revision)}", file=sys.stderr)
        return 1
    from booking.lib.memory import tune_malloc

    tune_malloc()
    import uvicorn

    from booking.app import create_app

    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level=settings.log_level,
        ws="none",
        lifespan="off",
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips,
        server_header=False,
    )
    return 0


def _read_password(path: str | None) -> str:
    if path:
        return Path(path).read_text(encoding="utf-8").strip()
    first = getpass.getpass("Passwort: ")
    if first != getpass.getpass("Passwort wiederholen: "):
        raise SystemExit("booking: Passwörter stimmen nicht überein")
    return first


def cmd_create_admin(args: argparse.Namespace) -> int:
    from booking.domain import users
    from booking.domain.errors import DomainError

    settings = _settings()
    ctx = _context(settings)
    try:
        user_id = users.create_admin(
            ctx, args.email, args.first_name, args.last_name, _read_password(args.password_file)
        )
    except DomainError as exc:
        print(f"booking: {exc.message}", file=sys.stderr)
        return 1
    print(f"Administrator {args.email} angelegt (id {user_id}).")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from booking import demo

    settings = _settings()
    if settings.is_production:
        print("booking: Demo-Daten werden in Produktion nicht angelegt.", file=sys.stderr)
        return 1
    ctx = _context(settings)
    if not demo.database_is_empty(ctx):
        if args.if_empty:
            print("Datenbank enthält bereits Daten; Demo-Daten werden nicht angelegt.")
            return 0
        print(
            "booking: Die Datenbank enthält bereits Daten; `demo` läuft nur auf einer leeren.",
            file=sys.stderr,
        )
        return 1
    summary = demo.seed(ctx)
    print(summary)
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    settings = _settings()
    for name, value in settings.model_dump().items():
        shown = "********" if name in SECRET_FIELDS and str(value) else value
        if name == "secret_key" or name == "smtp_password":
            shown = "********" if settings.model_dump()[name] else ""
        if name == "database_url":
            shown = _mask_url(settings.effective_database_url)
        print(f"BOOKING_{name.upper()}={shown}")
    return 0


def _mask_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="booking", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the web server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        help="proxies whose X-Forwarded-* headers are trusted (default: 127.0.0.1)",
    )
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(
        func=cmd_migrate
    )
    admin = sub.add_parser("create-admin", help="create a verified, approved administrator")
    admin.add_argument("--email", required=True)
    admin.add_argument("--first-name", required=True)
    admin.add_argument("--last-name", required=True)
    admin.add_argument("--password-file", help="read the password from this file, else prompt")
    admin.set_defaults(func=cmd_create_admin)
    demo = sub.add_parser("demo", help="seed demo accounts, places and a year of bookings")
    demo.add_argument("--if-empty", action="store_true", help="do nothing (exit 0) if data exists")
    demo.set_defaults(func=cmd_demo)
    sub.add_parser("config", help="print the effective settings, secrets masked").set_defaults(
        func=cmd_config
    )
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
