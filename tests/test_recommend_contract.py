"""The contract every recommendation direction keeps, checked on a generated ecosystem.

Eligibility is checked against an independent, plain-Python reading of each rule, not the
vectorised code under test.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from embeddings.lexical import LexicalVectorizer
from matcher.catalog import Catalog
from matcher.directions import DIRECTIONS, Direction
from matcher.engine import Matcher
from matcher.features import FEATURE_NAMES
from matcher.rules import AreaCovers, AtLeast, Covers, HasRoom, InRange, Rule
from models.db import create_db_engine, migrate, session_factory
from models.demo import generate_ecosystem, load_ecosystem
from models.enums import EntityKind
from models.taxonomy import ANYWHERE, AREAS, industry_ancestors
from tests.doubles import HashingEncoder
from tests.factories import SMALL_DEMO

QUERIES_PER_DIRECTION = 8


@pytest.fixture(scope="module")
def catalog_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("contract")
    engine = create_db_engine(f"sqlite:///{folder / 'demo.db'}")
    migrate(engine)
    factory = session_factory(engine)
    load_ecosystem(factory, generate_ecosystem(7, SMALL_DEMO), secret="test")
    yield factory
    engine.dispose()


def _fresh_matcher(factory: Any, **params: Any) -> Matcher:
    with factory() as session:
        catalog = Catalog.from_database(session)
    return Matcher(encoder=HashingEncoder(), exposure_cap=None, **params).fit(catalog)


@pytest.fixture(scope="module")
def matcher(catalog_source: Any) -> Matcher:
    return _fresh_matcher(catalog_source)


def _queries(matcher: Matcher, direction: Direction) -> list[int]:
    table = matcher.catalog_.tables[direction.query_kind]
    records = [r for r in table.records if r["id"] in table]
    if direction.query_kind is EntityKind.person:
        records = [r for r in records if r.get("role") == "student"]
    return [r["id"] for r in records[:: max(1, len(records) // QUERIES_PER_DIRECTION)]][
        :QUERIES_PER_DIRECTION
    ]


def _listed(value: Any) -> list[Any]:
    return [] if value is None else list(value) if isinstance(value, list) else [value]


def _related(a: str, b: str) -> bool:
    return a in industry_ancestors(b) or b in industry_ancestors(a)


def _oracle(rule: Rule, query_kind: EntityKind, query: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Does the pair pass ``rule``? Written from the rule's docstring, record by record."""
    holder, value = (other, query) if rule.holder_kind is not query_kind else (query, other)
    if isinstance(rule, HasRoom):
        limit = holder.get(rule.limit_field) or 0
        return (holder.get(rule.used_field) or 0) < limit if rule.used_field else limit > 0
    if isinstance(rule, Covers):
        wanted, given = _listed(holder.get(rule.holder_field)), _listed(value.get(rule.value_field))
        if not wanted:
            return True
        match = _related if rule.hierarchy else (lambda a, b: a == b)
        return any(match(w, g) for w in wanted for g in given)
    if isinstance(rule, InRange):
        amount = value.get(rule.value_field)
        low, high = holder.get(rule.min_field), holder.get(rule.max_field)
        return amount is None or ((low is None or low <= amount) and (high is None or amount <= high))
    if isinstance(rule, AreaCovers):
        covered, area = _listed(holder.get(rule.holder_field)), value.get(rule.value_field)
        places = {area, AREAS[area].district} if isinstance(area, str) and area in AREAS else {area}
        return not covered or ANYWHERE in covered or bool(places & set(covered))
    assert isinstance(rule, AtLeast)
    order = rule.order
    return order.index(str(value.get(rule.value_field) or order[0])) >= order.index(
        str(holder.get(rule.min_field) or order[0])
    )


DIRECTION_IDS = [d.name for d in DIRECTIONS.values()]


@pytest.mark.parametrize("direction", DIRECTIONS.values(), ids=DIRECTION_IDS)
def test_k_is_respected_and_lists_are_full_when_enough_are_eligible(
    matcher: Matcher, direction: Direction
) -> None:
    served = 0
    for query_id in _queries(matcher, direction):
        for k in (1, 5):
            matches = matcher.recommend(direction.query_kind, query_id, direction.target_kind, k=k)
            assert len(matches) <= k
            assert len({m.id for m in matches}) == len(matches)
            served += bool(matches)
    assert served > 0, f"{direction.name}: no query got any match"


@pytest.mark.parametrize("direction", DIRECTIONS.values(), ids=DIRECTION_IDS)
def test_eligibility_is_never_violated(matcher: Matcher, direction: Direction) -> None:
    candidates = matcher.catalog_.tables[direction.target_kind]
    for query_id in _queries(matcher, direction):
        query = matcher.catalog_.tables[direction.query_kind].record(query_id)
        eligible_count = sum(
            1
            for r in candidates.records
            if r["id"] in candidates
            and all(_oracle(rule, direction.query_kind, query, r) for rule in direction.rules)
        )
        matches = matcher.recommend(direction.query_kind, query_id, direction.target_kind, k=10)
        assert len(matches) <= eligible_count
        for match in matches:
            record = candidates.record(match.id)
            assert record.get("active")
            assert record.get("consent_matching")
            broken = [r.label for r in direction.rules if not _oracle(r, direction.query_kind, query, record)]
            assert broken == [], f"{direction.name}: {match.name} breaks {broken}"


@pytest.mark.parametrize("direction", DIRECTIONS.values(), ids=DIRECTION_IDS)
def test_no_declined_or_existing_counterpart_is_shown(matcher: Matcher, direction: Direction) -> None:
    history = matcher.catalog_.history
    for query_id in _queries(matcher, direction):
        node = (direction.query_kind, query_id)
        shown = {
            (m.kind, m.id) for m in matcher.recommend(direction.query_kind, query_id, direction.target_kind)
        }
        assert not shown & history.related(node)
        assert not shown & history.declined.get(node, set())


