"""Our matcher on one fold, exactly as a deployment would hold it.

The fold's history enters a fresh SQLite database through `models.transfer.import_records`
(the bulk-import path users have), the matcher's catalogue is read back from that database,
and the text channels are built once and shared by every matcher variant. Each query startup
is imported too (so the schema checks it) but only after the catalogue was read: it enters
the matcher as a new profile when asked about, holding as relations the investors it already
has (a warm round's earlier backers, `Query.known`), and leaves right after with them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Self

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from embeddings.encoder import Encoder
from matcher.catalog import Catalog, row_record
from matcher.channels import Channels
from matcher.config import MatcherConfig, RerankConfig
from matcher.evaluation.baselines import as_day
from matcher.evaluation.protocol import Fold, Query
from matcher.graph import RelationEvent
from matcher.matcher import AskedQuery, Matcher
from matcher.scoring import Scorer
from models.clock import BEIJING
from models.db import create_db_engine, migrate, session_factory
from models.enums import EntityKind, InteractionKind
from models.kinds import IMPORT_ORDER, KINDS
from models.repository import Repository
from models.transfer import import_records

__all__ = ["MatcherRecommender", "MatcherWorld"]

STARTUP: Final = EntityKind.startup
INVESTOR: Final = EntityKind.investor
# How well the matcher ranks, without the serving re-rank (see MatcherWorld.matcher).
RANKING_ONLY: Final = MatcherConfig(rerank=RerankConfig(relevance_weight=1.0, exposure_cap=None))
# Keys ID-number hashes; the datasets hold no ID numbers, so nothing secret is hashed.
EVALUATION_SECRET: Final = "offline-evaluation"  # noqa: S105


@dataclass
class MatcherWorld:
    """One fold imported into its own database, with the matcher's catalogue and channels."""

    fold: Fold
    factory: sessionmaker[Session]
    catalog: Catalog
    channels: Channels
    encoder: Encoder
    query_records: dict[str, dict[str, Any]]  # query startup external id → stored row
    candidate_rows: dict[str, int]  # candidate external id → investor row id
    now: dt.datetime
    investor_rows: dict[str, int]  # every investor's external id → row id (a query's known backers)

    @classmethod
    def build(cls, fold: Fold, *, encoder: Encoder, directory: Path, show_progress: bool = False) -> Self:
        engine = create_db_engine(f"sqlite:///{directory / 'fold.db'}")
        migrate(engine)
        factory = session_factory(engine)
        for slug in IMPORT_ORDER:
            rows = fold.records.get(slug)
            if rows:
                import_records(factory, KINDS[slug], [dict(r) for r in rows], secret=EVALUATION_SECRET)
        with factory() as session:
            catalog = Catalog.from_database(session)
        channels = Channels.build(catalog, encoder, show_progress=show_progress)
        investors = catalog.tables[EntityKind.investor]
        investor_rows = {str(r["external_id"]): int(r["id"]) for r in investors.records}
        candidate_rows = {e: row for e, row in investor_rows.items() if e in fold.candidates}
        return cls(
            fold=fold,
            factory=factory,
            catalog=catalog,
            channels=channels,
            encoder=encoder,
            query_records=_import_queries(factory, fold.queries),
            candidate_rows=candidate_rows,
            now=_clock_time(fold),
            investor_rows=investor_rows,
        )

    def matcher(
        self,
        *,
        scorer: Scorer | None = None,
        config: MatcherConfig = RANKING_ONLY,
    ) -> Matcher:
        """A matcher over this world's shared catalogue and channels, its clock at the end of
        history (recency and capacity are judged as of then).

        The product's re-ranking (MMR diversity, exposure cap) is off unless asked for: the
        cap depends on the order queries arrive in, so it is a serving policy to measure on
        its own (``matcher-rerank``), not part of how well the matcher ranks."""
        now = self.now
        return Matcher(
            encoder=self.encoder,
            scorer=scorer,
            config=config,
            clock=lambda: now,
        ).fit(self.catalog, channels=self.channels)

    @contextmanager
    def asking(self, matcher: Matcher, query: Query) -> Iterator[int]:
        """The query's startup as a live profile (its row id) for the duration of the block, its
        ``known`` investors its relations, as a founder's profile holds its backers: each an
        investment observed as of the world's clock, through `Matcher.observe` as a deployment
        hears of one."""
        record = self.query_records[str(query.startup["external_id"])]
        row_id = int(record["id"])
        matcher.upsert_profile(STARTUP, record)
        try:
            for investor in sorted(query.known):
                if investor in self.investor_rows:
                    matcher.observe(
                        RelationEvent(
                            INVESTOR,
                            self.investor_rows[investor],
                            STARTUP,
                            row_id,
                            InteractionKind.invested,
                            self.now,
                        )
                    )
            yield row_id
        finally:
            matcher.remove_profile(STARTUP, row_id)


