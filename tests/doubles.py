"""Test doubles that behave like the real parts, only faster."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from embeddings.lexical import tokenize_zh
from matcher.config import MatcherConfig, RerankConfig


class HashingEncoder:
    """A deterministic bag-of-words encoder: shared words give similar vectors, in any language.

    Counts how often it encoded, so tests can prove the cache and the stored index spare work.
    """

    model_id = "test-hashing-64"
    dim = 64

    def __init__(self) -> None:
        self.encoded = 0

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool = False
    ) -> npt.NDArray[np.float32]:
        self.encoded += len(texts)
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in tokenize_zh(text):
                digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
                vectors[row, int.from_bytes(digest, "little") % self.dim] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.where(norms == 0, 1.0, norms)).astype(np.float32)


# Lists as ranked: no exposure cap, so asking twice gives the same list.
NO_EXPOSURE_CAP = MatcherConfig(rerank=RerankConfig(exposure_cap=None))
# Ranking alone: no diversity step either.
RANKING_ONLY = MatcherConfig(rerank=RerankConfig(relevance_weight=1.0, exposure_cap=None))
