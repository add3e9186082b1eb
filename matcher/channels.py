"""The text channels of every kind: semantic vectors in a faiss index, lexical TF-IDF rows.

Both are aligned with the :class:`matcher.catalog.KindTable` of their kind and updated per
profile, so an edit or a removal shows in the next recommendation without a rebuild.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from embeddings.encoder import Encoder
from embeddings.index import IdColumn, IndexConfig, IndexFileMismatchError, MaskedIds, VectorIndex
from embeddings.lexical import FeatureCounts, LexicalVectorizer, text_key
from matcher.catalog import Catalog, KindTable
from matcher.config import RefreshConfig, RetrievalConfig
from matcher.keywords import is_telling, load_label_cuts, save_label_cuts
from matcher.text import profile_text
from models.enums import EntityKind
from models.files import replace_directory, write_atomically

LEXICAL_DIR = "lexical"
LEXICAL_ROWS = "rows.npz"
# The lexical vectorizer a fresh fit makes.
LEXICAL_PARAMS: dict[str, Any] = {"min_df": 2, "max_features": 200_000}


# The stored indexes name texts by this digest (their hashes files), as the lexical memo does.
_text_hash = text_key


class KindChannels:
    """Semantic and lexical representations of one kind's profiles."""

    def __init__(
        self,
        table: KindTable,
        index: VectorIndex,
        lexical_rows: Sequence[sp.csr_matrix | None],
        retrieval: RetrievalConfig = RetrievalConfig(),
        *,
        stacked: sp.csr_matrix | None = None,
    ) -> None:
        """``stacked``: the rows as one matrix, when the caller holds them so (a read of the
        stored state); a row left None in ``lexical_rows`` is cut from it when first asked
        for (cutting a 5,000-row kind up front was ~0.3 s of a one-off command)."""
        self.table = table
        self.retrieval = retrieval
        self.index = index
        self._lexical_rows = list(lexical_rows)
        self._base = stacked
        self._stacked: sp.csr_matrix | None = stacked
        self._postings: sp.csc_matrix | None = None
        self._row_counts: np.ndarray = np.zeros(0, np.int64)
        # Positions whose row changed since stacking; of those inside the stack, a mask.
        self._overlay: set[int] = set()
        self._stale: np.ndarray = np.zeros(0 if stacked is None else stacked.shape[0], bool)
        self._overlay_stack: tuple[np.ndarray, sp.csr_matrix, sp.csc_matrix] | None = None
        self._id_column: IdColumn | None = None
        self.text_hashes: dict[int, str] = {}
        # How many rows of the whole table hold each feature, as of the build, when this holds
        # only a shard's rows: how rare a feature is must not depend on the shard.
        self.rarity: np.ndarray | None = None

    def _stacked_rows(self) -> sp.csr_matrix:
        """Every row as of the last stacking (position-aligned); see :meth:`_overlay_rows` for later ones."""
        if self._stacked is None:
            rows = [self.lexical_row(position) for position in range(len(self._lexical_rows))]
            self._stacked = sp.vstack(rows, format="csr") if rows else sp.csr_matrix((0, 0))
            self._postings = self._overlay_stack = None
            self._overlay.clear()  # the stack holds every row now
            self._stale = np.zeros(self._stacked.shape[0], bool)
        return self._stacked

    def _retrieval_postings(self) -> sp.csc_matrix:
        if self._postings is None:
            self._postings, self._row_counts = _retrieval_postings(
                self._stacked_rows().tocsc(), self.retrieval.posting_head
            )
        return self._postings

    def _overlay_rows(self) -> tuple[np.ndarray, sp.csr_matrix, sp.csc_matrix]:
        """The rows changed since stacking: their positions (ascending), by row and by feature."""
        if self._overlay_stack is None:
            positions = np.asarray(sorted(self._overlay), dtype=np.int64)
            rows = sp.vstack([self.lexical_row(p) for p in positions.tolist()], format="csr")
            self._overlay_stack = positions, rows, rows.tocsc()
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
        self._retrieval_postings()
        heaviest = np.argsort(-query.data, kind="stable")[: self.retrieval.lexical_query_features]
        columns, weights = query.indices[heaviest], query.data[heaviest]
        counts = self._row_counts if self.rarity is None else self.rarity
        lengths = counts[columns]
        for share in self.retrieval.lexical_retrieval_shares:
            rare = lengths <= share * len(mask)
            hits, scores = self._postings_scores(columns[rare], weights[rare], mask)
            if self._overlay:
                hits, scores = self._with_overlay(hits, scores, columns[rare], weights[rare], mask)
            yield hits, scores, bool(rare.all())

    def _postings_scores(
        self, columns: np.ndarray, weights: np.ndarray, mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The admitted rows in the postings of ``columns``, and their summed weight."""
        found_rows, found_shares = [np.empty(0, np.int32)], [np.empty(0, np.float32)]
        for column, weight in zip(columns.tolist(), weights.tolist(), strict=True):
            rows, values = self._posting(column)
            # take and integer positions: a third of the time of boolean fancy indexing here
            admitted = np.flatnonzero(np.take(mask, rows))
            found_rows.append(rows.take(admitted))
            found_shares.append(values.take(admitted) * np.float32(weight))
        rows, shares = np.concatenate(found_rows), np.concatenate(found_shares)
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

    def _posting(self, column: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows holding feature ``column`` (at most the heaviest ``posting_head``), and weights."""
        assert self._postings is not None
        start, end = self._postings.indptr[column : column + 2]
        return self._postings.indices[start:end], self._postings.data[start:end]

    def lexical_scores(self, query: sp.csr_matrix, positions: np.ndarray) -> np.ndarray:
        """Inner products of ``query`` with the rows at ``positions``.

        The query is made dense first: a sparse-times-dense product over the pool's rows costs a
        quarter of the sparse-times-sparse one.
        """
        dense = np.zeros(query.shape[1], dtype=np.float32)
        dense[query.indices] = query.data
        stacked = self._stacked_rows()
        if not self._overlay:
            return np.asarray(stacked[positions] @ dense, dtype=np.float64)
        changed, rows, _ = self._overlay_rows()
        at = np.minimum(np.searchsorted(changed, positions), len(changed) - 1)
        in_overlay = changed[at] == positions
        scores = np.zeros(len(positions), dtype=np.float64)
        if not in_overlay.all():
            scores[~in_overlay] = stacked[positions[~in_overlay]] @ dense
        scores[in_overlay] = rows[at[in_overlay]] @ dense
        return scores

    def lexical_row(self, position: int) -> sp.csr_matrix:
        row = self._lexical_rows[position]
        if row is None:
            assert self._base is not None  # a row is left None only beside the matrix holding it
            row = self._lexical_rows[position] = _cut_row(self._base, position)
        return row

    def set_lexical(self, position: int, row: sp.csr_matrix) -> None:
        # Empty unless ``position`` is past the end; the skipped positions (inactive new profiles) stay blank.
        appended = range(len(self._lexical_rows), position + 1)
        self._lexical_rows.extend(_blank_row(row.shape) for _ in appended)
        self._lexical_rows[position] = row
        if self._stacked is None:
            return
        self._overlay.update(appended)
        self._overlay.add(position)
        if len(self._overlay) > self.retrieval.lexical_overlay_limit:
            self._drop_stacks()
            return
        if position < len(self._stale):
            self._stale[position] = True
        self._overlay_stack = None

    def erase_lexical(self, position: int) -> None:
        """Blank a row and drop the stacked matrices, so no copy of the old row stays in memory."""
        self._lexical_rows[position] = _blank_row(self.lexical_row(position).shape)
        if self._base is not None:
            # The rows still cut from the stored matrix would keep the erased row's data alive.
            self._lexical_rows = [self.lexical_row(p).copy() for p in range(len(self._lexical_rows))]
            self._base = None
        self._drop_stacks()

    def keep_only(self, owned: np.ndarray) -> None:
        """Hold only the rows at the ``owned`` positions of the table (a mask), as a shard does:
        the others' vectors leave the index and their lexical rows are blanked."""
        self.index.remove(self.table.ids[~owned].tolist())
        self._retrieval_postings()
        self.rarity = self._row_counts
        rows = [self.lexical_row(p) for p in range(len(self._lexical_rows))]
        blank = _blank_row(rows[0].shape) if rows else None  # one for all: rows are replaced, never changed
        self._lexical_rows = [
            row.copy() if p < len(owned) and owned[p] else blank for p, row in enumerate(rows)
        ]
        self._base = None
        self._drop_stacks()

    def _drop_stacks(self) -> None:
        """Forget the stacked matrices and the overlay: everything is restacked on next use."""
        self._stacked = self._postings = self._overlay_stack = None
        self._overlay.clear()


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
    ) -> Channels:
        """Every kind's channels, or only those of ``kinds`` (a one-off read such as the CLI's:
        such channels serve queries between those kinds and are never saved).

        ``feature_counts``: the texts' analyses an earlier build kept (its channels'
        ``feature_counts``), so that only texts new since are analysed.
        """
        if index_dir is not None:
            # The reasons' keyword stop-list then needs no jieba (a query-only process needs none).
            load_label_cuts(index_dir)
        tables = {kind: t for kind, t in catalog.tables.items() if kinds is None or kind in kinds}
        texts = {kind: [profile_text(kind, r) for r in t.records] for kind, t in tables.items()}
        # Identical texts (empty bios, cloned listings) are tokenised once and share one row;
        # document frequencies therefore count distinct texts.
        unique = list(dict.fromkeys(text for kind_texts in texts.values() for text in kind_texts))
        counts = feature_counts or _stored_counts(index_dir if kinds is None else None)
        vectorizer, rows_of = _lexical_rows(unique, None if refit_lexical else index_dir, counts)
        counts.keep(map(_text_hash, unique))
        channels = cls(encoder, vectorizer, {}, counts)
        channels.complete = kinds is None
        for kind, table in tables.items():
            known = _load_hashes(index_dir, kind, encoder.model_id)
            stored = _load_index(index_dir, kind, retrieval.index) if known else None
            index = stored or VectorIndex(
                encoder.dim, exact_threshold=retrieval.exact_threshold, config=retrieval.index
            )
            hashes = [_text_hash(text) for text in texts[kind]]
            if isinstance(rows_of, _StoredRows) and rows_of.stores(hashes):
                stacked = rows_of.stacked(hashes)
                channels.kinds[kind] = KindChannels(
                    table, index, [None] * len(hashes), retrieval, stacked=stacked
                )
            else:
                rows: list[sp.csr_matrix | None] = [rows_of[h] for h in hashes]
                channels.kinds[kind] = KindChannels(table, index, rows, retrieval)
            channels._sync_vectors(kind, texts[kind], known if stored else {}, show_progress)
        return channels

    def _sync_vectors(
        self, kind: EntityKind, texts: list[str], known: dict[int, str], show_progress: bool
    ) -> None:
        """Encode only rows whose text changed since the stored index; drop rows gone since."""
        channel = self.kinds[kind]
        ids = channel.table.ids
        alive = channel.table.alive
        hashes = {int(i): _text_hash(t) for i, t, a in zip(ids, texts, alive, strict=True) if a}
        stale = [i for i, h in hashes.items() if known.get(i) != h or i not in channel.index]
        gone = [i for i in known if i not in hashes]
        channel.index.remove(gone)
        if stale:
            positions = [channel.table.position(i) for i in stale]
            vectors = self.encoder.encode([texts[p] for p in positions], show_progress=show_progress)
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
        candidate = self.kinds[kind].lexical_row(position)
        products = query.multiply(candidate).tocsr()
        telling = np.fromiter((is_telling(words[i]) for i in products.indices.tolist()), bool, products.nnz)
        kept = telling & (products.data >= min_weight)
        features, weights = products.indices[kept], products.data[kept]
        ranked = sorted(
            zip(weights.tolist(), features.tolist(), strict=True), key=lambda w: (-w[0], words[w[1]])
        )
        return [words[i] for _, i in ranked[:limit]]

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
        _save_lexical(index_dir, self.lexical_vectorizer, self.kinds, self.feature_counts)
        save_label_cuts(index_dir)
        for kind, channel in self.kinds.items():
            channel.index.save(index_dir / f"{kind.value}.index")
            state = {"model_id": self.encoder.model_id, "hashes": channel.text_hashes}
            write_atomically(index_dir / f"{kind.value}.hashes.json", json.dumps(state))


