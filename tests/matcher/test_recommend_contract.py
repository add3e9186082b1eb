"""The contract every recommendation direction keeps, checked on a generated ecosystem.

Eligibility is checked against an independent, plain-Python reading of each rule, not the
vectorised code under test.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from embeddings.lexical import LexicalVectorizer
from matcher.catalog import Catalog
from matcher.config import MatcherConfig, RetrievalConfig
from matcher.directions import DIRECTIONS, Direction
from matcher.features import FEATURE_NAMES
from matcher.matcher import Matcher
from matcher.rules import AreaCovers, AtLeast, Covers, HasRoom, InRange, Rule
from models.db import create_db_engine, migrate, session_factory
from models.demo import generate_ecosystem, load_ecosystem
from models.enums import EntityKind
from models.taxonomy import ANYWHERE, AREAS, code_similarity, distance_km, industry_ancestors, stage_distance
from tests.doubles import NO_EXPOSURE_CAP, RANKING_ONLY, HashingEncoder
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


def _fresh_matcher(factory: Any, config: MatcherConfig = NO_EXPOSURE_CAP, **params: Any) -> Matcher:
    with factory() as session:
        catalog = Catalog.from_database(session)
    return Matcher(encoder=HashingEncoder(), config=config, **params).fit(catalog)


@pytest.fixture(scope="module")
def matcher(catalog_source: Any) -> Matcher:
    return _fresh_matcher(catalog_source)


def _queries(matcher: Matcher, direction: Direction) -> list[int]:
    table = matcher.catalog_.tables[direction.asker_kind]
    records = [r for r in table.records if r["id"] in table]
    if direction.asker_kind is EntityKind.person:
        records = [r for r in records if r.get("role") == "student"]
    return [r["id"] for r in records[:: max(1, len(records) // QUERIES_PER_DIRECTION)]][
        :QUERIES_PER_DIRECTION
    ]


def _listed(value: Any) -> list[Any]:
    return [] if value is None else list(value) if isinstance(value, list) else [value]


def _related(a: str, b: str) -> bool:
    return a in industry_ancestors(b) or b in industry_ancestors(a)


def _oracle(rule: Rule, asker_kind: EntityKind, query: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Does the pair pass ``rule``? Written from the rule's docstring, record by record."""
    holder, value = (other, query) if rule.holder_kind is not asker_kind else (query, other)
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
            matches = matcher.recommend(direction.asker_kind, query_id, direction.candidate_kind, k=k)
            assert len(matches) <= k
            assert len({m.id for m in matches}) == len(matches)
            served += bool(matches)
    assert served > 0, f"{direction.name}: no query got any match"


@pytest.mark.parametrize("direction", DIRECTIONS.values(), ids=DIRECTION_IDS)
def test_eligibility_is_never_violated(matcher: Matcher, direction: Direction) -> None:
    candidates = matcher.catalog_.tables[direction.candidate_kind]
    for query_id in _queries(matcher, direction):
        query = matcher.catalog_.tables[direction.asker_kind].record(query_id)
        eligible_count = sum(
            1
            for r in candidates.records
            if r["id"] in candidates
            and all(_oracle(rule, direction.asker_kind, query, r) for rule in direction.rules)
        )
        matches = matcher.recommend(direction.asker_kind, query_id, direction.candidate_kind, k=10)
        # An open application lifts the fit rules (the receiver judges it), never capacity.
        applied = [m for m in matches if m.features["applied"]]
        assert len(matches) - len(applied) <= eligible_count
        for match in matches:
            record = candidates.record(match.id)
            assert record.get("active")
            assert record.get("consent_matching")
            binding = [r for r in direction.rules if isinstance(r, HasRoom) or match not in applied]
            broken = [r.label for r in binding if not _oracle(r, direction.asker_kind, query, record)]
            assert broken == [], f"{direction.name}: {match.name} breaks {broken}"


