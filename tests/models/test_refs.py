"""External-id lookups: one indexed query per reference for a request, one per kind for bulk work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from models.enums import EntityKind
from models.kinds import KINDS
from models.refs import ExternalIds, ReferenceCheckError
from models.transfer import import_records
from tests.conftest import TEST_SECRET

PERSONS = 50


@contextmanager
def _counted(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.fixture
def persons(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    rows = [{"external_id": f"P-{i}", "name": f"人{i}", "role": "founder"} for i in range(PERSONS)]
    import_records(factory, KINDS["persons"], rows, secret=TEST_SECRET)
    return factory


def test_a_few_references_read_only_their_rows(persons: sessionmaker[Session], engine: Engine) -> None:
    with persons() as session, _counted(engine) as statements:
        refs = ExternalIds(session)
        row_id = refs.row_id(EntityKind.person, "P-3", field="actor_external_id")
        assert refs.external_id(EntityKind.person, row_id) == "P-3"
        assert refs.row_id(EntityKind.person, "P-3", field="actor_external_id") == row_id
    assert len(statements) == 1, "the second lookup of P-3, both ways, is served from the cache"
    assert "WHERE" in statements[0]


def test_many_references_read_the_whole_kind_once(persons: sessionmaker[Session], engine: Engine) -> None:
    with persons() as session, _counted(engine) as statements:
        refs = ExternalIds(session)
        found = {refs.row_id(EntityKind.person, f"P-{i}", field="x") for i in range(PERSONS)}
    assert len(found) == PERSONS
    assert len(statements) == ExternalIds.LOAD_WHOLE_KIND_AFTER + 1


def test_an_unknown_reference_names_the_field(persons: sessionmaker[Session]) -> None:
    expected = "target_external_id: no startup with external_id 'S-9'"
    with persons() as session, pytest.raises(ReferenceCheckError, match=expected):
        ExternalIds(session).row_id(EntityKind.startup, "S-9", field="target_external_id")
