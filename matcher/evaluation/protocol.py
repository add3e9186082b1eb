"""What an evaluation protocol hands the harness: folds of history, queries and their truth.

A protocol maps a real dataset into the project's own domain: ``records`` are Create-shaped
rows per kind slug (``startups``, ``investors``, ``interactions``), imported through
`models.transfer.import_records` exactly as a user's bulk import is. Each query is a startup
profile as a new founder would enter it; the truth is the investors who really backed it.
Cyzone and Crunchbase have one fold (a temporal split); YC has one per held-out batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Query:
    """A held-out funding event seen as a new founder's request for investors."""

    event_id: str
    startup: Mapping[str, Any]  # a StartupCreate-shaped record
    truth: frozenset[str]  # investor external ids
    occurred_on: dt.date
    segment: str = "all"  # a protocol's sub-population, e.g. "cold" or "warm"
    # Investors the startup already has (its earlier rounds' backers, where the truth leaves them
    # out): a founder's profile holds them (the matcher's query profile as relations), and the
    # product never offers a counterpart one is already related to (`Catalog.excluded`), so no
    # method's answer may spend a place on them.
    known: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Fold:
    """One history to learn from and the queries asked against it."""

    name: str
    records: Mapping[str, Sequence[Mapping[str, Any]]]  # slug → rows, history only
    queries: Sequence[Query]
    candidates: frozenset[str]  # investor external ids every query ranks
    history_end: dt.date | None = None  # None when the fold is not split by time
    # The protocol's own fold with its history cut at an earlier day ``cut``: every profile
    # written from the events before ``cut`` alone and the history's rounds from ``cut`` to
    # ``until`` as queries, asked as the protocol asks them. Training inside history learns from
    # it, so no feature of a training round knows what came after that round. None where the
    # records are stated rather than derived from the events (a deployment's own profiles).
    rewind: Callable[[dt.date, dt.date], Fold] | None = None


def spread_sample(items: Sequence[T], count: int | None) -> list[T]:
    """``count`` items spread evenly over ``items`` (first and last included), in order; all of
    them when ``count`` is None or not smaller. A deterministic sample that keeps the mix of
    periods and segments a protocol has."""
    if count is None or count >= len(items):
        return list(items)
    if count < 1:
        raise ValueError(f"sample must be at least 1, got {count}")
    if count == 1:
        return [items[0]]
    step = (len(items) - 1) / (count - 1)
    return [items[round(i * step)] for i in range(count)]
