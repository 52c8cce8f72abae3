"""``booking backup`` / ``restore`` / ``restore-drill`` on SQLite and PostgreSQL.

PostgreSQL tests run when BOOKING_TEST_POSTGRES_URL is set; each creates its own scratch
database (and drops it), so restores with ``--clean`` never touch another test's data.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import types
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from booking import demo
from booking.db import Database, normalise_url
from booking.domain.context import Context
from booking.lib import backup_status
from booking.ops import backup as ops
from tests.conftest import PG_URL, make_settings, migrate_url
from tests.deploy.helpers import in_cgroup, memory_cgroup

T0 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- fixtures


def _pg_admin() -> Database:
    return Database(PG_URL)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A migrated PostgreSQL database of this test's own, dropped afterwards."""
    if not PG_URL:
        pytest.skip("BOOKING_TEST_POSTGRES_URL is not set")
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump/pg_restore not installed (Debian: postgresql-client)")
    name = f"booking_backup_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = _pg_admin()
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = normalise_url(PG_URL).rsplit("/", 1)[0] + f"/{name}"
    try:
        migrate_url(url)
        yield url
    finally:
        with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "data" / "booking.sqlite3"
    path.parent.mkdir()
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str:
    """A migrated database of each backend, seeded with the demo data."""
    value: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    tmp_path: Path = request.getfixturevalue("tmp_path")
    ctx = Context(db=Database(value), settings=make_settings(tmp_path, database_url=value))
    try:
        demo.seed(ctx, days_back=60, days_ahead=60)
    finally:
        ctx.db.dispose()
    return value


@pytest.fixture
def backup_dir(tmp_path: Path) -> Path:
    return tmp_path / "backups"


def _execute(url: str, *statements: str) -> None:
    db = Database(url)
    try:
        with db.engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        db.dispose()


def _destroy(url: str) -> None:
    """Delete rows, change rows and drop a table: what an accident or a bad migration does."""
    _execute(
        url,
        "DELETE FROM booking_history",
        "UPDATE users SET first_name = 'Mallory'",
        "DROP TABLE booking_items",
    )


def _tamper_checksums(archive: ops.Archive) -> None:
    """Rewrite the .sha256 file so it matches whatever the files now contain."""
    lines = [
        f"{ops.sha256_file(path)}  {path.name}" for path in (archive.path, archive.manifest_path)
    ]
    archive.checksum_path.write_text("\n".join(lines) + "\n")


# --------------------------------------------------------------------------- round trip


def test_it_restores_identical_data_after_it_was_destroyed(url: str, backup_dir: Path) -> None:
    before = ops.live_stats(url)
    assert before["bookings"].rows > 10 and before["users"].rows == 5
    result = ops.backup(url, backup_dir, now=T0)
    assert result.manifest.tables == before
    assert result.archive.exists() and result.sha256 == ops.sha256_file(result.archive)

    _destroy(url)
    damaged = ops.live_stats(url)
    assert "booking_items" not in damaged
    assert damaged["booking_history"].rows == 0
    assert damaged["users"].sha256 != before["users"].sha256

    restored = ops.restore(url, ops.resolve_archive(backup_dir, "latest"), backup_dir)
    assert restored.comparison is not None and restored.comparison.ok
    assert ops.live_stats(url) == before  # every table: row count and content checksum
    assert not list(backup_dir.glob(ops.TMP_PREFIX + "*"))


def test_it_restores_sqlite_under_an_open_app_connection(sqlite_url: str, backup_dir: Path):
    """The app's pooled WAL connections see the restored data (no file swapped under them)."""
    app = Database(sqlite_url)
    try:
        with app.engine.begin() as conn:
            conn.execute(text("SELECT 1"))  # the pool now holds an open WAL connection
        before = ops.live_stats(sqlite_url)
        ops.backup(sqlite_url, backup_dir, now=T0)
        with app.engine.begin() as conn:
            conn.execute(text("DELETE FROM alembic_version"))
        ops.restore(sqlite_url, ops.resolve_archive(backup_dir, None), backup_dir)
        with app.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert ops.live_stats(sqlite_url) == before
    finally:
        app.dispose()


