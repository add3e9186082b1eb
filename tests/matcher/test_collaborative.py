"""Collaborative signals: as of their moment (moving the clock past later deals changes nothing),
and the retrieval contract (the pool holds what the strong baselines rank first)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from matcher.catalog import Deal
from matcher.collaborative import (
    CollaborativeIndex,
    rows_max,
    signature,
    startup_keys,
    summed_rows,
    weighted_sum,
)
from matcher.config import RetrievalConfig
from matcher.eligibility import eligible
from matcher.evaluation.baselines import SegmentPopularityRecommender
from matcher.evaluation.protocol import Fold, Query
from matcher.evaluation.world import RANKING_ONLY, MatcherRecommender, MatcherWorld
from matcher.matcher import best_of_groups
from models.enums import EntityKind
from tests.doubles import HashingEncoder

INVESTOR, STARTUP = EntityKind.investor, EntityKind.startup
UTC = dt.UTC
INDUSTRIES = ("artificial_intelligence", "ecommerce", "healthcare", "fintech", "education")
STAGES = ("angel", "a", "b")


def _startup(row: int, industry: str, stage: str, city: str | None = None) -> dict[str, Any]:
    return {"id": row, "industries": [industry], "stage": stage} | ({"city": city} if city else {})


def _deals(rng: np.random.Generator, count: int, until: dt.datetime) -> list[Deal]:
    return [
        Deal(
            (INVESTOR, int(rng.integers(1, 40))),
            (STARTUP, int(rng.integers(1, 120))),
            until - dt.timedelta(days=int(rng.integers(1, 2000))),
        )
        for _ in range(count)
    ]


def _startups(rng: np.random.Generator) -> dict[tuple[EntityKind, int], dict[str, Any]]:
    return {
        (STARTUP, row): _startup(
            row, INDUSTRIES[int(rng.integers(5))], STAGES[int(rng.integers(3))], ["武汉", "北京"][row % 2]
        )
        for row in range(1, 120)
    }


def _signals(index: CollaborativeIndex, record: dict[str, Any]) -> dict[str, dict[Any, float]]:
    found = index.signals(record)
    return {
        name: {node: float(getattr(found, name)[at]) for node, at in index.column.items()}
        for name in (
            "segment_popularity",
            "peer_investors",
            "industry_share",
            "stage_share",
            "place_share",
            "co_investment",
        )
    }


def test_deals_after_the_moment_change_nothing() -> None:
    rng = np.random.default_rng(0)
    cut = dt.datetime(2016, 1, 1, tzinfo=UTC)
    startups = _startups(rng)
    before = _deals(rng, 600, cut)
    later = [Deal(d.investor, d.startup, cut + (cut - d.occurred_at)) for d in _deals(rng, 300, cut)]
    later.append(Deal((INVESTOR, 99), (STARTUP, 1), cut))  # exactly at the moment: not yet history
    query = _startup(0, "ecommerce", "a", "武汉")
    alone = CollaborativeIndex(before, startups, cut)
    mixed = CollaborativeIndex(before + later, startups, cut)
    assert alone.investors == mixed.investors
    assert _signals(alone, query) == _signals(mixed, query)
    investors = list(alone.investors)
    for days in (90, 365):
        np.testing.assert_array_equal(
            alone.recent_deals(investors, days), mixed.recent_deals(investors, days)
        )
    # The same later deals, once the clock has moved past them, do count.
    moved = CollaborativeIndex(before + later, startups, cut + dt.timedelta(days=4000))
    assert _signals(moved, query) != _signals(alone, query)


def test_peers_are_startups_sharing_the_rarest_keys() -> None:
    day = dt.datetime(2015, 6, 1, tzinfo=UTC)
    startups = {
        (STARTUP, 1): _startup(1, "healthcare", "a", "武汉"),
        (STARTUP, 2): _startup(2, "ecommerce", "a", "北京"),
    }
    deals = [Deal((INVESTOR, 1), (STARTUP, 1), day), Deal((INVESTOR, 2), (STARTUP, 2), day)]
    index = CollaborativeIndex(deals, startups, day + dt.timedelta(days=1))
    found = index.signals(_startup(0, "healthcare", "angel", "武汉"))
    assert found.peer_investors[index.column[(INVESTOR, 1)]] == 1.0
    assert found.place_share[index.column[(INVESTOR, 1)]] == 1.0
    assert found.place_share[index.column[(INVESTOR, 2)]] == 0.0
    assert "place:武汉" in startup_keys(startups[(STARTUP, 1)])


def test_co_investment_reaches_the_partners_of_the_peers_investors() -> None:
    """Investor 3 never backed a startup like the query, but it co-invested with investor 1, who
    did; investor 2 shares no deal with anyone."""
    day = dt.datetime(2015, 6, 1, tzinfo=UTC)
    startups = {
        (STARTUP, 1): _startup(1, "healthcare", "a", "武汉"),
        (STARTUP, 2): _startup(2, "ecommerce", "a", "北京"),
        (STARTUP, 3): _startup(3, "fintech", "b", "北京"),
    }
    deals = [
        Deal((INVESTOR, 1), (STARTUP, 1), day),
        Deal((INVESTOR, 2), (STARTUP, 2), day),
        Deal((INVESTOR, 1), (STARTUP, 3), day),
        Deal((INVESTOR, 3), (STARTUP, 3), day),
    ]
    index = CollaborativeIndex(deals, startups, day + dt.timedelta(days=1))
    found = index.signals(_startup(0, "healthcare", "angel", "武汉"))
    assert found.peer_investors[index.column[(INVESTOR, 3)]] == 0.0
    assert found.co_investment[index.column[(INVESTOR, 3)]] == 1.0
    assert found.co_investment[index.column[(INVESTOR, 2)]] == 0.0
    popularity = index.recent_popularity([(INVESTOR, 1), (INVESTOR, 2), (INVESTOR, 9)])
    np.testing.assert_allclose(popularity, [1.0, 0.5, 0.0])


def _synthetic_fold(rng: np.random.Generator) -> Fold:
    """120 investors, each preferring an industry, 400 history startups and 30 queries."""
    industries = [INDUSTRIES[int(rng.integers(5))] for _ in range(120)]
    startups, interactions = [], []
    for n in range(400):
        industry, stage = INDUSTRIES[n % 5], STAGES[int(rng.integers(3))]
        startups.append(
            {"external_id": f"S{n}", "name": f"公司{n}", "industries": [industry], "stage": stage}
        )
        fans = [i for i in range(120) if industries[i] == industry]
        for investor in rng.choice(fans, size=min(2, len(fans)), replace=False).tolist():
            day = dt.date(2012, 1, 1) + dt.timedelta(days=int(rng.integers(0, 1400)))
            interactions.append(
                {
                    "external_id": f"X{n}-{investor}",
                    "actor_kind": "investor",
                    "actor_external_id": f"I{investor}",
                    "target_kind": "startup",
                    "target_external_id": f"S{n}",
                    "kind": "invested",
                    "occurred_at": f"{day}T00:00:00+08:00",
                }
            )
    investors = [{"external_id": f"I{i}", "name": f"基金{i}", "investor_type": "vc"} for i in range(120)]
    queries = [
        Query(
            f"q{n}",
            {"external_id": f"Q{n}", "name": f"新公司{n}", "industries": [INDUSTRIES[n % 5]], "stage": "a"},
            frozenset({"I0"}),
            dt.date(2017, 1, 1),
        )
        for n in range(30)
    ]
    return Fold(
        name="synthetic",
        records={"startups": startups, "investors": investors, "interactions": interactions},
        queries=queries,
        candidates=frozenset(r["external_id"] for r in investors),
        history_end=dt.date(2016, 1, 1),
    )


@pytest.mark.parametrize("pool_size", [60, 90])
def test_the_pool_holds_the_segment_popularity_top_20(tmp_path: Path, pool_size: int) -> None:
    fold = _synthetic_fold(np.random.default_rng(1))
    world = MatcherWorld.build(fold, encoder=HashingEncoder(), directory=tmp_path)
    matcher = world.matcher(
        config=RANKING_ONLY.model_copy(update={"retrieval": RetrievalConfig(pool_size=pool_size)})
    )
    baseline = SegmentPopularityRecommender().fit(fold)
    investors = matcher.catalog_.tables[INVESTOR]
    for query in fold.queries:
        with world.asking(matcher, query) as row_id:
            asked = matcher._query(STARTUP, row_id, INVESTOR)
            assert asked is not None
            mask = eligible(STARTUP, asked.record, investors, asked.direction.rules)
            assert mask.sum() > pool_size  # the pool is retrieved, not every eligible investor
            pool = {
                str(investors.records[p]["external_id"])
                for p in matcher._pool(asked, mask, np.zeros(0, np.int64)).tolist()
            }
        top = baseline.rank(query, 20)
        assert set(top) <= pool, sorted(set(top) - pool)


def test_an_investors_pool_holds_the_new_startups_of_the_segments_it_backs(tmp_path: Path) -> None:
    """Deal flow: the period's new startups have no relation a graph walk could reach, yet each
    investor's pool holds those of the one industry it has backed (six, the deal-history
    channel's top share of seven, of 30 live ones; the text channels see only names), listed
    within the period's startups only, and never a startup it already backed."""
    fold = _synthetic_fold(np.random.default_rng(3))
    world = MatcherWorld.build(fold, encoder=HashingEncoder(), directory=tmp_path)
    matcher = world.matcher(
        config=RANKING_ONLY.model_copy(update={"retrieval": RetrievalConfig(pool_size=21)})
    )
    startups = matcher.catalog_.tables[STARTUP]
    for record in world.query_records.values():
        matcher.upsert_profile(STARTUP, record)
    live = np.zeros(len(startups), dtype=bool)
    live[[startups.position(int(r["id"])) for r in world.query_records.values()]] = True
    history = matcher.catalog_.history
    for investor in ("I0", "I1", "I2", "I5", "I8"):
        row_id = world.candidate_rows[investor]
        backed = {node[1] for node in history.related((INVESTOR, row_id))}
        industries = {code for b in backed for code in startups.record(b)["industries"]}
        assert len(industries) == 1  # each investor backs one industry
        new_ones = {int(r["id"]) for r in world.query_records.values() if set(r["industries"]) == industries}
        assert len(new_ones) == 6
        pool = set(matcher.asked(INVESTOR, row_id, STARTUP, within=live).pool().tolist())
        assert len(pool) < live.sum()  # retrieved, not every live startup
        assert new_ones <= pool
        assert pool <= {int(r["id"]) for r in world.query_records.values()}
        everywhere = set(matcher.candidate_pool(INVESTOR, row_id, STARTUP).tolist())
        assert backed
        assert not backed & everywhere  # eligibility: a relation is never shown again
        query = matcher._query(INVESTOR, row_id, STARTUP)
        assert query is not None
        mask = eligible(
            INVESTOR, query.record, startups, query.direction.rules, excluded=history.excluded(query.node)
        )
        brought = matcher._by_deal_history(query, startups, mask & ~live, 7)  # the history's startups
        assert len(brought) == 7
        assert (mask & ~live)[brought].all()
        assert {startups.record(int(startups.ids[at]))["industries"][0] for at in brought} == industries
        assert not backed & {int(startups.ids[at]) for at in brought}


