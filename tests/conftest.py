"""Shared fixtures: every storage test runs on SQLite and on PostgreSQL.

The PostgreSQL variant skips where no server answers, except in CI (CI=true), where a
missing server is a failure.
"""

from __future__ import annotations

import os
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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of its own: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'matcher.db'}"
        return
    _postgres_or_skip()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


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
