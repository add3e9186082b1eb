"""Sharded serving answers exactly as one matcher does, on a local Ray instance."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ray

from matcher import sharding
from matcher.catalog import Catalog, KindTable
from matcher.config import MatcherConfig, RetrievalConfig
from matcher.directions import DIRECTIONS
from matcher.evaluation.world import MatcherWorld
from matcher.matcher import Match, Matcher
from matcher.sharding import ShardedAnswer, ShardedMatcher, ShardMatcher, shard_of, start_shards
from models.db import create_db_engine, migrate, session_factory
from models.demo import generate_ecosystem, load_ecosystem
from models.enums import EntityKind
from tests.doubles import HashingEncoder
from tests.factories import SMALL_DEMO
from tests.matcher.test_collaborative import _syndicate_fold

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
QUERIES = 500
# A pool smaller than many queries' eligible candidates: both ways of choosing it are exercised
# (all eligible candidates, or each channel's best over every shard).
CONFIG = MatcherConfig(retrieval=RetrievalConfig(pool_size=90, peer_count=20))


def _clock() -> dt.datetime:
    return NOW


def _catalog(url: str) -> Catalog:
    engine = create_db_engine(url)
    with session_factory(engine)() as session:
        catalog = Catalog.from_database(session)
    engine.dispose()
    return catalog


def build_shard(url: str, shard: int, shards: int) -> ShardMatcher:
    """What each actor runs at start (and at a restart)."""
    return ShardMatcher(
        shard=shard, shards=shards, encoder=HashingEncoder(), config=CONFIG, clock=_clock
    ).fit(_catalog(url))


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('shards') / 'demo.db'}"
    engine = create_db_engine(url)
    migrate(engine)
    load_ecosystem(session_factory(engine), generate_ecosystem(7, SMALL_DEMO), secret="test")
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _queries(catalog: Catalog) -> list[tuple[EntityKind, int, EntityKind]]:
    """QUERIES queries taking every direction in turn, each through its askers in id order."""
    askers = [
        [(asker_kind, int(i), candidate_kind) for i in catalog.tables[asker_kind].ids]
        for asker_kind, candidate_kind in DIRECTIONS
    ]
    turns = itertools.chain.from_iterable(itertools.zip_longest(*askers))
    return [query for query in turns if query is not None][:QUERIES]


# Float32 vectors: a product over another number of rows may round the last bit differently.
TOLERANCE = 1e-6


def _same(sharded: list[Match], unsharded: list[Match]) -> None:
    assert [m.id for m in sharded] == [m.id for m in unsharded]
    for got, want in zip(sharded, unsharded, strict=True):
        assert (got.rank, got.score_rank, got.moved_by) == (want.rank, want.score_rank, want.moved_by)
        assert (got.kind, got.external_id, got.name) == (want.kind, want.external_id, want.name)
        assert got.reasons == want.reasons
        assert got.summary == want.summary
        assert got.score == pytest.approx(want.score, abs=TOLERANCE)
        assert (got.asker_score, got.candidate_score) == pytest.approx(
            (want.asker_score, want.candidate_score), abs=TOLERANCE
        )
        assert got.display_score == pytest.approx(want.display_score, abs=1e-4)
        for name in ("features", "asker_contributions", "candidate_contributions"):
            assert getattr(got, name) == pytest.approx(getattr(want, name), abs=TOLERANCE)


def test_shards_split_ids_stably_and_evenly() -> None:
    ids = np.arange(1, 10_001)
    shards = shard_of(ids, 4)
    assert shards.tolist() == shard_of(ids.tolist(), 4).tolist()  # same for a list or an array
    assert shard_of([1, 2, 3, 4, 5], 4).tolist() == [1, 2, 1, 2, 2]  # fixed: not per process
    assert np.bincount(shards).min() > 2_300
    assert (shard_of(ids, 1) == 0).all()


@pytest.mark.parametrize("shards", [1, 2, 4])
def test_sharded_answers_equal_the_unsharded_matcher(local_ray: None, database: str, shards: int) -> None:
    unsharded = Matcher(encoder=HashingEncoder(), config=CONFIG, clock=_clock).fit(_catalog(database))
    handles = start_shards(shards, functools.partial(build_shard, database))
    try:
        sharded = ShardedMatcher(handles, config=CONFIG, clock=_clock)
        queries = _queries(unsharded.catalog_)
        assert len(queries) == QUERIES
        answered = 0
        for asker_kind, asker_id, candidate_kind in queries:
            want = _recommended(unsharded, asker_kind, asker_id, candidate_kind)
            if isinstance(want, Exception):
                with pytest.raises(type(want), match=str(want)):
                    sharded.recommend(asker_kind, asker_id, candidate_kind, k=8)
                continue
            answer = sharded.recommend(asker_kind, asker_id, candidate_kind, k=8)
            assert not answer.partial
            _same(answer.matches, want)
            answered += bool(want)
        assert answered > QUERIES * 0.8
        # With several shards the whole pool's diversity re-rank shows some that no answer
        # explained: their owners' second calls were read (and compared above).
        assert (sharded.late_requests_ > 0) == (shards > 1)
    finally:
        for handle in handles:
            ray.kill(handle)


def _recommended(matcher: Matcher, *query: Any) -> list[Match] | Exception:
    try:
        return matcher.recommend(*query, k=8)
    except (LookupError, ValueError) as error:
        return error


def test_a_shard_holds_only_its_own_vectors_and_lexical_rows(database: str) -> None:
    shard = build_shard(database, 1, 2)
    table = shard.catalog_.tables[EntityKind.startup]
    channel = shard.channels_.kinds[EntityKind.startup]
    owned = shard.owned(EntityKind.startup) & table.alive
    assert 0 < owned.sum() < table.alive.sum()
    assert all((int(i) in channel.index) == bool(o) for i, o in zip(table.ids, owned, strict=True))
    assert all(
        channel.lexical_row(p).nnz == 0 for p in np.flatnonzero(~shard.owned(EntityKind.startup)).tolist()
    )


def test_a_shard_encodes_or_reads_only_its_own_vectors(database: str, tmp_path: Path) -> None:
    """Built from the texts, a shard encodes only its own; from the channels the unsharded
    matcher saved, it reads only its own vectors, as saved, and encodes nothing."""
    tables = _catalog(database).tables
    owned = {kind: t.ids[(shard_of(t.ids, 2) == 1) & t.alive] for kind, t in tables.items()}
    encoder = HashingEncoder()
    ShardMatcher(shard=1, shards=2, encoder=encoder, config=CONFIG, clock=_clock).fit(_catalog(database))
    assert 0 < encoder.encoded == sum(len(ids) for ids in owned.values())

    one = Matcher(encoder=HashingEncoder(), config=CONFIG, clock=_clock, index_dir=tmp_path)
    one.fit(_catalog(database)).save()
    encoder = HashingEncoder()
    shard = ShardMatcher(shard=1, shards=2, encoder=encoder, config=CONFIG, clock=_clock, index_dir=tmp_path)
    shard.fit(_catalog(database))
    assert encoder.encoded == 0
    for kind, ids in owned.items():
        index = shard.channels_.kinds[kind].index
        assert len(index) == len(ids)
        assert np.array_equal(index.vectors_of(ids), one.channels_.kinds[kind].index.vectors_of(ids))


def test_with_every_shard_gone_the_answer_is_empty_and_names_them(local_ray: None, database: str) -> None:
    handles = start_shards(2, functools.partial(build_shard, database), max_restarts=0)
    sharded = ShardedMatcher(handles, config=CONFIG, clock=_clock, timeout=2.0)
    assert sharded.recommend(EntityKind.startup, 1, EntityKind.investor).missing == ()
    for handle in handles:
        ray.kill(handle)
    assert sharded.recommend(EntityKind.startup, 1, EntityKind.investor) == ShardedAnswer([], (0, 1))


def test_the_backers_channel_is_chosen_over_every_shard_as_one_matcher_chooses_it(tmp_path: Path) -> None:
    """Startup Q holds backer B, who shares companies with X1 (3), X2 (2) and N0-N39 (1 each):
    the shards' best by companies shared, merged, are the one matcher's choice, ties included."""
    fold = _syndicate_fold()
    interactions = [
        *fold.records["interactions"],
        {
            "external_id": "X-Q-B",
            "actor_kind": "investor",
            "actor_external_id": "B",
            "target_kind": "startup",
            "target_external_id": "Q",
            "kind": "invested",
            "occurred_at": "2015-09-01T00:00:00+08:00",
        },
    ]
    records = {
        **fold.records,
        "startups": [*fold.records["startups"], dict(fold.queries[0].startup)],
        "interactions": interactions,
    }
    world = MatcherWorld.build(
        dataclasses.replace(fold, records=records, queries=[]), encoder=HashingEncoder(), directory=tmp_path
    )
    share = 5

    def catalog() -> Catalog:
        with world.factory() as session:
            return Catalog.from_database(session)

    one = Matcher(encoder=HashingEncoder(), config=CONFIG, clock=_clock).fit(catalog())
    investors = one.catalog_.tables[EntityKind.investor]
    startup = int(one.catalog_.tables[EntityKind.startup].ids[-1])  # Q, imported last
    query = one._query(EntityKind.startup, startup, EntityKind.investor)
    assert query is not None
    mask, applicants = one._eligible(query, None)
    want = investors.ids[one._by_backers(query, investors, mask, share)].tolist()
    assert len(want) == share

    shards = [
        ShardMatcher(shard=s, shards=2, encoder=HashingEncoder(), config=CONFIG, clock=_clock).fit(catalog())
        for s in range(2)
    ]
    asked = [shard._query(EntityKind.startup, startup, EntityKind.investor) for shard in shards]
    tops = [
        shard._tops(own, mask & shard.owned(EntityKind.investor), applicants[:0])
        for shard, own in zip(shards, asked, strict=True)
        if own is not None
    ]
    assert len(tops) == len(shards)
    assert all(len(t.backers.ids) for t in tops)  # each shard owns some of them
    assert sharding._best([t.backers for t in tops], share).tolist() == want
    assert set(want) <= set(sharding._pool(tops, share, share).tolist())


def test_a_shard_scores_the_best_of_every_channel_the_deal_history_too() -> None:
    """What a shard scores and answers is every candidate its channels' tops hold: one only the
    investor's deal-history channel brings would otherwise be missing from the merged pool."""
    table = KindTable(EntityKind.startup)
    for row_id in range(1, 8):
        table.upsert({"id": row_id, "industries": ["ai"]})

    def keys(ids: list[int]) -> sharding.Keys:
        return sharding.Keys.of([(-1.0, float(table.position(i)), i) for i in ids])

    tops = sharding.Tops(
        semantic=keys([1]),
        lexical=[sharding.Level(1, keys([2]), complete=True)],
        graph=keys([]),
        collaborative=[keys([3])],
        backers=keys([4]),
        deal_history=keys([6, 7]),
        applicants=np.asarray([5], dtype=np.int64),
    )
    positions, depth = sharding._candidates(table, tops, 2, 3)
    assert table.ids[positions].tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert depth[table.ids[positions].tolist().index(7)] == 1  # second in its channel