@pytest.mark.parametrize("direction", DIRECTIONS.values(), ids=DIRECTION_IDS)
def test_no_declined_or_existing_counterpart_is_shown(matcher: Matcher, direction: Direction) -> None:
    history = matcher.catalog_.history
    for query_id in _queries(matcher, direction):
        node = (direction.asker_kind, query_id)
        shown = {
            (m.kind, m.id)
            for m in matcher.recommend(direction.asker_kind, query_id, direction.candidate_kind)
        }
        assert not shown & history.related(node)
        assert not shown & history.declined.get(node, set())


@pytest.mark.parametrize("direction", DIRECTIONS.values(), ids=DIRECTION_IDS)
def test_order_is_stable_and_explained(matcher: Matcher, direction: Direction) -> None:
    for query_id in _queries(matcher, direction)[:3]:
        first = matcher.recommend(direction.asker_kind, query_id, direction.candidate_kind)
        second = matcher.recommend(direction.asker_kind, query_id, direction.candidate_kind)
        assert [m.id for m in first] == [m.id for m in second]
        for match in first:
            assert match.reasons, f"{direction.name}: {match.name} has no reason"
            assert all(r.zh and r.en for r in match.reasons)
            assert 0.0 <= match.score <= 1.0
            parts = sum(match.asker_contributions.values())
            assert parts == pytest.approx(match.asker_score)


@pytest.mark.parametrize("direction", DIRECTIONS.values(), ids=DIRECTION_IDS)
def test_nothing_eligible_gives_an_empty_list(matcher: Matcher, direction: Direction) -> None:
    query_id = _queries(matcher, direction)[0]
    nowhere = {"district": "no-such-district"}
    assert matcher.recommend(direction.asker_kind, query_id, direction.candidate_kind, filters=nowhere) == []


def test_equal_candidates_come_in_id_order(catalog_source: Any) -> None:
    matcher = _fresh_matcher(catalog_source, RANKING_ONLY)
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
    after = Matcher(encoder=encoder, config=NO_EXPOSURE_CAP, index_dir=tmp_path).fit(catalog)
    assert encoder.encoded == 0, "a restart must not re-encode unchanged profiles"
    assert [m.id for m in after.recommend(EntityKind.investor, query, EntityKind.startup)] == expected


def test_the_batch_form_answers_like_single_queries(catalog_source: Any) -> None:
    matcher = _fresh_matcher(catalog_source)
    direction = DIRECTIONS[(EntityKind.startup, EntityKind.investor)]
    queries = [(EntityKind.startup, q) for q in _queries(matcher, direction)]
    batch = matcher.recommend_batch(queries, EntityKind.investor, k=5)
    single = [matcher.recommend(kind, q, EntityKind.investor, k=5) for kind, q in queries]
    assert [[m.id for m in ms] for ms in batch] == [[m.id for m in ms] for ms in single]


def test_channels_searched_concurrently_answer_as_one_after_the_other(catalog_source: Any) -> None:
    """Large pools search the semantic channel on a second thread: same lists, same order."""

    def config(concurrent_from: int) -> MatcherConfig:
        retrieval = RetrievalConfig(pool_size=30, concurrent_channels_min=concurrent_from)
        return NO_EXPOSURE_CAP.model_copy(update={"retrieval": retrieval})

    sequential = _fresh_matcher(catalog_source, config(10**9))
    concurrent = Matcher(encoder=HashingEncoder(), config=config(0)).fit(
        sequential.catalog_, channels=sequential.channels_
    )
    asked = [(d, q) for d in DIRECTIONS.values() for q in _queries(sequential, d)]

    def answers(matcher: Matcher) -> list[list[tuple[int, float]]]:
        return [
            [(m.id, m.score) for m in matcher.recommend(d.asker_kind, q, d.candidate_kind)] for d, q in asked
        ]

    one_after_the_other = answers(sequential)
    at_once = answers(concurrent)
    # Same lists in the same order; two matchers may sum a score in another order (last bit).
    assert [[i for i, _ in lst] for lst in at_once] == [[i for i, _ in lst] for lst in one_after_the_other]
    assert [s for lst in at_once for _, s in lst] == pytest.approx(
        [s for lst in one_after_the_other for _, s in lst]
    )
    assert any(one_after_the_other)


