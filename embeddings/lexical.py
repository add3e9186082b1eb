"""Language-independent lexical channel: jieba words plus character n-grams, TF-IDF weighted.

MiniLM maps most Chinese characters to [UNK], so the matcher needs a channel that reads Chinese
without a neural model. Words catch exact terms (``人工智能``); character n-grams catch what
jieba splits differently or does not know (``智能制造`` vs ``智能化制造``), and work for Latin
text too. The fitted state is a vocabulary and an IDF vector, saved as JSON + NPZ (never pickle,
so a saved vectorizer can be loaded from an untrusted place without running code).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import logging
import os
import re
import shutil
import tempfile
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import jieba
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from models.files import file_sha256

__all__ = ["FeatureCounts", "LexicalVectorizer", "TermWeighting", "normalize_text", "text_key", "tokenize_zh"]

# jieba logs its dictionary loading at DEBUG/INFO on the root of its own logger; the matcher's
# logs should not carry it.
jieba.setLogLevel(logging.WARNING)

_FORMAT_VERSION = 1
_STATE_FILE = "lexical.json"
_IDF_FILE = "idf.npz"
COUNTS_FILE = "counts.npz"
COUNTS_MANIFEST = "counts.json"
# 2: counts in the smallest unsigned dtype holding them (a byte, nearly always).
_COUNTS_FORMAT = 2
# A chunk is a run of letters/digits/CJK; everything else (punctuation, spaces) separates chunks.
_CHUNK = re.compile(r"[^\W_]+", re.UNICODE)
# jieba's own first split of a text into blocks it segments independently.
_JIEBA_BLOCK = jieba.re_han_default
BLOCK_CACHE_SIZE = 1 << 15
# A build's spilled analyses (FeatureCounts.spill) live in a temporary folder named with this and
# the process id.
SPILL_PREFIX = "matcher-analyses-"
# Texts counted and weighted together in a fit or a transform: the float64 temporaries of
# weighting a corpus at once were a build's peak (~80 bytes a feature of every text).
TEXTS_PER_CHUNK = 4096


def normalize_text(text: str) -> str:
    """NFKC-fold (full-width ``Ａ`` -> ``A``, ``（`` -> ``(``) and lower-case."""
    return unicodedata.normalize("NFKC", text).lower()


def tokenize_zh(text: str) -> list[str]:
    """jieba words of ``text``: Latin lower-cased, punctuation and whitespace dropped."""
    return [word for block in _JIEBA_BLOCK.split(normalize_text(text)) if block for word in _cut_block(block)]


@functools.lru_cache(maxsize=BLOCK_CACHE_SIZE)
def _cut_block(block: str) -> tuple[str, ...]:
    """jieba cuts each block on its own (it splits a text at the same pattern first), so a
    block's words do not depend on its text: labels and stock phrases recur across profiles
    (90 % of the demo's block characters) and are cut once. Valid while jieba's dictionary is
    not changed at run time (nothing here adds words)."""
    return tuple(word for word in jieba.lcut(block) if _CHUNK.fullmatch(word))


def _char_ngrams(text: str, low: int, high: int) -> list[str]:
    """char_wb-style n-grams: within each chunk padded with spaces, so n-grams never span punctuation."""
    grams: list[str] = []
    for chunk in _CHUNK.findall(normalize_text(text)):
        padded = f" {chunk} "
        for n in range(low, high + 1):
            # A lone padding space is no 1-gram: the 1-grams are the chunk's characters.
            grams.extend(chunk if n == 1 else [padded[i : i + n] for i in range(len(padded) - n + 1)])
    return grams


def text_key(text: str) -> str:
    """A short digest naming a text without holding it."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# A text's analysis as the memo holds it: one uint32 a raw feature, its column above its count's
# byte, where every column and count fits (nearly every text: a feature seldom recurs 256 times);
# else the columns and counts as two int32 arrays.
_Analysis = npt.NDArray[np.uint32] | tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]
_COUNT_BITS = 8


def _stored(columns: npt.NDArray[np.integer[Any]], counts: npt.NDArray[np.integer[Any]]) -> _Analysis:
    """A text's analysis in 4 bytes a raw feature where they fit, instead of 8 in two arrays: most
    of the memo's bytes with distinct texts, and one array's overhead a text instead of three."""
    if counts.max(initial=0) < 1 << _COUNT_BITS and columns.max(initial=0) < 1 << (32 - _COUNT_BITS):
        packed = columns.astype(np.uint32)
        packed <<= np.uint32(_COUNT_BITS)
        packed |= counts.astype(np.uint32)
        return packed
    # Copies: ``columns`` and ``counts`` may be views of a whole file's arrays.
    return columns.astype(np.int32), counts.astype(np.int32)


def _columns_and_counts(analysis: _Analysis) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """A stored analysis as its columns and counts (int32: no count is ever cut)."""
    if isinstance(analysis, tuple):
        return analysis
    return (analysis >> _COUNT_BITS).astype(np.int32), (analysis & ((1 << _COUNT_BITS) - 1)).astype(np.int32)


def _length(analysis: _Analysis) -> int:
    return len(analysis[0]) if isinstance(analysis, tuple) else len(analysis)


def _write_member(
    archive: zipfile.ZipFile, name: str, parts: Iterable[np.ndarray], *, dtype: np.dtype[Any], length: int
) -> None:
    """An array of ``length`` entries of ``dtype`` in an ``.npz`` archive (as ``np.load`` reads
    it), written from its consecutive ``parts``: only one part is ever in memory."""
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (length,)}
    written = 0
    with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
        np.lib.format.write_array_header_1_0(member, header)
        for part in parts:
            member.write(np.ascontiguousarray(part, dtype=dtype).data)
            written += len(part)
    if written != length:
        raise RuntimeError(f"{name}: {written} entries written, {length} announced")


