"""The one matcher a running service holds, built at start and kept in step with every write."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from embeddings.selection import encoder_for
from matcher.catalog import Catalog, History, row_record
from matcher.engine import Matcher
from matcher.graph import RelationEvent
from models.kinds import KindSpec
from models.settings import Settings
from models.tables import Interaction, Startup


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
        matcher = Matcher(
            encoder=encoder_for(self.settings), index_dir=self.settings.index_dir, show_progress=show_progress
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
        """Make a committed create or update visible to the next recommendation."""
        self._apply(spec, row)
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

    def deleted(self, spec: KindSpec, row_id: int) -> None:
        with self.reading() as matcher:
            if spec.entity is not None:
                matcher.remove_profile(spec.entity, row_id)
                return
            # A deleted interaction may undo a relation or a refusal: re-read the history.
            with self.factory() as session:
                matcher.catalog_.history = History.from_database(session)
