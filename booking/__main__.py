"""Command line: ``booking serve | worker | migrate | create-admin | demo | config | backup ...``."""

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
    from booking.lib import memory

    memory.tune_malloc()
    import uvicorn

    from booking.app import create_app
    from booking.lib import logs

    # JSON or text lines with request ids (booking/lib/logs.py); the access log is the app's
    # (booking/observability.py: route templates, no query strings), not uvicorn's.
    logs.configure(
        settings.effective_log_format,
        settings.log_level,
        reveal_mail=settings.env == "development",
    )
    app = create_app(settings)
    memory.release_free_memory()  # what the imports left behind
    memory.start_trimmer()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=settings.log_level,
        log_config=None,
        access_log=False,
        ws="none",
        # The standard loop: uvloop costs 2.3 MB of RSS and pays off only far above a family's
        # request rate (bench/README.md, "Event loop").
        loop="asyncio",
        http="httptools",
        lifespan="on",
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips,
        server_header=False,
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Deliver queued mail until SIGTERM/SIGINT (or one pass with --once)."""
    settings = _settings()
    from booking.db import make_engine, schema

    engine = make_engine(settings.effective_database_url)
    revision = schema.current_revision(engine)
    engine.dispose()
    if revision != schema.HEAD:
        print(f"booking: {schema.outdated_message(revision)}", file=sys.stderr)
        return 1
    import signal

    from booking.domain.outbox import Sender

    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    sender = Sender(_context(settings), poll_seconds=settings.mail_poll_seconds)
    if args.once:
        sent = sender.run_once()
        print(f"{sent} E-Mail(s) verarbeitet.")
        return 0
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: sender.request_stop())
    sender.run()
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


# --- backups (booking/ops/backup.py) -------------------------------------------------------


def _backup_failed(exc: Exception) -> int:
    print(f"booking: {exc}", file=sys.stderr)
    return int(getattr(exc, "exit_code", 1))


def cmd_backup(args: argparse.Namespace) -> int:
    from booking.ops import backup as ops

    settings = _settings()
    try:
        result = ops.backup(
            settings.effective_database_url,
            settings.effective_backup_dir,
            min_free_percent=args.min_free_percent,
            keep=None if args.no_rotate else (ops.KEEP_DAILY, ops.KEEP_WEEKLY, ops.KEEP_MONTHLY),
        )
    except ops.BackupError as exc:
        return _backup_failed(exc)
    rows = sum(stat.rows for stat in result.manifest.tables.values())
    print(
        f"Sicherung geschrieben: {result.archive} ({result.size} Bytes, "
        f"{len(result.manifest.tables)} Tabellen, {rows} Zeilen, sha256 {result.sha256})."
    )
    if result.deleted:
        print(f"Rotation: {len(result.deleted)} alte Datei(en) gelöscht.")
    return 0


def cmd_backups(args: argparse.Namespace) -> int:
    from booking.ops import backup as ops

    print(ops.describe(_settings().effective_backup_dir))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from booking.ops import backup as ops

    settings = _settings()
    url, backup_dir = settings.effective_database_url, settings.effective_backup_dir
    try:
        archive = ops.resolve_archive(backup_dir, args.archive)
        if not args.yes:
            question = f"Datenbank {ops.mask_url(url)} mit {archive.path.name} überschreiben?"
            if not sys.stdin.isatty() or input(f"{question} [j/N] ").strip().lower() != "j":
                print("booking: Abgebrochen (ohne Rückfrage: --yes).", file=sys.stderr)
                return 1
        result = ops.restore(url, archive, backup_dir)
    except ops.BackupError as exc:
        return _backup_failed(exc)
    from booking.db import make_engine, schema

    engine = make_engine(url)
    revision = schema.current_revision(engine)
    engine.dispose()
    if revision != schema.HEAD:
        print(f"Hinweis: {schema.outdated_message(revision)}")
    if result.comparison is None:
        print(f"Wiederhergestellt aus {archive.path.name} (kein Manifest zum Vergleich).")
        return 0
    print(result.comparison.report())
    if not result.comparison.ok:
        print(
            "booking: Wiederhergestellt, aber der Inhalt weicht vom Manifest ab: "
            + "; ".join(result.comparison.differences),
            file=sys.stderr,
        )
        return 1
    print(
        f"Wiederhergestellt aus {archive.path.name}; alle Tabellen stimmen mit der Sicherung überein."
    )
    return 0


def cmd_restore_drill(args: argparse.Namespace) -> int:
    from booking.ops import backup as ops

    settings = _settings()
    url, backup_dir = settings.effective_database_url, settings.effective_backup_dir
    try:
        archive = ops.resolve_archive(backup_dir, args.archive)
        result = ops.drill(url, archive, backup_dir, against_live=args.live)
    except ops.BackupError as exc:
        return _backup_failed(exc)
    print(
        f"Wiederherstellungsprobe: {archive.path.name} (Stand {result.manifest.created:%Y-%m-%d %H:%M:%S} UTC)"
    )
    print(result.comparison.report("Manifest", "Probe-Datenbank"))
    if result.live is not None:
        print(result.live.report("Manifest", "Live-Datenbank"))
    if not result.ok:
        problems = result.comparison.differences + [
            f"live: {d}" for d in (result.live.differences if result.live else [])
        ]
        print(f"booking: Probe fehlgeschlagen: {'; '.join(problems)}", file=sys.stderr)
        return 1
    print("Probe bestanden: Zeilenzahlen und Prüfsummen aller Tabellen stimmen überein.")
    return 0


def _add_backup_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    backup = sub.add_parser("backup", help="write a checksummed backup archive and rotate old ones")
    backup.add_argument(
        "--min-free-percent",
        type=float,
        default=10.0,
        help="refuse (exit 3) if less than this share of the disk would stay free (default 10)",
    )
    backup.add_argument("--no-rotate", action="store_true", help="keep all old archives")
    backup.set_defaults(func=cmd_backup)
    sub.add_parser("backups", help="list backup archives and the last good backup").set_defaults(
        func=cmd_backups
    )
    restore = sub.add_parser("restore", help="replace the database with a verified archive")
    restore.add_argument("archive", help="archive path or name in the backup directory")
    restore.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    restore.set_defaults(func=cmd_restore)
    drill = sub.add_parser(
        "restore-drill", help="restore an archive into a scratch database and compare checksums"
    )
    drill.add_argument("archive", nargs="?", help="archive (default: the newest)")
    drill.add_argument(
        "--live", action="store_true", help="also compare with the live database (no writes since)"
    )
    drill.set_defaults(func=cmd_restore_drill)


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
    worker = sub.add_parser("worker", help="send queued mail (the outbox) until stopped")
    worker.add_argument("--once", action="store_true", help="one pass over due mail, then exit")
    worker.set_defaults(func=cmd_worker)
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
    _add_backup_commands(sub)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
