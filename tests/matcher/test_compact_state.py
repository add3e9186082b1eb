"""The compact state (shared lexical rows, a private overlay of changes until the next
compaction) recommends as a state compacted after every change does."""

from __future__ import annotations

from pathlib import Path

import pytest

from matcher.catalog import Catalog
from matcher.config import MatcherConfig, RerankConfig, RetrievalConfig
from matcher.matcher import Matcher
from models.db import create_db_engine, session_factory
from models.enums import EntityKind
from tests.conftest import TEST_SECRET
from tests.doubles import HashingEncoder
from tests.factories import load_small_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder: Path = tmp_path_factory.mktemp("compact")
    load_small_demo(f"sqlite:///{folder / 'demo.db'}", seed=5, secret=TEST_SECRET)
    return folder / "demo.db"


def _matcher(source: Path, overlay_limit: int) -> Matcher:
    engine = create_db_engine(f"sqlite:///{source}")
    with session_factory(engine)() as session:
        catalog = Catalog.from_database(session)
    engine.dispose()
    config = MatcherConfig(
        rerank=RerankConfig(exposure_cap=None), retrieval=RetrievalConfig(lexical_overlay_limit=overlay_limit)
    )
    return Matcher(encoder=HashingEncoder(), config=config).fit(catalog)


def _edit(matcher: Matcher) -> None:
    """An erasure (it compacts), then text edits, a copy of a listing under a new id, a removal."""
    startups = matcher.catalog_.tables[EntityKind.startup]
    ids = [int(i) for i in startups.ids[:6]]
    matcher.erase_profile(EntityKind.startup, ids[5])
    for row_id in ids[:3]:
        record = startups.record(row_id)
        matcher.upsert_profile(
            EntityKind.startup, record | {"description": f"{record['description']} 视觉质检"}
        )
    copy = startups.record(ids[3]) | {"id": int(startups.ids.max()) + 1, "external_id": "S-copy"}
    matcher.upsert_profile(EntityKind.startup, copy)
    matcher.remove_profile(EntityKind.startup, ids[4])


def _answers(matcher: Matcher) -> list[list[tuple[int, float]]]:
    answers = []
    for asker, candidate in (
        (EntityKind.investor, EntityKind.startup),
        (EntityKind.startup, EntityKind.investor),
        (EntityKind.mentor, EntityKind.startup),
    ):
        for row_id in matcher.catalog_.tables[asker].ids[:8].tolist():
            found = matcher.recommend(asker, int(row_id), candidate)
            answers.append([(m.id, round(m.score, 9)) for m in found])
    return answers


def test_changes_in_the_overlay_recommend_as_after_a_compaction(demo: Path) -> None:
    overlaid, compacted = _matcher(demo, overlay_limit=2048), _matcher(demo, overlay_limit=0)
    assert _answers(overlaid) == _answers(compacted)
    for matcher in (overlaid, compacted):
        _edit(matcher)
    assert _answers(overlaid) == _answers(compacted)
    assert any(answer for answer in _answers(overlaid))
