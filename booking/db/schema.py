"""Is the database's schema the one this code expects? Answered without importing Alembic, so
start-up and the readiness probe stay cheap; a test keeps HEAD equal to Alembic's head."""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

HEAD = "20261126_0009"


def current_revision(engine: Engine) -> str | None:
    """The revision stamped in ``alembic_version``, or None for an empty database."""
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return None


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == HEAD


def outdated_message(revision: str | None) -> str:
    state = "ist leer" if revision is None else f"hat Stand {revision}, erwartet {HEAD}"
    return (
        f"Das Datenbankschema {state}. Bitte zuerst `booking migrate` ausführen "
        f"(database schema is not up to date: run `booking migrate`)."
    )