def test_fit_builds_every_column_the_rules_read(catalog_source: Any) -> None:
    """No query waits for a rule's column to be built (at a million rows, ~0.5 s each)."""
    matcher = _fresh_matcher(catalog_source)
    built = {kind: set(table._cache) for kind, table in matcher.catalog_.tables.items()}
    for direction in DIRECTIONS.values():
        for query in _queries(matcher, direction):
            matcher.recommend(direction.asker_kind, query, direction.candidate_kind)
    rule_fields: dict[EntityKind, set[str]] = {kind: set() for kind in built}
    for direction in DIRECTIONS.values():
        for rule in direction.rules:
            for name, value in vars(rule).items():
                if name.endswith("_field") and value:
                    owner = rule.value_kind if name == "value_field" else rule.holder_kind  # type: ignore[union-attr]
                    rule_fields[owner].add(value)
    for kind, table in matcher.catalog_.tables.items():
        late = {
            (what, name)
            for what, name in set(table._cache) - built[kind]
            if what in {"members", "numbers", "empty"} and name in rule_fields[kind]
        }
        assert not late, f"{kind.value}: {sorted(late)} built by a query"


def test_scoring_chosen_pairs_agrees_with_the_ranked_list(catalog_source: Any) -> None:
    matcher = _fresh_matcher(catalog_source, RANKING_ONLY)
    direction = DIRECTIONS[(EntityKind.startup, EntityKind.investor)]
    query = _queries(matcher, direction)[0]
    shown = matcher.recommend(EntityKind.startup, query, EntityKind.investor, k=5)
    scored = matcher.score(EntityKind.startup, query, EntityKind.investor, [m.id for m in shown] + [-1])
    assert list(scored.ids) == [m.id for m in shown], "unknown ids are skipped, order kept"
    assert scored.mutual == pytest.approx([m.score for m in shown])
    assert scored.features.shape == (len(shown), len(FEATURE_NAMES))


ORACLE_NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def _stage_oracle(stage: Any, stages: list[Any]) -> float:
    if stage is None or not stages:
        return 0.5
    return max(0.0, 1.0 - min(stage_distance(stage, s) for s in stages) / 4)


def _ticket_oracle(ask: Any, low: Any, high: Any) -> float:
    if not ask or high is None:
        return 0.5
    low = max(float(low or 0), 1.0)
    high = max(float(high), low * 1.01)
    centre, half_width = (math.log(low) + math.log(high)) / 2, math.log(high / low) / 2
    return max(0.0, 1.0 - 0.5 * abs(math.log(max(float(ask), 1.0)) - centre) / half_width)


def _places(record: Mapping[str, Any]) -> list[str]:
    places = _listed(record.get("districts")) + _listed(record.get("district"))
    return [p for p in places if p in AREAS or p == ANYWHERE]


def _proximity_oracle(mine: list[str], theirs: list[str]) -> float:
    if not mine or not theirs:
        return 0.5
    if ANYWHERE in mine + theirs:
        return 1.0
    return math.exp(-min(distance_km(a, b) for a in mine for b in theirs) / 15.0)


def _share(part: Any, whole: Any) -> float:
    return min(1.0, max(0.0, (part or 0) / whole)) if whole else 0.0


def _capacity_oracle(matcher: Matcher, kind: EntityKind, record: Mapping[str, Any]) -> float:
    if kind is EntityKind.space:
        return _share(record.get("seats_vacant"), record.get("seats_total"))
    if kind is EntityKind.practice_base:
        return _share(record.get("slots_free"), record.get("slots_total"))
    if kind is EntityKind.mentor:
        return 1.0 - _share(record.get("current_mentees"), record.get("max_mentees"))
    if kind is EntityKind.investor:
        since = ORACLE_NOW - dt.timedelta(days=91)
        done = matcher.catalog_.history.investments.get((kind, record["id"]), [])
        return 1.0 - _share(sum(when >= since for when in done), record.get("deals_per_quarter"))
    return 1.0


