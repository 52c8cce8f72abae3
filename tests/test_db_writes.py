"""booking/db: SQLite writers of one process queue on a lock, not in SQLite's busy handler."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import text

from booking.db import Database


def test_a_waiting_sqlite_writer_holds_no_connection_until_the_first_one_is_done(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'writers.db'}")
    with db.write() as session:
        session.execute(text("CREATE TABLE log (who TEXT)"))
    first_inside, first_may_finish = threading.Event(), threading.Event()
    order: list[str] = []

    def first() -> None:
        with db.write() as session:
            session.execute(text("INSERT INTO log VALUES ('first')"))
            first_inside.set()
            first_may_finish.wait(10)
            order.append("first done")

    def second() -> None:
        with db.write() as session:
            order.append("second in")
            session.execute(text("INSERT INTO log VALUES ('second')"))

    writers = [threading.Thread(target=first), threading.Thread(target=second)]
    writers[0].start()
    assert first_inside.wait(10)
    writers[1].start()
    time.sleep(0.3)  # time for the second writer to reach its wait
    # Waiting in SQLite's busy handler, it would hold a pooled connection in BEGIN IMMEDIATE.
    assert db.engine.pool.checkedout() == 1  # type: ignore[attr-defined]
    first_may_finish.set()
    for writer in writers:
        writer.join(10)
    assert order == ["first done", "second in"]
    with db.connect() as connection:
        assert connection.execute(text("SELECT who FROM log")).scalars().all() == [
            "first",
            "second",
        ]
    db.dispose()


def test_postgresql_writers_are_not_serialised_by_the_process() -> None:
    db = Database("postgresql://nobody@127.0.0.1:1/none")  # no connection is made here
    assert not hasattr(db._writer, "acquire")