def test_deal_history_pool_sets_how_many_startups_the_channel_brings(tmp_path: Path) -> None:
    """`RetrievalConfig.deal_history_pool` sets the channel's count apart from the pool's size:
    at 0 the investors' pools miss most of their industry's new startups, at 6 they hold all."""
    fold = _synthetic_fold(np.random.default_rng(3))
    world = MatcherWorld.build(fold, encoder=HashingEncoder(), directory=tmp_path)
    held = {}
    for count in (0, 6):
        retrieval = RetrievalConfig(pool_size=21, deal_history_pool=count)
        matcher = world.matcher(config=RANKING_ONLY.model_copy(update={"retrieval": retrieval}))
        startups = matcher.catalog_.tables[STARTUP]
        for record in world.query_records.values():
            matcher.upsert_profile(STARTUP, record)
        live = np.zeros(len(startups), dtype=bool)
        live[[startups.position(int(r["id"])) for r in world.query_records.values()]] = True
        held[count] = 0
        for investor in ("I0", "I1", "I2", "I5", "I8"):
            row_id = world.candidate_rows[investor]
            backed = matcher.catalog_.history.related((INVESTOR, row_id))
            industries = {code for _, b in backed for code in startups.record(b)["industries"]}
            new_ones = {
                int(r["id"]) for r in world.query_records.values() if set(r["industries"]) == industries
            }
            pool = set(matcher.asked(INVESTOR, row_id, STARTUP, within=live).pool().tolist())
            held[count] += len(new_ones & pool)
        for record in world.query_records.values():
            matcher.remove_profile(STARTUP, int(record["id"]))
    assert held[6] == 30
    assert held[0] < 15


