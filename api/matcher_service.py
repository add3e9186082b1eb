"""The one matcher a running service holds, built at start and kept in step with every write."""

from __future__ import annotations

import ctypes
import fcntl
import functools
import gc
import os
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

from numpy._core import multiarray as numpy_multiarray
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from embeddings.cache import EmbeddingCache
from embeddings.selection import encoder_for
from matcher.catalog import Catalog, History, row_record
from matcher.channels import stored_text_digests
from matcher.config import MatcherConfig
from matcher.explain import Reason
from matcher.graph import RelationEvent
from matcher.matcher import Match, Matcher
from matcher.ranker import load_ranker
from matcher.text import profile_text
from models.changes import (
    PROFILE_TOPICS,
    ChangeOp,
    FeedEntry,
    Topic,
    begin_snapshot,
    changes_after,
    latest_change_id,
)
from models.db import create_db_engine, session_factory
from models.enums import EntityKind
from models.settings import Settings
from models.tables import PROFILE_TABLES, Interaction, Startup

if TYPE_CHECKING:  # imported where used: a service without shards never imports Ray
    from matcher.sharding import ShardedMatcher, ShardMatcher

# Kinds whose text describes one person: their old texts must not stay in the cache.
PERSONAL_KINDS = frozenset({EntityKind.person, EntityKind.mentor})
# Serialises index writes across the worker processes sharing one data dir.
SAVE_LOCK = ".save.lock"


class Answer(NamedTuple):
    """A recommendation: the matches, why there are none, and the shards that did not answer."""

    matches: list[Match]
    why: Reason | None
    missing_shards: tuple[int, ...]