def _import_queries(factory: sessionmaker[Session], queries: Sequence[Query]) -> dict[str, dict[str, Any]]:
    spec = KINDS["startups"]
    startups = {str(q.startup["external_id"]): dict(q.startup) for q in queries}
    if not startups:
        return {}
    import_records(factory, spec, list(startups.values()), secret=EVALUATION_SECRET)
    with factory() as session:
        rows = Repository(session, secret=EVALUATION_SECRET).by_external_ids(spec, list(startups))
        return {external_id: row_record(row) for external_id, row in rows.items()}


def _clock_time(fold: Fold) -> dt.datetime:
    """Midnight (Beijing) of the day history ends, or after its last interaction."""
    if fold.history_end is not None:
        day = fold.history_end
    else:
        days = [as_day(r["occurred_at"]) for r in fold.records.get("interactions", ())]
        day = max(days, default=dt.date.today()) + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(), tzinfo=BEIJING)


class MatcherRecommender:
    """Our matcher behind the baselines' contract (:class:`matcher.evaluation.baselines.Recommender`)."""

    def __init__(self, world: MatcherWorld, **params: Any) -> None:
        self.world = world
        self.params = params

    def fit(self, fold: Fold) -> Self:
        if fold is not self.world.fold:
            raise ValueError("fold: a matcher recommender answers the fold its world was built from")
        self.matcher_ = self.world.matcher(**self.params)
        self.external_ids_ = {row: external for external, row in self.world.candidate_rows.items()}
        return self

    def rank(self, query: Query, k: int) -> list[str]:
        with self.world.asking(self.matcher_, query) as row_id:
            return self._ranking(self.matcher_.asked(STARTUP, row_id, INVESTOR), k)

    def scores(self, query: Query, candidates: Sequence[str]) -> np.ndarray:
        with self.world.asking(self.matcher_, query) as row_id:
            return self._scores(self.matcher_.asked(STARTUP, row_id, INVESTOR), candidates)

    def rank_and_score(self, query: Query, k: int, candidates: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """:meth:`rank` and :meth:`scores` at once: the query enters the matcher once, and its
        ranking and pair scores share their work (its vectors, graph walk and signals)."""
        with self.world.asking(self.matcher_, query) as row_id:
            asked = self.matcher_.asked(STARTUP, row_id, INVESTOR)
            return self._ranking(asked, k), self._scores(asked, candidates)

    def deal_flow(
        self,
        queries: Sequence[Query],
        investors: Sequence[str],
        asked_rows: Sequence[Sequence[int]],
        depth: int,
    ) -> tuple[list[list[int]], list[np.ndarray]]:
        """Each investor's deal-flow page as `Matcher.recommend` serves it (investor→startup, the
        period's query startups live together and the only ones listed), as query rows, best first,
        up to ``depth``; and its mutual scores of its ``asked_rows`` (eligibility not applied).

        The page is the founder side's ranking turned round (:meth:`rank`): the eligible startups
        the channels bring are scored and placed; one the pool leaves out is not listed. A startup
        raising several of the period's rounds lists them together, in time order."""
        world, matcher = self.world, self.matcher_
        records = [world.query_records[str(q.startup["external_id"])] for q in queries]
        rows_of: dict[int, list[int]] = {}  # a startup may raise several of the period's rounds
        for row, record in enumerate(records):
            rows_of.setdefault(int(record["id"]), []).append(row)
        for record in {int(r["id"]): r for r in records}.values():
            matcher.upsert_profile(STARTUP, record)
        try:
            table = matcher.catalog_.tables[STARTUP]
            live = np.zeros(len(table), dtype=bool)
            live[[table.position(startup) for startup in rows_of]] = True
            startup_of = [int(record["id"]) for record in records]
            pages, scores = [], []
            for investor, asked_for in zip(investors, asked_rows, strict=True):
                asked = matcher.asked(INVESTOR, world.candidate_rows[investor], STARTUP, within=live)
                listed = [row for startup in asked.ranking(depth).tolist() for row in rows_of[startup]]
                pages.append(listed[:depth])
                scores.append(self._deal_flow_scores(asked, [startup_of[row] for row in asked_for]))
            return pages, scores
        finally:
            for startup in rows_of:
                matcher.remove_profile(STARTUP, startup)

    @staticmethod
    def _deal_flow_scores(asked: AskedQuery, startups: Sequence[int]) -> np.ndarray:
        if not startups:
            return np.zeros(0)
        scored = asked.score(list(dict.fromkeys(startups)))
        by_row = dict(zip(scored.ids.tolist(), scored.mutual.tolist(), strict=True))
        return np.asarray([by_row[s] for s in startups], dtype=np.float64)

    def _ranking(self, asked: AskedQuery, k: int) -> list[str]:
        """What `Matcher.recommend` shows, the fold's candidates among it (the reasons unwritten)."""
        external = self.external_ids_
        return [external[row] for row in asked.ranking(k).tolist() if row in external]

    def _scores(self, asked: AskedQuery, candidates: Sequence[str]) -> np.ndarray:
        rows = [self.world.candidate_rows[c] for c in candidates]
        scored = asked.score(rows)
        by_row = dict(zip(scored.ids.tolist(), scored.mutual.tolist(), strict=True))
        return np.asarray([by_row[r] for r in rows], dtype=np.float64)