def _syndicate_fold() -> Fold:
    """Backer B co-invested with X1 in three companies, with X2 in two, with each of N0-N39 in one."""
    partners = [("X1", 3), ("X2", 2), *((f"N{n}", 1) for n in range(40))]
    deals = [(f"S-{p}-{k}", p) for p, times in partners for k in range(times)]
    interactions = [
        {
            "external_id": f"X-{startup}-{investor}",
            "actor_kind": "investor",
            "actor_external_id": investor,
            "target_kind": "startup",
            "target_external_id": startup,
            "kind": "invested",
            "occurred_at": "2015-06-01T00:00:00+08:00",
        }
        for startup, partner in deals
        for investor in ("B", partner)
    ]
    startups = [
        {"external_id": startup, "name": startup, "industries": [INDUSTRIES[0]], "stage": "a"}
        for startup, _ in deals
    ]
    names = ["B", *(p for p, _ in partners)]
    query = Query(
        "q",
        {"external_id": "Q", "name": "新公司", "industries": [INDUSTRIES[0]], "stage": "a"},
        frozenset({"X1"}),
        dt.date(2017, 1, 1),
        known=frozenset({"B"}),
    )
    return Fold(
        name="syndicate",
        records={
            "startups": startups,
            "investors": [{"external_id": n, "name": f"基金{n}", "investor_type": "vc"} for n in names],
            "interactions": interactions,
        },
        queries=[query],
        candidates=frozenset(names),
        history_end=dt.date(2016, 1, 1),
    )


