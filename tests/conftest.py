"""Shared fixtures: every storage test runs on SQLite and on PostgreSQL.

The PostgreSQL variant skips where no server answers, except in CI (CI=true), where a
missing server is a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from models.db import create_db_engine, migrate, session_factory
from models.settings import Settings
from tests.auth import admin_headers

POSTGRES_URL = os.environ.get(
    "MATCHER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TEST_SECRET = "test-secret"


def _postgres_or_skip() -> None:
    try:
        with create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3}).connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL must answer in CI: {error}")
        pytest.skip("no PostgreSQL server answers")


class PostgresDatabases:
    """Databases of their own on the test server: empty, or copies of one migrated template.

    Copying a template costs ~0.1 s where running the migrations into a fresh schema cost ~1 s,
    paid by hundreds of tests. The template's name is unique to this pytest process, so
    concurrent runs (and xdist workers) never copy a database another is connected to.
    """

    def __init__(self) -> None:
        self._admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        self._template: str | None = None

    def url(self, name: str) -> str:
        return f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"

    def create(self, *, migrated: bool) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        source = f" TEMPLATE {self._migrated_template()} STRATEGY WAL_LOG" if migrated else ""
        self._execute(f'CREATE DATABASE "{name}"{source}')
        return name

    def drop(self, name: str) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        if self._template is not None:
            self.drop(self._template)
        self._admin.dispose()

    def _migrated_template(self) -> str:
        if self._template is None:
            name = self.create(migrated=False)
            engine = create_db_engine(self.url(name))
            migrate(engine)
            engine.dispose()
            self._template = name
        return self._template

    def _execute(self, statement: str) -> None:
        with self._admin.connect() as connection:
            connection.execute(text(statement))


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    _postgres_or_skip()
    databases = PostgresDatabases()
    yield databases
    databases.close()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the newest schema, copied by each test that needs a migrated database."""
    path = tmp_path_factory.mktemp("template") / "matcher.db"
    engine = create_db_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


def _database_url(request: pytest.FixtureRequest, tmp_path: Path, *, migrated: bool) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "matcher.db"
        if migrated:
            shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        yield f"sqlite:///{path}"
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    name = databases.create(migrated=migrated)
    try:
        yield databases.url(name)
    finally:
        databases.drop(name)


DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to a database of its own at the newest schema, holding no rows: a SQLite file or
    a PostgreSQL database."""
    yield from _database_url(request, tmp_path, migrated=True)


@pytest.fixture(params=DATABASES)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """As ``database_url``, without even the schema: for the tests of the migrations themselves."""
    yield from _database_url(request, tmp_path, migrated=False)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", database_url=database_url, environment="test", secret_key=TEST_SECRET
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A client of a fresh app, authenticated as admin (tests/auth.py makes other accounts)."""
    with TestClient(create_app(settings)) as test_client:
        test_client.headers.update(admin_headers(test_client.app))
        yield test_client
