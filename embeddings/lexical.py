"""Language-independent lexical channel: jieba words plus character n-grams, TF-IDF weighted.

MiniLM maps most Chinese characters to [UNK], so the matcher needs a channel that reads Chinese
without a neural model. Words catch exact terms (``人工智能``); character n-grams catch what
jieba splits differently or does not know (``智能制造`` vs ``智能化制造``), and work for Latin
text too. The fitted state is a vocabulary and an IDF vector, saved as JSON + NPZ (never pickle,
so a saved vectorizer can be loaded from an untrusted place without running code).
"""

from __future__ import annotations

import json
import logging
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Self

import jieba
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

__all__ = ["LexicalVectorizer", "normalize_text", "tokenize_zh"]

# jieba logs its dictionary loading at DEBUG/INFO on the root of its own logger; the matcher's
# logs should not carry it.
jieba.setLogLevel(logging.WARNING)

_FORMAT_VERSION = 1
_STATE_FILE = "lexical.json"
_IDF_FILE = "idf.npz"
# A chunk is a run of letters/digits/CJK; everything else (punctuation, spaces) separates chunks.
_CHUNK = re.compile(r"[^\W_]+", re.UNICODE)


def normalize_text(text: str) -> str:
    """NFKC-fold (full-width ``Ａ`` -> ``A``, ``（`` -> ``(``) and lower-case."""
    return unicodedata.normalize("NFKC", text).lower()


def tokenize_zh(text: str) -> list[str]:
    """jieba words of ``text``: Latin lower-cased, punctuation and whitespace dropped."""
    return [word for word in jieba.lcut(normalize_text(text)) if _CHUNK.fullmatch(word)]


def _char_ngrams(text: str, low: int, high: int) -> list[str]:
    """char_wb-style n-grams: within each chunk padded with spaces, so n-grams never span punctuation."""
    grams: list[str] = []
    for chunk in _CHUNK.findall(normalize_text(text)):
        padded = f" {chunk} "
        for n in range(low, high + 1):
            grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1) if padded[i : i + n] != " ")
    return grams


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

    def fit(self, texts: Iterable[str]) -> Self:
        doc_freq: Counter[str] = Counter()
        n_docs = 0
        for text in texts:
            doc_freq.update(set(self.features(text)))
            n_docs += 1
        kept = sorted((f for f, df in doc_freq.items() if df >= self.min_df), key=lambda f: (-doc_freq[f], f))
        if self.max_features is not None:
            kept = kept[: self.max_features]
        self.vocabulary_: dict[str, int] = {feature: i for i, feature in enumerate(kept)}
        counts = np.array([doc_freq[f] for f in kept], dtype=np.float64)
        # Smoothed IDF as in scikit-learn: as if one extra document contained every feature.
        self.idf_: npt.NDArray[np.float32] = (np.log((1 + n_docs) / (1 + counts)) + 1).astype(np.float32)
        return self

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """(n, n_features) CSR float32, rows L2-normalised; a text with no known feature is a zero row."""
        self._check_fitted()
        indptr: list[int] = [0]
        indices: list[int] = []
        values: list[float] = []
        for text in texts:
            counts = Counter(i for f in self.features(text) if (i := self.vocabulary_.get(f)) is not None)
            row = sorted(counts.items())
            weights = [self._tf(c) * float(self.idf_[i]) for i, c in row]
            norm = math.sqrt(sum(w * w for w in weights)) or 1.0
            indices.extend(i for i, _ in row)
            values.extend(w / norm for w in weights)
            indptr.append(len(indices))
        return sp.csr_matrix(
            (np.asarray(values, dtype=np.float32), np.asarray(indices, dtype=np.int64), indptr),
            shape=(len(texts), len(self.vocabulary_)),
        )

    def fit_transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        return self.fit(texts).transform(texts)

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

    def _tf(self, count: int) -> float:
        return 1.0 + math.log(count) if self.sublinear_tf else float(count)

    def _check_fitted(self) -> None:
        if not hasattr(self, "vocabulary_"):
            raise RuntimeError("LexicalVectorizer is not fitted: call fit() first")