class MatcherService:
    """Owns this process's matcher and keeps it in step with the change feed.

    Every write, by this process, another worker, another host or the CLI, reaches the matcher
    the same way: committed together with its row in :mod:`models.changes`, then applied here in
    feed order (:meth:`catch_up`). Recommendations read several structures (catalog, graph,
    indexes) that applying a change alters, so both go through one lock; a rebuild is made
    outside it and swapped in, so reads go on meanwhile.
    """

    def __init__(self, settings: Settings, factory: sessionmaker[Session]) -> None:
        self.settings = settings
        self.factory = factory
        self._lock = threading.RLock()
        self._catching_up = threading.Lock()
        self._matcher: Matcher | None = None
        self._position = 0  # the last change id the matcher holds
        # Notified when the position moves, a rebuild starts, or a catch-up ends.
        self._progress = threading.Condition()
        self._rebuilding = False
        self._listeners: list[Callable[[Sequence[FeedEntry]], None]] = []
        self._sharded: ShardedMatcher | None = None  # with MATCHER_SHARDS above 1

    @property
    def position(self) -> int:
        return self._position

    def on_changes(self, listener: Callable[[Sequence[FeedEntry]], None]) -> None:
        """Call ``listener`` with every batch of changes applied from now on."""
        self._listeners.append(listener)

    def build(
        self,
        *,
        show_progress: bool = False,
        refit_lexical: bool = False,
        kinds: Collection[EntityKind] | None = None,
    ) -> None:
        """(Re)build from the database; vectors come from the cache and the stored indexes.

        With ``kinds``, a read-only matcher for queries between those kinds: only their stored
        channels are read, nothing is written back, the model loads only if a text must be
        encoded (what a one-off command such as ``matcher recommend`` needs).
        """
        stored = self._stored_personal_digests() if kinds is None else set()
        with self.factory() as session:
            begin_snapshot(session)  # the catalog and the feed position read from one state
            position = latest_change_id(session)
            catalog = Catalog.from_database(session, kinds=kinds)
        chosen = self.settings.serving_ranker_dir
        ranker = load_ranker(chosen) if chosen is not None else None
        # A rebuild analyses only the texts new since the last one (off the lock: the matcher
        # serving meanwhile changes only under catch_up, which this build runs inside).
        previous = self._matcher.channels_.feature_counts if self._matcher and kinds is None else None
        matcher = Matcher(
            encoder=encoder_for(self.settings),
            scorer=ranker,
            config=MatcherConfig.from_settings(self.settings),
            index_dir=self.settings.index_dir,
            show_progress=show_progress,
        ).fit(catalog, refit_lexical=refit_lexical, kinds=kinds, feature_counts=previous)
        if kinds is None:
            self._persist(matcher)
            self._forget_gone(matcher, stored)
            if self.settings.shards > 1:
                self._start_shards()  # they read the channels just saved: one vocabulary for all
        with self._lock:
            self._matcher, self._position = matcher, position
        if kinds is None:
            settle_memory(freeze=catalog.size() >= self.settings.settle_memory_from_profiles)

    def _start_shards(self) -> None:
        """The shard actors, (re)built from the database and the saved channels; those of an
        earlier build are stopped."""
        import ray

        from matcher.sharding import ShardedMatcher, start_shards

        if not ray.is_initialized():
            if os.environ.get("RAY_ADDRESS"):
                ray.init()  # a running cluster, of one machine or several
            else:
                ray.init(include_dashboard=False)  # a local instance, for this process
        if self._sharded is not None:
            for handle in self._sharded.shards:
                ray.kill(handle, no_restart=True)
        handles = start_shards(self.settings.shards, functools.partial(build_shard, self.settings))
        self._sharded = ShardedMatcher(handles, config=MatcherConfig.from_settings(self.settings))

    @property
    def shard_handles(self) -> list[Any]:
        """The shard actors (none without MATCHER_SHARDS above 1)."""
        return [] if self._sharded is None else list(self._sharded.shards)

    def recommend(self, asker_kind: EntityKind, asker_id: int, target: EntityKind, *, k: int) -> Answer:
        """Matches (from the shards when there are some), and why there are none."""
        sharded = self._sharded
        if sharded is not None:
            answer = sharded.recommend(asker_kind, asker_id, target, k=k)
            # Nothing from a partial answer is no sign that nothing fits: no reason is given then.
            found = answer.matches or answer.partial
            why = None if found else sharded.why_empty(asker_kind, asker_id, target)
            return Answer(answer.matches, why, answer.missing)
        with self.reading() as matcher:
            matches = matcher.recommend(asker_kind, asker_id, target, k=k)
            return Answer(matches, None if matches else matcher.why_empty(asker_kind, asker_id, target), ())

    @contextmanager
    def reading(self) -> Iterator[Matcher]:
        with self._lock:
            if self._matcher is None:
                raise RuntimeError("the matcher is not built yet")
            yield self._matcher

    def behind(self) -> bool:
        """Whether the feed holds changes not applied here yet: one indexed read, on a bare
        connection (a session costs five times as much, on every request)."""
        return self._latest() > self._position

    def _latest(self) -> int:
        bind: Engine = self.factory.kw["bind"]
        with bind.connect() as connection:
            return latest_change_id(connection)

    def catch_up(self) -> None:
        """Apply every committed change not applied yet, in order (after another thread's
        catch-up, if one is running)."""
        self._catching_up.acquire()
        with self._catching_up_held():
            self._apply_all()

    def catch_up_for_read(self) -> None:
        """Hold every change committed before this call, so a read answers after any write
        acknowledged before it, by any worker or host on this database.

        Applies the changes itself when no other thread is catching up, else waits for that
        thread to apply them. The one exception is a full rebuild (after a bulk import or a
        vocabulary refresh): the read answers from the state before instead of queueing behind
        it for as long as the rebuild takes.
        """
        if self._claimed_catch_up(self._latest()):
            with self._catching_up_held():
                self._apply_all()

    def _claimed_catch_up(self, target: int) -> bool:
        """True, holding the catch-up lock, when this thread must apply the changes up to
        ``target``; False once another thread has applied them, or while one is rebuilding."""
        with self._progress:
            while self._position < target and not self._rebuilding:
                if self._catching_up.acquire(blocking=False):
                    return True
                self._progress.wait()
            return False

    def _apply_all(self) -> None:
        while self._apply_next_batch():
            with self._progress:
                self._progress.notify_all()

    @contextmanager
    def _catching_up_held(self) -> Iterator[None]:
        """Release the catch-up lock (already held) on exit, waking the readers waiting for it."""
        try:
            yield
        finally:
            with self._progress:
                self._catching_up.release()
                self._progress.notify_all()

    def _apply_next_batch(self) -> bool:
        """One batch from the feed; False when there was nothing left to apply."""
        with self.factory() as session:
            entries = changes_after(session, self._position)
            if not entries:
                return False
            if any(entry.op is ChangeOp.reload for entry in entries):
                self._rebuild()
                applied: Sequence[FeedEntry] = [e for e in entries if e.id <= self._position]
            else:
                self._apply(session, entries)
                applied = entries
                with self._lock:
                    self._position = entries[-1].id
        for listener in self._listeners:
            listener(applied)
        with self.reading() as matcher:
            stale = matcher.channels_.vocabulary_is_stale(matcher.config_.refresh)
        if stale:
            self._rebuild()
        return True

    def _rebuild(self) -> None:
        """A full rebuild within a catch-up, which readers do not wait for."""
        with self._progress:
            self._rebuilding = True
            self._progress.notify_all()
        try:
            self.build(refit_lexical=True)
        finally:
            with self._progress:
                self._rebuilding = False

    def _apply(self, session: Session, entries: Sequence[FeedEntry]) -> None:
        personal = [(PROFILE_TOPICS[e.topic], e.row_id) for e in entries if _personal(e)]
        before = self._texts_of(personal)
        with self.reading() as matcher:
            for entry in entries:
                if entry.topic == Topic.interactions:
                    self._apply_interaction(matcher, self._sharded, session, entry)
                elif entry.topic in PROFILE_TOPICS and entry.row_id is not None:
                    kind = PROFILE_TOPICS[entry.topic]
                    self._apply_profile(matcher, self._sharded, session, kind, entry.row_id)
            erased = any(e.op is ChangeOp.delete and _personal(e) for e in entries)
            if erased:
                self._persist(matcher)  # no vector of an erased person stays on disk
        self._forget_cached(before - self._texts_of(personal))

    @staticmethod
    def _apply_interaction(
        matcher: Matcher, shards: ShardedMatcher | None, session: Session, entry: FeedEntry
    ) -> None:
        row = session.get(Interaction, entry.row_id)
        if entry.op is ChangeOp.insert:
            if row is not None:  # else deleted since: a later entry re-reads the history
                event = RelationEvent.from_interaction(row)
                matcher.observe(event)
                if shards is not None:
                    shards.observe(event)
        else:
            # An edited or deleted interaction may undo a relation or a refusal: re-read the history.
            matcher.catalog_.history = History.from_database(session)
            if shards is not None:
                shards.set_history(matcher.catalog_.history)

    @staticmethod
    def _apply_profile(
        matcher: Matcher, shards: ShardedMatcher | None, session: Session, kind: EntityKind, row_id: int
    ) -> None:
        """The profile as the database has it now: upserted, or gone (erased, if personal). The
        shards all hold the record; only its own shard updates its vector and lexical row."""
        row = session.get(PROFILE_TABLES[kind], row_id)
        if row is None:
            if kind in PERSONAL_KINDS:
                matcher.erase_profile(kind, row_id)
            else:
                matcher.remove_profile(kind, row_id)
            if shards is not None:
                (shards.erase_profile if kind in PERSONAL_KINDS else shards.remove_profile)(kind, row_id)
            return
        record = row_record(row)
        matcher.upsert_profile(kind, record)
        if shards is not None:
            shards.upsert_profile(kind, record)
        if isinstance(row, Startup):
            team = [member.person_id for member in row.members]
            matcher.catalog_.set_team(row.id, team)
            if shards is not None:
                shards.set_team(row.id, team)

    def _persist(self, matcher: Matcher) -> None:
        """Write the indexes to disk, one process at a time as every worker holds the same state;
        then hold the read-only state memory-mapped, one copy for the workers of this host."""
        if matcher.index_dir is None:
            return
        matcher.index_dir.mkdir(parents=True, exist_ok=True)
        with (matcher.index_dir / SAVE_LOCK).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            matcher.save()
        matcher.share()

    def _stored_personal_digests(self) -> set[str]:
        index_dir = self.settings.index_dir
        return {digest for kind in PERSONAL_KINDS for digest in stored_text_digests(index_dir, kind)}

    def _forget_gone(self, matcher: Matcher, stored: set[str]) -> None:
        """A person's text the stored indexes held and no profile holds now leaves the embedding
        cache: erased or replaced while this host was down (it never saw those changes in the
        feed: a build starts at the feed's end), or by a bulk import."""
        held_now = (channel.text_hashes.values() for channel in matcher.channels_.kinds.values())
        gone = sorted(stored.difference(*held_now))
        if gone:
            with EmbeddingCache.for_settings(self.settings) as cache:
                cache.forget_digests(gone)

    def _texts_of(self, profiles: Sequence[tuple[EntityKind, int | None]]) -> set[str]:
        with self.reading() as matcher:
            tables = matcher.catalog_.tables
            texts = {
                profile_text(kind, tables[kind].record(row_id))
                for kind, row_id in profiles
                if row_id is not None and tables[kind].has_slot(row_id)
            }
        return texts - {""}

    def _forget_cached(self, texts: set[str]) -> None:
        """A person's replaced or erased text leaves the embedding cache: none of their old words stay."""
        if texts:
            with EmbeddingCache.for_settings(self.settings) as cache:
                cache.forget(sorted(texts))