@pytest.mark.parametrize("direction", DIRECTIONS.values(), ids=DIRECTION_IDS)
def test_order_is_stable_and_explained(matcher: Matcher, direction: Direction) -> None:
    for query_id in _queries(matcher, direction)[:3]:
        first = matcher.recommend(direction.query_kind, query_id, direction.target_kind)
        second = matcher.recommend(direction.query_kind, query_id, direction.target_kind)
        assert [m.id for m in first] == [m.id for m in second]
        for match in first:
            assert match.reasons, f"{direction.name}: {match.name} has no reason"
            assert all(r.zh and r.en for r in match.reasons)
            assert 0.0 <= match.score <= 1.0
            parts = sum(match.query_side_contributions.values())
            assert parts == pytest.approx(match.query_side_score)


@pytest.mark.parametrize("direction", DIRECTIONS.values(), ids=DIRECTION_IDS)
def test_nothing_eligible_gives_an_empty_list(matcher: Matcher, direction: Direction) -> None:
    query_id = _queries(matcher, direction)[0]
    nowhere = {"district": "no-such-district"}
    assert matcher.recommend(direction.query_kind, query_id, direction.target_kind, filters=nowhere) == []


def test_equal_candidates_come_in_id_order(catalog_source: Any) -> None:
    matcher = _fresh_matcher(catalog_source, diversity=1.0)
    investors = matcher.catalog_.tables[EntityKind.investor]
    template = next(r for r in investors.records if r["id"] in investors)
    twins = [
        template | {"id": 90_001, "external_id": "twin-a"},
        template | {"id": 90_000, "external_id": "twin-b"},
    ]
    for twin in twins:
        matcher.upsert_profile(EntityKind.investor, twin)
    startup = _eligible_startup_for(matcher, template)
    ids = [m.id for m in matcher.recommend(EntityKind.startup, startup, EntityKind.investor, k=60)]
    assert ids.index(90_000) < ids.index(90_001)


def _refit_forbidden(*_args: Any) -> Any:
    raise AssertionError("a restart must reuse the stored lexical vocabulary")


def _eligible_startup_for(matcher: Matcher, investor: Mapping[str, Any]) -> int:
    rules = DIRECTIONS[(EntityKind.startup, EntityKind.investor)].rules
    startups = matcher.catalog_.tables[EntityKind.startup]
    return next(
        int(r["id"])
        for r in startups.records
        if r["id"] in startups and all(_oracle(rule, EntityKind.startup, r, investor) for rule in rules)
    )


def test_removed_and_deactivated_profiles_vanish_at_once(catalog_source: Any) -> None:
    matcher = _fresh_matcher(catalog_source)
    spaces = matcher.catalog_.tables[EntityKind.space]
    startup = next(
        s
        for s in _queries(matcher, DIRECTIONS[(EntityKind.startup, EntityKind.space)])
        if len(matcher.recommend(EntityKind.startup, s, EntityKind.space, k=3)) == 3
    )
    first, second, *_ = matcher.recommend(EntityKind.startup, startup, EntityKind.space, k=3)
    matcher.remove_profile(EntityKind.space, first.id)
    matcher.upsert_profile(EntityKind.space, spaces.record(second.id) | {"active": False})
    shown = {m.id for m in matcher.recommend(EntityKind.startup, startup, EntityKind.space, k=50)}
    assert first.id not in shown
    assert second.id not in shown


def test_the_index_survives_a_restart(
    catalog_source: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _fresh_matcher(catalog_source, index_dir=tmp_path)
    before.save()
    direction = DIRECTIONS[(EntityKind.investor, EntityKind.startup)]
    query = _queries(before, direction)[0]
    expected = [m.id for m in before.recommend(EntityKind.investor, query, EntityKind.startup)]
    with catalog_source() as session:
        catalog = Catalog.from_database(session)
    encoder = HashingEncoder()
    monkeypatch.setattr(LexicalVectorizer, "fit", _refit_forbidden)
    after = Matcher(encoder=encoder, exposure_cap=None, index_dir=tmp_path).fit(catalog)
    assert encoder.encoded == 0, "a restart must not re-encode unchanged profiles"
    assert [m.id for m in after.recommend(EntityKind.investor, query, EntityKind.startup)] == expected


def test_the_batch_form_answers_like_single_queries(catalog_source: Any) -> None:
    matcher = _fresh_matcher(catalog_source)
    direction = DIRECTIONS[(EntityKind.startup, EntityKind.investor)]
    queries = [(EntityKind.startup, q) for q in _queries(matcher, direction)]
    batch = matcher.recommend_batch(queries, EntityKind.investor, k=5)
    single = [matcher.recommend(kind, q, EntityKind.investor, k=5) for kind, q in queries]
    assert [[m.id for m in ms] for ms in batch] == [[m.id for m in ms] for ms in single]


def test_scoring_chosen_pairs_agrees_with_the_ranked_list(catalog_source: Any) -> None:
    matcher = _fresh_matcher(catalog_source, diversity=1.0)
    direction = DIRECTIONS[(EntityKind.startup, EntityKind.investor)]
    query = _queries(matcher, direction)[0]
    shown = matcher.recommend(EntityKind.startup, query, EntityKind.investor, k=5)
    scored = matcher.score(EntityKind.startup, query, EntityKind.investor, [m.id for m in shown] + [-1])
    assert list(scored.ids) == [m.id for m in shown], "unknown ids are skipped, order kept"
    assert scored.mutual == pytest.approx([m.score for m in shown])
    assert scored.features.shape == (len(shown), len(FEATURE_NAMES))