def _profile_oracle(
    matcher: Matcher, direction: Direction, query: Mapping[str, Any], other: Mapping[str, Any]
) -> dict[str, float]:
    """Profile features of one pair, read record by record (not the vectorised code under test)."""
    startup, investor = (query, other) if "funding_ask_cny" in query else (other, query)
    stage = (
        _stage_oracle(query["stage"], _listed(other.get("stages")))
        if "stage" in query
        else _stage_oracle(other.get("stage"), _listed(query.get("stages")))
    )
    industries = [_listed(r.get("industries")) or _listed(r.get("industry")) for r in (query, other)]
    return {
        "industry": code_similarity(frozenset(industries[0]), frozenset(industries[1])),
        "stage": stage,
        "ticket": _ticket_oracle(
            startup.get("funding_ask_cny"), investor.get("ticket_min_cny"), investor.get("ticket_max_cny")
        ),
        "proximity": _proximity_oracle(_places(query), _places(other)),
        "capacity": _capacity_oracle(matcher, direction.candidate_kind, other),
    }


@pytest.fixture(scope="module")
def clocked_matcher(catalog_source: Any) -> Matcher:
    return _fresh_matcher(catalog_source, clock=lambda: ORACLE_NOW)


@pytest.mark.parametrize("direction", DIRECTIONS.values(), ids=DIRECTION_IDS)
def test_profile_features_equal_a_record_by_record_reading(
    clocked_matcher: Matcher, direction: Direction
) -> None:
    matcher = clocked_matcher
    candidates = matcher.catalog_.tables[direction.candidate_kind]
    ids = [int(r["id"]) for r in candidates.records if r["id"] in candidates][:150]
    for query_id in _queries(matcher, direction)[:4]:
        query = matcher.catalog_.tables[direction.asker_kind].record(query_id)
        scored = matcher.score(direction.asker_kind, query_id, direction.candidate_kind, ids)
        for row, candidate_id in zip(scored.features, scored.ids, strict=True):
            expected = _profile_oracle(matcher, direction, query, candidates.record(int(candidate_id)))
            actual = {name: row[FEATURE_NAMES.index(name)] for name in expected}
            assert actual == pytest.approx(expected), f"{direction.name}: {query_id} → {candidate_id}"


def test_edits_reach_the_next_recommendation_as_a_rebuild_would(catalog_source: Any) -> None:
    """Profile edits patch the catalogue's cached columns in place; the lists they give must be
    those of columns rebuilt from scratch."""
    live = _fresh_matcher(catalog_source)
    asks = [
        (EntityKind.investor, EntityKind.startup),
        (EntityKind.space, EntityKind.startup),
        (EntityKind.startup, EntityKind.investor),
        (EntityKind.startup, EntityKind.space),
    ]
    queries = {ask: _queries(live, DIRECTIONS[ask])[:4] for ask in asks}
    shown = {ask: [[m.id for m in live.recommend(ask[0], q, ask[1])] for q in queries[ask]] for ask in asks}
    startups, spaces = live.catalog_.tables[EntityKind.startup], live.catalog_.tables[EntityKind.space]
    edited = [startups.record(i) for ids in shown[(EntityKind.investor, EntityKind.startup)] for i in ids[:2]]
    for record, donor in zip(edited, reversed(edited), strict=True):
        changes = {key: donor.get(key) for key in ("industries", "stage", "funding_ask_cny", "district")}
        live.upsert_profile(EntityKind.startup, record | changes)
    for ids in shown[(EntityKind.startup, EntityKind.space)]:
        for space_id in ids[:1]:
            live.upsert_profile(EntityKind.space, spaces.record(space_id) | {"seats_vacant": 0})
    rebuilt = Catalog.empty()
    for kind, table in live.catalog_.tables.items():
        for record in table.records:
            rebuilt.tables[kind].upsert(record)
    rebuilt.history, rebuilt.startups_of = live.catalog_.history, live.catalog_.startups_of
    fresh = Matcher(encoder=live.encoder, config=NO_EXPOSURE_CAP).fit(rebuilt, channels=live.channels_)
    for (asker_kind, target), ids in queries.items():
        for query_id in ids:
            expected = [m.id for m in fresh.recommend(asker_kind, query_id, target)]
            assert [m.id for m in live.recommend(asker_kind, query_id, target)] == expected
