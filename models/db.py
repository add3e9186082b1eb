"""Engines, sessions and migrations for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    String,
    cast,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.orm import Session, sessionmaker

import models.changes  # noqa: F401  (every session records the change feed)
from models.settings import Settings

if TYPE_CHECKING:
    from alembic.config import Config

SQLITE_BUSY_TIMEOUT_MS = 30_000
# The largest integer both SQLite and PostgreSQL (bigint) take: a bound for offsets a client sends.
SQL_INTEGER_MAX = 2**63 - 1
# Any fixed number (the change feed's is another): the key of the PostgreSQL advisory lock
# taken while migrating.
_PG_MIGRATION_LOCK = 7_302_115


def _json_dumps(value: Any) -> str:
    # Chinese stays readable in the database and JSON-text filters can match it literally.
    return json.dumps(value, ensure_ascii=False)


def create_db_engine(url: str) -> Engine:
    """A SQLAlchemy engine with the pragmas the embedded SQLite default needs for concurrent use."""
    # hide_parameters: a database error's message (and so any log of it) must not carry the
    # values written, which may be personal data.
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            json_serializer=_json_dumps,
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, json_serializer=_json_dumps, hide_parameters=True, pool_pre_ping=True)


def enable_wal(dbapi_connection: Any, *, timeout_s: float = SQLITE_BUSY_TIMEOUT_MS / 1000) -> None:
    """Switch a SQLite connection to WAL, waiting out another process doing the same.

    Two processes opening a new file at once race for the lock the switch needs, and SQLite
    answers "database is locked" without calling the busy handler; so retry until the timeout.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    enable_wal(dbapi_connection)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleted rows are overwritten, not left in free pages: an erased person must not linger.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def engine_for(settings: Settings) -> Engine:
    settings.ensure_dirs()
    return create_db_engine(settings.resolved_database_url)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


class Database(NamedTuple):
    engine: Engine
    sessions: sessionmaker[Session]


def open_database(target: Settings | str) -> Database:
    """A database (the settings' one, or a URL) migrated to the newest schema, and a session
    factory on it.

    What every entry point (the API, each CLI command) does first; the caller disposes of the engine.
    """
    engine = create_db_engine(target) if isinstance(target, str) else engine_for(target)
    migrate(engine)
    return Database(engine, session_factory(engine))


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed together or not at all."""
    with factory() as session, session.begin():
        yield session


def json_list_contains(column: Any, value: str) -> ColumnElement[bool]:
    """Portable "JSON array contains this string" for SQLite and PostgreSQL."""
    needle = _json_dumps(value)
    return cast(column, String).contains(needle, autoescape=True)


MIGRATIONS = files("models") / "migrations"


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest migration's revision, read from the file names (``0009_space_occupancy.py``
    holds revision ``0009``) without loading alembic or the migrations."""
    versions = MIGRATIONS / "versions"
    names = [entry.name for entry in versions.iterdir() if entry.name.endswith(".py")]
    return max(name.split("_", 1)[0] for name in names if name[:1].isdigit())


def is_at_head(engine: Engine) -> bool:
    """Whether the schema is at the newest migration: one read, no alembic."""
    with engine.connect() as connection:
        return _at_head(connection)


def _at_head(connection: Connection) -> bool:
    if not inspect(connection).has_table("alembic_version"):
        return False
    return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars()) == [
        head_revision()
    ]


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (from an empty database too).

    Every CLI command and server start calls this; at the newest migration already it is one
    read (loading alembic and the migration scripts cost ~0.5 s of a one-off command).
    """
    if is_at_head(engine):
        return
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Hosts started together on a new release: one migrates, the others wait for its
            # commit and then find the schema at the newest migration.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            if _at_head(connection):
                return
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def is_empty(engine: Engine) -> bool:
    """True when no profile of any kind is stored (or the schema does not exist yet)."""
    from models.tables import PROFILE_TABLES

    if not inspect(engine).has_table("startups"):
        return True
    with Session(engine) as session:
        return all(session.scalar(select(table.id).limit(1)) is None for table in PROFILE_TABLES.values())