def best_positions(positions: np.ndarray, scores: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` positions of the highest scores; equal scores at the cut go to the earlier position."""
    if len(positions) <= count:
        return positions
    cut = np.partition(-scores, count - 1)[count - 1]
    contenders = np.flatnonzero(-scores <= cut)
    best = contenders[np.lexsort((positions[contenders], -scores[contenders]))][:count]
    return positions[best]


def _blank_row(shape: tuple[int, int]) -> sp.csr_matrix:
    return sp.csr_matrix(np.zeros(shape, dtype=np.float32))


def _retrieval_postings(postings: sp.csc_matrix, head: int) -> tuple[sp.csc_matrix, np.ndarray]:
    """``postings`` with each list cut to its heaviest ``head`` rows (in row order),
    and how many rows each feature had before the cut."""
    row_counts = np.diff(postings.indptr)
    keep = np.ones(postings.nnz, dtype=bool)
    for column in np.flatnonzero(row_counts > head).tolist():
        start, end = postings.indptr[column : column + 2]
        lightest = np.argpartition(postings.data[start:end], end - start - head)
        keep[start + lightest[: end - start - head]] = False
    if keep.all():
        return postings, row_counts
    indptr = np.concatenate([[0], np.cumsum(np.minimum(row_counts, head))]).astype(postings.indptr.dtype)
    cut = sp.csc_matrix((postings.data[keep], postings.indices[keep], indptr), shape=postings.shape)
    return cut, row_counts


def _lexical_rows(
    unique: list[str], index_dir: Path | None, counts: FeatureCounts
) -> tuple[LexicalVectorizer, dict[str, sp.csr_matrix]]:
    """The stored vectorizer and rows, with only new texts transformed; a fresh fit without them.

    A stored vocabulary is kept as it was fitted (new words wait for a refit), so a restart
    costs the new texts only. A fit analyses only the texts ``counts`` does not hold yet.
    """
    stored = _load_lexical(index_dir) if index_dir is not None else None
    if stored is None:
        vectorizer = LexicalVectorizer(**LEXICAL_PARAMS)
        matrix = vectorizer.fit_transform(unique, counts=counts)
        return vectorizer, dict(zip(map(_text_hash, unique), _split_rows(matrix), strict=True))
    vectorizer, rows_of = stored
    fresh = [t for t in unique if _text_hash(t) not in rows_of]
    if fresh:
        fitted = vectorizer.transform(fresh, counts=counts)
        rows_of.update(zip(map(_text_hash, fresh), _split_rows(fitted), strict=True))
    return vectorizer, rows_of


def _split_rows(matrix: sp.csr_matrix) -> list[sp.csr_matrix]:
    """One CSR matrix per row, cut from the arrays directly: slicing row by row costs ~0.15 ms each."""
    return [_cut_row(matrix, position) for position in range(matrix.shape[0])]


def _cut_row(matrix: sp.csr_matrix, position: int) -> sp.csr_matrix:
    """Row ``position`` of ``matrix``, sharing its arrays."""
    start, end = int(matrix.indptr[position]), int(matrix.indptr[position + 1])
    return sp.csr_matrix(
        (matrix.data[start:end], matrix.indices[start:end], np.asarray([0, end - start])),
        shape=(1, matrix.shape[1]),
        copy=False,
    )


def _load_lexical(index_dir: Path) -> tuple[LexicalVectorizer, dict[str, sp.csr_matrix]] | None:
    folder = index_dir / LEXICAL_DIR
    if not (folder / LEXICAL_ROWS).exists():
        return None
    vectorizer = LexicalVectorizer.load(folder)
    with np.load(folder / LEXICAL_ROWS, allow_pickle=False) as stored:
        matrix = sp.csr_matrix(
            (stored["data"], stored["indices"], stored["indptr"]), shape=tuple(stored["shape"])
        )
        hashes = [str(h) for h in stored["hashes"]]
    return vectorizer, _StoredRows(matrix, hashes)


class _StoredRows(dict[str, sp.csr_matrix]):
    """Stored lexical rows by text hash, each cut from the stored matrix when first asked for:
    a command reading two kinds cuts only theirs (cutting all 19k demo rows took ~1 s)."""

    def __init__(self, matrix: sp.csr_matrix, hashes: list[str]) -> None:
        super().__init__()
        self._matrix = matrix
        self._row_of = {text_hash: row for row, text_hash in enumerate(hashes)}

    def __contains__(self, text_hash: object) -> bool:
        return super().__contains__(text_hash) or text_hash in self._row_of

    def __missing__(self, text_hash: str) -> sp.csr_matrix:
        # Cut from the arrays: scipy's row indexing costs ~0.15 ms a row.
        row = self[text_hash] = _cut_row(self._matrix, self._row_of[text_hash])
        return row

    def stores(self, hashes: list[str]) -> bool:
        """Whether every one of ``hashes`` is a stored row (none transformed since the store)."""
        return all(text_hash in self._row_of for text_hash in hashes)

    def stacked(self, hashes: list[str]) -> sp.csr_matrix:
        """The stored rows of ``hashes``, in that order, as one matrix."""
        positions = np.fromiter((self._row_of[h] for h in hashes), np.int64, len(hashes))
        stacked: sp.csr_matrix = self._matrix[positions]
        return stacked


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
            rows.setdefault(text_hash, channel.lexical_row(channel.table.position(row_id)))
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


def _load_index(index_dir: Path | None, kind: EntityKind, config: IndexConfig) -> VectorIndex | None:
    """The stored index, or None (rebuild it) when there is none or its files fail their manifest."""
    path = None if index_dir is None else index_dir / f"{kind.value}.index"
    if path is None or not path.exists():
        return None
    try:
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