def test_it_takes_a_consistent_sqlite_copy_while_the_app_writes(
    sqlite_url: str, backup_dir: Path
) -> None:
    stop = threading.Event()

    def writer() -> None:
        db = Database(sqlite_url)
        try:
            while not stop.is_set():
                with db.engine.begin() as conn:
                    conn.execute(
                        text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                        {"v": uuid.uuid4().hex},
                    )
                stop.wait(0.002)
        finally:
            db.dispose()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        archives = [
            ops.backup(sqlite_url, backup_dir, now=T0 + timedelta(seconds=i), keep=None)
            for i in range(3)
        ]
    finally:
        stop.set()
        thread.join(timeout=30)
    for result in archives:
        archive = ops.resolve_archive(backup_dir, result.archive.name)
        assert ops.drill(sqlite_url, archive, backup_dir).ok


def test_the_archive_files_are_private_and_sha256sum_compatible(url: str, backup_dir: Path):
    result = ops.backup(url, backup_dir, now=T0)
    archive = ops.resolve_archive(backup_dir, result.archive.name)
    for path in archive.files():
        assert path.stat().st_mode & 0o077 == 0, path
    if shutil.which("sha256sum"):
        check = subprocess.run(
            ["sha256sum", "-c", archive.checksum_path.name],
            cwd=backup_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert check.stdout.count(": OK") == 2
    manifest = json.loads(archive.manifest_path.read_text())
    assert manifest["backend"] == archive.backend
    assert manifest["alembicRevision"]
    assert "s3cret" not in ops.mask_url("postgresql://booking:s3cret@db/booking")


# --------------------------------------------------------------------------- refusals


def test_it_refuses_an_archive_whose_checksum_does_not_match(url: str, backup_dir: Path):
    ops.backup(url, backup_dir, now=T0)
    archive = ops.resolve_archive(backup_dir, None)
    data = bytearray(archive.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.path.write_bytes(bytes(data))
    _execute(url, "DELETE FROM booking_history")
    with pytest.raises(ops.BackupError, match="Prüfsumme von .* stimmt nicht"):
        ops.restore(url, archive, backup_dir)
    with pytest.raises(ops.BackupError, match="Prüfsumme"):
        ops.drill(url, archive, backup_dir)
    assert ops.live_stats(url)["booking_history"].rows == 0  # untouched


def test_it_refuses_an_archive_without_checksum_file(sqlite_url: str, backup_dir: Path):
    ops.backup(sqlite_url, backup_dir, now=T0)
    archive = ops.resolve_archive(backup_dir, None)
    archive.checksum_path.unlink()
    with pytest.raises(ops.BackupError, match="Prüfsummendatei .* fehlt"):
        ops.restore(sqlite_url, archive, backup_dir)


def test_it_refuses_an_archive_of_the_other_backend(sqlite_url: str, backup_dir: Path):
    ops.backup(sqlite_url, backup_dir, now=T0)
    archive = ops.resolve_archive(backup_dir, None)
    with pytest.raises(ops.BackupError, match="sqlite-Sicherung"):
        ops.restore("postgresql://nobody@127.0.0.1:1/nothing", archive, backup_dir)


def test_it_refuses_a_sqlite_archive_whose_content_contradicts_the_manifest(
    sqlite_url: str, backup_dir: Path
) -> None:
    ops.backup(sqlite_url, backup_dir, now=T0)
    archive = ops.resolve_archive(backup_dir, None)
    _rewrite_sqlite_archive(archive, "UPDATE alembic_version SET version_num = 'forged'")
    _execute(sqlite_url, "DELETE FROM alembic_version")
    with pytest.raises(ops.BackupError, match="passt nicht zum Manifest"):
        ops.restore(sqlite_url, archive, backup_dir)
    assert ops.live_stats(sqlite_url)["alembic_version"].rows == 0  # nothing replaced


def _rewrite_sqlite_archive(archive: ops.Archive, statement: str) -> None:
    plain = archive.path.with_name("plain.sqlite3")
    plain.write_bytes(gzip.decompress(archive.path.read_bytes()))
    conn = sqlite3.connect(plain)
    conn.execute(statement)
    conn.commit()
    conn.close()
    archive.path.write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    _tamper_checksums(archive)


def test_it_refuses_to_start_when_the_disk_is_nearly_full(url: str, backup_dir: Path):
    gib = 1 << 30

    def nearly_full(_path: Path) -> ops.DiskUsage:
        return ops.DiskUsage(total=10 * gib, used=9 * gib, free=gib)  # 10 % free

    with pytest.raises(ops.DiskFullError, match="Zu wenig Speicherplatz") as refused:
        ops.backup(url, backup_dir, disk_usage=nearly_full)
    assert refused.value.exit_code == ops.EXIT_DISK_FULL == 3
    assert ops.list_archives(backup_dir) == []
    assert not list(backup_dir.glob(ops.TMP_PREFIX + "*"))
    assert backup_status.last_success(backup_dir) is None

    def roomy(_path: Path) -> ops.DiskUsage:
        return ops.DiskUsage(total=10 * gib, used=5 * gib, free=5 * gib)

    assert ops.backup(url, backup_dir, now=T0, disk_usage=roomy).archive.exists()
    # The threshold is a parameter (CLI: --min-free-percent).
    ops.backup(
        url, backup_dir, now=T0 + timedelta(days=1), disk_usage=nearly_full, min_free_percent=5
    )


def test_the_disk_check_counts_the_estimated_archive() -> None:
    usage = ops.DiskUsage(total=1000, used=0, free=300)
    ops.check_free_space(Path("."), 200, min_free_percent=10, disk_usage=lambda _p: usage)
    with pytest.raises(ops.DiskFullError):
        ops.check_free_space(Path("."), 201, min_free_percent=10, disk_usage=lambda _p: usage)


def test_it_records_last_success_only_for_a_good_backup(sqlite_url: str, backup_dir: Path):
    assert backup_status.last_success(backup_dir) is None
    good = ops.backup(sqlite_url, backup_dir, now=T0)
    first = backup_status.last_success(backup_dir)
    assert first is not None
    status = json.loads((backup_dir / backup_status.STATUS_FILE).read_text())
    assert status["archive"] == good.archive.name and status["sha256"] == good.sha256

    broken = Path(ops.sqlite_path(sqlite_url))
    broken.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ops.BackupError, match="Datenbankfehler"):
        ops.backup(sqlite_url, backup_dir, now=T0 + timedelta(days=1))
    with pytest.raises(ops.BackupError, match="nicht gefunden"):
        ops.backup(f"sqlite:///{broken.parent}/missing.sqlite3", backup_dir)
    assert backup_status.last_success(backup_dir) == first
    assert [a.path.name for a in ops.list_archives(backup_dir)] == [good.archive.name]
    assert not list(backup_dir.glob(ops.TMP_PREFIX + "*"))


@pytest.mark.postgres
def test_it_records_no_success_when_pg_dump_fails(pg_url: str, backup_dir: Path, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ops.BackupError, match="pg_dump nicht gefunden"):
        ops.backup(pg_url, backup_dir)
    assert backup_status.last_success(backup_dir) is None
    assert ops.list_archives(backup_dir) == []


def test_only_one_operation_runs_at_a_time(sqlite_url: str, backup_dir: Path):
    with ops.locked(backup_dir), pytest.raises(ops.BackupError, match="läuft bereits"):
        ops.backup(sqlite_url, backup_dir)


# --------------------------------------------------------------------------- drill


def test_the_drill_passes_on_a_good_archive(url: str, backup_dir: Path, drill_tag: str):
    ops.backup(url, backup_dir, now=T0)
    result = ops.drill(url, ops.resolve_archive(backup_dir, None), backup_dir, against_live=True)
    assert result.ok, result.comparison.report()
    assert {name for name, _, _ in result.comparison.rows} >= {"bookings", "users"}
    assert not list(backup_dir.glob(ops.TMP_PREFIX + "*"))
    if ops.backend_of(url) == ops.POSTGRESQL:
        assert not [name for name in _drill_databases() if name.endswith(drill_tag)]


def test_the_drill_fails_on_a_tampered_manifest(url: str, backup_dir: Path, drill_tag: str):
    ops.backup(url, backup_dir, now=T0)
    archive = ops.resolve_archive(backup_dir, None)
    manifest = json.loads(archive.manifest_path.read_text())
    manifest["tables"]["bookings"]["rows"] += 1
    manifest["tables"]["users"]["sha256"] = hashlib.sha256(b"forged").hexdigest()
    archive.manifest_path.write_text(json.dumps(manifest))
    _tamper_checksums(archive)  # consistent checksums: only the content comparison can notice
    result = ops.drill(url, archive, backup_dir)
    assert not result.ok
    assert any(d.startswith("bookings:") for d in result.comparison.differences)
    assert any(d.startswith("users: Inhalt") for d in result.comparison.differences)
    if ops.backend_of(url) == ops.POSTGRESQL:
        assert not [name for name in _drill_databases() if name.endswith(drill_tag)]


def test_the_drill_fails_on_tampered_sqlite_content(sqlite_url: str, backup_dir: Path):
    ops.backup(sqlite_url, backup_dir, now=T0)
    archive = ops.resolve_archive(backup_dir, None)
    _rewrite_sqlite_archive(archive, "UPDATE alembic_version SET version_num = 'forged'")
    result = ops.drill(sqlite_url, archive, backup_dir)
    assert result.comparison.differences == ["alembic_version: Inhalt weicht ab (Prüfsumme)"]


def test_the_drill_with_live_notices_writes_since_the_backup(sqlite_url: str, backup_dir: Path):
    ops.backup(sqlite_url, backup_dir, now=T0)
    _execute(sqlite_url, "DELETE FROM alembic_version")
    archive = ops.resolve_archive(backup_dir, None)
    assert ops.drill(sqlite_url, archive, backup_dir).ok  # the archive itself is fine
    live = ops.drill(sqlite_url, archive, backup_dir, against_live=True)
    assert not live.ok and live.live is not None
    assert live.live.differences == ["alembic_version: 0 Zeilen statt 1"]


@pytest.fixture
def drill_tag(monkeypatch: pytest.MonkeyPatch) -> str:
    """Marks this test's scratch database name, so other tests' drills running at the same
    time on the same server do not count."""
    tag = uuid.uuid4().hex[:6]
    monkeypatch.setattr(ops, "secrets", types.SimpleNamespace(token_hex=lambda _n: tag))
    return tag


def _drill_databases() -> list[str]:
    admin = _pg_admin()
    try:
        with admin.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT datname FROM pg_database WHERE datname LIKE 'booking_drill_%'")
            )
            return [row[0] for row in rows]
    finally:
        admin.dispose()


