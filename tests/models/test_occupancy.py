"""The space occupancy history: written in the flush that changes a space's seats, whoever
writes them, and rolled back with them (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models.kinds import KINDS
from models.occupancy import SpaceOccupancy, occupancy_since
from models.repository import Repository
from tests.conftest import TEST_SECRET
from tests.factories import samples


def _space() -> dict[str, object]:
    return {k: v for k, v in samples()["spaces"][0].items() if k != "operator_external_id"}


def _history(factory: sessionmaker[Session], space_id: int) -> list[tuple[int, int]]:
    with factory() as session:
        rows = occupancy_since(session, space_id, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        return [(row.seats_total, row.seats_vacant) for row in rows]


def test_every_change_of_seats_is_recorded_and_nothing_else(factory: sessionmaker[Session]) -> None:
    spec = KINDS["spaces"]
    record = _space()
    with factory() as session, session.begin():
        repository = Repository(session, secret=TEST_SECRET)
        space_id = repository.create(spec, spec.create.model_validate(record)).id
    first = (int(str(record["seats_total"])), int(str(record["seats_vacant"])))
    assert _history(factory, space_id) == [first]
    with factory() as session, session.begin():
        repository = Repository(session, secret=TEST_SECRET)
        repository.update(spec, space_id, spec.update.model_validate({"description": "新的介绍"}))
    assert _history(factory, space_id) == [first]  # no seat changed
    with factory() as session, session.begin():
        repository = Repository(session, secret=TEST_SECRET)
        repository.update(spec, space_id, spec.update.model_validate({"seats_vacant": 0}))
    assert _history(factory, space_id) == [first, (first[0], 0)]
    with factory() as session:
        repository = Repository(session, secret=TEST_SECRET)
        repository.update(spec, space_id, spec.update.model_validate({"seats_vacant": 1}))
        session.rollback()
    assert _history(factory, space_id) == [first, (first[0], 0)]


def test_the_history_starts_with_the_state_before_the_period(factory: sessionmaker[Session]) -> None:
    with factory() as session, session.begin():
        repository = Repository(session, secret=TEST_SECRET)
        spec = KINDS["spaces"]
        space_id = repository.create(spec, spec.create.model_validate(_space())).id
        session.add(
            SpaceOccupancy(
                space_id=space_id,
                recorded_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
                seats_total=9,
                seats_vacant=9,
            )
        )
    with factory() as session:
        since = occupancy_since(session, space_id, dt.datetime(2021, 1, 1, tzinfo=dt.UTC))
        assert (since[0].seats_total, since[0].recorded_at.year) == (9, 2020)
        assert len(since) == 2
        assert session.scalars(select(SpaceOccupancy.space_id)).all() == [space_id, space_id]
