"""Engine and sessions for SQLite and PostgreSQL.

SQLite runs in WAL mode with foreign keys on and a busy timeout. Write transactions start with
``BEGIN IMMEDIATE`` so that two writers queue for the lock instead of one of them failing halfway
(a deferred transaction cannot wait for the lock once it has read). Within the process, writers
also queue on a lock: SQLite's busy handler polls with sleeps of up to 100 ms, which under load
made writes wait long after the lock was free. PostgreSQL writers lock the rows they depend on
with ``SELECT ... FOR UPDATE``; see ``domain.bookings``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

WRITE_OPTION = "booking_write"
SQLITE_BUSY_TIMEOUT_MS = 15_000


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use psycopg 3 for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=3,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"application_name": "booking"},
        hide_parameters=True,  # a logged database error must not carry hashes or addresses
    )


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        from pathlib import Path

        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 15},
        pool_size=5,
        max_overflow=3,
        hide_parameters=True,  # a logged database error must not carry hashes or addresses
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module; "begin" below issues BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # 1 MiB page cache per connection instead of 2: the OS caches the file anyway, and
        # every pooled connection keeps its own cache.
        cursor.execute("PRAGMA cache_size=-1024")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        writing = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine


class Database:
    """The engine plus the two ways the app talks to it: read and write transactions."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, pool_size=pool_size)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        # Re-entrant: a nested write would wait for SQLite's busy timeout, as without this lock.
        self._writer: AbstractContextManager[Any] = (
            threading.RLock() if is_sqlite(self.engine) else nullcontext()
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        return self._sessions()

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A bare connection for Core reads on hot paths (no ORM session bookkeeping)."""
        with self.engine.connect() as connection:
            yield connection

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits on success and holds SQLite's write lock from the start."""
        with self._writer, self._sessions() as session, session.begin():
            session.connection(execution_options={WRITE_OPTION: True})
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
