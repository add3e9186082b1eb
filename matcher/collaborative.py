"""What the investment history says about a startup it has never seen: who backs startups like it.

Retrieval channels and a handful of pair features come from one index over the history's
deals (an investor backing a startup on a day), every one counted only if it happened before
the index's ``as_of`` moment:

* segment popularity: recency-weighted deals in the query's industries (every taxonomy
  level), round and place, joint and apart, blended with overall recent popularity;
* peer investors: the startups whose industries, round and place share the most
  (IDF-weighted) with the query are its peers, and an investor scores the recency-weighted
  deals it did with them (co-investment seen from the query's side);
* co-investment: the investors who backed the same startups as the peers' investors (an
  item-item view of the startup × investor matrix);
* the investor's own activity and focus: recency-weighted deals overall (recent popularity),
  deals in the last 90 and 365 days, and the share of its deals in the query's industry, round
  and place;
* seen from an investor asking for startups (its deal flow), the share of its recency-weighted
  deals in each segment key, so that startups in the segments it backs are retrieved by their
  profile alone (a period's new startups have no relation yet).

Startups with the same keys form one signature, so a query compares with the few thousand
signatures there are, not with every startup in the history.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import numpy as np
import scipy.sparse as sp

from matcher.catalog import Catalog, Deal
from matcher.graph import Node
from models.enums import EntityKind
from models.taxonomy import ANYWHERE, industry_ancestors

__all__ = [
    "ACTIVITY_WINDOWS_DAYS",
    "CollaborativeIndex",
    "Deal",
    "QuerySignals",
    "Signature",
    "rows_max",
    "signature",
    "startup_keys",
    "summed_rows",
    "weighted_sum",
]

RECENCY_DAYS: Final = 365.0
# Peers are the best-matching signatures until they hold at least this many startups.
PEER_STARTUPS: Final = 300
ACTIVITY_WINDOWS_DAYS: Final = (90, 365)
# New signatures' divisors are worked out this many investor (or signature) cells at a time.
SCALES_BATCH_CELLS: Final = 1 << 20
# Segment popularity = a blend of normalised recency-weighted counts: industry and round
# together, industry, round, everything (the segment-popularity baseline's recipe, so with no
# place it orders investors exactly as that baseline does), and place on top.
SEGMENT_PARTS: Final = (("joint", 0.4), ("industry", 0.3), ("stage", 0.1), ("all", 0.2), ("place", 0.2))
# Fields a profile names its place in; whichever are present count (city-level ones first).
PLACE_FIELDS: Final = ("city", "province", "district")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple | set | frozenset) else [value]


def _industries(record: Mapping[str, Any]) -> list[str]:
    return [str(code) for code in _as_list(record.get("industries")) or _as_list(record.get("industry"))]


def _industry_keys(record: Mapping[str, Any]) -> list[str]:
    """Industry codes with every ancestor, so a coarse match still counts."""
    seen: dict[str, None] = {}
    for code in _industries(record):
        for key in (code, *industry_ancestors(code)):
            seen.setdefault(key)
    return list(seen)


def _places(record: Mapping[str, Any]) -> list[str]:
    return [str(p) for name in PLACE_FIELDS for p in _as_list(record.get(name)) if p and p != ANYWHERE]


def startup_keys(record: Mapping[str, Any]) -> tuple[str, ...]:
    """A startup's segment keys: ``industry:``, ``stage:``, ``place:`` and the joint
    ``industry×stage:`` ones (sorted, so equal profiles share one signature)."""
    return _signature_keys(signature(record))


def _signature_keys(found: Signature) -> tuple[str, ...]:
    industries = _industry_keys({"industries": list(found.industries)})
    stage = found.stage
    keys = {f"industry:{code}" for code in industries}
    keys |= {f"place:{place}" for place in found.places}
    if stage:
        keys.add(f"stage:{stage}")
        keys |= {f"industry×stage:{code}|{stage}" for code in industries}
    return tuple(sorted(keys))


class Signature(NamedTuple):
    """What a startup's history signals depend on: its industries, round and places."""

    industries: tuple[str, ...]
    stage: Any
    places: tuple[str, ...]