# --------------------------------------------------------------------------- rotation


def _days(start: datetime, count: int) -> list[datetime]:
    return [start + timedelta(days=i) for i in range(count)]


def test_rotation_keeps_the_newest_archive_of_each_day() -> None:
    stamps = [T0, T0 + timedelta(hours=5), T0 + timedelta(days=1), T0 + timedelta(days=1, hours=1)]
    assert ops.retained(stamps, daily=30, weekly=0, monthly=0) == {stamps[1], stamps[3]}


def test_rotation_keeps_30_daily_archives() -> None:
    stamps = _days(T0, 40)
    assert ops.retained(stamps, weekly=0, monthly=0) == set(stamps[-30:])


def test_rotation_weeks_start_on_monday_utc() -> None:
    saturday = datetime(2026, 1, 3, 12, tzinfo=UTC)
    sunday_late = datetime(2026, 1, 4, 23, 59, 59, tzinfo=UTC)
    monday = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
    kept = ops.retained([saturday, sunday_late, monday], daily=0, weekly=12, monthly=0)
    assert kept == {sunday_late, monday}
    # Buckets are UTC: Monday 00:30 in Berlin is Sunday 23:30 UTC, the same week as Saturday.
    monday_in_berlin = datetime(2026, 1, 5, 0, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    kept = ops.retained([saturday, monday_in_berlin], daily=0, weekly=12, monthly=0)
    assert kept == {monday_in_berlin}


def test_rotation_months_end_at_midnight_utc() -> None:
    jan_last = datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC)
    jan_first = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    feb_first = datetime(2026, 2, 1, 0, 0, tzinfo=UTC)
    kept = ops.retained([jan_first, jan_last, feb_first], daily=0, weekly=0, monthly=12)
    assert kept == {jan_last, feb_first}
    assert ops.retained(_days(datetime(2024, 1, 15, tzinfo=UTC), 800), daily=0, weekly=0) == {
        datetime(y, m, d, tzinfo=UTC)
        for y, m, d in [(2026, 3, 24)]
        + [(2026, m, {1: 31, 2: 28}[m]) for m in (1, 2)]
        + [(2025, m, [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]) for m in range(4, 13)]
    }


