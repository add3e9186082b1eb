"""The ``demo`` protocol: the generated ecosystem's later investments asked against its earlier history."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from matcher.evaluation.demo_protocol import HISTORY_END, demo_folds
from matcher.evaluation.protocol import Fold
from models.demo import DemoSize, generate_ecosystem
from models.kinds import KINDS
from models.schemas import StartupCreate
from models.tables import Interaction, Startup
from models.transfer import import_records
from tests.conftest import TEST_SECRET

SEED = 7
SMALL = DemoSize(
    startups=200,
    investors=30,
    mentors=5,
    spaces=5,
    practice_bases=5,
    posts=5,
    students=10,
    interactions_target=2000,
)


@pytest.fixture(scope="module")
def fold() -> Fold:
    (only,) = demo_folds(None, seed=SEED, size=SMALL)
    return only


def _day(occurred_at: str) -> dt.date:
    return dt.datetime.fromisoformat(occurred_at).date()


def test_history_is_startup_investor_interactions_before_the_cutoff(fold: Fold) -> None:
    interactions = fold.records["interactions"]
    assert interactions
    assert all(_day(x["occurred_at"]) < HISTORY_END for x in interactions)
    assert all({x["actor_kind"], x["target_kind"]} == {"startup", "investor"} for x in interactions)
    assert fold.history_end == HISTORY_END


def test_truth_is_every_later_investment_in_the_query_startup(fold: Fold) -> None:
    later: dict[str, set[str]] = {}
    for x in generate_ecosystem(SEED, SMALL)["interactions"]:
        if x["kind"] == "invested" and _day(x["occurred_at"]) >= HISTORY_END:
            later.setdefault(x["target_external_id"], set()).add(x["actor_external_id"])
    assert {q.event_id.removeprefix("demo-"): set(q.truth) for q in fold.queries} == later
    assert all(q.startup["external_id"] == f"demo-Q-{q.event_id.removeprefix('demo-')}" for q in fold.queries)
    assert all(q.occurred_on >= HISTORY_END and q.truth <= fold.candidates for q in fold.queries)
    assert [q.occurred_on for q in fold.queries] == sorted(q.occurred_on for q in fold.queries)
    for query in fold.queries:
        StartupCreate.model_validate(query.startup)


def test_segments_follow_the_startups_history(fold: Fold) -> None:
    known = {x["actor_external_id"] for x in fold.records["interactions"]}
    known |= {x["target_external_id"] for x in fold.records["interactions"]}
    assert {q.segment for q in fold.queries} == {"cold", "warm"}
    for query in fold.queries:
        assert query.segment == ("warm" if query.event_id.removeprefix("demo-") in known else "cold")


def test_records_import_in_their_order(fold: Fold, factory: sessionmaker[Session]) -> None:
    for slug, rows in fold.records.items():
        import_records(factory, KINDS[slug], [dict(row) for row in rows], secret=TEST_SECRET)
    # The query startups import too, beside the history's own profiles.
    import_records(factory, KINDS["startups"], [dict(q.startup) for q in fold.queries], secret=TEST_SECRET)
    with factory() as session:
        interactions = session.scalar(select(func.count()).select_from(Interaction))
        assert interactions == len(fold.records["interactions"])
        startups = session.scalar(select(func.count()).select_from(Startup))
        assert startups == len(fold.records["startups"]) + len(fold.queries)


def test_sample_keeps_the_earliest_and_spreads(fold: Fold) -> None:
    (sampled,) = demo_folds(None, sample=3, seed=SEED, size=SMALL)
    assert len(sampled.queries) == 3
    assert sampled.queries[0] == fold.queries[0]
    assert {q.event_id for q in sampled.queries} <= {q.event_id for q in fold.queries}
