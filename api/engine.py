"""The one matcher a running service holds, built at start and kept in step with every write."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from embeddings.cache import EmbeddingCache
from embeddings.selection import encoder_for
from matcher.catalog import Catalog, History, row_record
from matcher.engine import Matcher
from matcher.graph import RelationEvent
from matcher.ranker import load_ranker
from matcher.text import profile_text
from models.enums import EntityKind
from models.erasure import Erasure
from models.kinds import KIND_OF_ENTITY, KindSpec
from models.settings import Settings
from models.tables import Interaction, Startup

# Kinds whose text describes one person: their old texts must not stay in the cache.
PERSONAL_KINDS = frozenset({EntityKind.person, EntityKind.mentor})


class MatcherService:
    """Owns the matcher; every read and write of it goes through one lock.

    Recommendations read several structures (catalog, graph, indexes) that a concurrent write
    would change under them; the lock keeps each recommendation on one consistent state.
    """

    def __init__(self, settings: Settings, factory: sessionmaker[Session]) -> None:
        self.settings = settings
        self.factory = factory
        self._lock = threading.RLock()
        self._matcher: Matcher | None = None

    def build(self, *, show_progress: bool = False, refit_lexical: bool = False) -> None:
        """(Re)build from the database; vectors come from the cache and the stored indexes."""
        with self.factory() as session:
            catalog = Catalog.from_database(session)
        ranker = load_ranker(self.settings.ranker_path) if self.settings.ranker_path is not None else None
        matcher = Matcher(
            encoder=encoder_for(self.settings),
            scorer=ranker,
            index_dir=self.settings.index_dir,
            show_progress=show_progress,
        ).fit(catalog, refit_lexical=refit_lexical)
        matcher.save()
        with self._lock:
            self._matcher = matcher

    @contextmanager
    def reading(self) -> Iterator[Matcher]:
        with self._lock:
            if self._matcher is None:
                raise RuntimeError("the matcher is not built yet")
            yield self._matcher

    def saved(self, spec: KindSpec, row: Any) -> None:
        """Make a committed create or update visible to the next recommendation.

        A person's replaced text leaves the embedding cache, so it keeps none of their old words.
        """
        personal = [(spec.entity, row.id)] if spec.entity in PERSONAL_KINDS else []
        before = self._texts_of(personal)
        self._apply(spec, row)
        self._forget_cached(before - self._texts_of(personal))
        with self.reading() as matcher:
            refit = matcher.channels_.vocabulary_is_stale
        if refit:
            self.build(refit_lexical=True)

    def _apply(self, spec: KindSpec, row: Any) -> None:
        with self.reading() as matcher:
            if isinstance(row, Interaction):
                matcher.observe(RelationEvent.from_interaction(row))
            elif spec.entity is not None:
                matcher.upsert_profile(spec.entity, row_record(row))
                if isinstance(row, Startup):
                    matcher.catalog_.set_team(row.id, [member.person_id for member in row.members])

    def erased(self, erasure: Erasure) -> None:
        """Erase committed-deleted profiles from everything derived from them (PIPL Art. 47):
        catalog, graph and exposure counts, lexical rows, vector indexes (on disk too) and the
        embedding cache; and re-read the profiles that named them."""
        texts = self._texts_of(erasure.erased)
        with self.reading() as matcher:
            for kind, row_id in erasure.erased:
                matcher.erase_profile(kind, row_id)
        with self.factory() as session:
            for kind, row_id in erasure.referring:
                spec = KIND_OF_ENTITY[kind]
                self._apply(spec, session.get(spec.table, row_id))
        with self.reading() as matcher:
            matcher.save()
        self._forget_cached(texts)

    def _texts_of(self, profiles: Sequence[tuple[EntityKind | None, int]]) -> set[str]:
        with self.reading() as matcher:
            tables = matcher.catalog_.tables
            texts = {
                profile_text(kind, tables[kind].record(row_id))
                for kind, row_id in profiles
                if kind is not None and tables[kind].has_slot(row_id)
            }
        return texts - {""}

    def _forget_cached(self, texts: set[str]) -> None:
        if texts:
            with EmbeddingCache.for_settings(self.settings) as cache:
                cache.forget(sorted(texts))

    def deleted(self, spec: KindSpec, row_id: int) -> None:
        with self.reading() as matcher:
            if spec.entity is not None:
                matcher.remove_profile(spec.entity, row_id)
                return
            # A deleted interaction may undo a relation or a refusal: re-read the history.
            with self.factory() as session:
                matcher.catalog_.history = History.from_database(session)
