"""Backups: ``booking backup``, ``booking restore``, ``booking restore-drill``, ``booking backups``.

Files in the backup directory (``BOOKING_BACKUP_DIR``, default ``<data dir>/backups``), all 0600:

``booking-20260102T030405Z.pgdump``
    PostgreSQL: ``pg_dump --format=custom --compress=6`` (the custom format compresses itself,
    so there is no second compression).
``booking-20260102T030405Z.sqlite3.gz``
    SQLite: a copy made with the online backup API (consistent while the app keeps writing),
    checked with ``PRAGMA integrity_check`` and gzip-compressed. gzip rather than lzma: lzma's
    default preset needs about 94 MB of memory to compress, too much on a 512 MB board.
``<archive>.manifest.json``
    Per table: row count and a SHA-256 over all rows ordered by primary key, taken from exactly
    the data in the archive (SQLite: from the copy; PostgreSQL: in the same transaction snapshot
    that ``pg_dump --snapshot`` dumps). ``restore`` and ``restore-drill`` compare against it,
    so the drill needs no quiet period on the live database.
``<archive>.sha256``
    ``sha256sum -c`` compatible lines for the archive and the manifest.
``last-success.json``
    Written only after a complete, verified backup (``booking.lib.backup_status``); monitoring
    reads it.

Rotation (over all archives in the directory, SQLite and PostgreSQL alike) keeps, by the UTC
timestamps in the names, the newest archive of each of the last 30
days, 12 ISO weeks and 12 months that have archives (grandfather-father-son; the three rules
count independently, as in restic/borg). Days without backups do not use up a slot, so a
stopped timer never makes rotation delete the last good archives.

Disk space: a backup refuses to start when the free space left after the estimated archive
would be below ``min_free_percent`` (default 10 %) of the file system. The estimate is
deliberately high: SQLite 2x the database file (uncompressed copy + archive), PostgreSQL
``pg_database_size`` (the compressed dump is much smaller).

Exit codes: 0 ok; 1 failed (checksum mismatch, drill difference, tool error, ...);
2 configuration error; 3 refused because the disk is nearly full.

Temporary files (uncompressed copies, scratch databases) live in the backup directory, not in
/tmp, which is a RAM-backed tmpfs in the container and under systemd's PrivateTmp.
All commands take an exclusive lock (``<backup dir>/.lock``), so a timer-started backup and
an operator's restore never overlap.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Connection, create_engine, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from booking.db import normalise_url
from booking.lib import backup_status

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_DISK_FULL = 3

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
SUFFIXES = {SQLITE: ".sqlite3.gz", POSTGRESQL: ".pgdump"}
NAME_RE = re.compile(r"^booking-(\d{8}T\d{6}Z)(\.sqlite3\.gz|\.pgdump)$")
STAMP = "%Y%m%dT%H%M%SZ"
MANIFEST_SUFFIX = ".manifest.json"
CHECKSUM_SUFFIX = ".sha256"
TMP_PREFIX = ".tmp-"
LOCK_FILE = ".lock"
MANIFEST_FORMAT = 1
KEEP_DAILY, KEEP_WEEKLY, KEEP_MONTHLY = 30, 12, 12
DEFAULT_MIN_FREE_PERCENT = 10.0
CHUNK = 1 << 20


class BackupError(Exception):
    """A backup operation failed or was refused; the message says why, for an operator."""

    exit_code = EXIT_FAILED


class DiskFullError(BackupError):
    exit_code = EXIT_DISK_FULL


class DiskUsage(NamedTuple):
    total: int
    used: int
    free: int


DiskUsageFn = Callable[[Path], DiskUsage]


def _disk_usage(path: Path) -> DiskUsage:
    usage = shutil.disk_usage(path)
    return DiskUsage(usage.total, usage.used, usage.free)


# --------------------------------------------------------------------------- names, listing


@dataclass(frozen=True)
class Archive:
    path: Path
    created: datetime
    backend: str

    @property
    def checksum_path(self) -> Path:
        return self.path.with_name(self.path.name + CHECKSUM_SUFFIX)

    @property
    def manifest_path(self) -> Path:
        return self.path.with_name(self.path.name + MANIFEST_SUFFIX)

    def files(self) -> list[Path]:
        return [self.path, self.manifest_path, self.checksum_path]


def archive_name(created: datetime, backend: str) -> str:
    return f"booking-{created.astimezone(UTC).strftime(STAMP)}{SUFFIXES[backend]}"


def parse_archive(path: Path) -> Archive | None:
    match = NAME_RE.match(path.name)
    if not match:
        return None
    created = datetime.strptime(match.group(1), STAMP).replace(tzinfo=UTC)
    backend = SQLITE if match.group(2) == SUFFIXES[SQLITE] else POSTGRESQL
    return Archive(path, created, backend)


def list_archives(backup_dir: Path) -> list[Archive]:
    """Archives in ``backup_dir``, oldest first."""
    if not backup_dir.is_dir():
        return []
    found = (parse_archive(path) for path in backup_dir.iterdir() if path.is_file())
    return sorted((a for a in found if a is not None), key=lambda a: (a.created, a.path.name))


def resolve_archive(backup_dir: Path, given: str | None) -> Archive:
    """``given`` as a path or a name in the backup directory; None or ``latest``: the newest."""
    if given is None or given == "latest":
        archives = list_archives(backup_dir)
        if not archives:
            raise BackupError(f"Keine Sicherung in {backup_dir} gefunden.")
        return archives[-1]
    path = Path(given)
    if not path.exists() and (backup_dir / given).exists():
        path = backup_dir / given
    if not path.is_file():
        raise BackupError(f"Sicherung {given} nicht gefunden.")
    archive = parse_archive(path)
    if archive is None:
        raise BackupError(
            f"{path.name} ist kein Sicherungsname (erwartet booking-JJJJMMTTTHHMMSSZ"
            f"{SUFFIXES[SQLITE]} oder ...{SUFFIXES[POSTGRESQL]})."
        )
    return archive


# --------------------------------------------------------------------------- rotation


def retained(
    timestamps: Iterable[datetime],
    *,
    daily: int = KEEP_DAILY,
    weekly: int = KEEP_WEEKLY,
    monthly: int = KEEP_MONTHLY,
) -> set[datetime]:
    """The timestamps a grandfather-father-son policy keeps (a pure function).

    For each rule, walk from the newest archive back and keep the newest one of every day
    (ISO week, month) until the rule has kept ``daily`` (``weekly``, ``monthly``) of them.
    Buckets are by UTC date. The rules are independent; the result is their union.
    """
    newest_first = sorted({ts.astimezone(UTC) for ts in timestamps}, reverse=True)
    keep: set[datetime] = set()
    rules: list[tuple[int, Callable[[datetime], object]]] = [
        (daily, lambda ts: ts.date()),
        (weekly, lambda ts: ts.isocalendar()[:2]),
        (monthly, lambda ts: (ts.year, ts.month)),
    ]
    for count, bucket_of in rules:
        seen: set[object] = set()
        for ts in newest_first:
            if len(seen) >= count:
                break
            bucket = bucket_of(ts)
            if bucket not in seen:
                seen.add(bucket)
                keep.add(ts)
    return keep


def rotate(
    backup_dir: Path,
    *,
    daily: int = KEEP_DAILY,
    weekly: int = KEEP_WEEKLY,
    monthly: int = KEEP_MONTHLY,
) -> list[Path]:
    """Delete archives the policy does not keep (with their checksum and manifest files)."""
    archives = list_archives(backup_dir)
    keep = retained((a.created for a in archives), daily=daily, weekly=weekly, monthly=monthly)
    deleted = []
    for archive in archives:
        if archive.created in keep:
            continue
        for path in archive.files():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                deleted.append(path)
    return deleted


# --------------------------------------------------------------------------- helpers


def check_free_space(
    directory: Path,
    estimate: int,
    *,
    min_free_percent: float = DEFAULT_MIN_FREE_PERCENT,
    disk_usage: DiskUsageFn = _disk_usage,
) -> DiskUsage:
    """Refuse (DiskFullError) when ``free - estimate`` is below ``min_free_percent`` of the disk."""
    usage = disk_usage(directory)
    reserve = int(usage.total * min_free_percent / 100)
    if usage.free - estimate < reserve:
        raise DiskFullError(
            f"Zu wenig Speicherplatz in {directory}: frei {_size(usage.free)}, "
            f"die Sicherung braucht bis zu {_size(estimate)} und {min_free_percent:g} % "
            f"({_size(reserve)}) sollen frei bleiben. Sicherung nicht gestartet."
        )
    return usage


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _create_private(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    os.chmod(path, 0o600)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(tmp: Path, final: Path) -> None:
    """Make ``tmp`` durable and rename it into place (readers never see a partial file)."""
    _fsync(tmp)
    os.replace(tmp, final)
    _fsync(final.parent)


def _write_private_text(path: Path, content: str) -> None:
    tmp = path.with_name(TMP_PREFIX + path.name)
    _create_private(tmp)
    tmp.write_text(content, encoding="utf-8")
    _publish(tmp, path)


@contextlib.contextmanager
def locked(backup_dir: Path) -> Iterator[None]:
    """One backup operation at a time per backup directory; stale temp files are removed."""
    backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with os.fdopen(os.open(backup_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(
                f"In {backup_dir} läuft bereits eine Sicherung oder Wiederherstellung."
            ) from None
        for stale in backup_dir.glob(TMP_PREFIX + "*"):  # left by a killed run
            with contextlib.suppress(OSError):
                stale.unlink()
        yield


@contextlib.contextmanager
def _database_errors(what: str) -> Iterator[None]:
    """Driver errors (database missing, not a database, connection refused) as BackupError."""
    try:
        yield
    except (sqlite3.Error, SQLAlchemyError) as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise BackupError(f"{what}: Datenbankfehler: {detail}") from exc


def backend_of(url: str) -> str:
    return SQLITE if normalise_url(url).startswith("sqlite") else POSTGRESQL


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("Eine SQLite-Datenbank im Speicher kann nicht gesichert werden.")
    return Path(database)


def mask_url(url: str) -> str:
    return make_url(normalise_url(url)).render_as_string(hide_password=True)


# --------------------------------------------------------------------------- table checksums


@dataclass(frozen=True)
class TableStat:
    rows: int
    sha256: str


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


def table_stats(conn: Connection) -> dict[str, TableStat]:
    """Row count and SHA-256 over every row (ordered by primary key) of every table.

    Rows are read with the driver's own types (no ORM conversion) and serialised as JSON, so the
    digest is stable between two databases of the same backend.
    """
    inspector = inspect(conn)
    quote = conn.dialect.identifier_preparer.quote
    stats = {}
    for table in sorted(inspector.get_table_names()):
        columns = [c["name"] for c in inspector.get_columns(table)]
        order = inspector.get_pk_constraint(table).get("constrained_columns") or columns
        # Identifiers come from the catalog and are quoted by the dialect.
        select_list = ", ".join(quote(c) for c in columns)
        order_by = ", ".join(quote(c) for c in order)
        sql = f"SELECT {select_list} FROM {quote(table)} ORDER BY {order_by}"  # noqa: S608
        digest = hashlib.sha256(json.dumps(columns).encode())
        rows = 0
        result = conn.execution_options(stream_results=True, yield_per=1000).exec_driver_sql(sql)
        for row in result:
            rows += 1
            line = json.dumps(list(row), default=_jsonable, ensure_ascii=False)
            digest.update(line.encode() + b"\n")
        stats[table] = TableStat(rows, digest.hexdigest())
    return stats


def _revision(stats: dict[str, TableStat], conn: Connection) -> str | None:
    if "alembic_version" not in stats:
        return None
    value = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    return str(value) if value is not None else None


@dataclass(frozen=True)
class Manifest:
    backend: str
    created: datetime
    revision: str | None
    tables: dict[str, TableStat]
    database: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": MANIFEST_FORMAT,
                "backend": self.backend,
                "createdAt": self.created.isoformat(),
                "database": self.database,
                "alembicRevision": self.revision,
                "tables": {
                    name: {"rows": stat.rows, "sha256": stat.sha256}
                    for name, stat in self.tables.items()
                },
            },
            indent=2,
        )

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                backend=data["backend"],
                created=datetime.fromisoformat(data["createdAt"]),
                revision=data.get("alembicRevision"),
                tables={
                    name: TableStat(int(t["rows"]), str(t["sha256"]))
                    for name, t in data["tables"].items()
                },
                database=data.get("database", ""),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackupError(f"Manifest {path.name} ist nicht lesbar: {exc}") from None


@dataclass
class Comparison:
    """Per table: (expected, actual) stats; ``differences`` lists what does not match."""

    rows: list[tuple[str, TableStat | None, TableStat | None]] = field(default_factory=list)

    @property
    def differences(self) -> list[str]:
        out = []
        for name, expected, actual in self.rows:
            if expected is None:
                out.append(f"{name}: Tabelle zusätzlich vorhanden")
            elif actual is None:
                out.append(f"{name}: Tabelle fehlt")
            elif expected.rows != actual.rows:
                out.append(f"{name}: {actual.rows} Zeilen statt {expected.rows}")
            elif expected.sha256 != actual.sha256:
                out.append(f"{name}: Inhalt weicht ab (Prüfsumme)")
        return out

    @property
    def ok(self) -> bool:
        return not self.differences

    def report(
        self, expected_label: str = "Sicherung", actual_label: str = "Wiederhergestellt"
    ) -> str:
        width = max([len(name) for name, _, _ in self.rows] + [7])
        lines = [
            f"{'Tabelle':<{width}}  {expected_label:>12}  {actual_label:>17}  Prüfsumme",
        ]
        for name, expected, actual in self.rows:
            exp_rows = "-" if expected is None else str(expected.rows)
            act_rows = "-" if actual is None else str(actual.rows)
            same = expected is not None and actual is not None and expected == actual
            mark = "gleich" if same else "ABWEICHUNG"
            lines.append(f"{name:<{width}}  {exp_rows:>12}  {act_rows:>17}  {mark}")
        return "\n".join(lines)


def compare(expected: dict[str, TableStat], actual: dict[str, TableStat]) -> Comparison:
    names = sorted(set(expected) | set(actual))
    return Comparison([(n, expected.get(n), actual.get(n)) for n in names])


# --------------------------------------------------------------------------- PostgreSQL tools


def _libpq(url: str, database: str | None = None) -> tuple[str, dict[str, str]]:
    """A libpq conninfo string (no password) and an environment carrying the password."""
    parsed: URL = make_url(normalise_url(url))
    params: dict[str, str] = {}
    if parsed.host:
        params["host"] = parsed.host
    if parsed.port:
        params["port"] = str(parsed.port)
    if parsed.username:
        params["user"] = parsed.username
    params["dbname"] = database or parsed.database or ""
    for key, value in parsed.query.items():
        params[key] = value if isinstance(value, str) else value[-1]

    def quoted(value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    conninfo = " ".join(f"{key}={quoted(value)}" for key, value in params.items())
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    return conninfo, env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} nicht gefunden; bitte den PostgreSQL-Client installieren "
            f"(Debian: postgresql-client, gleiche Hauptversion wie der Server)."
        )
    return path


def _run(args: list[str], env: dict[str, str]) -> None:
    # A fixed argument list, no shell; the only variable parts are paths and a conninfo string.
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        tool = Path(args[0]).name
        detail = (result.stderr or result.stdout).strip()
        raise BackupError(f"{tool} ist fehlgeschlagen (Code {result.returncode}): {detail}")


def _pg_engine(url: str, database: str | None = None):  # type: ignore[no-untyped-def]
    parsed = make_url(normalise_url(url))
    if database is not None:
        parsed = parsed.set(database=database)
    return create_engine(parsed, poolclass=NullPool)


# --------------------------------------------------------------------------- backup


@dataclass(frozen=True)
class BackupResult:
    archive: Path
    sha256: str
    size: int
    manifest: Manifest
    deleted: list[Path]


def backup(
    url: str,
    backup_dir: Path,
    *,
    now: datetime | None = None,
    min_free_percent: float = DEFAULT_MIN_FREE_PERCENT,
    disk_usage: DiskUsageFn = _disk_usage,
    keep: tuple[int, int, int] | None = (KEEP_DAILY, KEEP_WEEKLY, KEEP_MONTHLY),
) -> BackupResult:
    """Write a checksummed archive with its manifest, record the success, then rotate.

    ``keep=None`` skips rotation. Nothing is recorded and no archive appears unless every step
    (dump, integrity check, checksums) succeeded.
    """
    created = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    backend = backend_of(url)
    with locked(backup_dir):
        final = backup_dir / archive_name(created, backend)
        if final.exists():
            raise BackupError(f"{final.name} existiert bereits; bitte eine Sekunde warten.")
        tmp = backup_dir / (TMP_PREFIX + final.name)
        try:
            with _database_errors("Sicherung fehlgeschlagen"):
                if backend == SQLITE:
                    manifest = _backup_sqlite(
                        url, tmp, created, backup_dir, min_free_percent, disk_usage
                    )
                else:
                    manifest = _backup_postgres(
                        url, tmp, created, backup_dir, min_free_percent, disk_usage
                    )
                _publish(tmp, final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        archive = Archive(final, created, backend)
        try:
            _write_private_text(archive.manifest_path, manifest.to_json() + "\n")
            digest = sha256_file(final)
            lines = [
                f"{digest}  {final.name}",
                f"{sha256_file(archive.manifest_path)}  {archive.manifest_path.name}",
            ]
            _write_private_text(archive.checksum_path, "\n".join(lines) + "\n")
        except BaseException:
            for path in archive.files():
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            raise
        size = final.stat().st_size
        backup_status.record_success(backup_dir, final, digest, size)
        deleted = rotate(backup_dir, daily=keep[0], weekly=keep[1], monthly=keep[2]) if keep else []
    return BackupResult(final, digest, size, manifest, deleted)


def _backup_sqlite(
    url: str,
    tmp_archive: Path,
    created: datetime,
    backup_dir: Path,
    min_free_percent: float,
    disk_usage: DiskUsageFn,
) -> Manifest:
    source_path = sqlite_path(url)
    if not source_path.is_file():
        raise BackupError(f"SQLite-Datenbank {source_path} nicht gefunden.")
    # Uncompressed copy plus the archive, at most: twice the database (WAL included).
    wal = source_path.with_name(source_path.name + "-wal")
    estimate = 2 * (source_path.stat().st_size + (wal.stat().st_size if wal.exists() else 0))
    check_free_space(backup_dir, estimate, min_free_percent=min_free_percent, disk_usage=disk_usage)
    copy = backup_dir / f"{TMP_PREFIX}copy-{secrets.token_hex(4)}.sqlite3"
    try:
        _create_private(copy)
        source = sqlite3.connect(source_path, timeout=15)
        try:
            target = sqlite3.connect(copy)
            try:
                source.backup(target)  # one step: a consistent snapshot, writers keep going
                target.execute("PRAGMA journal_mode=DELETE")  # a self-contained file
                _integrity_check(target, "Kopie")
            finally:
                target.close()
        finally:
            source.close()
        manifest = _sqlite_manifest(copy, created, mask_url(url))
        _create_private(tmp_archive)
        with (
            copy.open("rb") as raw,
            tmp_archive.open("wb") as out,
            gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0) as zipped,
        ):
            shutil.copyfileobj(raw, zipped, CHUNK)
    finally:
        with contextlib.suppress(FileNotFoundError):
            copy.unlink()
    return manifest


def _integrity_check(conn: sqlite3.Connection, what: str) -> None:
    result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    if result != ["ok"]:
        raise BackupError(f"{what} ist beschädigt (integrity_check): {'; '.join(result[:5])}")


def _sqlite_manifest(path: Path, created: datetime, database: str) -> Manifest:
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            stats = table_stats(conn)
            revision = _revision(stats, conn)
    finally:
        engine.dispose()
    return Manifest(SQLITE, created, revision, stats, database)


def _backup_postgres(
    url: str,
    tmp_archive: Path,
    created: datetime,
    backup_dir: Path,
    min_free_percent: float,
    disk_usage: DiskUsageFn,
) -> Manifest:
    pg_dump = _tool("pg_dump")
    conninfo, env = _libpq(url)
    engine = _pg_engine(url)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                size = conn.exec_driver_sql("SELECT pg_database_size(current_database())")
                check_free_space(
                    backup_dir,
                    int(size.scalar_one()),
                    min_free_percent=min_free_percent,
                    disk_usage=disk_usage,
                )
                # pg_dump dumps exactly this transaction's snapshot; the manifest reads it too.
                snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
                _create_private(tmp_archive)
                _run(
                    [
                        pg_dump,
                        "--format=custom",
                        "--compress=6",
                        f"--snapshot={snapshot}",
                        f"--file={tmp_archive}",
                        f"--dbname={conninfo}",
                    ],
                    env,
                )
                stats = table_stats(conn)
                revision = _revision(stats, conn)
    finally:
        engine.dispose()
    # A dump pg_restore cannot list is no backup.
    _run([_tool("pg_restore"), "--list", str(tmp_archive)], env)
    return Manifest(POSTGRESQL, created, revision, stats, mask_url(url))


# --------------------------------------------------------------------------- verify, restore


def verify_checksums(archive: Archive) -> str:
    """Check ``<archive>.sha256`` (archive and manifest); return the archive's digest."""
    if not archive.checksum_path.is_file():
        raise BackupError(
            f"Prüfsummendatei {archive.checksum_path.name} fehlt; ungeprüfte Sicherungen "
            "werden nicht wiederhergestellt."
        )
    expected: dict[str, str] = {}
    for line in archive.checksum_path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([0-9a-f]{64}) [ *](.+)$", line.strip())
        if match:
            expected[match.group(2)] = match.group(1)
    if archive.path.name not in expected:
        raise BackupError(f"{archive.checksum_path.name} enthält keine Prüfsumme für das Archiv.")
    for name, digest in expected.items():
        if "/" in name or name in (".", ".."):
            raise BackupError(f"{archive.checksum_path.name}: unzulässiger Dateiname {name!r}.")
        path = archive.path.with_name(name)
        if not path.is_file():
            raise BackupError(f"{name} fehlt (in {archive.checksum_path.name} aufgeführt).")
        actual = sha256_file(path)
        if actual != digest:
            raise BackupError(
                f"Prüfsumme von {name} stimmt nicht: erwartet {digest}, "
                f"berechnet {actual}. Die Datei ist beschädigt oder verändert; "
                "sie wird nicht wiederhergestellt."
            )
    return expected[archive.path.name]


