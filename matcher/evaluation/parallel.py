"""Folds and methods of an evaluation as Ray tasks (``matcher evaluate --parallel``).

The folds go into the Ray object store once; each of ``workers`` actors builds a fold's
matcher world (and trains its ranker) at most once, keeping the fold it is on, and answers
whichever (fold, method) task it is handed. Tasks are handed out fold by fold, so an actor
rarely builds a world twice; the answers come back in fold and method order whatever order
they finish in, so the metrics are those of a sequential run.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from embeddings.encoder import Encoder
from matcher.batch import ray_session
from matcher.evaluation.harness import FoldMethodAnswers, FoldSession
from matcher.evaluation.protocol import Fold
from models.settings import Settings

__all__ = ["answer_in_parallel"]


class _FoldWorker:
    """A Ray actor answering (fold, method) tasks, holding the last fold's world."""

    def __init__(
        self, folds: Sequence[Fold], settings: Settings, encoder: Encoder | None, scratch: Path
    ) -> None:
        self.folds, self.settings, self.encoder = folds, settings, encoder
        self.scratch = scratch
        self.scratch.mkdir(parents=True)
        self.session: FoldSession | None = None

    def answer(self, number: int, method: str, deal_flow: bool) -> tuple[int, str, FoldMethodAnswers]:
        # Tasks come fold by fold: a fold left is not come back to.
        if self.session is None or self.session.number != number:
            self.session = FoldSession(
                self.folds[number], number, self.settings, self.encoder, self.scratch, False
            )
        return number, method, self.session.answer(method, deal_flow=deal_flow)


def answer_in_parallel(
    folds: Sequence[Fold],
    chosen: Sequence[str],
    *,
    settings: Settings,
    encoder: Encoder | None,
    deal_flow: bool,
    workers: int,
) -> list[list[FoldMethodAnswers]]:
    """Per fold, per method (in ``chosen``'s order), what it answered: as the sequential run."""
    import ray
    from ray.util import ActorPool

    tasks = [(number, method) for number in range(len(folds)) for method in chosen]
    found: dict[tuple[int, str], FoldMethodAnswers] = {}
    with ray_session(workers), tempfile.TemporaryDirectory(prefix="matcher-eval-") as scratch:
        shared = ray.put(list(folds))
        worker = ray.remote(num_cpus=1)(_FoldWorker)
        actors = [
            worker.remote(shared, settings, encoder, Path(scratch) / f"worker-{n}")
            for n in range(min(workers, len(tasks)))
        ]
        pool = ActorPool(actors)
        answers = pool.map_unordered(lambda actor, task: actor.answer.remote(*task, deal_flow), tasks)
        for number, method, answered in tqdm(answers, total=len(tasks), desc="folds × methods", unit="task"):
            found[(number, method)] = answered
    return [[found[(number, method)] for method in chosen] for number in range(len(folds))]