def signature(record: Mapping[str, Any]) -> Signature:
    return Signature(tuple(_industries(record)), record.get("stage"), tuple(_places(record)))


@dataclass(frozen=True)
class _Scales:
    """A signature's signals over every investor, kept small: the keys each part sums, the
    largest value each signal is divided by, and its peers (for an investor reading its own column)."""

    segment_rows: tuple[tuple[int, ...] | None, ...]  # per SEGMENT_PARTS part; None for "all"
    segment_tops: tuple[float, ...]
    share_rows: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]  # industry, stage, place
    peers: np.ndarray
    peer_similarity: np.ndarray
    peer_top: float
    co_top: float


def _recency(occurred_at: dt.datetime, as_of: dt.datetime) -> float:
    age = _naive(as_of) - _naive(occurred_at)
    return math.exp(-max(age.total_seconds(), 0.0) / 86_400 / RECENCY_DAYS)


@dataclass(frozen=True)
class QuerySignals:
    """One query's scores of every indexed investor (columns of the index), each in [0, 1]."""

    segment_popularity: np.ndarray
    peer_investors: np.ndarray
    industry_share: np.ndarray
    stage_share: np.ndarray
    place_share: np.ndarray
    co_investment: np.ndarray


class CollaborativeIndex:
    """Deals before ``as_of``, grouped by the backed startup's signature and by key."""

    def __init__(self, deals: Iterable[Deal], startups: Mapping[Node, Mapping[str, Any]], as_of: dt.datetime):
        self.as_of = as_of
        cut = _naive(as_of)
        kept = [d for d in deals if _naive(d.occurred_at) < cut and d.startup in startups]
        self.investors: tuple[Node, ...] = tuple(sorted({d.investor for d in kept}))
        self.column: dict[Node, int] = {node: at for at, node in enumerate(self.investors)}
        signature_of = {s: startup_keys(startups[s]) for s in {d.startup for d in kept}}
        signatures = sorted(set(signature_of.values()))
        row_of = {signature: at for at, signature in enumerate(signatures)}
        self.keys: dict[str, int] = {}
        for signature in signatures:
            for key in signature:
                self.keys.setdefault(key, len(self.keys))
        self._signature_sizes = np.zeros(len(signatures))
        for signature in signature_of.values():
            self._signature_sizes[row_of[signature]] += 1
        by_signature: defaultdict[tuple[int, int], float] = defaultdict(float)
        for deal in kept:
            by_signature[(row_of[signature_of[deal.startup]], self.column[deal.investor])] += _recency(
                deal.occurred_at, as_of
            )
        self._signature_deals = _sparse(by_signature, (len(signatures), len(self.investors)))
        # Startups holding each key (document frequency), for the keys' IDF weights.
        frequency = np.zeros(len(self.keys))
        key_rows, key_columns = [], []
        for signature, at in row_of.items():
            for key in signature:
                key_rows.append(at)
                key_columns.append(self.keys[key])
                frequency[self.keys[key]] += self._signature_sizes[at]
        self._idf = np.log((1.0 + len(signature_of)) / (1.0 + frequency)) + 1.0
        self._signature_keys = sp.csc_matrix(
            (np.ones(len(key_rows)), (key_rows, key_columns)), shape=(len(signatures), len(self.keys))
        )
        # Key × investor: recency-weighted deals (popularity) and plain counts (focus shares).
        key_deals = self._signature_keys.T.tocsr() @ self._signature_deals
        self._key_recent = sp.csr_matrix(key_deals)
        counts: defaultdict[tuple[int, int], float] = defaultdict(float)
        for deal in kept:
            for key in signature_of[deal.startup]:
                counts[(self.keys[key], self.column[deal.investor])] += 1.0
        self._key_counts = _sparse(counts, (len(self.keys), len(self.investors)))
        self._totals = np.bincount(
            [self.column[d.investor] for d in kept], minlength=len(self.investors)
        ).astype(np.float64)
        self._overall = np.asarray(self._signature_deals.sum(axis=0)).ravel()
        self._co_investors = _co_investors(kept, self.column)
        self._columns: tuple[sp.csc_matrix, sp.csc_matrix, sp.csc_matrix] | None = None
        self._scale_memo: dict[Signature, _Scales] = {}
        self._deal_days: dict[Node, np.ndarray] = {
            investor: np.sort(np.asarray(days, dtype="datetime64[s]"))
            for investor, days in _days_by_investor(kept).items()
        }

    @classmethod
    def from_catalog(cls, catalog: Catalog, as_of: dt.datetime) -> CollaborativeIndex:
        startups = catalog.tables[EntityKind.startup]
        backed = {deal.startup for deal in catalog.history.deals if deal.startup[1] in startups}
        records = {node: startups.record(node[1]) for node in backed}
        return cls(catalog.history.deals, records, as_of)

    def __len__(self) -> int:
        return len(self.investors)

    def signals(self, record: Mapping[str, Any]) -> QuerySignals:
        """Every indexed investor's scores for a startup profile (new or known)."""
        found = signature(record)
        peers = self._peers(found)
        names = self._share_names(found)
        return QuerySignals(
            segment_popularity=self._segment(found)[0],
            peer_investors=peers,
            industry_share=self._share(names[0]),
            stage_share=self._share(names[1]),
            place_share=self._share(names[2]),
            co_investment=_normalised(np.asarray(self._co_investors @ peers).ravel()),
        )

    def investor_signals(self, investor: Node, signatures: Sequence[Signature]) -> QuerySignals:
        """What :meth:`signals` holds at ``investor``'s column for each startup signature: the same
        pair scores, read by an investor asking for startups (its deal flow). A signature's
        divisors and peers are worked out once per index; the investor's own deals once per call."""
        count = len(signatures)
        column = self.column.get(investor)
        if column is None:
            zeros = np.zeros(count)
            return QuerySignals(*(zeros.copy() for _ in range(6)))
        columns = self._by_investor()
        recent, counts, deals = (np.asarray(m[:, column].todense()).ravel() for m in columns[:3])
        # The co-investors' deals with each signature, weighted by how often they joined this investor.
        co_deals = np.asarray((columns[2] @ self._co_investors[:, column]).todense()).ravel()
        overall, total = float(self._overall[column]), float(self._totals[column])
        scales = self._scales(signatures)
        # Part by part over all the signatures at once, each value the same sum, product or
        # quotient as one signature's alone: a pool brings up to hundreds of signatures, and one
        # by one they made the slowest investor→startup answers (200k startups) spend 10.7 ms
        # here against 1.2 ms at the median.
        segment = np.zeros(count)
        for part, (name, weight) in enumerate(SEGMENT_PARTS):
            rows = [found.segment_rows[part] or () for found in scales]
            parts = np.full(count, overall) if name == "all" else _gathered(recent, rows, np.sum)
            segment += weight * _divided(parts, np.asarray([found.segment_tops[part] for found in scales]))
        peer_tops = np.asarray([found.peer_top for found in scales])
        peer = _divided(_peer_sums(deals, scales), peer_tops)
        shares = [
            _gathered(counts, [found.share_rows[part] for found in scales], np.max) / total
            if total > 0
            else np.zeros(count)
            for part in range(3)
        ]
        co = _divided(_peer_sums(co_deals, scales), peer_tops)
        co = _divided(co, np.asarray([found.co_top for found in scales]))
        values = np.stack([segment, peer, *shares, co]) if count else np.zeros((6, 0))
        return QuerySignals(*values)

    def investor_key_shares(self, investor: Node) -> np.ndarray:
        """The investor's recency-weighted deals with each key's startups over its recency-weighted
        deals overall: where its deals went, as segment popularity weighs them (zeros for an
        investor with no deal as of the index)."""
        column = self.column.get(investor)
        if column is None or self._overall[column] <= 0:
            return np.zeros(len(self.keys))
        recent = self._by_investor()[0]
        shares: np.ndarray = weighted_sum(recent, [column], np.ones(1)) / self._overall[column]
        return shares

    def segment_key_weights(self, signatures: Sequence[Signature]) -> sp.csr_matrix:
        """Signature × key: each signature's segment keys (joint, industry, stage, place) at
        their ``SEGMENT_PARTS`` weight, those the index holds; times :meth:`investor_key_shares`,
        each signature's segment share of the investor's deals."""
        rows, columns, weights = [], [], []
        for row, found in enumerate(signatures):
            for (_, weight), names in zip(SEGMENT_PARTS, self._segment_names(found), strict=True):
                keys = self._rows(names)
                rows += [row] * len(keys)
                columns += keys
                weights += [weight] * len(keys)
        return sp.csr_matrix((weights, (rows, columns)), shape=(len(signatures), len(self.keys)))

    def _by_investor(self) -> tuple[sp.csc_matrix, sp.csc_matrix, sp.csc_matrix]:
        """The key and signature matrices by column (built on an investor's first ask)."""
        if self._columns is None:
            self._columns = (
                sp.csc_matrix(self._key_recent),
                sp.csc_matrix(self._key_counts),
                sp.csc_matrix(self._signature_deals),
            )
        return self._columns

    def _scales(self, signatures: Sequence[Signature]) -> list[_Scales]:
        """Each signature's divisors and peers, worked out once per index. The new ones of a call
        are worked out together, ~4x cheaper than one by one: a deal-flow pool's unseen
        signatures (20 in the slowest answers of a first 200) cost ~0.8 ms each that way."""
        missing = [found for found in dict.fromkeys(signatures) if found not in self._scale_memo]
        width = max(len(self.investors), len(self._signature_sizes), 1)
        batch = max(1, SCALES_BATCH_CELLS // width)
        for start in range(0, len(missing), batch):
            chunk = missing[start : start + batch]
            self._scale_memo.update(zip(chunk, self._new_scales(chunk), strict=True))
        return [self._scale_memo[found] for found in signatures]

    def _new_scales(self, signatures: Sequence[Signature]) -> list[_Scales]:
        """As one signature's :meth:`_segment` divisors, :meth:`_peers` and co-investment top
        each, the same to the last bit (every sum adds the same terms in the same order)."""
        segment_rows = [
            [
                None if name == "all" else self._rows(names)
                for (name, _), names in zip(SEGMENT_PARTS, self._segment_names(found), strict=True)
            ]
            for found in signatures
        ]
        summed = [rows for parts in segment_rows for rows in parts if rows is not None]
        part_tops = iter(
            _row_tops(weighted_sums(self._key_recent, summed, [np.ones(len(r)) for r in summed]))
        )
        overall_top = float(self._overall.max()) if len(self._overall) else 0.0
        peers, similarities, scores = self._batch_peers(signatures)
        peer_tops = _row_tops(scores)
        normalised = np.divide(scores.T, peer_tops, out=scores.T.copy(), where=peer_tops > 0)
        co_tops = _row_tops(np.asarray(self._co_investors @ normalised).T)
        return [
            _Scales(
                segment_rows=tuple(None if rows is None else tuple(rows) for rows in parts),
                segment_tops=tuple(overall_top if rows is None else next(part_tops) for rows in parts),
                share_rows=self._share_rows(found),
                peers=peers[at],
                peer_similarity=similarities[at],
                peer_top=float(peer_tops[at]),
                co_top=float(co_tops[at]),
            )
            for at, (found, parts) in enumerate(zip(signatures, segment_rows, strict=True))
        ]

    def _share_rows(self, found: Signature) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        industry, stage, place = (tuple(self._rows(names)) for names in self._share_names(found))
        return industry, stage, place

    def _batch_peers(
        self, signatures: Sequence[Signature]
    ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
        """Each signature's peer signatures, their similarity, and every investor's deals with
        them (a row each, not normalised)."""
        keys = [self._rows(_signature_keys(found)) if len(self.investors) else [] for found in signatures]
        similarity = weighted_sums(self._signature_keys, keys, [self._idf[at] for at in keys])
        peers, similarities = [], []
        for own, row in zip(keys, similarity, strict=True):
            peers.append(self._most_similar(row) if own else np.zeros(0, dtype=np.int64))
            similarities.append(row[peers[-1]])
        return peers, similarities, weighted_sums(self._signature_deals, peers, similarities)

    def _rows(self, names: Sequence[str]) -> list[int]:
        return [self.keys[name] for name in names if name in self.keys]

    @staticmethod
    def _share_names(found: Signature) -> tuple[list[str], list[str], list[str]]:
        return (
            [f"industry:{code}" for code in found.industries],
            [f"stage:{found.stage}"],
            [f"place:{place}" for place in found.places],
        )

    @staticmethod
    def _segment_names(found: Signature) -> list[list[str]]:
        """Per SEGMENT_PARTS part, the keys it sums (none for "all", which counts every deal)."""
        industries = _industry_keys({"industries": list(found.industries)})
        stage = found.stage
        parts = {
            "joint": [f"industry×stage:{code}|{stage}" for code in industries] if stage else [],
            "industry": [f"industry:{code}" for code in industries],
            "stage": [f"stage:{stage}"] if stage else [],
            "place": [f"place:{place}" for place in found.places],
            "all": [],
        }
        return [parts[name] for name, _ in SEGMENT_PARTS]

    def _row_sum(self, matrix: sp.csr_matrix, names: Sequence[str]) -> np.ndarray:
        return summed_rows(matrix, self._rows(names))

    def _segment(self, found: Signature) -> tuple[np.ndarray, tuple[float, ...]]:
        """Segment popularity over every investor, and each part's divisor."""
        score = np.zeros(len(self.investors))
        tops = []
        for (name, weight), names in zip(SEGMENT_PARTS, self._segment_names(found), strict=True):
            counts = self._overall if name == "all" else self._row_sum(self._key_recent, names)
            top = float(counts.max()) if len(counts) else 0.0
            tops.append(top)
            score += weight * _normalised(counts)
        return score, tuple(tops)

    def _peers(self, found: Signature) -> np.ndarray:
        """Every investor's deals with the signature's peers, over the busiest's."""
        keys = self._rows(_signature_keys(found))
        if not keys or not len(self.investors):
            return np.zeros(len(self.investors))
        similarity = weighted_sum(self._signature_keys, keys, self._idf[keys])
        peers = self._most_similar(similarity)
        return _normalised(weighted_sum(self._signature_deals, peers, similarity[peers]))

    def _most_similar(self, similarity: np.ndarray) -> np.ndarray:
        """The peer signatures: the most similar until they hold ``PEER_STARTUPS`` startups."""
        matching = np.flatnonzero(similarity > 0)
        order = matching[np.argsort(-similarity[matching], kind="stable")]
        enough = int(np.searchsorted(np.cumsum(self._signature_sizes[order]), PEER_STARTUPS)) + 1
        most: np.ndarray = order[:enough]
        return most

    def _share(self, names: Sequence[str]) -> np.ndarray:
        """The largest share of an investor's deals in any of the named keys."""
        rows = [self.keys[name] for name in names if name in self.keys]
        if not rows:
            return np.zeros(len(self.investors))
        most = rows_max(self._key_counts, rows)
        share: np.ndarray = np.divide(most, self._totals, out=np.zeros_like(most), where=self._totals > 0)
        return share

    def recent_popularity(self, investors: Sequence[Node]) -> np.ndarray:
        """Each investor's deals weighted by exp(-age / 365 days), over the busiest investor's."""
        overall = _normalised(self._overall)
        return np.asarray([overall[at] if (at := self.column.get(n)) is not None else 0.0 for n in investors])

    def recent_deals(self, investors: Sequence[Node], days: int) -> np.ndarray:
        """Each investor's deals in the ``days`` before ``as_of``."""
        since = np.datetime64(_naive(self.as_of - dt.timedelta(days=days)), "s")
        empty = np.zeros(0, dtype="datetime64[s]")
        return np.asarray(
            [
                len(found) - np.searchsorted(found, since)
                for found in (self._deal_days.get(node, empty) for node in investors)
            ],
            dtype=np.float64,
        )

    def top(self, scores: np.ndarray, count: int) -> list[Node]:
        """The ``count`` investors with the highest positive ``scores``, best first."""
        positive = np.flatnonzero(scores > 0)
        order = positive[np.lexsort((positive, -scores[positive]))][:count]
        return [self.investors[int(at)] for at in order]


def _naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo is not None else moment


def _days_by_investor(deals: Sequence[Deal]) -> dict[Node, list[dt.datetime]]:
    days: defaultdict[Node, list[dt.datetime]] = defaultdict(list)
    for deal in deals:
        days[deal.investor].append(_naive(deal.occurred_at))
    return dict(days)


def _co_investors(deals: Sequence[Deal], column: Mapping[Node, int]) -> sp.csr_matrix:
    """Investor × investor: how many startups both backed (the diagonal zero)."""
    rows: dict[Node, int] = {}
    cells = {(rows.setdefault(d.startup, len(rows)), column[d.investor]) for d in deals}
    if not cells:
        return sp.csr_matrix((len(column), len(column)))
    startups, investors = (np.asarray(side) for side in zip(*cells, strict=True))
    backed = sp.csr_matrix((np.ones(len(cells)), (startups, investors)), shape=(len(rows), len(column)))
    shared = (backed.T @ backed).tocsr()
    shared.setdiag(0.0)
    shared.eliminate_zeros()
    return shared


def summed_rows(matrix: sp.csr_matrix, rows: Sequence[int]) -> np.ndarray:
    """The sum of ``matrix``'s ``rows`` as a dense vector, read straight from its CSR arrays:
    scipy's row selection builds a new matrix first, which cost a deal-flow answer ~0.3 ms a
    call, four calls for each startup signature an investor's pool brings."""
    return weighted_sum(matrix, rows, np.ones(len(rows)))


def weighted_sum(
    matrix: sp.csr_matrix | sp.csc_matrix, at: Sequence[int] | np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """``matrix``'s rows ``at`` (columns, for a CSC matrix) times ``weights``, summed, read straight
    from its arrays: scipy's selection builds a new matrix first (a query's peers cost ~0.5 ms
    that way). Each sum adds its terms in the order of ``at``, as scipy's product does, so the
    result is the same to the last bit."""
    picks, lengths = _spans(matrix, np.asarray(at, dtype=np.int64))
    terms = matrix.data[picks] * np.repeat(np.asarray(weights, dtype=np.float64), lengths)
    size = matrix.shape[1] if isinstance(matrix, sp.csr_matrix) else matrix.shape[0]
    return np.bincount(matrix.indices[picks], weights=terms, minlength=size).astype(np.float64)


def weighted_sums(
    matrix: sp.csr_matrix | sp.csc_matrix,
    groups: Sequence[Sequence[int] | np.ndarray],
    weights: Sequence[np.ndarray],
) -> np.ndarray:
    """:func:`weighted_sum` of each group of rows (columns) with its weights, a row of the result
    each, in one pass over the arrays: each sum still adds its own terms in its group's order."""
    size = matrix.shape[1] if isinstance(matrix, sp.csr_matrix) else matrix.shape[0]
    lengths = np.fromiter((len(group) for group in groups), np.int64, len(groups))
    at = np.concatenate([np.asarray(group, dtype=np.int64) for group in groups]) if len(groups) else lengths
    picks, spans = _spans(matrix, at)
    every = np.concatenate([np.asarray(w, dtype=np.float64) for w in weights]) if len(groups) else np.zeros(0)
    terms = matrix.data[picks] * np.repeat(every, spans)
    group_of = np.repeat(np.repeat(np.arange(len(groups), dtype=np.int64), lengths), spans)
    found = np.bincount(group_of * size + matrix.indices[picks], weights=terms, minlength=len(groups) * size)
    return found.astype(np.float64).reshape(len(groups), size)


def _spans(matrix: sp.csr_matrix | sp.csc_matrix, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the stored entries of ``matrix``'s rows (or CSC columns) ``at`` are, in that order, and
    how many each has."""
    starts, lengths = matrix.indptr[at], matrix.indptr[at + 1] - matrix.indptr[at]
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(int(lengths.sum())), lengths


def rows_max(matrix: sp.csr_matrix, rows: Sequence[int]) -> np.ndarray:
    """The largest value of ``matrix``'s ``rows`` in each column (0 where none is stored), read
    straight from its CSR arrays: scipy's row selection and column max cost a startup→investor
    answer ~0.7 ms for its three shares."""
    most = np.zeros(matrix.shape[1])
    for row in rows:
        span = slice(matrix.indptr[row], matrix.indptr[row + 1])
        columns = matrix.indices[span]
        most[columns] = np.maximum(most[columns], matrix.data[span])
    return most


def _sparse(cells: Mapping[tuple[int, int], float], shape: tuple[int, int]) -> sp.csr_matrix:
    if not cells:
        return sp.csr_matrix(shape)
    (rows, columns), values = zip(*cells, strict=True), list(cells.values())
    return sp.csr_matrix((values, (rows, columns)), shape=shape)


def _gathered(
    values: np.ndarray, groups: Sequence[Sequence[int]], reduce: Callable[..., np.ndarray]
) -> np.ndarray:
    """``reduce`` (np.sum, np.max) of ``values`` at each group of positions, 0 for an empty group.
    Groups of one length are reduced together as the rows of one matrix: numpy sums each row
    as it sums that row alone, so each sum is the same to the last bit as ``values[group].sum()``."""
    found = np.zeros(len(groups))
    by_length: defaultdict[int, list[int]] = defaultdict(list)
    for at, group in enumerate(groups):
        by_length[len(group)].append(at)
    for length, members in by_length.items():
        if length:
            positions = np.asarray([groups[m] for m in members], dtype=np.int64)
            found[members] = reduce(values[positions.reshape(len(members), length)], axis=1)
    return found


def _peer_sums(values: np.ndarray, scales: Sequence[_Scales]) -> np.ndarray:
    """Each signature's peers' ``values`` weighted by their similarity (a dot product each, as
    one signature alone: how numpy adds up a dot product is the BLAS's to choose)."""
    return np.fromiter(
        (float(values[found.peers] @ found.peer_similarity) for found in scales), np.float64, len(scales)
    )


def _divided(values: np.ndarray, by: np.ndarray) -> np.ndarray:
    """``values / by`` where ``by`` is positive, ``values`` elsewhere."""
    quotient: np.ndarray = np.divide(values, by, out=values.copy(), where=by > 0)
    return quotient


def _row_tops(rows: np.ndarray) -> np.ndarray:
    """Each row's largest value (0 for a row of no columns)."""
    return rows.max(axis=1) if rows.shape[1] else np.zeros(len(rows))


def _normalised(values: np.ndarray) -> np.ndarray:
    top = float(values.max()) if len(values) else 0.0
    return values / top if top > 0 else values
