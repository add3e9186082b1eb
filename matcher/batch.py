"""Batch jobs on Ray Data: every asker's top k into the database, and the catalogue re-encoded.

Workers never rebuild the matcher from the database texts: each opens, once, the state a
build saved in the data folder (the stored indexes and lexical rows), through the
``open_matcher`` callable it is given, and keeps it for every unit it is handed. Ray runs
locally (``num_cpus`` = the workers asked for) unless ``RAY_ADDRESS`` names a cluster.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

import numpy as np
from sqlalchemy.orm import Session
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from embeddings.cache import EmbeddingCache, text_key
from embeddings.selection import raw_encoder
from matcher.catalog import Catalog
from matcher.directions import DIRECTIONS, Direction
from matcher.matcher import Matcher
from matcher.text import profile_text
from models.batch_runs import RankedRow, Unit, complete_unit
from models.db import create_db_engine, session_factory, transaction
from models.enums import EntityKind

__all__ = [
    "ARROWS",
    "RecommendRun",
    "catalogue_texts",
    "direction_named",
    "encode_missing",
    "ray_session",
    "recommend_units",
]

ARROWS: Final = ("→", "->")
ENCODE_BATCH: Final = 256
# Kinds as the direction names call them where they differ from the entity kind.
_KIND_ALIASES: Final = {"talent": EntityKind.person}


def direction_named(name: str) -> Direction:
    """The direction ``name`` names: ``startup→investor``, ``startup->investor``, or the kinds'
    own names (``person->post`` for ``talent→post``); a ValueError naming what is unknown."""
    known = ", ".join(d.name for d in DIRECTIONS.values())
    arrow = next((a for a in ARROWS if a in name), None)
    if arrow is None:
        raise ValueError(f"--direction: '{name}' is not ASKER→CANDIDATE; known: {known}")
    kinds = []
    for side in name.split(arrow, 1):
        kind = _KIND_ALIASES.get(side.strip()) or next(
            (k for k in EntityKind if k.value == side.strip()), None
        )
        if kind is None:
            raise ValueError(f"--direction: unknown kind '{side.strip()}' in '{name}'; known: {known}")
        kinds.append(kind)
    direction = DIRECTIONS.get((kinds[0], kinds[1]))
    if direction is None:
        raise ValueError(f"--direction: no direction '{name}'; known: {known}")
    return direction


@contextmanager
def ray_session(workers: int) -> Iterator[None]:
    """Ray for the length of a job: the cluster ``RAY_ADDRESS`` names, else a local one of
    ``workers`` CPUs; one already running (a test's) is used as it is and left running."""
    import ray

    if ray.is_initialized():
        yield
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(log_to_driver=False)
    else:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    # The job draws its own bar, in profiles; Ray Data's operator bars would repeat it in blocks.
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield
    finally:
        ray.shutdown()


@dataclass(frozen=True)
class RecommendRun:
    """What every worker of one run needs: the run, its direction, and where to read and write."""

    run_id: int
    asker_kind: EntityKind
    candidate_kind: EntityKind
    k: int
    database_url: str
    open_matcher: Callable[[], Matcher]


class _UnitWorker:
    """One Ray Data actor: opens the saved matcher once, then answers and writes whole units."""

    def __init__(self, run: RecommendRun) -> None:
        self.run = run
        # One BLAS thread: each worker is one core's share (two workers on two cores).
        self._limits = threadpool_limits(limits=1)
        self.matcher = run.open_matcher()
        self.factory = session_factory(create_db_engine(run.database_url))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for number, first, last in zip(batch["unit"], batch["first"], batch["last"], strict=True):
            rows = self._ranked(int(first), int(last))
            with transaction(self.factory) as session:
                complete_unit(session, self.run.run_id, int(number), rows)
        return {"unit": batch["unit"], "askers": batch["askers"]}

    def _ranked(self, first: int, last: int) -> list[RankedRow]:
        run = self.run
        ids = self.matcher.catalog_.tables[run.asker_kind].ids
        chosen = ids[(ids >= first) & (ids <= last)]
        # The exposure cap counts the lists shown before; counted from each unit's start, a
        # unit's answers are the same whichever worker, run or resume answers it.
        self.matcher.exposure_.clear()
        return [
            RankedRow(int(asker), match.rank, match.id, match.score)
            for asker in sorted(chosen.tolist())
            for match in self.matcher.recommend(run.asker_kind, asker, run.candidate_kind, k=run.k)
        ]


def recommend_units(
    run: RecommendRun, units: Sequence[Unit], *, workers: int, progress: Callable[[int], object] | None = None
) -> int:
    """Answer and write ``units`` on ``workers`` Ray Data actors; the profiles answered.

    Each unit is written with its completion mark in one transaction, by the worker that
    answered it, so a run killed at any point loses at most the units in flight. ``progress``
    is called with each unit's askers as it completes.
    """
    import ray

    if not units:
        return 0
    rows = [{"unit": u.number, "first": u.first, "last": u.last, "askers": u.askers} for u in units]
    done = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
        _UnitWorker,
        fn_constructor_args=(run,),
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=1,
    )
    answered = 0
    for unit in done.iter_rows():
        answered += int(unit["askers"])
        if progress is not None:
            progress(int(unit["askers"]))
    return answered


def catalogue_texts(session: Session, kinds: Collection[EntityKind]) -> list[str]:
    """The distinct non-blank texts the channels encode for ``kinds``' profiles, sorted."""
    catalog = Catalog.from_database(session, kinds=kinds)
    texts = {profile_text(kind, record) for kind in kinds for record in catalog.tables[kind].records}
    return sorted(texts - {""})


class _EncodeWorker:
    """One Ray Data actor holding the encoder, loaded once."""

    def __init__(self, encoder_name: str) -> None:
        self._limits = threadpool_limits(limits=1)
        self.encoder = raw_encoder(encoder_name)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"text": batch["text"], "vector": self.encoder.encode(batch["text"].tolist())}


def encode_missing(
    texts: Sequence[str],
    *,
    encoder_name: str,
    cache: EmbeddingCache,
    workers: int,
    batch_size: int = ENCODE_BATCH,
    show_progress: bool = False,
) -> int:
    """Encode, on ``workers`` Ray Data actors, the ``texts`` the cache lacks for the encoder
    ``encoder_name`` names, and store them in the cache; how many were encoded."""
    import ray

    model_id = raw_encoder(encoder_name).model_id
    found, _ = cache.lookup(model_id, [text_key(text) for text in texts])
    missing = np.setdiff1d(np.arange(len(texts)), found).tolist()
    if not missing:
        return 0
    rows = [{"text": texts[i]} for i in missing]
    encoded = ray.data.from_items(rows).map_batches(
        _EncodeWorker,
        fn_constructor_args=(encoder_name,),
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=1,
    )
    bar = tqdm(total=len(rows), desc=f"encoding ({model_id})", unit="text", disable=not show_progress)
    with bar:
        for batch in encoded.iter_batches(batch_size=batch_size, batch_format="numpy"):
            keys = [text_key(text) for text in batch["text"].tolist()]
            cache.store(model_id, keys, np.asarray(batch["vector"], dtype=np.float32))
            bar.update(len(keys))
    return len(rows)