def _read_manifest(archive: Archive, *, required: bool) -> Manifest | None:
    if not archive.manifest_path.is_file():
        if required:
            raise BackupError(f"Manifest {archive.manifest_path.name} fehlt.")
        return None
    manifest = Manifest.read(archive.manifest_path)
    if manifest.backend != archive.backend:
        raise BackupError(f"Manifest gehört zu {manifest.backend}, Archiv zu {archive.backend}.")
    return manifest


def _check_backend(archive: Archive, url: str) -> None:
    target = backend_of(url)
    if archive.backend != target:
        raise BackupError(
            f"{archive.path.name} ist eine {archive.backend}-Sicherung, die Datenbank "
            f"({mask_url(url)}) ist {target}."
        )


def _decompress(archive: Path, target: Path) -> None:
    _create_private(target)
    try:
        with gzip.open(archive, "rb") as zipped, target.open("wb") as out:
            shutil.copyfileobj(zipped, out, CHUNK)
    except (OSError, EOFError) as exc:
        raise BackupError(f"{archive.name} lässt sich nicht entpacken: {exc}") from None


@dataclass(frozen=True)
class RestoreResult:
    archive: Archive
    comparison: Comparison | None


def restore(url: str, archive: Archive, backup_dir: Path) -> RestoreResult:
    """Verify the archive, then replace the database's content with it.

    SQLite: the archive is unpacked and checked (integrity_check, manifest) in a temporary file
    first; then the online backup API copies it into the live file in one write transaction,
    so connections of a running app see either the old or the new database, never a mix, and
    the WAL/SHM files stay consistent (a file rename would not be safe with WAL). PostgreSQL:
    ``pg_restore --clean --if-exists --no-owner --single-transaction``: all or nothing.
    Stop the app anyway (``systemctl stop booking`` / ``docker compose stop app``): requests in
    flight would write into the restored data, and on PostgreSQL its open transactions block
    the DROPs.
    """
    _check_backend(archive, url)
    with locked(backup_dir):
        verify_checksums(archive)
        manifest = _read_manifest(archive, required=False)
        with _database_errors("Wiederherstellung fehlgeschlagen"):
            if archive.backend == SQLITE:
                comparison = _restore_sqlite(url, archive, backup_dir, manifest)
            else:
                comparison = _restore_postgres(url, archive, manifest)
    return RestoreResult(archive, comparison)