def test_rotation_over_two_years_of_daily_backups() -> None:
    stamps = _days(datetime(2024, 1, 1, 2, 30, tzinfo=UTC), 731)  # ... 2025-12-31
    assert stamps[-1].date().isoformat() == "2025-12-31"
    kept = {ts.date().isoformat() for ts in ops.retained(stamps)}
    daily = {f"2025-12-{d:02d}" for d in range(2, 32)}
    weekly = {"2025-11-30", "2025-11-23", "2025-11-16", "2025-11-09", "2025-11-02"}
    weekly |= {"2025-10-26", "2025-10-19"}  # Sundays; Dec 7..28 and Dec 31 are daily already
    monthly = {"2025-10-31", "2025-09-30", "2025-08-31", "2025-07-31", "2025-06-30"}
    monthly |= {"2025-05-31", "2025-04-30", "2025-03-31", "2025-02-28", "2025-01-31"}
    assert kept == daily | weekly | monthly
    assert len(kept) == 30 + 7 + 10


def test_rotation_never_drops_rare_backups() -> None:
    """Days without backups use no slot: ten backups 20 days apart are all kept."""
    stamps = [T0 + timedelta(days=20 * i) for i in range(10)]
    assert ops.retained(stamps) == set(stamps)
    assert ops.retained([]) == set()