def _write_array(archive: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    _write_member(archive, name, [array], dtype=array.dtype, length=len(array))


def _remove_orphaned_spills() -> None:
    """Remove the spilled analyses of processes that no longer run: a process killed outright (a
    shard actor Ray restarts) never removes its own, ~4 KB a distinct text each."""
    for folder in Path(tempfile.gettempdir()).glob(f"{SPILL_PREFIX}*-*"):
        owner = folder.name.removeprefix(SPILL_PREFIX).split("-", 1)[0]
        if owner.isdigit() and not _runs_now(int(owner)):
            shutil.rmtree(folder, ignore_errors=True)


def _runs_now(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class FeatureCounts:
    """Each text's raw feature counts, analysed (jieba, n-grams) once and remembered.

    Analysing a text costs ~1 ms, nearly all of a fit; a refit after a bulk import reuses
    what the fit before learned of the texts it already had, so only new texts are analysed.
    Texts are remembered by :func:`text_key`, never as text, so :meth:`forget` can drop a
    replaced or erased one by its key. Belongs to one vectorizer's analysis (its params).
    """

    def __init__(self, analyse: Callable[[str], list[str]], params: tuple[Any, ...]) -> None:
        self.analyse = analyse
        self.params = params
        self.feature_ids: dict[str, int] = {}
        self.ordered: list[str] = []  # every raw feature, by column
        self._rows: dict[str, _Analysis] = {}  # each text's raw features and their counts
        # Where the analyses forgotten by release() are stored, for restored() to read back, and
        # the texts forgotten since, which are not.
        self._released_to: Path | None = None
        self._forgotten: set[str] = set()
        self._spilled: tempfile.TemporaryDirectory[str] | None = None  # the folder spill() wrote

    def save(self, directory: Path) -> None:
        """Write the analyses (``counts.npz``) and the manifest naming what made them (``counts.json``).

        Features are kept only if some held text has them, so erased texts' words do not linger.
        Written a run of texts at a time: the file's arrays are never whole in memory (making
        them at once was several times the memo, at the end of a build). Analyses released to a
        file and not changed since are copied from it as they are.
        """
        if self._released_to is not None:
            unchanged = not (self._rows or self._forgotten)
            if unchanged and directory.resolve() == self._released_to.resolve():
                return
            try:
                if unchanged:
                    for name in (COUNTS_FILE, COUNTS_MANIFEST):
                        shutil.copyfile(self._released_to / name, directory / name)
                    return
            except FileNotFoundError:
                pass  # the file is gone (a cleaner of temporary files): what is held is saved
            self.restored().save(directory)
            return
        keys = list(self._rows)
        used = np.zeros(len(self.ordered), bool)
        largest = 0
        for analysis in self._rows.values():
            columns, counts = _columns_and_counts(analysis)
            used[columns] = True
            largest = max(largest, int(counts.max(initial=0)))
        renumber = np.cumsum(used, dtype=np.int64).astype(np.int32) - 1
        lengths = np.fromiter((_length(self._rows[key]) for key in keys), np.int64, len(keys))
        features = "\n".join(itertools.compress(self.ordered, used.tolist())).encode()
        runs = [keys[at : at + TEXTS_PER_CHUNK] for at in range(0, len(keys), TEXTS_PER_CHUNK)]
        path = directory / COUNTS_FILE
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            _write_array(archive, "features", np.frombuffer(features, np.uint8))
            _write_array(archive, "keys", np.asarray(keys, dtype="S16"))
            _write_array(archive, "indptr", np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))
            entries = int(lengths.sum())
            indices = (renumber.take(self._run(run)[0]) for run in runs)
            _write_member(archive, "indices", indices, dtype=np.dtype(np.int32), length=entries)
            tallies = (self._run(run)[1] for run in runs)
            _write_member(archive, "counts", tallies, dtype=np.min_scalar_type(largest), length=entries)
        manifest = {
            "format": _COUNTS_FORMAT,
            "analysis": self._analysis_id(),
            "texts": len(keys),
            "features": int(used.sum()),
            "sha256": file_sha256(path),
        }
        (directory / COUNTS_MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")

    def read(self, directory: Path) -> bool:
        """Take the analyses :meth:`save` wrote in ``directory`` into this (empty) memo, if its
        manifest names this analysis and the file's digest; whether taken. Anything else (no
        file, another jieba or analysis, a file not the one the manifest names) is not read:
        the texts are then analysed again."""
        path = directory / COUNTS_FILE
        try:
            manifest = json.loads((directory / COUNTS_MANIFEST).read_text(encoding="utf-8"))
            digest = file_sha256(path)
        except (OSError, ValueError):
            return False
        expected = {"format": _COUNTS_FORMAT, "analysis": self._analysis_id()}
        if (
            not isinstance(manifest, dict)
            or any(manifest.get(key) != value for key, value in expected.items())
            or manifest.get("sha256") != digest
        ):
            return False
        with np.load(path, allow_pickle=False) as stored:
            features = bytes(stored["features"]).decode().split("\n") if stored["features"].size else []
            keys, indptr = stored["keys"], stored["indptr"]
            indices, counts = stored["indices"], stored["counts"]
        if len(features) != manifest.get("features") or len(keys) != manifest.get("texts"):
            return False
        self.feature_ids, self.ordered = {f: i for i, f in enumerate(features)}, features
        bounds = indptr.tolist()
        self._rows = {
            key.decode(): _stored(indices[start:end], counts[start:end])
            for key, start, end in zip(keys.tolist(), bounds, bounds[1:], strict=False)
        }
        return True

    def spill(self) -> None:
        """Write the analyses to a private temporary folder (removed with this memo) and release
        them there (:meth:`release`): a built matcher's memo is ~4 KB a distinct text, and only
        a refit or a save reads it."""
        _remove_orphaned_spills()
        spilled = tempfile.TemporaryDirectory(prefix=f"{SPILL_PREFIX}{os.getpid()}-")
        self.save(Path(spilled.name))
        self.release(Path(spilled.name))
        self._spilled = spilled

    def _run(self, keys: list[str]) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
        """The columns and counts of ``keys``' analyses, one text after another."""
        pairs = [_columns_and_counts(self._rows[key]) for key in keys]
        empty = np.empty(0, np.int32)
        columns = np.concatenate([empty, *(c for c, _ in pairs)])
        return columns, np.concatenate([empty, *(n for _, n in pairs)])

    def release(self, directory: Path) -> None:
        """Forget every analysis (and the raw features' strings) now that ``directory`` holds
        them (:meth:`save` wrote them there): a built matcher's memo is ~4 KB a distinct text,
        and only a refit reads it. Texts analysed from now on are remembered as before;
        :meth:`restored` gives the stored analyses with those."""
        if self._released_to is not None and self._released_to != directory:
            self._spilled = None  # its folder is removed: the analyses are in ``directory`` now
        self._released_to, self._forgotten = directory, set()
        self.feature_ids, self.ordered, self._rows = {}, [], {}

    def restored(self) -> FeatureCounts:
        """This memo, with the analyses it released read back from where they were stored (none
        if that file is gone or is not this analysis': those texts are then analysed again),
        but those of texts forgotten since."""
        if self._released_to is None:
            return self
        restored = FeatureCounts(self.analyse, self.params)
        restored.read(self._released_to)
        restored.forget(self._forgotten)
        for key, analysis in self._rows.items():
            if key not in restored._rows:
                columns, counts = _columns_and_counts(analysis)
                names = [self.ordered[column] for column in columns.tolist()]
                renumbered = [restored.feature_ids.get(name, -1) for name in names]
                restored._rows[key] = _stored(
                    np.asarray(
                        [restored._column(n) if c < 0 else c for n, c in zip(names, renumbered, strict=True)],
                        dtype=np.int32,
                    ),
                    counts,
                )
        return restored

    def _analysis_id(self) -> list[Any]:
        """What a text's features depend on: the analysis params, jieba (its dictionary) and
        Unicode's tables (NFKC)."""
        return [*json.loads(json.dumps(self.params)), jieba.__version__, unicodedata.unidata_version]

    def matrix(self, texts: Sequence[str]) -> sp.csr_matrix:
        """(n, raw features) counts, one row per text; a column per feature ever seen."""
        rows = [_columns_and_counts(self._row(text)) for text in texts]
        lengths = np.fromiter((len(ids) for ids, _ in rows), np.int64, len(rows))
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        empty = np.empty(0, np.int32)
        indices = np.concatenate([empty, *(ids for ids, _ in rows)])
        counts = np.concatenate([empty, *(c for _, c in rows)])
        return sp.csr_matrix((counts, indices, indptr), shape=(len(rows), len(self.feature_ids)))

    def keep(self, keys: Iterable[str]) -> None:
        """Forget every text but those of ``keys``."""
        wanted = set(keys)
        self._rows = {key: row for key, row in self._rows.items() if key in wanted}

    def forget(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._rows.pop(key, None)
            if self._released_to is not None:
                self._forgotten.add(key)

    def _row(self, text: str) -> _Analysis:
        key = text_key(text)
        row = self._rows.get(key)
        if row is None:
            counts = Counter(self.analyse(text))
            get = self.feature_ids.get
            columns = [get(feature, -1) for feature in counts]
            if -1 in columns:
                columns = [self._column(f) if c < 0 else c for f, c in zip(counts, columns, strict=True)]
            row = self._rows[key] = _stored(
                np.asarray(columns, dtype=np.int32), np.fromiter(counts.values(), np.int32, len(counts))
            )
        return row

    def _column(self, feature: str) -> int:
        column = self.feature_ids[feature] = len(self.ordered)
        self.ordered.append(feature)
        return column


def _term_frequencies(counts: npt.NDArray[np.float64], sublinear: bool) -> npt.NDArray[np.float64]:
    """How a feature counted ``counts`` times in a text weighs before its IDF: ``1 + ln(count)``
    when sublinear, else the count."""
    return 1.0 + np.log(counts) if sublinear else counts


def _counts_of_levels(levels: npt.NDArray[np.float64], sublinear: bool) -> npt.NDArray[np.float64]:
    """The whole counts nearest to those whose :func:`_term_frequencies` are ``levels``
    (sublinear levels past 40, of no text's counts, are read as 40: exp would overflow)."""
    return np.rint(np.exp(np.minimum(levels, 40.0) - 1.0) if sublinear else levels)


# The largest count a byte holds (0 is no count: an entry whose weight no count reproduces).
LARGEST_BYTE_COUNT = 255


@dataclass(frozen=True)
class TermWeighting:
    """How a fitted :class:`LexicalVectorizer` weighs counts: TF-IDF weights held as counts.

    The transform weighs a feature ``f`` counted ``c`` times in a text as
    ``float32(tf(c) * idf[f] / norm)``, in float64 until the cast, ``norm`` being the text's L2
    norm (float64). So a weight is a byte (the count, nearly always below 256) given the row's
    norm and the shared IDF: :meth:`weights` rebuilds it with those very operations, bit for
    bit. :meth:`counts` finds the counts from weights and checks each rebuilt weight against
    the weight held: where none of 1..255 gives it back (a count over 255, a row not made by this
    weighting) its count is 0, and the caller keeps that weight itself.
    """

    idf: npt.NDArray[np.float64]
    sublinear_tf: bool

    @functools.cached_property
    def _levels(self) -> npt.NDArray[np.float64]:
        """tf(c) for each byte count c (0 for no count)."""
        levels = np.zeros(LARGEST_BYTE_COUNT + 1)
        levels[1:] = _term_frequencies(np.arange(1.0, LARGEST_BYTE_COUNT + 1), self.sublinear_tf)
        return levels

    def weights(
        self,
        counts: npt.NDArray[np.uint8],
        idf: npt.NDArray[np.float64] | float,
        norms: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.float32]:
        """The weights of entries counted ``counts`` times, of features whose IDF is ``idf`` (one
        for all, or each entry's), in rows whose norms are ``norms``: as the transform computes
        them. One feature's entries take their products from a table of the 256 (the same
        products: one pass fewer over the entries)."""
        one = np.ndim(idf) == 0
        unnormed = (self._levels * idf).take(counts) if one else self._levels.take(counts) * idf
        unnormed /= norms
        weights: npt.NDArray[np.float32] = unnormed.astype(np.float32)
        return weights

    def counts(
        self,
        weights: npt.NDArray[np.float32],
        features: npt.NDArray[np.integer[Any]],
        norms: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.uint8]:
        """Per entry, the byte count whose :meth:`weights` is ``weights`` bit for bit, else 0."""
        idf = self.idf.take(features)
        # Weights of rows not made by this weighting give any level (even inf, nan): the check
        # below turns those into 0.
        with np.errstate(all="ignore"):
            guess = _counts_of_levels(weights.astype(np.float64) * norms / idf, self.sublinear_tf)
        counts = np.where((guess >= 1) & (guess <= LARGEST_BYTE_COUNT), guess, 0).astype(np.uint8)
        counts[self.weights(counts, idf, norms) != weights] = 0
        return counts

    def norms(self, rows: sp.csr_matrix) -> npt.NDArray[np.float64]:
        """Each row's norm as the transform computed it, read back from its weights (rows
        canonical: sorted, no duplicates).

        A row's weights are ``tf(c) * idf / norm``: its least weight over IDF is, nearly always,
        a feature counted once (tf 1), which gives the norm to float32's precision, then every
        count, then the norm summed as the transform sums it (float64; in the columns' order,
        where the transform sums in the text's, so a last bit may differ: :meth:`counts` then
        finds no count for those few weights). A row with no feature counted once gets counts
        that rebuild none of its weights.
        """
        entries_per_row = np.diff(rows.indptr)
        held = np.flatnonzero(entries_per_row)
        ratios = rows.data.astype(np.float64) / self.idf.take(rows.indices)
        norms = np.ones(rows.shape[0])
        if len(held) == 0:
            return norms
        least = np.minimum.reduceat(ratios, rows.indptr[held])
        entry_row = np.repeat(np.arange(rows.shape[0]), entries_per_row)
        # As in counts(): a row not made by this weighting (a weight of 0) gives any norm.
        with np.errstate(all="ignore"):
            level = ratios / least[np.searchsorted(held, entry_row)]
            counts = np.maximum(_counts_of_levels(level, self.sublinear_tf), 1.0)
            unnormed = _term_frequencies(counts, self.sublinear_tf) * self.idf.take(rows.indices)
            squares = np.bincount(entry_row, weights=unnormed * unnormed, minlength=rows.shape[0])
        norms[held] = np.sqrt(squares[held])
        return norms


class LexicalVectorizer:
    """TF-IDF over jieba words and character n-grams, rows L2-normalised.

    Parameters are explicit and stored as given (scikit-learn convention); state learned by
    `fit` ends in an underscore. ``char_ngram_range=(0, 0)`` disables character n-grams and
    ``use_words=False`` disables words. ``min_df`` drops features seen in fewer documents,
    ``max_features`` keeps the most frequent ones (ties broken by the feature string, so a fit
    is deterministic).
    """

    def __init__(
        self,
        *,
        use_words: bool = True,
        char_ngram_range: tuple[int, int] = (1, 3),
        min_df: int = 1,
        max_features: int | None = None,
        sublinear_tf: bool = True,
    ) -> None:
        self.use_words = use_words
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf

    def get_params(self) -> dict[str, Any]:
        return {
            "use_words": self.use_words,
            "char_ngram_range": self.char_ngram_range,
            "min_df": self.min_df,
            "max_features": self.max_features,
            "sublinear_tf": self.sublinear_tf,
        }

    def features(self, text: str) -> list[str]:
        """The raw features of one text; prefixes keep a word and an equal n-gram apart."""
        feats = [f"w:{word}" for word in tokenize_zh(text)] if self.use_words else []
        low, high = self.char_ngram_range
        if high > 0:
            feats.extend(f"c:{gram}" for gram in _char_ngrams(text, max(low, 1), high))
        return feats

    def feature_counts(self) -> FeatureCounts:
        """A memo of texts' raw features for this vectorizer, to pass to fit and transform."""
        return FeatureCounts(self.features, self._analysis_params())

    def _analysis_params(self) -> tuple[Any, ...]:
        return self.use_words, tuple(self.char_ngram_range)

    def _counts(self, counts: FeatureCounts | None) -> FeatureCounts:
        if counts is None:
            return self.feature_counts()
        if counts.params != self._analysis_params():
            raise ValueError(f"counts: made for analysis {counts.params}, not {self._analysis_params()}")
        return counts

    def fit(self, texts: Sequence[str], *, counts: FeatureCounts | None = None) -> Self:
        """Learn the vocabulary and IDF; ``counts`` remembers each text's analysis for later calls."""
        counts = self._counts(counts)
        self._fit_frequencies(self._document_frequencies(texts, counts), len(texts), counts.ordered)
        return self

    def _document_frequencies(self, texts: Sequence[str], counts: FeatureCounts) -> npt.NDArray[np.int64]:
        """How many of ``texts`` hold each raw feature, counted a chunk of texts at a time (no
        matrix of every text's counts is made)."""
        frequencies = np.zeros(0, np.int64)
        for start in range(0, len(texts), TEXTS_PER_CHUNK):
            matrix = counts.matrix(texts[start : start + TEXTS_PER_CHUNK])
            # Each row holds a feature once, so a column's entries are its document frequency.
            chunk = np.bincount(matrix.indices, minlength=matrix.shape[1])
            chunk[: len(frequencies)] += frequencies
            frequencies = chunk
        return frequencies

    def _fit_frequencies(self, doc_freq: npt.NDArray[np.int64], n_docs: int, names: Sequence[str]) -> None:
        """The vocabulary and IDF from each raw feature's document frequency (``names``: the
        raw features, by column; those missing from ``doc_freq`` are held by no text)."""
        candidates = np.flatnonzero(doc_freq >= max(self.min_df, 1))
        # Only the candidates' strings are made an array: a whole raw vocabulary as fixed-width
        # strings is as wide as its longest feature.
        candidate_names = np.asarray([names[i] for i in candidates.tolist()], dtype=str)
        # Most frequent first, ties by the feature string: a deterministic vocabulary.
        order = np.lexsort((candidate_names, -doc_freq[candidates]))
        if self.max_features is not None:
            order = order[: self.max_features]
        self.vocabulary_: dict[str, int] = {
            feature: i for i, feature in enumerate(candidate_names[order].tolist())
        }
        # Smoothed IDF as in scikit-learn: as if one extra document contained every feature.
        frequencies = doc_freq[candidates[order]].astype(np.float64)
        self.idf_: npt.NDArray[np.float32] = (np.log((1 + n_docs) / (1 + frequencies)) + 1).astype(np.float32)

    def transform(self, texts: Sequence[str], *, counts: FeatureCounts | None = None) -> sp.csr_matrix:
        """(n, n_features) CSR float32, rows L2-normalised; a text with no known feature is a zero row."""
        self._check_fitted()
        return self._transformed(texts, self._counts(counts))

    def fit_transform(self, texts: Sequence[str], *, counts: FeatureCounts | None = None) -> sp.csr_matrix:
        """Fit and transform, each text analysed once."""
        counts = self._counts(counts)
        doc_freq = self._document_frequencies(texts, counts)
        self._fit_frequencies(doc_freq, len(texts), counts.ordered)
        vocabulary_columns = [counts.feature_ids[feature] for feature in self.vocabulary_]
        return self._transformed(texts, counts, entries=int(doc_freq[vocabulary_columns].sum()))

    def _transformed(
        self, texts: Sequence[str], counts: FeatureCounts, entries: int | None = None
    ) -> sp.csr_matrix:
        """``texts``' rows, weighted a chunk of texts at a time: the weighting's float64
        temporaries then follow the chunk, not the corpus. ``entries`` (how many features of the
        vocabulary the texts hold, when known) lets the chunks be written into the result as they
        come; otherwise they are stacked at the end."""
        if len(texts) <= TEXTS_PER_CHUNK:  # one chunk (a query's or an edit's text): as it is
            return self._weighted(counts.matrix(texts), counts.ordered)
        chunks = (
            self._weighted(counts.matrix(texts[start : start + TEXTS_PER_CHUNK]), counts.ordered)
            for start in range(0, len(texts), TEXTS_PER_CHUNK)
        )
        if entries is None:
            stacked: sp.csr_matrix = sp.vstack(list(chunks), format="csr")
            return stacked
        data, indices = np.empty(entries, np.float32), np.empty(entries, np.int32)
        indptr = np.zeros(len(texts) + 1, np.int64)
        row = written = 0
        for chunk in chunks:
            count = chunk.nnz
            data[written : written + count], indices[written : written + count] = chunk.data, chunk.indices
            indptr[row + 1 : row + 1 + chunk.shape[0]] = written + chunk.indptr[1:]
            row, written = row + chunk.shape[0], written + count
        return sp.csr_matrix((data, indices, indptr), shape=(len(texts), len(self.vocabulary_)))

    def _weighted(self, matrix: sp.csr_matrix, names: Sequence[str]) -> sp.csr_matrix:
        """Raw counts (columns named by ``names``) as TF-IDF rows over the vocabulary, L2-normalised."""
        # Only the features present are looked up: one text's transform stays cheap.
        present = np.unique(matrix.indices)
        to_vocabulary = np.full(len(names), -1, dtype=np.int64)
        vocabulary = self.vocabulary_
        to_vocabulary[present] = [vocabulary.get(names[raw], -1) for raw in present.tolist()]
        columns = to_vocabulary[matrix.indices]
        known = columns >= 0
        rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))[known]
        columns = columns[known]
        tf = _term_frequencies(matrix.data[known].astype(np.float64), self.sublinear_tf)
        weights = tf * self.idf_[columns].astype(np.float64)
        norms = np.sqrt(np.bincount(rows, weights=weights * weights, minlength=matrix.shape[0]))
        norms[norms == 0] = 1.0
        weighted = sp.csr_matrix(
            ((weights / norms[rows]).astype(np.float32), (rows, columns)),
            shape=(matrix.shape[0], len(self.vocabulary_)),
        )
        weighted.sort_indices()
        return weighted

    def term_weighting(self) -> TermWeighting:
        """How this fit weighs counts (:class:`TermWeighting`), to hold its rows' weights as counts."""
        self._check_fitted()
        return TermWeighting(self.idf_.astype(np.float64), self.sublinear_tf)

    def save(self, directory: Path) -> None:
        """Write ``lexical.json`` (params, vocabulary) and ``idf.npz`` into ``directory``."""
        self._check_fitted()
        directory.mkdir(parents=True, exist_ok=True)
        vocabulary = sorted(self.vocabulary_, key=self.vocabulary_.__getitem__)
        state = {"format": _FORMAT_VERSION, "params": self.get_params(), "vocabulary": vocabulary}
        (directory / _STATE_FILE).write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
        np.savez(directory / _IDF_FILE, idf=self.idf_)

    @classmethod
    def load(cls, directory: Path) -> LexicalVectorizer:
        state = json.loads((directory / _STATE_FILE).read_text(encoding="utf-8"))
        if state.get("format") != _FORMAT_VERSION:
            raise ValueError(f"unsupported lexical vectorizer format: {state.get('format')!r}")
        params = state["params"]
        params["char_ngram_range"] = tuple(params["char_ngram_range"])
        vectorizer = cls(**params)
        vectorizer.vocabulary_ = {feature: i for i, feature in enumerate(state["vocabulary"])}
        with np.load(directory / _IDF_FILE, allow_pickle=False) as arrays:
            vectorizer.idf_ = arrays["idf"].astype(np.float32)
        return vectorizer

    def _check_fitted(self) -> None:
        if not hasattr(self, "vocabulary_"):
            raise RuntimeError("LexicalVectorizer is not fitted: call fit() first")