def _restore_sqlite(
    url: str, archive: Archive, backup_dir: Path, manifest: Manifest | None
) -> Comparison | None:
    target_path = sqlite_path(url)
    scratch = backup_dir / f"{TMP_PREFIX}restore-{secrets.token_hex(4)}.sqlite3"
    try:
        stats = _unpack_sqlite(archive, scratch)
        comparison = compare(manifest.tables, stats) if manifest else None
        if comparison is not None and not comparison.ok:
            raise BackupError(
                "Der entpackte Inhalt passt nicht zum Manifest; nichts wurde verändert.\n"
                + comparison.report()
            )
        target_path.parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(scratch)
        try:
            target = sqlite3.connect(target_path, timeout=15)
            try:
                target.execute("PRAGMA busy_timeout=15000")
                source.backup(target)
                _integrity_check(target, "Wiederhergestellte Datenbank")
            finally:
                target.close()
        finally:
            source.close()
    finally:
        with contextlib.suppress(FileNotFoundError):
            scratch.unlink()
    return comparison


def _unpack_sqlite(archive: Archive, scratch: Path) -> dict[str, TableStat]:
    """Decompress into ``scratch``, run ``PRAGMA integrity_check``, return the table stats."""
    _decompress(archive.path, scratch)
    try:
        conn = sqlite3.connect(scratch)
        try:
            _integrity_check(conn, archive.path.name)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        msg = f"{archive.path.name} ist keine gültige SQLite-Datenbank: {exc}"
        raise BackupError(msg) from None
    return _sqlite_manifest(scratch, archive.created, "").tables