def test_rotate_deletes_archives_with_their_checksum_and_manifest(tmp_path: Path) -> None:
    stamps = _days(T0, 35)
    for ts in stamps:
        for suffix in ("", ops.CHECKSUM_SUFFIX, ops.MANIFEST_SUFFIX):
            (tmp_path / (ops.archive_name(ts, ops.SQLITE) + suffix)).write_text("x")
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / backup_status.STATUS_FILE).write_text("{}")
    deleted = ops.rotate(tmp_path, weekly=0, monthly=0)
    assert len(deleted) == 5 * 3
    remaining = ops.list_archives(tmp_path)
    assert [a.created for a in remaining] == stamps[-30:]
    assert all(a.checksum_path.exists() and a.manifest_path.exists() for a in remaining)
    assert (tmp_path / "notes.txt").exists() and (tmp_path / backup_status.STATUS_FILE).exists()
    assert len(list(tmp_path.iterdir())) == 30 * 3 + 2


def test_backup_rotates_after_success(sqlite_url: str, backup_dir: Path) -> None:
    for i in range(3):
        ops.backup(sqlite_url, backup_dir, now=T0 + timedelta(days=i), keep=None)
    result = ops.backup(sqlite_url, backup_dir, now=T0 + timedelta(days=3), keep=(2, 0, 0))
    assert len(result.deleted) == 2 * 3
    assert [a.created for a in ops.list_archives(backup_dir)] == [
        T0 + timedelta(days=2),
        T0 + timedelta(days=3),
    ]


def test_archive_names_carry_a_utc_timestamp() -> None:
    berlin = datetime(2026, 7, 1, 2, 0, 5, tzinfo=UTC).astimezone(ZoneInfo("Europe/Berlin"))
    name = ops.archive_name(berlin, ops.POSTGRESQL)
    assert name == "booking-20260701T020005Z.pgdump"
    parsed = ops.parse_archive(Path(name))
    assert parsed is not None and parsed.created == berlin and parsed.backend == ops.POSTGRESQL
    assert ops.parse_archive(Path("booking-20260701T020005Z.sqlite3.gz.sha256")) is None


# --------------------------------------------------------------------------- CLI