def test_the_backers_channel_brings_who_shared_most_companies_with_the_startups_backers(
    tmp_path: Path,
) -> None:
    fold = _syndicate_fold()
    world = MatcherWorld.build(fold, encoder=HashingEncoder(), directory=tmp_path)
    matcher = world.matcher(
        config=RANKING_ONLY.model_copy(update={"retrieval": RetrievalConfig(pool_size=15)})
    )
    investors = matcher.catalog_.tables[INVESTOR]
    with world.asking(matcher, fold.queries[0]) as row_id:
        asked = matcher._query(STARTUP, row_id, INVESTOR)
        assert asked is not None
        mask = eligible(
            STARTUP,
            asked.record,
            investors,
            asked.direction.rules,
            excluded=matcher.catalog_.history.excluded(asked.node),
        )
        assert mask.sum() > 15  # the pool is retrieved
        brought = matcher._by_backers(asked, investors, mask, 5)
        pool = set(matcher._pool(asked, mask, np.zeros(0, np.int64)).tolist())
    first = [str(investors.records[at]["external_id"]) for at in brought[:2]]
    assert first == ["X1", "X2"]
    assert len(brought) == 5
    assert set(brought) <= pool


def test_a_removed_investor_leaves_the_history_index_at_once(tmp_path: Path) -> None:
    fold = _synthetic_fold(np.random.default_rng(2))
    world = MatcherWorld.build(fold, encoder=HashingEncoder(), directory=tmp_path)
    matcher = world.matcher()
    investor = world.candidate_rows["I0"]
    assert (INVESTOR, investor) in matcher.collaborative_index().column
    matcher.remove_profile(INVESTOR, investor)
    assert (INVESTOR, investor) not in matcher.collaborative_index().column


def test_a_startup_without_deals_asking_and_leaving_keeps_the_index(tmp_path: Path) -> None:
    fold = _synthetic_fold(np.random.default_rng(3))
    world = MatcherWorld.build(fold, encoder=HashingEncoder(), directory=tmp_path)
    matcher = world.matcher()
    index = matcher.collaborative_index()
    with world.asking(matcher, fold.queries[0]) as row_id:
        assert matcher.recommend(STARTUP, row_id, INVESTOR, k=5)
    assert matcher.collaborative_index() is index  # no rebuild per query


def test_a_startup_asking_with_its_backers_and_leaving_keeps_the_index_and_footprints(
    tmp_path: Path,
) -> None:
    """Its relations come after the index was built and as of the clock: nothing derived held them."""
    fold = _synthetic_fold(np.random.default_rng(3))
    world = MatcherWorld.build(fold, encoder=HashingEncoder(), directory=tmp_path)
    matcher = world.matcher()
    index = matcher.collaborative_index()
    warm = dataclasses.replace(fold.queries[0], known=frozenset({"I1", "I2"}))
    with world.asking(matcher, fold.queries[1]) as row_id:
        assert matcher.recommend(STARTUP, row_id, INVESTOR, k=5)
    memo = matcher.catalog_.history.derived(world.now)
    assert memo  # the footprints of the answer above
    with world.asking(matcher, warm) as row_id:
        assert len(matcher.catalog_.history.related((STARTUP, row_id))) == 2
        assert matcher.recommend(STARTUP, row_id, INVESTOR, k=5)
    assert matcher.collaborative_index() is index
    assert matcher.catalog_.history.derived(world.now) is memo


