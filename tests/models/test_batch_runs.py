"""Batch recommendation runs: units planned in id order, each written exactly once."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from models.batch_runs import (
    RankedRow,
    Unit,
    complete_unit,
    finish_run,
    forget_profile,
    pending_units,
    plan_units,
    run_rows,
    start_run,
    unfinished_run,
)
from models.enums import EntityKind


def test_units_cut_the_sorted_ids_into_consecutive_runs() -> None:
    assert plan_units([9, 2, 5, 7, 3], 2) == [Unit(0, 2, 3, 2), Unit(1, 5, 7, 2), Unit(2, 9, 9, 1)]
    with pytest.raises(ValueError, match="unit_size"):
        plan_units([1], 0)


def test_a_unit_is_written_once_and_the_run_finishes_when_all_are(factory: sessionmaker[Session]) -> None:
    units = plan_units([1, 2, 3], 2)
    with factory() as session, session.begin():
        run_id = start_run(session, "startup→investor", (EntityKind.startup, EntityKind.investor), 2, units)
    rows = [RankedRow(1, 1, 10, 0.9), RankedRow(1, 2, 11, 0.8), RankedRow(2, 1, 10, 0.7)]
    with factory() as session, session.begin():
        assert complete_unit(session, run_id, 0, rows)
    with factory() as session, session.begin():
        assert not complete_unit(session, run_id, 0, rows)  # a retried worker's second write
        assert not finish_run(session, run_id)
        assert pending_units(session, run_id) == [units[1]]
        assert unfinished_run(session, "startup→investor", 2) == run_id
        assert unfinished_run(session, "startup→investor", 3) is None
    with factory() as session, session.begin():
        assert complete_unit(session, run_id, 1, [RankedRow(3, 1, 12, 0.5)])
        assert finish_run(session, run_id)
    with factory() as session:
        assert run_rows(session, run_id) == [*rows, RankedRow(3, 1, 12, 0.5)]
        assert run_rows(session, run_id, asker_id=2) == [rows[2]]
        assert unfinished_run(session, "startup→investor", 2) is None


def test_forgetting_a_profile_deletes_its_rows_on_either_side_only(factory: sessionmaker[Session]) -> None:
    """Person 7 asked in one run and was a candidate in another; startup 7 is someone else."""
    talent = (EntityKind.person, EntityKind.post)
    openings = (EntityKind.post, EntityKind.person)
    with factory() as session, session.begin():
        asked = start_run(session, "talent→post", talent, 1, [Unit(0, 7, 8, 2)])
        shown = start_run(session, "post→talent", openings, 1, [Unit(0, 7, 7, 1)])
        other = start_run(
            session, "startup→investor", (EntityKind.startup, EntityKind.investor), 1, [Unit(0, 7, 7, 1)]
        )
        complete_unit(session, asked, 0, [RankedRow(7, 1, 3, 0.5), RankedRow(8, 1, 7, 0.4)])
        complete_unit(session, shown, 0, [RankedRow(7, 1, 7, 0.5)])
        complete_unit(session, other, 0, [RankedRow(7, 1, 7, 0.5)])
    with factory() as session, session.begin():
        forget_profile(session, EntityKind.person, 7)
    with factory() as session:
        assert run_rows(session, asked) == [RankedRow(8, 1, 7, 0.4)]  # post 7, not person 7
        assert run_rows(session, shown) == []
        assert run_rows(session, other) == [RankedRow(7, 1, 7, 0.5)]