def _cli(data_dir: Path, *args: str, database_url: str | None = None):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "BOOKING_DATA_DIR": str(data_dir)}
    if database_url:
        env["BOOKING_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "booking", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_the_cli_backs_up_drills_and_restores(tmp_path: Path, backend: str, request):
    database_url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    if database_url is None:
        assert _cli(tmp_path, "migrate").returncode == 0
    seeded = _cli(tmp_path, "demo", database_url=database_url)
    assert seeded.returncode == 0, seeded.stderr
    made = _cli(tmp_path, "backup", database_url=database_url)
    assert made.returncode == 0, made.stderr
    assert "Sicherung geschrieben" in made.stdout
    listed = _cli(tmp_path, "backups", database_url=database_url)
    assert (
        "1 Sicherung(en)" in listed.stdout and "Letzte erfolgreiche Sicherung: 20" in listed.stdout
    )

    drilled = _cli(tmp_path, "restore-drill", "--live", database_url=database_url)
    assert drilled.returncode == 0, drilled.stdout + drilled.stderr
    assert "Probe bestanden" in drilled.stdout and "ABWEICHUNG" not in drilled.stdout

    url = database_url or f"sqlite:///{tmp_path}/booking.sqlite3"
    before = ops.live_stats(url)
    _destroy(url)
    refused = _cli(tmp_path, "restore", "latest", database_url=database_url)  # no --yes, no tty
    assert refused.returncode == 1 and "--yes" in refused.stderr
    restored = _cli(tmp_path, "restore", "latest", "--yes", database_url=database_url)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert ops.live_stats(url) == before

    archive = ops.resolve_archive(tmp_path / "backups", None)
    archive.path.write_bytes(archive.path.read_bytes() + b"tampered")
    failed = _cli(tmp_path, "restore-drill", database_url=database_url)
    assert failed.returncode == 1 and "stimmt nicht" in failed.stderr
    failed = _cli(tmp_path, "restore", archive.path.name, "--yes", database_url=database_url)
    assert failed.returncode == 1 and "stimmt nicht" in failed.stderr

    full = _cli(tmp_path, "backup", "--min-free-percent", "100", database_url=database_url)
    assert full.returncode == 3 and "Zu wenig Speicherplatz" in full.stderr


# --------------------------------------------------------------------------- memory


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_the_backup_fits_the_units_memory_limit(tmp_path: Path, backend: str, request):
    """`booking backup` (and pg_dump, its child) inside a memory cgroup with the MemoryMax of
    deploy/systemd/booking-backup.service: no OOM kill; prints the peak for the docs."""
    unit = (Path(__file__).parents[1] / "deploy/systemd/booking-backup.service").read_text()
    limit_mb = int(next(line for line in unit.splitlines() if line.startswith("MemoryMax="))[10:-1])
    database_url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    if database_url is None:
        assert _cli(tmp_path, "migrate").returncode == 0
    assert _cli(tmp_path, "demo", database_url=database_url).returncode == 0
    with memory_cgroup("booking-backup-test", limit_mb << 20) as group:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "BOOKING_DATA_DIR": str(tmp_path)}
        if database_url:
            env["BOOKING_DATABASE_URL"] = database_url
        result = subprocess.run(
            in_cgroup(group, [sys.executable, "-m", "booking", "backup"]),
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        peak = int((group / "memory.max_usage_in_bytes").read_text()) >> 20
        oom = (group / "memory.oom_control").read_text()
        print(f"{backend}: peak {peak} MB of {limit_mb} MB (cgroup v1, page cache included)")  # noqa: T201
        assert result.returncode == 0, result.stderr
        assert "oom_kill 0" in oom or "oom_kill" not in oom


# --------------------------------------------------------------------------- systemd units

SYSTEMD = Path(__file__).parents[1] / "deploy" / "systemd"


def _unit_values(path: Path, section: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("["):
            current = line
        elif line and not line.startswith("#") and current == section:
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_the_backup_unit_is_hardened_and_runs_the_live_release() -> None:
    service = _unit_values(SYSTEMD / "booking-backup.service", "[Service]")
    expected = {
        "Type": "oneshot",
        "User": "booking",
        "ExecStart": "/opt/booking/current/venv/bin/booking backup",
        "ProtectSystem": "strict",
        "ReadWritePaths": "/var/lib/booking",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "CapabilityBoundingSet": "",
        "UMask": "0077",
        "Slice": "booking.slice",
    }
    for key, value in expected.items():
        assert service.get(key) == [value], f"{key}={service.get(key)}"
    backup_dir = next(v for v in service["Environment"] if v.startswith("BOOKING_BACKUP_DIR="))
    assert backup_dir.split("=", 1)[1].startswith(service["ReadWritePaths"][0] + "/")
    assert int(service["MemoryHigh"][0][:-1]) < int(service["MemoryMax"][0][:-1]) <= 128
    assert "BOOKING_DATABASE_URL_FILE=%d/database_url" in service["Environment"]
    timer = _unit_values(SYSTEMD / "booking-backup.timer", "[Timer]")
    assert timer["OnCalendar"] == ["*-*-* 03:15:00"] and timer["Persistent"] == ["true"]
    assert _unit_values(SYSTEMD / "booking-backup.timer", "[Install]")["WantedBy"] == [
        "timers.target"
    ]


def test_systemd_analyze_verifies_the_backup_units(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is missing (Debian package systemd)")
    prefix = tmp_path / "opt-booking"  # /opt/booking does not exist here: a stand-in executable
    executable = prefix / "current" / "venv" / "bin" / "booking"
    executable.parent.mkdir(parents=True)
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    for name in ("booking-backup.service", "booking-backup.timer", "booking.slice"):
        if (SYSTEMD / name).exists():
            text = (SYSTEMD / name).read_text().replace("/opt/booking", str(prefix))
            (tmp_path / name).write_text(text)
    verify = subprocess.run(
        [tool, "verify", "./booking-backup.service", "./booking-backup.timer"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stdout + verify.stderr
    security = subprocess.run(
        [tool, "security", "--offline=yes", "--no-pager", "./booking-backup.service"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout)
    assert match, security.stdout[-2000:] + security.stderr
    assert float(match.group(1)) <= 2.0, security.stdout[-3000:]
