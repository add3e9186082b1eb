"""Storage on SQLite and PostgreSQL: migrations from empty, round trips, personal data kept apart."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import BaseModel
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from models.db import alembic_config, create_db_engine, head_revision, is_at_head, is_empty, migrate
from models.kinds import KINDS
from models.refs import ReferenceCheckError
from models.repository import ConflictError, NotFoundError, Repository
from models.tables import Base, Contact, Interaction
from tests.conftest import TEST_SECRET, PostgresDatabases
from tests.factories import VALID_ID_NUMBER, one_change, samples


def _load_samples(factory: sessionmaker[Session]) -> dict[str, int]:
    """Create every sample through the repository; returns slug -> row id."""
    ids: dict[str, int] = {}
    with factory() as session, session.begin():
        repository = Repository(session, secret=TEST_SECRET)
        for slug, records in samples().items():
            spec = KINDS[slug]
            ids[slug] = repository.create(spec, spec.create.model_validate(records[0])).id
    return ids


def test_migrations_build_the_whole_schema_from_empty(empty_database_url: str) -> None:
    engine = create_db_engine(empty_database_url)
    assert inspect(engine).get_table_names() == []
    migrate(engine)
    migrate(engine)  # running again is a no-op
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == [], "the models changed without a migration"
    assert is_empty(engine)
    engine.dispose()


def test_the_head_revision_read_from_file_names_is_alembics() -> None:
    assert head_revision() == ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_a_database_at_the_newest_migration_is_not_migrated_again(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    command.upgrade(alembic_config(url), "0008")
    engine = create_db_engine(url)
    assert not is_at_head(engine)
    migrate(engine)  # one behind: migrated
    assert is_at_head(engine)

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("migrated a database already at the newest migration")

    monkeypatch.setattr(command, "upgrade", refuse)
    migrate(engine)
    engine.dispose()


def _migrate_at_once(database_url: str, start: Any) -> None:
    """One process: migrates ``database_url`` as soon as every other process is ready to."""
    engine = create_db_engine(database_url)
    start.wait(timeout=120)
    migrate(engine)
    engine.dispose()


@pytest.mark.postgres
def test_hosts_starting_together_on_one_empty_postgres_migrate_it_once(
    postgres_databases: PostgresDatabases,
) -> None:
    """Two hosts of one release, started together, both migrate on start: one waits for the
    other's migration instead of failing on the tables it made."""
    name = postgres_databases.create(migrated=False)
    url = postgres_databases.url(name)
    try:
        context: Any = multiprocessing.get_context("spawn")
        start = context.Barrier(2)
        hosts = [context.Process(target=_migrate_at_once, args=(url, start)) for _ in range(2)]
        for host in hosts:
            host.start()
        for host in hosts:
            host.join(timeout=120)
        assert [host.exitcode for host in hosts] == [0, 0]
        engine = create_db_engine(url)
        assert is_at_head(engine)
        engine.dispose()
    finally:
        postgres_databases.drop(name)


def test_sqlite_runs_in_wal_mode(tmp_path: Any) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_every_kind_round_trips_through_the_repository(
    factory: sessionmaker[Session], engine: Engine
) -> None:
    ids = _load_samples(factory)
    assert not is_empty(engine)
    with factory() as session, session.begin():
        repository = Repository(session, secret=TEST_SECRET)
        for slug, records in samples().items():
            spec = KINDS[slug]
            public = repository.public(spec, [repository.get(spec, ids[slug])])[0]
            expected = spec.create.model_validate(records[0]).model_dump(exclude=set(spec.write_only))
            assert public.model_dump(include=set(expected)) == expected, slug
            change = one_change()[slug]
            updated = repository.update(spec, ids[slug], spec.update.model_validate(change))
            after = repository.public(spec, [updated])[0].model_dump()
            assert {k: after[k] for k in change} == _normalised(spec.update.model_validate(change), change)


def _normalised(model: BaseModel, change: dict[str, Any]) -> dict[str, Any]:
    return {key: getattr(model, key) for key in change}


def test_investor_public_lists_its_portfolio(factory: sessionmaker[Session]) -> None:
    ids = _load_samples(factory)
    with factory() as session:
        repository = Repository(session, secret=TEST_SECRET)
        investor = repository.public(
            KINDS["investors"], [repository.get(KINDS["investors"], ids["investors"])]
        )[0]
    assert investor.model_dump()["portfolio"] == ["S-1"]


def test_update_is_checked_against_the_stored_profile(factory: sessionmaker[Session]) -> None:
    ids = _load_samples(factory)
    spec = KINDS["spaces"]
    with factory() as session, session.begin():
        repository = Repository(session, secret=TEST_SECRET)
        with pytest.raises(Exception, match="seats_vacant"):
            repository.update(spec, ids["spaces"], spec.update.model_validate({"seats_total": 2}))


def test_deleting_a_profile_removes_its_interactions(factory: sessionmaker[Session]) -> None:
    ids = _load_samples(factory)
    with factory() as session, session.begin():
        Repository(session, secret=TEST_SECRET).delete(KINDS["startups"], ids["startups"])
    with factory() as session:
        assert session.scalars(select(Interaction)).all() == []
        with pytest.raises(NotFoundError):
            Repository(session, secret=TEST_SECRET).get(KINDS["startups"], ids["startups"])


def test_duplicate_external_id_is_a_conflict(factory: sessionmaker[Session]) -> None:
    _load_samples(factory)
    spec = KINDS["mentors"]
    with factory() as session, session.begin(), pytest.raises(ConflictError, match="external_id"):
        Repository(session, secret=TEST_SECRET).create(
            spec, spec.create.model_validate(samples()["mentors"][0])
        )


def test_reference_to_a_missing_profile_names_the_field(factory: sessionmaker[Session]) -> None:
    spec = KINDS["startups"]
    record = samples()["startups"][0]
    with factory() as session, session.begin(), pytest.raises(ReferenceCheckError) as caught:
        Repository(session, secret=TEST_SECRET).create(spec, spec.create.model_validate(record))
    assert caught.value.field == "team.0.person_external_id"


def test_id_number_is_kept_only_as_keyed_hash_and_mask(
    factory: sessionmaker[Session], engine: Engine
) -> None:
    _load_samples(factory)
    with factory() as session:
        contact = session.scalars(select(Contact)).one()
    assert contact.phone == "13800138000"
    assert contact.id_number_masked == VALID_ID_NUMBER[:3] + "*" * 11 + VALID_ID_NUMBER[-4:]
    assert contact.id_number_hash is not None
    assert VALID_ID_NUMBER not in contact.id_number_hash
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                assert VALID_ID_NUMBER not in " ".join(map(str, row)), table.name


def test_an_id_number_registers_one_person_only(factory: sessionmaker[Session]) -> None:
    _load_samples(factory)
    spec = KINDS["persons"]
    twin = samples()["persons"][1] | {"external_id": "P-9", "id_number": VALID_ID_NUMBER}
    with factory() as session, session.begin(), pytest.raises(ReferenceCheckError, match="id_number"):
        Repository(session, secret=TEST_SECRET).create(spec, spec.create.model_validate(twin))