def _restore_postgres(url: str, archive: Archive, manifest: Manifest | None) -> Comparison | None:
    pg_restore = _tool("pg_restore")
    conninfo, env = _libpq(url)
    _run([pg_restore, "--list", str(archive.path)], env)
    _run(
        [
            pg_restore,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={conninfo}",
            str(archive.path),
        ],
        env,
    )
    if manifest is None:
        return None
    return compare(manifest.tables, _pg_stats(url))


def _pg_stats(url: str, database: str | None = None) -> dict[str, TableStat]:
    engine = _pg_engine(url, database)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                return table_stats(conn)
    finally:
        engine.dispose()


def live_stats(url: str) -> dict[str, TableStat]:
    if backend_of(url) == POSTGRESQL:
        return _pg_stats(url)
    path = sqlite_path(url)
    if not path.is_file():
        raise BackupError(f"SQLite-Datenbank {path} nicht gefunden.")
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return table_stats(conn)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- drill


@dataclass(frozen=True)
class DrillResult:
    archive: Archive
    manifest: Manifest
    comparison: Comparison
    live: Comparison | None = None

    @property
    def ok(self) -> bool:
        return self.comparison.ok and (self.live is None or self.live.ok)


def drill(
    url: str, archive: Archive, backup_dir: Path, *, against_live: bool = False
) -> DrillResult:
    """Restore ``archive`` into a scratch database and compare it with the manifest.

    The manifest was taken from the very data the archive holds, so the drill is exact even
    while the live database keeps changing. ``against_live`` also compares with the live
    database now (only meaningful when nothing was written since the backup, e.g. in tests or
    right after stopping the app). Never touches the live data; the scratch database (a temp
    file, or ``booking_drill_*`` on the same PostgreSQL server, which needs CREATEDB) is
    removed afterwards.
    """
    _check_backend(archive, url)
    with locked(backup_dir):
        verify_checksums(archive)
        manifest = _read_manifest(archive, required=True)
        if manifest is None:  # pragma: no cover - required=True raises instead
            raise BackupError(f"Manifest {archive.manifest_path.name} fehlt.")
        with _database_errors("Probe fehlgeschlagen"):
            if archive.backend == SQLITE:
                scratch = backup_dir / f"{TMP_PREFIX}drill-{secrets.token_hex(4)}.sqlite3"
                try:
                    restored = _unpack_sqlite(archive, scratch)
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        scratch.unlink()
            else:
                restored = _drill_postgres(url, archive)
            live = compare(manifest.tables, live_stats(url)) if against_live else None
    return DrillResult(archive, manifest, compare(manifest.tables, restored), live)