def build_shard(settings: Settings, shard: int, shards: int) -> ShardMatcher:
    """One shard's matcher, from the database and the channels the service saved: what a shard
    actor runs at start, and again when Ray restarts it."""
    engine = create_db_engine(settings.resolved_database_url)
    try:
        with session_factory(engine)() as session:
            begin_snapshot(session)
            catalog = Catalog.from_database(session)
    finally:
        engine.dispose()
    from matcher.sharding import ShardMatcher

    chosen = settings.serving_ranker_dir
    return ShardMatcher(
        shard=shard,
        shards=shards,
        encoder=encoder_for(settings),
        scorer=load_ranker(chosen) if chosen is not None else None,
        config=MatcherConfig.from_settings(settings),
        index_dir=settings.index_dir,
    ).fit(catalog)


def _personal(entry: FeedEntry) -> bool:
    return PROFILE_TOPICS.get(entry.topic) in PERSONAL_KINDS


def settle_memory(*, freeze: bool = True) -> None:
    """Quiet the process's memory for serving, after a build.

    With ``freeze``, what a build leaves alive is taken out of the cycle collector's sight: at a
    million profiles a full collection walking the catalogue's records paused a request for
    ~0.5 s. The previous build's objects are unfrozen and collected first, so a rebuild frees
    them. That collection walks the whole process (~1.4 s beside torch), so small builds skip it.

    And numpy stops asking for transparent huge pages for its large arrays: with them, about one
    query in a hundred waited 10-18 ms on the kernel's page handling (200k startups, 1,200 queries
    a run, three runs each way: 1-2 queries over 12 ms with them, none without; the slowest
    17-18 ms against 8-9 ms).
    """
    if freeze:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
    # No public switch at run time: numpy calls this at import with NUMPY_MADVISE_HUGEPAGE.
    numpy_multiarray._set_madvise_hugepage(False)  # type: ignore[attr-defined]
    _trim_c_heap()


def _trim_c_heap() -> None:
    """Hand the C heap's free pages back to the system. glibc returns freed memory only from the
    top of a heap, and a build frees much in its middle (the analyses memo, 2.5 KB a profile at
    50k distinct texts, freed, left the steady RSS only 0.4 KB a profile lower; ``benchmarks.
    memory_scale``). Nothing to do where the C library is not glibc."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)