def test_erasing_a_startup_whose_deals_are_indexed_rebuilds_the_index(tmp_path: Path) -> None:
    fold = _synthetic_fold(np.random.default_rng(3))
    world = MatcherWorld.build(fold, encoder=HashingEncoder(), directory=tmp_path)
    matcher = world.matcher()
    index = matcher.collaborative_index()
    startup = next(d.startup for d in matcher.catalog_.history.deals)
    matcher.erase_profile(*startup)
    assert matcher.collaborative_index() is not index


def _varied_startups() -> list[dict[str, Any]]:
    """Startups of every industry, stage and city the fixtures know, with no industry and two."""
    return [
        _startup(0, industry, stage, city)
        for industry in INDUSTRIES
        for stage in (*STAGES, "c")
        for city in ("武汉", "上海", None)
    ] + [{"id": 0, "industries": []}, {"id": 0, "industries": ["ecommerce", "fintech"], "stage": "a"}]


def test_an_investor_reads_the_same_pair_scores_the_startup_would() -> None:
    """Deal flow: an investor asking for startups gets, for each, what that startup asking for
    investors holds at the investor's column (unknown investors all zero)."""
    rng = np.random.default_rng(4)
    cut = dt.datetime(2016, 1, 1, tzinfo=UTC)
    startups = _startups(rng)
    index = CollaborativeIndex(_deals(rng, 600, cut), startups, cut)
    records = _varied_startups()
    expected = [_signals(index, record) for record in records]
    for investor in [*index.investors[::7], (INVESTOR, 999)]:
        found = index.investor_signals(investor, [signature(r) for r in records])
        for name in expected[0]:
            np.testing.assert_allclose(
                getattr(found, name),
                [signals[name].get(investor, 0.0) for signals in expected],
                rtol=1e-12,
                atol=1e-15,
                err_msg=name,
            )


def test_an_investors_pair_scores_do_not_depend_on_the_signatures_asked_with_them() -> None:
    """A deal-flow pool's signatures are worked out together (new ones in chunks, the investor's
    values column by column): each value is the same to the last bit as that signature asked alone
    of a fresh index, repeated and unknown signatures included."""
    rng = np.random.default_rng(6)
    cut = dt.datetime(2016, 1, 1, tzinfo=UTC)
    startups, deals = _startups(rng), _deals(rng, 600, cut)
    records = _varied_startups()
    signatures = [signature(r) for r in records]
    together = CollaborativeIndex(deals, startups, cut)
    for investor in [*together.investors[::10], (INVESTOR, 999)]:
        asked = together.investor_signals(investor, [*signatures, *signatures[::3]])
        for at, found in enumerate([*signatures, *signatures[::3]]):
            alone = CollaborativeIndex(deals, startups, cut).investor_signals(investor, [found])
            for field in dataclasses.fields(asked):
                assert getattr(asked, field.name)[at] == getattr(alone, field.name)[0], (field.name, found)