def _drill_postgres(url: str, archive: Archive) -> dict[str, TableStat]:
    pg_restore = _tool("pg_restore")
    name = f"booking_drill_{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}_{secrets.token_hex(3)}"
    admin = _pg_engine(url)
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}" {_same_locale(conn)}')
        try:
            conninfo, env = _libpq(url, database=name)
            _run(
                [
                    pg_restore,
                    "--no-owner",
                    "--single-transaction",
                    "--exit-on-error",
                    f"--dbname={conninfo}",
                    str(archive.path),
                ],
                env,
            )
            return _pg_stats(url, database=name)
        finally:
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def _same_locale(conn: Connection) -> str:
    """CREATE DATABASE options copying the live database's encoding and collation, so that
    ``ORDER BY`` on text keys (and thus the checksums) behave as in the live database."""
    row = conn.exec_driver_sql(
        "SELECT pg_encoding_to_char(encoding), datcollate, datctype, datlocprovider, daticulocale"
        " FROM pg_database WHERE datname = current_database()"
    ).one()

    def literal(value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    options = (
        f"TEMPLATE template0 ENCODING {literal(row[0])} "
        f"LC_COLLATE {literal(row[1])} LC_CTYPE {literal(row[2])}"
    )
    if row[3] == "i" and row[4]:
        options += f" LOCALE_PROVIDER icu ICU_LOCALE {literal(row[4])}"
    return options


# --------------------------------------------------------------------------- listing


def describe(backup_dir: Path) -> str:
    archives = list_archives(backup_dir)
    lines = []
    for archive in archives:
        checksum = "ok" if archive.checksum_path.is_file() else "OHNE PRÜFSUMME"
        lines.append(
            f"{archive.created:%Y-%m-%d %H:%M:%S} UTC  {_size(archive.path.stat().st_size):>9}"
            f"  {archive.path.name}  {checksum}"
        )
    last = backup_status.last_success(backup_dir)
    lines.append(f"{len(archives)} Sicherung(en) in {backup_dir}.")
    lines.append(
        "Letzte erfolgreiche Sicherung: "
        + (f"{last.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if last else "keine")
    )
    return "\n".join(lines)
