"""What a result tells a person: the facts of each kind (summary) and scores they can read."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from matcher.catalog import Catalog
from matcher.config import MatcherConfig, RerankConfig
from matcher.matcher import Match, Matcher, display_scores
from matcher.summary import SUMMARIES
from models.db import create_db_engine, session_factory
from models.enums import EntityKind, InteractionKind
from models.schemas import BEIJING
from tests.conftest import TEST_SECRET
from tests.doubles import HashingEncoder
from tests.factories import load_small_demo


@pytest.fixture(scope="module")
def catalog_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder: Path = tmp_path_factory.mktemp("results")
    load_small_demo(f"sqlite:///{folder / 'demo.db'}", seed=3, secret=TEST_SECRET)
    return folder / "demo.db"


def _matcher(source: Path, *, relevance_weight: float = 0.8, exposure_cap: float | None = 0.2) -> Matcher:
    engine = create_db_engine(f"sqlite:///{source}")
    with session_factory(engine)() as session:
        catalog = Catalog.from_database(session)
    engine.dispose()
    config = MatcherConfig(rerank=RerankConfig(relevance_weight=relevance_weight, exposure_cap=exposure_cap))
    return Matcher(encoder=HashingEncoder(), config=config).fit(catalog)


@pytest.fixture(scope="module")
def matcher(catalog_source: Path) -> Matcher:
    return _matcher(catalog_source)


def _first_ids(matcher: Matcher, kind: EntityKind, count: int = 8) -> list[int]:
    table = matcher.catalog_.tables[kind]
    return [int(i) for i in table.ids[table.alive][:count]]


def _lists(matcher: Matcher, query: EntityKind, target: EntityKind, k: int = 10) -> list[list[Match]]:
    return [matcher.recommend(query, i, target, k=k) for i in _first_ids(matcher, query)]


# --- summaries ----------------------------------------------------------------------------------


def test_every_kind_recommended_has_a_summary() -> None:
    assert set(SUMMARIES) == set(EntityKind)


def test_deal_flow_shows_stage_ask_district_and_founding(matcher: Matcher) -> None:
    startups = matcher.catalog_.tables[EntityKind.startup]
    for match in (m for matches in _lists(matcher, EntityKind.investor, EntityKind.startup) for m in matches):
        record = startups.record(match.id)
        assert match.summary["stage"].startswith(
            ("种子", "天使", "Pre", "A", "B", "C", "战略", "创意", "idea")
        )
        assert match.summary["funding_ask_cny"] == record["funding_ask_cny"]
        assert "/" in match.summary["district"]
        assert match.summary["founded_on"] == record["founded_on"].isoformat()


def test_an_rd_post_names_its_company(matcher: Matcher) -> None:
    students = [
        int(r["id"]) for r in matcher.catalog_.tables[EntityKind.person].records if r.get("role") == "student"
    ][:8]
    matches = [m for i in students for m in matcher.recommend(EntityKind.person, i, EntityKind.post)]
    assert matches
    posts = matcher.catalog_.tables[EntityKind.post]
    for match in matches:
        assert match.summary["enterprise_name"] == posts.record(match.id)["enterprise_name"]


def test_an_investor_shown_to_a_founder_has_tickets_and_recent_deals(matcher: Matcher) -> None:
    investors = matcher.catalog_.tables[EntityKind.investor]
    graph = matcher.catalog_.history.graph
    matches = [m for ms in _lists(matcher, EntityKind.startup, EntityKind.investor) for m in ms]
    assert any(m.summary["deals"]["latest"] for m in matches), "some investor shown has deals"
    for match in matches:
        record = investors.record(match.id)
        assert match.summary["ticket_min_cny"] == record["ticket_min_cny"]
        assert match.summary["ticket_max_cny"] == record["ticket_max_cny"]
        node = (EntityKind.investor, match.id)
        deals = {
            (str(r["name"]), rel.last_at.astimezone(BEIJING).date().isoformat())
            for startup in (graph.neighbours(node, EntityKind.startup) if node in graph else ())
            if (rel := graph.relation(node, startup))
            and InteractionKind.invested in rel.kinds
            and (r := matcher.catalog_.tables[EntityKind.startup].record(startup[1]))
        }
        latest = match.summary["deals"]["latest"]
        assert match.summary["deals"]["portfolio"] == len(deals)
        assert {(d["name"], d["on"]) for d in latest} <= deals
        assert [d["on"] for d in latest] == sorted((d["on"] for d in latest), reverse=True)
        assert len(latest) == min(3, len(deals))


# --- readable scores ----------------------------------------------------------------------------


def test_display_scores_run_from_the_median_to_the_best() -> None:
    mutual = np.array([0.499, 0.539, 0.52, 0.51, 0.5])
    shown = display_scores(mutual)
    assert shown.max() == 100.0
    assert shown[np.argsort(mutual)[len(mutual) // 2]] == 0.0
    assert (shown >= 0).all()
    assert display_scores(np.full(4, 0.5)).tolist() == [100.0] * 4


def test_a_band_of_raw_scores_spreads_over_the_displayed_scale(matcher: Matcher) -> None:
    """The first and the tenth differ by a few hundredths raw; displayed, by a lot more (five
    times as much, up to nearly the whole scale: a deal flow's history spreads its raw scores)."""
    for matches in _lists(matcher, EntityKind.investor, EntityKind.startup):
        raw = [m.score for m in matches]
        shown = [m.display_score for m in matches]
        assert max(shown) <= 100.0
        by_score = sorted(matches, key=lambda m: m.score_rank)
        if by_score[0].score_rank == 1:
            assert by_score[0].display_score == 100.0
        if max(raw) - min(raw) > 0:
            assert (max(shown) - min(shown)) / 100 > min((max(raw) - min(raw)) * 5, 0.9)


def test_ranks_follow_scores_unless_something_moved_them(catalog_source: Path) -> None:
    undiverse = _matcher(catalog_source, relevance_weight=1.0, exposure_cap=None)
    for matches in _lists(undiverse, EntityKind.investor, EntityKind.startup):
        assert [m.rank for m in matches] == list(range(1, len(matches) + 1))
        assert all(m.moved_by is None and m.score_rank == m.rank for m in matches)


def test_a_move_by_the_diversity_rerank_is_said(catalog_source: Path) -> None:
    diverse = _matcher(catalog_source, relevance_weight=0.5, exposure_cap=None)
    moved = 0
    for matches in _lists(diverse, EntityKind.investor, EntityKind.startup):
        for match in matches:
            assert match.moved_by in (None, "diversity")
            assert (match.moved_by is None) == (match.score_rank == match.rank)
            moved += match.moved_by == "diversity"
        scores = [m.score for m in matches]
        out_of_order = any(a < b for a, b in itertools.pairwise(scores))
        assert not out_of_order or any(m.moved_by for m in matches)
    assert moved, "relevance_weight 0.5 should move some candidate"


def test_a_move_by_the_exposure_cap_is_said(catalog_source: Path) -> None:
    capped = _matcher(catalog_source, relevance_weight=1.0, exposure_cap=0.5)
    query = _first_ids(capped, EntityKind.investor, 1)[0]
    lists = [capped.recommend(EntityKind.investor, query, EntityKind.startup, k=5) for _ in range(25)]
    warm = lists[20:]  # the cap counts once 20 lists were shown
    assert all(m.moved_by is None for m in lists[0])
    assert any(m.moved_by == "exposure" for matches in warm for m in matches)
    for match in (m for matches in lists for m in matches):
        assert (match.moved_by is None) == (match.rank == match.score_rank)
