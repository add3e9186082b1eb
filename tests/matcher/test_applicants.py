"""Applicants come first: a space, base or post sees who applied to it, and an applicant sees
where it applied, whatever the text and graph channels pick (told which fit rule an applicant
misses); a full one says so."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from matcher.catalog import Catalog
from matcher.config import MatcherConfig, RetrievalConfig
from matcher.directions import direction_for
from matcher.eligibility import eligible
from matcher.graph import Node, RelationEvent
from matcher.matcher import Matcher
from matcher.rules import HasRoom
from models.db import create_db_engine, migrate, session_factory
from models.demo import generate_ecosystem, load_ecosystem
from models.enums import EntityKind, InteractionKind
from models.schemas import BEIJING
from tests.conftest import TEST_SECRET
from tests.doubles import HashingEncoder
from tests.factories import SMALL_DEMO

# Interactions that close an application between the pair.
CLOSING = {"admitted", "placed", "declined", "withdrawn"}
# (applicant kind, receiver kind): the directions with an applied feature, from either side.
APPLYING = [
    (EntityKind.startup, EntityKind.space),
    (EntityKind.person, EntityKind.practice_base),
    (EntityKind.person, EntityKind.post),
]


# The small demo with a longer history: open applications to spaces, bases and posts alike.
DEMO_SIZE = dataclasses.replace(SMALL_DEMO, interactions_target=2500)


@pytest.fixture(scope="module")
def demo() -> dict[str, list[dict[str, Any]]]:
    return generate_ecosystem(1, DEMO_SIZE)


@pytest.fixture(scope="module")
def matcher(tmp_path_factory: pytest.TempPathFactory, demo: dict[str, list[dict[str, Any]]]) -> Matcher:
    """One matcher for the module: tests that change it put back what they changed."""
    folder: Path = tmp_path_factory.mktemp("applicants")
    engine = create_db_engine(f"sqlite:///{folder / 'demo.db'}")
    migrate(engine)
    factory = session_factory(engine)
    load_ecosystem(factory, demo, secret=TEST_SECRET)
    with factory() as session:
        catalog = Catalog.from_database(session)
    engine.dispose()
    # A pool far smaller than the eligible candidates: the text and graph channels pick it.
    return Matcher(
        encoder=HashingEncoder(), config=MatcherConfig(retrieval=RetrievalConfig(pool_size=30))
    ).fit(catalog)


def _open_applications(demo: dict[str, list[dict[str, Any]]]) -> dict[tuple[str, str], dt.datetime]:
    """(applicant, receiver) external ids -> latest application, read from the generated rows."""
    applied: dict[tuple[str, str], dt.datetime] = {}
    closed: set[frozenset[str]] = set()
    for row in sorted(demo["interactions"], key=lambda r: r["occurred_at"]):
        pair = (row["actor_external_id"], row["target_external_id"])
        if row["kind"] == "applied":
            applied[pair] = dt.datetime.fromisoformat(row["occurred_at"])
            closed.discard(frozenset(pair))
        elif row["kind"] in CLOSING:
            closed.add(frozenset(pair))
    return {pair: when for pair, when in applied.items() if frozenset(pair) not in closed}


def _ids(matcher: Matcher, kind: EntityKind) -> dict[str, int]:
    return {
        r["external_id"]: int(r["id"]) for r in matcher.catalog_.tables[kind].records if "external_id" in r
    }


def _passes(matcher: Matcher, query: Node, candidate: Node, *, fit: bool) -> bool:
    """The pair passes capacity, visibility and refusals (an application does not lift them),
    and with ``fit`` the fit rules too."""
    direction = direction_for(query[0], candidate[0])
    rules = [r for r in direction.rules if fit or isinstance(r, HasRoom)]
    table = matcher.catalog_.tables[candidate[0]]
    record = matcher.catalog_.tables[query[0]].record(query[1])
    excluded = matcher.catalog_.history.excluded(query)
    mask = eligible(query[0], record, table, rules, excluded=excluded)
    return candidate[1] in table and bool(mask[table.position(candidate[1])])


@pytest.mark.parametrize(("applicant_kind", "receiver_kind"), APPLYING)
@pytest.mark.parametrize("asking", ["receiver", "applicant"])
def test_open_applications_come_first_with_their_date(
    matcher: Matcher,
    demo: dict[str, list[dict[str, Any]]],
    applicant_kind: EntityKind,
    receiver_kind: EntityKind,
    asking: str,
) -> None:
    applicants, receivers = _ids(matcher, applicant_kind), _ids(matcher, receiver_kind)
    expected: dict[int, dict[int, dt.datetime]] = {}
    for (actor, target), when in _open_applications(demo).items():
        if actor in applicants and target in receivers:
            one, other = (receiver_kind, receivers[target]), (applicant_kind, applicants[actor])
            if asking == "applicant":
                one, other = other, one
            if _passes(matcher, one, other, fit=False):
                expected.setdefault(one[1], {})[other[1]] = when
    assert expected, "the demo should hold open applications"
    asker_kind, target_kind = (
        (receiver_kind, applicant_kind) if asking == "receiver" else (applicant_kind, receiver_kind)
    )
    for query_id, wanted in expected.items():
        matches = matcher.recommend(asker_kind, query_id, target_kind, k=len(wanted) + 5)
        first = matches[: len(wanted)]
        assert {m.id for m in first} == set(wanted), (query_id, [m.name for m in matches])
        for match in first:
            day = wanted[match.id].astimezone(BEIJING).date()
            assert match.reasons[0].feature == "applied"
            assert (match.reasons[0].zh, match.reasons[0].en) == (
                f"已申请（{day:%Y-%m-%d}）",
                f"applied on {day:%Y-%m-%d}",
            )
            assert match.features["applied"] == 1.0
            fits = _passes(matcher, (asker_kind, query_id), (target_kind, match.id), fit=True)
            assert fits == all(r.feature != "eligibility" for r in match.reasons), match.reasons
        assert all(m.features["applied"] == 0.0 for m in matches[len(wanted) :])


def _a_space_and_a_founder_not_applied(matcher: Matcher) -> tuple[int, int, int]:
    spaces = matcher.catalog_.tables[EntityKind.space]
    space = next(int(r["id"]) for r in spaces.records if (r.get("seats_vacant") or 0) > 0)
    shown = {m.id for m in matcher.recommend(EntityKind.space, space, EntityKind.startup, k=20)}
    excluded = matcher.catalog_.history.excluded((EntityKind.space, space))
    for person, startups in matcher.catalog_.startups_of.items():
        startup = startups[0] if startups else None
        if (
            startup is not None
            and startup not in shown
            and (EntityKind.startup, startup) not in excluded
            and startup in matcher.catalog_.tables[EntityKind.startup]
        ):
            return space, person, startup
    pytest.fail("no founder left to apply")


def test_a_founders_application_counts_as_their_startups_both_ways(matcher: Matcher) -> None:
    space, founder, startup = _a_space_and_a_founder_not_applied(matcher)
    when = dt.datetime(2026, 11, 30, 20, 0, tzinfo=dt.UTC)  # 12-01 in Beijing
    applied = RelationEvent(
        EntityKind.person, founder, EntityKind.space, space, InteractionKind.applied, when
    )
    matcher.observe(applied)
    first = matcher.recommend(EntityKind.space, space, EntityKind.startup, k=10)[0]
    assert (first.id, first.reasons[0].en) == (startup, "applied on 2026-12-01")
    back = matcher.recommend(EntityKind.startup, startup, EntityKind.space, k=10)[0]
    assert (back.id, back.reasons[0].zh) == (space, "已申请（2026-12-01）")
    matcher.observe(dataclasses.replace(applied, kind=InteractionKind.withdrawn))


def test_candidates_pushed_down_by_an_applicant_say_so(matcher: Matcher) -> None:
    space, founder, startup = _a_space_and_a_founder_not_applied(matcher)
    when = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    applied = RelationEvent(
        EntityKind.person, founder, EntityKind.space, space, InteractionKind.applied, when
    )
    matcher.observe(applied)
    try:
        matches = matcher.recommend(EntityKind.space, space, EntityKind.startup, k=10)
    finally:
        matcher.observe(dataclasses.replace(applied, kind=InteractionKind.withdrawn))
    assert (matches[0].id, matches[0].moved_by) == (startup, "applied")
    assert matches[0].score_rank > 1
    for match in matches:
        assert (match.moved_by is None) == (match.rank == match.score_rank), match
    assert any(m.moved_by == "applicants" for m in matches[1:])


def test_a_withdrawn_application_no_longer_counts(matcher: Matcher) -> None:
    space, _, startup = _a_space_and_a_founder_not_applied(matcher)
    when = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    for kind, at in (
        (InteractionKind.applied, when),
        (InteractionKind.withdrawn, when + dt.timedelta(days=1)),
    ):
        matcher.observe(RelationEvent(EntityKind.startup, startup, EntityKind.space, space, kind, at))
    matches = matcher.recommend(EntityKind.space, space, EntityKind.startup, k=10)
    assert all(m.features["applied"] == 0.0 for m in matches)


@pytest.mark.parametrize(
    ("kind", "target", "field", "zh", "en"),
    [
        (EntityKind.space, EntityKind.startup, "seats_vacant", "没有空余工位", "no vacant seats"),
        (
            EntityKind.practice_base,
            EntityKind.person,
            "slots_free",
            "没有空余实习名额",
            "no free internship slots",
        ),
        (EntityKind.post, EntityKind.person, "headcount", "没有空缺岗位名额", "no open headcount"),
    ],
)
def test_no_room_gives_an_empty_list_and_says_why(
    matcher: Matcher, kind: EntityKind, target: EntityKind, field: str, zh: str, en: str
) -> None:
    table = matcher.catalog_.tables[kind]
    with_applicants = [node[1] for node in matcher.catalog_.history.applications if node[0] is kind]
    row_id = with_applicants[0] if with_applicants else int(table.ids[0])
    record = table.record(row_id)
    matcher.upsert_profile(kind, record | {field: 0})
    try:
        assert matcher.recommend(kind, row_id, target, k=10) == []
        why = matcher.why_empty(kind, row_id, target)
        assert (why.zh, why.en) == (zh, en)
    finally:
        matcher.upsert_profile(kind, record)


def test_a_full_mentor_says_so(matcher: Matcher) -> None:
    mentors = matcher.catalog_.tables[EntityKind.mentor]
    record = mentors.records[0]
    matcher.upsert_profile(EntityKind.mentor, record | {"max_mentees": 2, "current_mentees": 2})
    try:
        assert matcher.recommend(EntityKind.mentor, int(record["id"]), EntityKind.startup) == []
        why = matcher.why_empty(EntityKind.mentor, int(record["id"]), EntityKind.startup)
        assert (why.zh, why.en) == ("辅导名额已满", "no room for more mentees")
    finally:
        matcher.upsert_profile(EntityKind.mentor, record)


def test_a_startup_that_applied_to_a_mentor_comes_first_both_ways(matcher: Matcher) -> None:
    mentors = matcher.catalog_.tables[EntityKind.mentor]
    mentor = next(
        int(r["id"])
        for r in mentors.records
        if _passes(matcher, (EntityKind.mentor, int(r["id"])), (EntityKind.startup, 1), fit=False)
        and _passes(matcher, (EntityKind.startup, 1), (EntityKind.mentor, int(r["id"])), fit=False)
    )
    when = dt.datetime(2026, 11, 30, 20, 0, tzinfo=dt.UTC)  # 12-01 in Beijing
    applied = RelationEvent(EntityKind.startup, 1, EntityKind.mentor, mentor, InteractionKind.applied, when)
    matcher.observe(applied)
    try:
        first = matcher.recommend(EntityKind.mentor, mentor, EntityKind.startup, k=10)[0]
        back = matcher.recommend(EntityKind.startup, 1, EntityKind.mentor, k=10)[0]
    finally:
        matcher.observe(dataclasses.replace(applied, kind=InteractionKind.withdrawn))
    assert (first.id, first.reasons[0].en, first.features["applied"]) == (1, "applied on 2026-12-01", 1.0)
    assert (back.id, back.reasons[0].zh) == (mentor, "已申请（2026-12-01）")
