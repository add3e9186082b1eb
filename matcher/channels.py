"""The text channels of every kind: semantic vectors in a faiss index, lexical TF-IDF rows.

Both are aligned with the :class:`matcher.catalog.KindTable` of their kind and updated per
profile, so an edit or a removal shows in the next recommendation without a rebuild.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from embeddings.encoder import Encoder
from embeddings.index import IdColumn, IndexConfig, IndexFileMismatchError, MaskedIds, VectorIndex
from embeddings.lexical import FeatureCounts, LexicalVectorizer, TermWeighting, text_key
from matcher.catalog import Catalog, KindTable
from matcher.config import RefreshConfig, RetrievalConfig
from matcher.keywords import is_telling, load_label_cuts, save_label_cuts
from matcher.lexical_rows import CompactRows, LexicalWeights
from matcher.mapped import shared
from matcher.text import profile_text
from models.enums import EntityKind
from models.files import replace_directory, write_atomically

LEXICAL_DIR = "lexical"
LEXICAL_ROWS = "rows.npz"
# The lexical vectorizer a fresh fit makes.
LEXICAL_PARAMS: dict[str, Any] = {"min_df": 2, "max_features": 200_000}


# Postings are written out as positions while that takes at most this many times the entries
# over distinct rows (little sharing), and read as slices; beyond it, expanded when read.
WRITTEN_OUT_POSTINGS = 2
# The postings are built this many entries of the store at a time (see _Postings).
POSTINGS_CHUNK_ENTRIES = 1 << 18
# The store is transposed in about this many bands of features, of at least a chunk each.
POSTINGS_BANDS = 64

# The stored indexes name texts by this digest (their hashes files), as the lexical memo does.
_text_hash = text_key


class KindChannels:
    """Semantic and lexical representations of one kind's profiles.

    The lexical rows are held once: a CSR matrix of distinct rows (identical texts, such as empty
    bios or a listing's copies, share one) and each position's row in it, with the rows changed
    since the last compaction kept beside them. The postings retrieval reads are derived from
    these once, and again only after a compaction.
    """

    def __init__(
        self,
        table: KindTable,
        index: VectorIndex,
        lexical: sp.csr_matrix | CompactRows,
        retrieval: RetrievalConfig = RetrievalConfig(),
        *,
        row_of: np.ndarray | None = None,
        weighting: TermWeighting | None = None,
    ) -> None:
        """``lexical``: the distinct rows (held as they are if compact, which must then be in
        the retrieval's weights); ``row_of``: each position's row among them (by default the
        positions are the rows); ``weighting``: the one that made the rows, if any, which lets
        the postings hold a weight in a byte (:class:`_Postings`)."""
        self.table = table
        self.weighting = weighting
        self.retrieval = retrieval
        self.index = index
        self._store = (
            lexical
            if isinstance(lexical, CompactRows)
            else CompactRows.from_matrix(lexical, retrieval.lexical_weights)
        )
        self._row_of: np.ndarray = (
            np.arange(lexical.shape[0], dtype=np.int32) if row_of is None else row_of.astype(np.int32)
        )
        self._positions = len(self._row_of)
        # Rows set since the last compaction, by position: every position not here reads the store.
        self._pending: dict[int, sp.csr_matrix] = {}
        self._postings: _Postings | None = None
        # Positions inside the postings whose row is pending.
        self._stale: np.ndarray = np.zeros(0, bool)
        self._overlay_stack: tuple[np.ndarray, CompactRows, sp.csc_matrix] | None = None
        self._id_column: IdColumn | None = None
        self.text_hashes: dict[int, str] = {}
        # How many rows of the whole table hold each feature, as of the build, when this holds
        # only a shard's rows: how rare a feature is must not depend on the shard.
        self.rarity: np.ndarray | None = None

    def _retrieval_postings(self) -> _Postings:
        if self._postings is None:
            if self._pending:
                self._compact()
            self._postings = _Postings(
                self._store,
                self._row_of[: self._positions],
                self.retrieval.posting_head,
                weighting=self.weighting,
            )
            self._stale = np.zeros(self._positions, bool)
        return self._postings

    def _overlay_rows(self) -> tuple[np.ndarray, CompactRows, sp.csc_matrix]:
        """The pending rows: their positions (ascending), by row (scored as the store's rows are,
        so a row scores the same before and after a compaction) and by feature."""
        if self._overlay_stack is None:
            positions = np.asarray(sorted(self._pending), dtype=np.int64)
            rows = sp.vstack([self._pending[p] for p in positions.tolist()], format="csr")
            compact = CompactRows.from_matrix(rows, self.retrieval.lexical_weights)
            self._overlay_stack = positions, compact, rows.tocsc()
        return self._overlay_stack

    def semantic_filter(self, mask: np.ndarray) -> MaskedIds:
        """The table's rows where ``mask`` is set, as the vector index takes a filter."""
        ids = self.table.ids  # a new array whenever a row is added
        if self._id_column is None or self._id_column.ids is not ids:
            self._id_column = IdColumn(ids)
        return MaskedIds(self._id_column, mask)

    def lexical_top(self, query: sp.csr_matrix, mask: np.ndarray, count: int) -> np.ndarray:
        """Positions (within ``mask``) of the rows sharing the most weight with ``query``.

        Only the query's heaviest features are looked up, column-wise: an inverted index, so
        the cost follows how rare those features are, not how many rows there are. Features
        common to many rows (character n-grams such as ``c:科技``) are looked up only when the
        rarer ones find fewer than ``count`` rows, the least common first: their postings are
        most of the work (1.5M entries for some queries at 1M rows), and they add little to
        which rows fit best. Equal weights at the cut go to the earlier position.
        """
        found: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.int64), np.zeros(0))
        for hits, scores, complete in self.lexical_levels(query, mask):
            found = hits, scores
            if len(hits) >= count or complete:
                break
        return best_positions(*found, count)

    def lexical_levels(
        self, query: sp.csr_matrix, mask: np.ndarray
    ) -> Iterator[tuple[np.ndarray, np.ndarray, bool]]:
        """For each of the retrieval's shares in turn, the rows :meth:`lexical_top` would find
        (positions within ``mask``), their weights, and whether every feature was looked up."""
        postings = self._retrieval_postings()
        heaviest = heaviest_first(query.data, self.retrieval.lexical_query_features)
        columns, weights = query.indices[heaviest], query.data[heaviest]
        counts = postings.row_counts if self.rarity is None else self.rarity
        lengths = counts[columns]
        for share in self.retrieval.lexical_retrieval_shares:
            rare = lengths <= share * len(mask)
            hits, scores = self._postings_scores(postings, columns[rare], weights[rare], mask)
            if self._pending:
                hits, scores = self._with_overlay(hits, scores, columns[rare], weights[rare], mask)
            yield hits, scores, bool(rare.all())

    def _postings_scores(
        self, postings: _Postings, columns: np.ndarray, weights: np.ndarray, mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The admitted rows in the postings of ``columns``, and their summed weight."""
        if postings.kept is not None:
            return postings.shared_scores(columns, weights, mask, self.retrieval.dense_sum_fraction)
        found_rows, found_entries = [np.empty(0, np.int32)], [np.empty(0, np.int64)]
        for column in columns.tolist():
            rows, entries = postings.admitted(column, mask)
            found_rows.append(rows)
            found_entries.append(entries)
        rows, entries = np.concatenate(found_rows), np.concatenate(found_entries)
        # Every posting's weights at once (rebuilt from counts: a call a posting was most of it).
        lengths = [len(found) for found in found_entries[1:]]
        found_weights = postings.weights(entries, rows, np.repeat(columns, lengths))
        shares = found_weights * np.repeat(weights.astype(np.float32), lengths)
        if len(rows) > len(mask) // self.retrieval.dense_sum_fraction:
            # Summed in a table-long buffer: linear, where grouping by sorting is not.
            sums = np.bincount(rows, weights=shares, minlength=len(mask))
            hits = np.flatnonzero(sums)
            return hits, sums[hits]
        # Summed per row over the postings only: nothing here is as long as the table.
        hits, per_hit = np.unique(rows, return_inverse=True)
        return hits, np.bincount(per_hit, weights=shares, minlength=len(hits))

    def _with_overlay(
        self, hits: np.ndarray, scores: np.ndarray, columns: np.ndarray, weights: np.ndarray, mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Retrieval hits with stale stacked rows swapped for the rows changed since stacking.

        A changed row joins whatever its features score, where a restack could cut it from a long
        posting list: a new or edited profile is never the one that goes missing.
        """
        fresh = ~self._stale[hits]
        positions, _, by_feature = self._overlay_rows()
        sums = np.asarray(by_feature[:, columns] @ weights, dtype=np.float64)
        found = mask[positions] & (sums > 0)
        return (
            np.concatenate([hits[fresh], positions[found]]),
            np.concatenate([scores[fresh], sums[found]]),
        )

    def lexical_scores(self, query: sp.csr_matrix, positions: np.ndarray) -> np.ndarray:
        """Inner products of ``query`` with the rows at ``positions``.

        The query is made dense first: a sparse-times-dense product over the pool's rows costs a
        quarter of the sparse-times-sparse one.
        """
        dense = np.zeros(query.shape[1], dtype=np.float32)
        dense[query.indices] = query.data
        if not self._pending:
            return self._stored_scores(positions, dense)
        changed, rows, _ = self._overlay_rows()
        at = np.minimum(np.searchsorted(changed, positions), len(changed) - 1)
        in_overlay = changed[at] == positions
        scores = np.zeros(len(positions), dtype=np.float64)
        if not in_overlay.all():
            scores[~in_overlay] = self._stored_scores(positions[~in_overlay], dense)
        scores[in_overlay] = rows.dot(at[in_overlay], dense)
        return scores

    def _stored_scores(self, positions: np.ndarray, dense: np.ndarray) -> np.ndarray:
        return self._store.dot(self._row_of[positions], dense)

    def lexical_row(self, position: int) -> sp.csr_matrix:
        pending = self._pending.get(position)
        if pending is not None:
            return pending
        return self._store.row(int(self._row_of[position]))

    def lexical_entries(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """Row ``position``'s features and their weights, read in place: no matrix is made."""
        pending = self._pending.get(position)
        if pending is not None:
            return pending.indices, pending.data
        return self._store.entries(int(self._row_of[position]))

    def set_lexical(self, position: int, row: sp.csr_matrix) -> None:
        # Blank unless ``position`` is past the end; the skipped positions (inactive new profiles) stay blank.
        for appended in range(self._positions, position):
            self._pending[appended] = _blank_row(row.shape)
        if position >= self._positions:
            self._row_of = _grown(self._row_of, position + 1)
            self._positions = position + 1
        # Rounded as the store holds weights: retrieval reads the overlay's rows as they are.
        self._pending[position] = _rounded(row, self._store.dtype)
        self._overlay_stack = None
        if position < len(self._stale):
            self._stale[position] = True
        if len(self._pending) > self.retrieval.lexical_overlay_limit:
            self._compact()

    def erase_lexical(self, position: int) -> None:
        """Blank a row and compact at once, so no copy of the old row stays in memory."""
        self._pending[position] = _blank_row(self.lexical_row(position).shape)
        self._compact()

    def keep_only(self, owned: np.ndarray) -> None:
        """Hold only the rows at the ``owned`` positions of the table (a mask), as a shard does:
        the others' vectors leave the index and their lexical rows are blanked."""
        self.index.remove(self.table.ids[~owned].tolist())
        self._compact()
        # Counted from the rows, not by deriving the whole table's postings only to drop them:
        # those were most of a shard's peak memory at build.
        self.rarity = _positions_holding(self._store, self._row_of[: self._positions])
        others = np.ones(self._positions, bool)
        others[: len(owned)] = ~owned[: self._positions]
        self._row_of[others] = self._store.shape[0]
        self._store = self._store.stacked(_blank_row((1, self._store.shape[1])))
        self._compact()
        self._retrieval_postings()  # now: a shard's first query must not wait for it

    def share(self, folder: Path) -> None:
        """Hold the lexical rows and their postings memory-mapped from ``folder``
        (:func:`matcher.mapped.shared`), one copy for every worker of the host. Rows changed
        later stay in this process (the overlay); a compaction makes its own private copy."""
        postings = self._retrieval_postings()  # compacts, so every row is in the store
        arrays = {
            "store.data": self._store.data,
            "store.indices": self._store.indices,
            "store.indptr": self._store.indptr,
            "row_of": self._row_of,
        } | {f"postings.{name}": array for name, array in postings.arrays().items()}
        mapped = shared(folder, arrays)
        self._store = CompactRows(
            mapped["store.data"], mapped["store.indices"], mapped["store.indptr"], self._store.columns
        )
        self._row_of = mapped["row_of"]
        postings.adopt(
            {name.removeprefix("postings."): a for name, a in mapped.items() if name.startswith("postings.")}
        )

    def _compact(self) -> None:
        """Move the pending rows into the store, keep only the rows some position reads, and
        forget the postings (derived again on next use)."""
        if self._pending:
            positions = np.fromiter(sorted(self._pending), np.int64, len(self._pending))
            added = sp.vstack([self._pending[p] for p in positions.tolist()], format="csr")
            self._row_of[positions] = self._store.shape[0] + np.arange(len(positions), dtype=np.int32)
            self._store = self._store.stacked(added)
            self._pending.clear()
        used, row_of = np.unique(self._row_of[: self._positions], return_inverse=True)
        if len(used) < self._store.shape[0]:
            self._store = self._store.take(used)
        self._row_of = row_of.astype(np.int32)
        self._postings = self._overlay_stack = None
        self._stale = np.zeros(0, bool)


class Channels:
    """Text channels for every kind, built once by :meth:`build` and kept current."""

    def __init__(
        self,
        encoder: Encoder,
        lexical: LexicalVectorizer,
        kinds: dict[EntityKind, KindChannels],
        feature_counts: FeatureCounts | None = None,
    ) -> None:
        self.encoder = encoder
        self.lexical_vectorizer = lexical
        self.kinds = kinds
        # Every current text's analysis: the next build (a refit after a bulk import) reuses it.
        self.feature_counts = feature_counts or lexical.feature_counts()
        self.complete = True  # every kind's channels are here (see build)
        self.texts_since_fit = 0

    def vocabulary_is_stale(self, refresh: RefreshConfig) -> bool:
        """Many texts arrived after the vocabulary was fitted: their new words are not yet
        features, so it is time to refit (cheap while the corpus is small)."""
        fitted = sum(len(channel.text_hashes) for channel in self.kinds.values())
        return self.texts_since_fit > max(refresh.refit_min_new_texts, refresh.refit_growth * fitted)

    @classmethod
    def build(
        cls,
        catalog: Catalog,
        encoder: Encoder,
        *,
        retrieval: RetrievalConfig = RetrievalConfig(),
        index_dir: Path | None = None,
        show_progress: bool = False,
        refit_lexical: bool = False,
        kinds: Collection[EntityKind] | None = None,
        feature_counts: FeatureCounts | None = None,
        owned: Mapping[EntityKind, np.ndarray] | None = None,
    ) -> Channels:
        """Every kind's channels, or only those of ``kinds`` (a one-off read such as the CLI's:
        such channels serve queries between those kinds and are never saved).

        ``feature_counts``: the texts' analyses an earlier build kept (its channels'
        ``feature_counts``), so that only texts new since are analysed. ``owned``: for a shard,
        each kind's rows it owns (a mask over the table): only those are encoded or read from
        the stored index, and only their texts are held (with those the stored lexical rows
        lack); every row's lexical row is still read, for how rare each feature is
        (:meth:`KindChannels.keep_only`).
        """
        if index_dir is not None:
            # The reasons' keyword stop-list then needs no jieba (a query-only process needs none).
            load_label_cuts(index_dir)
        tables = {kind: t for kind, t in catalog.tables.items() if kinds is None or kind in kinds}
        stored_rows = _load_lexical(index_dir) if index_dir is not None and not refit_lexical else None
        texts, hashes = {}, {}
        for kind, table in tables.items():
            texts[kind], hashes[kind] = _texts(
                kind, table, None if owned is None else owned[kind], stored_rows
            )
        # Identical texts (empty bios, cloned listings) are tokenised once and share one row;
        # document frequencies therefore count distinct texts.
        unique = list(
            dict.fromkeys(text for kind_texts in texts.values() for text in kind_texts if text is not None)
        )
        counts = (
            feature_counts.restored()
            if feature_counts is not None
            # A shard never refits or saves its vocabulary: it needs no memo of the whole
            # catalogue's analyses (~4 KB a distinct text), only of the texts it analyses.
            else _stored_counts(index_dir if kinds is None and owned is None else None)
        )
        vectorizer, rows_of = _lexical_rows(unique, stored_rows, counts)
        del stored_rows
        counts.keep(h for kind_hashes in hashes.values() for h in kind_hashes)
        # Out of memory until a refit or a save reads them: ~4 KB a distinct text, released
        # before the postings are derived (a build's peak).
        counts.spill()
        channels = cls(encoder, vectorizer, {}, counts)
        channels.complete = kinds is None
        distinct_of, row_of_kind = {}, {}
        for kind in tables:
            distinct = {text_hash: row for row, text_hash in enumerate(dict.fromkeys(hashes[kind]))}
            distinct_of[kind] = list(distinct)
            row_of_kind[kind] = np.fromiter(
                map(distinct.__getitem__, hashes[kind]), np.int32, len(hashes[kind])
            )
        lexical = dict(
            zip(distinct_of, rows_of.each(list(distinct_of.values()), retrieval.lexical_weights), strict=True)
        )
        del rows_of, distinct_of
        weighting = vectorizer.term_weighting()  # one IDF for every kind
        for kind, table in tables.items():
            # A shard owning every row (the only one) maps the stored graph as one matcher does.
            mine = None if owned is None or owned[kind].all() else table.ids[owned[kind]]
            known = _load_hashes(index_dir, kind, encoder.model_id)
            stored = _load_index(index_dir, kind, retrieval.index, mine) if known else None
            index = stored or VectorIndex(
                encoder.dim, exact_threshold=retrieval.exact_threshold, config=retrieval.index
            )
            channels.kinds[kind] = KindChannels(
                table, index, lexical.pop(kind), retrieval, row_of=row_of_kind[kind], weighting=weighting
            )
            shown = table.alive if owned is None else table.alive & owned[kind]
            channels._sync_vectors(
                kind, texts[kind], hashes[kind], shown, known if stored else {}, show_progress
            )
        return channels

    def _sync_vectors(
        self,
        kind: EntityKind,
        texts: list[str | None],
        text_hashes: list[str],
        indexed: np.ndarray,
        known: dict[int, str],
        show_progress: bool,
    ) -> None:
        """Encode only the ``indexed`` rows whose text changed since the stored index; drop rows
        gone since (and those not ``indexed``: not shown, or another shard's)."""
        channel = self.kinds[kind]
        ids = channel.table.ids
        hashes = {
            int(i): h for i, h, kept in zip(ids.tolist(), text_hashes, indexed.tolist(), strict=True) if kept
        }
        stale = [i for i, h in hashes.items() if known.get(i) != h or i not in channel.index]
        gone = [i for i in known if i not in hashes]
        channel.index.remove(gone)
        if stale:
            positions = [channel.table.position(i) for i in stale]
            vectors = self.encoder.encode([_held(texts[p]) for p in positions], show_progress=show_progress)
            # Read-only, the index keeps these rows rather than a copy of them (a build's peak).
            vectors.flags.writeable = False
            channel.index.upsert(np.asarray(stale, dtype=np.int64), vectors)
        channel.text_hashes = hashes

    def update(self, kind: EntityKind, row_id: int) -> None:
        """Re-read one profile's text from the catalog table (after an upsert there)."""
        channel = self.kinds[kind]
        if row_id not in channel.table:
            self.remove(kind, row_id)
            return
        text = profile_text(kind, channel.table.record(row_id))
        before = channel.text_hashes.get(row_id)
        if before == _text_hash(text):
            # Same text (a change of seats, load or status): its lexical row and vector stand, and
            # the stacked lexical matrices are not rebuilt (seconds at 1M rows).
            return
        if before is not None:
            self.feature_counts.forget([before])
        row = self.lexical_vectorizer.transform([text], counts=self.feature_counts)
        channel.set_lexical(channel.table.position(row_id), row)
        self.texts_since_fit += 1
        channel.index.upsert(np.asarray([row_id], dtype=np.int64), self.encoder.encode([text]))
        channel.text_hashes[row_id] = _text_hash(text)

    def remove(self, kind: EntityKind, row_id: int) -> None:
        channel = self.kinds[kind]
        channel.index.remove([row_id])
        gone = channel.text_hashes.pop(row_id, None)
        if gone is not None:
            self.feature_counts.forget([gone])

    def shared_keywords(
        self, query: sp.csr_matrix, kind: EntityKind, position: int, limit: int = 3, *, min_weight: float
    ) -> list[str]:
        """Telling words both texts contain that weigh at least ``min_weight`` in their lexical
        similarity (``ExplainConfig.min_keyword_weight``), the heaviest first."""
        words = self._words
        features, weights = self.kinds[kind].lexical_entries(position)
        shared, in_query, in_candidate = np.intersect1d(
            query.indices, features, assume_unique=True, return_indices=True
        )
        products = query.data[in_query] * weights[in_candidate]
        # Weighed first: of the ~130 features two texts share, few carry the weight, and the
        # word test is Python per feature.
        heavy = np.flatnonzero(products >= min_weight)
        telling = self._telling(shared[heavy])
        features, weights = shared[heavy[telling]], products[heavy[telling]]
        ranked = sorted(
            zip(weights.tolist(), features.tolist(), strict=True), key=lambda w: (-w[0], words[w[1]])
        )
        return [words[i] for _, i in ranked[:limit]]

    def _telling(self, features: np.ndarray) -> np.ndarray:
        """Whether each feature's word may be offered as a keyword: each feature's word tested
        once (in Python) for the vocabulary's life, not once per shown candidate."""
        tested = self._tested
        for feature in features[tested[features] < 0].tolist():
            tested[feature] = is_telling(self._words[feature])
        return np.asarray(tested[features] == 1)

    @functools.cached_property
    def _tested(self) -> np.ndarray:
        """Per lexical feature, whether its word is telling: 1, 0, or -1 while not yet tested."""
        return np.full(len(self._words), -1, dtype=np.int8)

    @functools.cached_property
    def _words(self) -> np.ndarray:
        """Per lexical feature, its word ("" for character n-grams)."""
        vocabulary = self.lexical_vectorizer.vocabulary_
        words = np.full(len(vocabulary), "", dtype=object)
        for feature, i in vocabulary.items():
            if feature.startswith("w:"):
                words[i] = feature[2:]
        return words

    def save(self, index_dir: Path) -> None:
        """Each kind's index and text hashes, and the lexical state, each written atomically."""
        if not self.complete:
            raise RuntimeError("channels built for some kinds only are not saved: they would drop the rest")
        index_dir.mkdir(parents=True, exist_ok=True)
        # Released analyses are copied from their file, or read back when changed since.
        _save_lexical(index_dir, self.lexical_vectorizer, self.kinds, self.feature_counts)
        # Held on disk from now on: only the next refit reads them (feature_counts.restored()).
        self.feature_counts.release(index_dir / LEXICAL_DIR)
        save_label_cuts(index_dir)
        for kind, channel in self.kinds.items():
            channel.index.save(index_dir / f"{kind.value}.index")
            state = {"model_id": self.encoder.model_id, "hashes": channel.text_hashes}
            write_atomically(index_dir / f"{kind.value}.hashes.json", json.dumps(state))


def heaviest_first(weights: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` largest ``weights``, the largest first, equal ones in index order:
    a stable sort's first ``count``, sorting only those at or above the cut (a long investor's
    text holds thousands of features, and only 32 are looked up)."""
    if len(weights) > count:
        cut = np.partition(weights, len(weights) - count)[len(weights) - count]
        contenders = np.flatnonzero(weights >= cut)
    else:
        contenders = np.arange(len(weights))
    return contenders[np.argsort(-weights[contenders], kind="stable")[:count]]


def best_positions(positions: np.ndarray, scores: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` positions of the highest scores; equal scores at the cut go to the earlier position."""
    if len(positions) <= count:
        return positions
    cut = np.partition(-scores, count - 1)[count - 1]
    contenders = np.flatnonzero(-scores <= cut)
    best = contenders[np.lexsort((positions[contenders], -scores[contenders]))][:count]
    return positions[best]


def _rounded(row: sp.csr_matrix, dtype: np.dtype[Any]) -> sp.csr_matrix:
    """``row`` (float32) with its weights rounded to ``dtype``."""
    if dtype == np.float32:
        return row
    rounded = sp.csr_matrix(row, dtype=np.float32, copy=True)
    rounded.data = rounded.data.astype(dtype).astype(np.float32)
    return rounded


def _blank_row(shape: tuple[int, int]) -> sp.csr_matrix:
    return sp.csr_matrix(np.zeros(shape, dtype=np.float32))


def _grown(row_of: np.ndarray, length: int) -> np.ndarray:
    """``row_of`` with room for ``length`` positions (the new ones 0 until set), doubling when
    full so that a run of new profiles costs amortised constant time each."""
    if len(row_of) >= length:
        return row_of
    grown = np.zeros(max(length, 2 * len(row_of)), dtype=row_of.dtype)
    grown[: len(row_of)] = row_of
    return grown


def _entries_per_feature(store: CompactRows | sp.csr_matrix) -> np.ndarray:
    """How many of the store's rows hold each feature, counted a chunk of entries at a time
    (``np.bincount`` copies its input to 8 bytes an entry)."""
    counts = np.zeros(store.shape[1], np.int64)
    for start in range(0, len(store.indices), POSTINGS_CHUNK_ENTRIES):
        counts += np.bincount(store.indices[start : start + POSTINGS_CHUNK_ENTRIES], minlength=store.shape[1])
    return counts


def _first_at_or_above(indices: np.ndarray, starts: np.ndarray, ends: np.ndarray, feature: int) -> np.ndarray:
    """Per row (entries ``starts`` to ``ends`` of ``indices``, ascending), where its first
    feature at or above ``feature`` is: a binary search of every row at once."""
    low, high = starts.copy(), ends.astype(np.int64, copy=True)
    searching = np.flatnonzero(low < high)
    while len(searching):
        middle = (low[searching] + high[searching]) // 2
        below = indices[middle] < feature
        low[searching[below]] = middle[below] + 1
        high[searching[~below]] = middle[~below]
        searching = searching[low[searching] < high[searching]]
    return low


def _transposed_runs(
    store: CompactRows | sp.csr_matrix, bounds: np.ndarray, band_entries: int, chunk_entries: int
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """Runs of features ``[first, last)`` of about ``chunk_entries`` entries, in order, each with
    the rows holding its features (ascending within a feature) and their weights (float32).

    The store is transposed a band of features (about ``band_entries`` entries) at a time: the
    whole store's transpose, 8 bytes an entry beside the store, was a build's peak. Each row's
    features are ascending, so a band is a run of each row's entries, found by binary search.
    """
    indices, indptr = store.indices, store.indptr
    rows = store.shape[0]
    cursor = np.asarray(indptr[:-1], dtype=np.int64)
    for band_first, band_last in _runs(bounds, band_entries):
        ends = _first_at_or_above(indices, cursor, indptr[1:], band_last)
        counts = ends - cursor
        total = int(counts.sum())
        offsets = np.repeat(cursor - np.cumsum(counts) + counts, counts) + np.arange(total)
        band = sp.csr_matrix(
            (
                store.data[offsets].astype(np.float32, copy=False),
                (indices[offsets] - band_first).astype(np.int32, copy=False),
                np.concatenate([[0], np.cumsum(counts)]),
            ),
            shape=(rows, band_last - band_first),
        )
        del offsets
        by_feature = band.tocsc()
        del band
        by_feature.sort_indices()
        band_bounds = bounds[band_first : band_last + 1] - bounds[band_first]
        for first, last in _runs(band_bounds, chunk_entries):
            start, end = int(band_bounds[first]), int(band_bounds[last])
            yield (
                band_first + first,
                band_first + last,
                by_feature.indices[start:end].astype(np.int32, copy=False),
                by_feature.data[start:end],
            )
        cursor = ends


def _runs(bounds: np.ndarray, entries: int) -> Iterator[tuple[int, int]]:
    """Consecutive ranges of features ``[first, last)`` covering about ``entries`` entries each
    (``bounds``: where each feature's entries start, then the total); one feature at least."""
    features, first = len(bounds) - 1, 0
    while first < features:
        reach = int(np.searchsorted(bounds, bounds[first] + entries, side="right")) - 1
        last = min(max(reach, first + 1), features)
        yield first, last
        first = last


class _Postings:
    """Per feature, the positions holding it and their weights, cut to the heaviest ``head``.

    Held over the distinct rows when many positions share them (copies of a listing): a posting
    then lists distinct rows and how many of each row's positions it keeps, expanded to positions
    when read, and no position-aligned copy of the postings is ever made.
    """

    def __init__(
        self,
        store: CompactRows | sp.csr_matrix,
        row_of: np.ndarray,
        head: int,
        *,
        weighting: TermWeighting | None = None,
        chunk_entries: int = POSTINGS_CHUNK_ENTRIES,
        band_entries: int | None = None,
    ) -> None:
        """``store``: the distinct rows; the postings keep their weights in its dtype, or, given
        the ``weighting`` that made float32 rows, as counts (:meth:`weights`).

        Built a run of features at a time (about ``chunk_entries`` entries) from a band of the
        store's transpose (``band_entries``, by default a ``POSTINGS_BANDS``-th of the store,
        at least a run), each run's result written into arrays as long as the postings: the
        sorting's temporaries follow the run and the transpose the band, and a build's peak is
        the store and the postings. How many entries the postings hold is known before they are
        made (a feature's heaviest rows take its positions until ``head`` are taken), so their
        form is chosen first, and written out positions are written at once.
        """
        if isinstance(store, sp.csr_matrix) and not store.has_sorted_indices:
            store = store.sorted_indices()  # a band is a run of each row's entries
        features = store.shape[1]
        copies = np.bincount(row_of, minlength=store.shape[0]).astype(np.int64)
        shared_rows = bool(copies.max(initial=0) > 1)
        holding = _entries_per_feature(store)
        self.row_counts = _positions_holding(store, row_of) if shared_rows else holding
        bounds = np.concatenate([[0], np.cumsum(holding)])
        if band_entries is None:
            band_entries = max(chunk_entries, -(-int(bounds[-1]) // POSTINGS_BANDS))
        weights = store.dtype if isinstance(store, CompactRows) else np.dtype(np.float32)
        # A byte a weight, where the weighting rebuilds every float32 weight the store holds.
        self.weighting = weighting if weights == np.float32 else None
        norms = _row_norms(store, self.weighting) if self.weighting is not None else np.zeros(0)
        row_entries = int(np.minimum(holding, head).sum())  # at most, a row and its count each
        position_entries = int(np.minimum(self.row_counts, head).sum())  # exactly, written out
        # Little sharing: the positions are written out, and read as slices.
        written_out = position_entries <= WRITTEN_OUT_POSTINGS * row_entries
        self.kept: np.ndarray | None = None if written_out else np.empty(row_entries, np.int32)
        self.by_row: np.ndarray = np.zeros(0, np.int64)
        self.first_of_row: np.ndarray = np.zeros(0, np.int64)
        if shared_rows:
            # A row's positions, ascending, start at first_of_row in by_row; a posting takes
            # the first ``kept``.
            self.by_row = np.argsort(row_of, kind="stable").astype(np.int32)
            self.first_of_row = np.concatenate([[0], np.cumsum(copies)[:-1]]).astype(np.int64)
        position_of_row = np.zeros(0 if shared_rows else store.shape[0], np.int32)
        if not shared_rows:  # each row's one position
            position_of_row[row_of] = np.arange(len(row_of), dtype=np.int32)
        capacity = position_entries if written_out else row_entries
        rows = np.empty(capacity, np.int32)
        data = np.empty(capacity, np.uint8 if self.weighting is not None else weights)
        unrebuilt_entries, unrebuilt_weights = [np.zeros(0, np.int64)], [np.zeros(0, np.float32)]
        entries_of = np.zeros(features, np.int64)
        positions_of = np.zeros(features, np.int64)
        written = 0
        for first, last, run_rows, run_data in _transposed_runs(store, bounds, band_entries, chunk_entries):
            start = int(bounds[first])
            per_feature = np.diff(bounds[first : last + 1])
            entry_feature = np.repeat(np.arange(last - first, dtype=np.int64), per_feature)
            entry_copies = copies[run_rows]
            # Within a feature, the heaviest rows first (ties: the lower row), each taking its
            # positions until ``head`` are taken.
            order = np.lexsort((run_rows, -run_data, entry_feature))
            ordered_copies = entry_copies[order]
            taken_before = np.cumsum(ordered_copies) - ordered_copies
            held = per_feature > 0
            taken_before -= np.repeat(taken_before[(bounds[first:last] - start)[held]], per_feature[held])
            run_kept = np.clip(head - taken_before, 0, ordered_copies)
            chosen = order[run_kept > 0]
            taken = run_kept[run_kept > 0]
            chosen_rows, chosen_data, chosen_feature = (
                run_rows[chosen],
                run_data[chosen],
                entry_feature[chosen],
            )
            entries_of[first:last] = np.bincount(chosen_feature, minlength=last - first)
            positions_of[first:last] = np.bincount(chosen_feature, weights=taken, minlength=last - first)
            chosen_counts = (
                self.weighting.counts(chosen_data, first + chosen_feature, norms.take(chosen_rows))
                if self.weighting is not None
                else chosen_data
            )
            if self.kept is not None:
                self.kept[written : written + len(chosen)] = taken
            elif shared_rows:
                chosen_rows, chosen_data = self._positions(chosen_rows, taken), np.repeat(chosen_data, taken)
                chosen_counts = np.repeat(chosen_counts, taken)
            else:
                chosen_rows = position_of_row[chosen_rows]
            rows[written : written + len(chosen_rows)] = chosen_rows
            data[written : written + len(chosen_rows)] = chosen_counts
            if self.weighting is not None:
                unrebuilt = np.flatnonzero(chosen_counts == 0)
                unrebuilt_entries.append(written + unrebuilt)
                unrebuilt_weights.append(chosen_data.take(unrebuilt))
            written += len(chosen_rows)
        # Fewer rows than the most a row and its count could take: cut, each copy freeing the
        # longer array it was cut from.
        self.rows, self.data = _first(rows, written), _first(data, written)
        # The weights no count rebuilds (a count over 255), by entry; each row's norm by what
        # ``rows`` holds: a distinct row where kept, else a position.
        self.unrebuilt_entries = np.concatenate(unrebuilt_entries)
        self.unrebuilt_weights = np.concatenate(unrebuilt_weights)
        self.norms = norms if self.kept is not None or not len(norms) else norms.take(row_of)
        per_posting = positions_of
        if self.kept is not None:
            self.kept, per_posting = _first(self.kept, written), entries_of
        elif shared_rows:
            self.by_row = self.first_of_row = np.zeros(0, np.int64)
        self.indptr = np.concatenate([[0], np.cumsum(per_posting)])

    _ARRAYS = (
        "row_counts",
        "data",
        "by_row",
        "first_of_row",
        "rows",
        "indptr",
        "norms",
        "unrebuilt_entries",
        "unrebuilt_weights",
    )

    def arrays(self) -> dict[str, np.ndarray]:
        kept = {} if self.kept is None else {"kept": self.kept}
        return {name: getattr(self, name) for name in self._ARRAYS} | kept

    def adopt(self, arrays: dict[str, np.ndarray]) -> None:
        """Hold ``arrays`` (equal to :meth:`arrays`'s, such as memory-mapped copies) instead."""
        for name in self._ARRAYS:
            setattr(self, name, arrays[name])
        self.kept = arrays.get("kept")

    def _positions(self, rows: np.ndarray, kept: np.ndarray) -> np.ndarray:
        """The first ``kept`` positions of each of ``rows``, row after row."""
        offsets = np.cumsum(kept) - kept
        within = np.arange(int(kept.sum())) - np.repeat(offsets, kept)
        positions: np.ndarray = self.by_row.take(np.repeat(self.first_of_row.take(rows), kept) + within)
        return positions

    def weights(self, entries: np.ndarray, rows: np.ndarray, features: np.ndarray | int) -> np.ndarray:
        """The weights of the postings' ``entries``, whose rows are ``rows`` and whose features
        are ``features`` (each entry's, or one for all): as the store holds them, bit for bit."""
        data = self.data.take(entries)
        if self.weighting is None:
            return data
        idf = self.weighting.idf
        weights = self.weighting.weights(data, idf.take(features), self.norms.take(rows))
        if len(self.unrebuilt_entries):
            kept_apart = np.flatnonzero(data == 0)
            at = np.searchsorted(self.unrebuilt_entries, entries.take(kept_apart))
            weights[kept_apart] = self.unrebuilt_weights.take(at)
        return weights

    def posting(self, column: int) -> tuple[np.ndarray, np.ndarray]:
        """The positions holding feature ``column`` (at most the heaviest ``head``), and their weights."""
        start, end = self.indptr[column : column + 2]
        rows = self.rows[start:end]
        values = self.weights(np.arange(start, end), rows, column)
        if self.kept is None:
            return rows, values
        kept = self.kept[start:end]
        return self._positions(rows, kept), np.repeat(values, kept)

    def admitted(self, column: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The positions holding feature ``column`` that ``mask`` admits, and their entries
        (written-out postings only: the shared form reads :meth:`shared_scores`)."""
        start, end = self.indptr[column : column + 2]
        rows = self.rows[start:end]
        # take and integer positions: a third of the time of boolean fancy indexing here
        admitted = np.flatnonzero(np.take(mask, rows))
        return rows.take(admitted), start + admitted

    def shared_scores(
        self, columns: np.ndarray, weights: np.ndarray, mask: np.ndarray, dense_sum_fraction: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """What reading each posting of ``columns`` expanded would find (the admitted positions,
        ascending, and their summed weight, bit for bit), read over the distinct rows instead.

        A listing's copies hold the same features, so the rows' sums are taken first and each
        row is expanded to its positions once, not once for every feature it holds (at 1M
        clones, 32 postings of 16,384 positions each against a few hundred distinct rows).
        """
        assert self.kept is not None  # the shared form
        starts, ends = self.indptr.take(columns), self.indptr.take(columns + 1)
        lengths = ends - starts
        entries = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(int(lengths.sum()))
        rows = self.rows.take(entries)
        # In each posting's order, as the expanded postings are summed: the same float sums.
        features = np.repeat(columns, lengths)
        shares = self.weights(entries, rows, features) * np.repeat(weights.astype(np.float32), lengths)
        last_row = len(self.first_of_row) - 1
        following = self.first_of_row.take(np.minimum(rows + 1, last_row))
        copies = np.where(rows == last_row, len(self.by_row), following) - self.first_of_row.take(rows)
        run_row, low, high, run_of_share, run_shares = _runs_reached(
            rows, self.kept.take(entries), copies, shares
        )
        sums = np.bincount(run_of_share, weights=run_shares, minlength=len(run_row))
        spans = high - low
        offsets = np.cumsum(spans) - spans
        positions = self.by_row.take(
            np.repeat(self.first_of_row.take(run_row) + low - offsets, spans) + np.arange(int(spans.sum()))
        )
        admitted = np.take(mask, positions)
        admitted_before = np.concatenate([[0], np.cumsum(admitted)])
        admitted_per_run = admitted_before[offsets + spans] - admitted_before[offsets]
        found = np.flatnonzero(admitted)
        hits, hit_sums = positions.take(found), np.repeat(sums, spans).take(found)
        # As the expanded postings would be summed: a table-long buffer (which drops sums of 0)
        # when they hold many admitted entries, else only the hits, in order.
        summed = int(np.dot(np.bincount(run_of_share, minlength=len(run_row)), admitted_per_run))
        if summed > len(mask) // dense_sum_fraction:
            buffer = np.zeros(len(mask))
            buffer[hits] = hit_sums
            nonzero = np.flatnonzero(buffer)
            return nonzero, buffer[nonzero]
        order = np.argsort(hits, kind="stable")
        return hits.take(order), hit_sums.take(order)


def _runs_reached(
    rows: np.ndarray, kept: np.ndarray, copies: np.ndarray, shares: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Runs of a row's positions that the same posting entries reach: each run's row, its first
    and end offset among the row's positions, and the shares summed into each run (which run,
    and the share, each run's in the entries' order).

    An entry reaches its row's first ``kept`` positions: all of them but at a posting's
    ``head`` cut, whose row's positions are split where the kept counts of its entries differ.
    """
    cut = np.isin(rows, rows[kept < copies])
    whole, run_of = np.unique(rows[~cut], return_inverse=True)
    whole_copies = np.zeros(len(whole), np.int64)
    whole_copies[run_of] = copies[~cut]
    run_rows, run_from, run_to = whole.tolist(), [0] * len(whole), whole_copies.tolist()
    runs_of_shares, run_shares = [run_of], [shares[~cut]]
    for row in np.unique(rows[cut]).tolist():
        own = np.flatnonzero(rows == row)
        own_kept = kept[own]
        for low, high in itertools.pairwise(np.unique(np.concatenate([[0], own_kept])).tolist()):
            reaching = own[own_kept > low]
            runs_of_shares.append(np.full(len(reaching), len(run_rows)))
            run_shares.append(shares[reaching])
            run_rows.append(row)
            run_from.append(low)
            run_to.append(high)
    return (
        np.asarray(run_rows, np.int64),
        np.asarray(run_from, np.int64),
        np.asarray(run_to, np.int64),
        np.concatenate(runs_of_shares).astype(np.int64),
        np.concatenate(run_shares),
    )


def _first(array: np.ndarray, length: int) -> np.ndarray:
    """``array``'s first ``length`` entries: ``array`` itself when that is all of it, else a copy
    of them (a shorter view would keep the whole array)."""
    return array if len(array) == length else array[:length].copy()


def _positions_holding(store: CompactRows | sp.csr_matrix, row_of: np.ndarray) -> np.ndarray:
    """How many positions hold each feature: a distinct row counts once per position reading it.
    Counted a run of rows at a time: each entry's row, whole, would be 8 bytes an entry."""
    copies = np.bincount(row_of, minlength=store.shape[0]).astype(np.float64)
    indptr = np.asarray(store.indptr, dtype=np.int64)
    held = np.zeros(store.shape[1])
    for first, last in _runs(indptr, POSTINGS_CHUNK_ENTRIES):
        entry_row = np.repeat(np.arange(first, last), np.diff(indptr[first : last + 1]))
        features = store.indices[indptr[first] : indptr[last]]
        held += np.bincount(features, weights=copies[entry_row], minlength=store.shape[1])
    return held.astype(np.int64)


def _row_norms(store: CompactRows | sp.csr_matrix, weighting: TermWeighting) -> np.ndarray:
    """Each distinct row's norm (:meth:`TermWeighting.norms`), read a run of rows at a time: its
    float64 temporaries are several times the run's entries."""
    indptr = np.asarray(store.indptr, dtype=np.int64)
    norms = np.ones(store.shape[0])
    for first, last in _runs(indptr, POSTINGS_CHUNK_ENTRIES):
        start, end = int(indptr[first]), int(indptr[last])
        run = sp.csr_matrix(
            (store.data[start:end], store.indices[start:end], indptr[first : last + 1] - start),
            shape=(last - first, store.shape[1]),
        )
        norms[first:last] = weighting.norms(run)
    return norms


def _texts(
    kind: EntityKind,
    table: KindTable,
    owned: np.ndarray | None,
    stored: tuple[LexicalVectorizer, _Rows] | None,
) -> tuple[list[str | None], list[str]]:
    """Each row's text and its hash. A shard keeps only the texts of its own rows (to encode
    them) and those the ``stored`` lexical rows lack (to analyse them): at a million rows the
    texts held at once were ~1 KB a row of a shard's build peak."""
    texts: list[str | None] = []
    hashes: list[str] = []
    for at, record in enumerate(table.records):
        text = profile_text(kind, record)
        text_hash = _text_hash(text)
        needed = owned is None or bool(owned[at]) or stored is None or text_hash not in stored[1]
        texts.append(text if needed else None)
        hashes.append(text_hash)
    return texts, hashes


def _held(text: str | None) -> str:
    if text is None:
        raise RuntimeError("a text this build did not keep")  # an own row's text is always kept
    return text


def _lexical_rows(
    unique: list[str], stored: tuple[LexicalVectorizer, _Rows] | None, counts: FeatureCounts
) -> tuple[LexicalVectorizer, _Rows]:
    """The ``stored`` vectorizer and rows, with only new texts transformed; a fresh fit without them.

    A stored vocabulary is kept as it was fitted (new words wait for a refit), so a restart
    costs the new texts only. A fit analyses only the texts ``counts`` does not hold yet.
    """
    if stored is None:
        vectorizer = LexicalVectorizer(**LEXICAL_PARAMS)
        matrix = vectorizer.fit_transform(unique, counts=counts)
        return vectorizer, _Rows(matrix, [_text_hash(text) for text in unique])
    vectorizer, rows = stored
    fresh = [t for t in unique if _text_hash(t) not in rows]
    if fresh:
        fitted = vectorizer.transform(fresh, counts=counts)
        rows = rows.extended(fitted, [_text_hash(text) for text in fresh])
    return vectorizer, rows


def _cut_row(matrix: sp.csr_matrix, position: int) -> sp.csr_matrix:
    """Row ``position`` of ``matrix``, sharing its arrays: scipy's row indexing costs ~0.15 ms a row."""
    start, end = int(matrix.indptr[position]), int(matrix.indptr[position + 1])
    return sp.csr_matrix(
        (matrix.data[start:end], matrix.indices[start:end], np.asarray([0, end - start])),
        shape=(1, matrix.shape[1]),
        copy=False,
    )


def _load_lexical(index_dir: Path) -> tuple[LexicalVectorizer, _Rows] | None:
    folder = index_dir / LEXICAL_DIR
    if not (folder / LEXICAL_ROWS).exists():
        return None
    vectorizer = LexicalVectorizer.load(folder)
    with np.load(folder / LEXICAL_ROWS, allow_pickle=False) as stored:
        matrix = sp.csr_matrix(
            (stored["data"], stored["indices"], stored["indptr"]), shape=tuple(stored["shape"])
        )
        hashes = [str(h) for h in stored["hashes"]]
    return vectorizer, _Rows(matrix, hashes)


class _Rows:
    """Lexical rows by text hash: one matrix, and each text's row in it."""

    def __init__(self, matrix: sp.csr_matrix, hashes: list[str]) -> None:
        self._matrix = matrix
        self._row_of = {text_hash: row for row, text_hash in enumerate(hashes)}

    def __contains__(self, text_hash: str) -> bool:
        return text_hash in self._row_of

    def extended(self, matrix: sp.csr_matrix, hashes: list[str]) -> _Rows:
        """These rows and ``matrix``'s, named by ``hashes``."""
        return _Rows(sp.vstack([self._matrix, matrix], format="csr"), [*self._row_of, *hashes])

    def each(self, hash_lists: list[list[str]], weights: LexicalWeights) -> list[sp.csr_matrix | CompactRows]:
        """For each list of hashes, its rows in that order.

        When every list's rows are a run of this matrix (distinct texts, kind after kind), they
        are held in place, as rows of ``weights``: a copy of each kind's rows beside the whole
        was a build's peak (8 bytes an entry). Otherwise each is a copy, since one run held in
        place would keep the whole matrix alive beside the others' copies.
        """
        positions = [np.fromiter(map(self._row_of.__getitem__, h), np.int64, len(h)) for h in hash_lists]
        if self._matrix.has_canonical_format and all(_is_run(p) for p in positions):
            return [
                CompactRows.run_of(self._matrix, int(p[0]) if len(p) else 0, len(p), weights)
                for p in positions
            ]
        return [self._matrix[p] for p in positions]


def _is_run(positions: np.ndarray) -> bool:
    """Whether ``positions`` are consecutive and ascending."""
    return len(positions) == 0 or bool((np.diff(positions) == 1).all())


def _stored_counts(index_dir: Path | None) -> FeatureCounts:
    """The texts' analyses the last save stored beside its rows, so that a restarted service's
    first refit (a large import) analyses only new texts; an empty memo if none fit."""
    counts = LexicalVectorizer(**LEXICAL_PARAMS).feature_counts()
    if index_dir is not None:
        counts.read(index_dir / LEXICAL_DIR)
    return counts


def _save_lexical(
    index_dir: Path,
    vectorizer: LexicalVectorizer,
    kinds: dict[EntityKind, KindChannels],
    counts: FeatureCounts,
) -> None:
    rows: dict[str, sp.csr_matrix] = {}
    for channel in kinds.values():
        for row_id, text_hash in channel.text_hashes.items():
            if text_hash not in rows:
                rows[text_hash] = channel.lexical_row(channel.table.position(row_id))
    matrix = (
        sp.vstack(list(rows.values()), format="csr") if rows else sp.csr_matrix(np.zeros((0, 0), np.float32))
    )

    def fill(directory: Path) -> None:
        vectorizer.save(directory)
        counts.save(directory)
        np.savez(
            directory / LEXICAL_ROWS,
            data=matrix.data,
            indices=matrix.indices,
            indptr=matrix.indptr,
            shape=np.asarray(matrix.shape),
            hashes=np.asarray(list(rows), dtype=str),
        )

    replace_directory(index_dir / LEXICAL_DIR, fill)


def _load_index(
    index_dir: Path | None, kind: EntityKind, config: IndexConfig, kept: np.ndarray | None = None
) -> VectorIndex | None:
    """The stored index (only the vectors of the ids ``kept``, when given: a shard's), or None
    (rebuild it) when there is none or its files fail their manifest."""
    path = None if index_dir is None else index_dir / f"{kind.value}.index"
    if path is None or not path.exists():
        return None
    try:
        if kept is not None:
            return VectorIndex.load_part(path, kept, config=config)
        return VectorIndex.load(path, config=config)
    except IndexFileMismatchError:
        return None


def stored_text_digests(index_dir: Path, kind: EntityKind) -> set[str]:
    """The digests (:func:`embeddings.lexical.text_key`) of the texts the stored index of
    ``kind`` was built from, whatever the model; empty when none is stored."""
    path = index_dir / f"{kind.value}.hashes.json"
    return set(json.loads(path.read_text())["hashes"].values()) if path.exists() else set()


def _load_hashes(index_dir: Path | None, kind: EntityKind, model_id: str) -> dict[int, str]:
    """Text hashes of the stored index; empty (so everything is re-encoded) for another model."""
    path = None if index_dir is None else index_dir / f"{kind.value}.hashes.json"
    if path is None or not path.exists():
        return {}
    state = json.loads(path.read_text())
    if state.get("model_id") != model_id:
        return {}
    return {int(k): v for k, v in state["hashes"].items()}