def test_new_signatures_are_worked_out_in_chunks_the_same_as_in_one(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    cut = dt.datetime(2016, 1, 1, tzinfo=UTC)
    startups, deals = _startups(rng), _deals(rng, 600, cut)
    signatures = [signature(record) for record in startups.values()]
    whole = CollaborativeIndex(deals, startups, cut)
    expected = whole.investor_signals(whole.investors[0], signatures)
    monkeypatch.setattr("matcher.collaborative.SCALES_BATCH_CELLS", 1)  # one signature a chunk
    chunked = CollaborativeIndex(deals, startups, cut)
    found = chunked.investor_signals(chunked.investors[0], signatures)
    for field in dataclasses.fields(found):
        np.testing.assert_array_equal(getattr(found, field.name), getattr(expected, field.name))


def test_the_evaluations_deal_flow_is_the_page_each_investor_is_served(tmp_path: Path) -> None:
    """`<protocol>-deal-flow` asks as the deal-flow page does: every investor is served the
    period's startups (all live at once, the only ones listed), best first by the scores
    `recommend` shows, the deal history's included."""
    fold = _synthetic_fold(np.random.default_rng(5))
    world = MatcherWorld.build(fold, encoder=HashingEncoder(), directory=tmp_path)
    recommender = MatcherRecommender(world).fit(fold)
    investors = ["I0", "I3", "I7", "I11", "I40"]
    everyone = list(range(len(fold.queries)))
    pages, scores = recommender.deal_flow(fold.queries, investors, [everyone] * len(investors), 100)
    matcher = recommender.matcher_
    ids = [int(world.query_records[str(q.startup["external_id"])]["id"]) for q in fold.queries]
    assert not any(row in matcher.catalog_.tables[STARTUP] for row in ids)  # they left again
    for record in world.query_records.values():
        matcher.upsert_profile(STARTUP, record)
    shares = set()
    for investor, page, found in zip(investors, pages, scores, strict=True):
        shown = matcher.recommend(INVESTOR, world.candidate_rows[investor], STARTUP, k=500)
        served = {match.id: match for match in shown if match.id in ids}  # those its pool retrieved
        assert len(served) >= 5
        np.testing.assert_allclose([m.score for m in served.values()], [found[ids.index(i)] for i in served])
        # Every period startup is eligible and fits the pool: the page lists them all, best first.
        assert page == np.lexsort((np.asarray(ids), -found)).tolist()
        shares |= {m.features["industry_share"] for m in served.values()}
    assert {0.0, 1.0} <= shares  # each investor backs one industry: the history counts


@pytest.mark.parametrize("rows", [[], [0], [3, 1, 3], [0, 1, 2, 3, 4, 5]])
def test_summed_rows_equals_scipys_row_sum(rows: list[int]) -> None:
    matrix = sp.csr_matrix(sp.random(6, 40, density=0.3, random_state=len(rows)))
    expected = np.asarray(matrix[rows].sum(axis=0)).ravel() if rows else np.zeros(40)
    np.testing.assert_allclose(summed_rows(matrix, rows), expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("rows", [[], [0], [3, 1, 3], [0, 1, 2, 3, 4, 5]])
def test_rows_max_equals_scipys_column_max(rows: list[int]) -> None:
    matrix = sp.csr_matrix(sp.random(6, 40, density=0.3, random_state=len(rows)))
    expected = np.asarray(matrix[rows].max(axis=0).todense()).ravel() if rows else np.zeros(40)
    np.testing.assert_array_equal(rows_max(matrix, rows), expected)


@pytest.mark.parametrize("at", [[], [2], [5, 0, 3], [0, 1, 2, 3, 4, 5]])
def test_weighted_sum_equals_scipys_product_to_the_bit(at: list[int]) -> None:
    rng = np.random.default_rng(len(at))
    rows = sp.csr_matrix(sp.random(6, 40, density=0.5, random_state=len(at)))
    weights = rng.random(len(at))
    np.testing.assert_array_equal(
        weighted_sum(rows, at, weights), np.asarray(rows[at].T @ weights).ravel() if at else np.zeros(40)
    )
    columns = sp.csc_matrix(rows.T)
    np.testing.assert_array_equal(
        weighted_sum(columns, at, weights),
        np.asarray(columns[:, at] @ weights).ravel() if at else np.zeros(40),
    )


@pytest.mark.parametrize(("seed", "count"), [(0, 1), (1, 7), (2, 40), (3, 500)])
def test_best_of_groups_is_a_stable_sort_of_the_rows_scores(seed: int, count: int) -> None:
    """The deal-history channel's pick, taken score by score, is what sorting every admitted row
    by its group's score (ties: the earlier position) and cutting would give, zeros left out."""
    rng = np.random.default_rng(seed)
    group_scores = rng.choice([0.0, 0.1, 0.25, 0.5, 0.9], size=12)  # repeated scores, some zero
    codes = rng.integers(0, 12, size=300).astype(np.int32)
    mask = rng.random(300) < 0.7
    positions = np.flatnonzero(mask & (group_scores[codes] > 0))
    expected = positions[np.argsort(-group_scores[codes[positions]], kind="stable")][:count]
    found, scores = best_of_groups(group_scores, codes, mask, count)
    np.testing.assert_array_equal(found, expected)
    np.testing.assert_array_equal(scores, group_scores[codes[expected]])
