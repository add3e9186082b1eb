"""Persistent embedding cache: (model id, text hash) -> float32 vector, in one SQLite file.

Keyed by a SHA-256 of the text rather than the text itself, so the cache holds no profile
text; `forget` still erases a text's vectors because the caller can hand the text back, and
leaves no copy of them in free pages or the write-ahead log.
WAL and a busy timeout let two processes (API server and a batch re-index) share one file.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

import numpy as np
import numpy.typing as npt

from models.db import enable_wal
from models.settings import Settings

__all__ = ["CACHE_FILE_NAME", "SCHEMA_VERSION", "EmbeddingCache", "text_key"]

CACHE_FILE_NAME = "embeddings.sqlite3"
# SQLite's default limit on host parameters is 32766 in recent builds but 999 in old ones.
_CHUNK = 900
_BUSY_TIMEOUT_S = 30.0
_PAGE_SIZE = 16_384
_T = TypeVar("_T")

# Version 1: a rowid table with one unique index that serves lookups (hash, model) and erasure
# (hash alone). Version 0 kept 512-1,536-byte vectors inside a WITHOUT ROWID key B-tree plus a
# second index on the hash, which made writing a cold batch 1.3-2.6x slower.
SCHEMA_VERSION = 1
_SCHEMA = (
    """CREATE TABLE embedding (
        text_hash BLOB NOT NULL,
        model_id TEXT NOT NULL,
        dim INTEGER NOT NULL,
        vector BLOB NOT NULL
    )""",
    "CREATE UNIQUE INDEX embedding_key ON embedding (text_hash, model_id)",
)
_UPSERT = "INSERT OR REPLACE INTO embedding (text_hash, model_id, dim, vector) VALUES (?, ?, ?, ?)"
_FROM_VERSION_0 = (
    "ALTER TABLE embedding RENAME TO embedding_v0",
    "DROP INDEX IF EXISTS embedding_by_hash",
    *_SCHEMA,
    """INSERT INTO embedding (text_hash, model_id, dim, vector)
        SELECT text_hash, model_id, dim, vector FROM embedding_v0""",
    "DROP TABLE embedding_v0",
)


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def _chunks(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class EmbeddingCache:
    """Batch get/put of vectors in a SQLite file at ``path`` (parent directories are created)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # One connection used from several threads (FastAPI runs sync handlers in a pool), so
        # access is serialised by a lock rather than by sqlite3's same-thread check.
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, check_same_thread=False)
        # Takes effect only when the file is new. Pages of 4 KiB hold two 384-d vectors each and made
        # a batch write 2.5x slower than 16 KiB pages do (a file of an older release keeps its size).
        self._db.execute(f"PRAGMA page_size = {_PAGE_SIZE}")
        enable_wal(self._db, timeout_s=_BUSY_TIMEOUT_S)
        self._db.execute("PRAGMA synchronous=NORMAL")
        # Forgotten vectors are overwritten on disk, not left in free pages (erasure, PIPL Art. 47).
        self._db.execute("PRAGMA secure_delete=ON")
        self._upgrade_schema()

    def _upgrade_schema(self) -> None:
        """Create the table, or bring a file written by an older release up to `SCHEMA_VERSION`.

        Under an immediate write lock, so two processes opening one old file migrate it once.
        """
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            (version,) = db.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path}: embedding cache schema version {version} is newer than this release"
                    f" reads ({SCHEMA_VERSION}); upgrade, or point cache_dir elsewhere"
                )
            if version < SCHEMA_VERSION:
                legacy = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'embedding'").fetchone()
                for statement in _FROM_VERSION_0 if legacy else _SCHEMA:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.commit()
        except BaseException:
            db.rollback()
            raise

    @classmethod
    def for_settings(cls, settings: Settings) -> EmbeddingCache:
        return cls(settings.cache_dir / CACHE_FILE_NAME)

    def lookup(self, model_id: str, keys: Sequence[bytes]) -> dict[bytes, npt.NDArray[np.float32]]:
        """Cached vectors by :func:`text_key`; misses are absent from the result."""
        found: dict[bytes, npt.NDArray[np.float32]] = {}
        with self._lock:
            for chunk in _chunks(keys):
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT text_hash, vector FROM embedding WHERE model_id = ? AND text_hash IN ({marks})",  # noqa: S608 - only placeholders are interpolated
                    (model_id, *chunk),
                )
                found.update((key, np.frombuffer(blob, dtype=np.float32)) for key, blob in rows)
        return found

    def store(self, model_id: str, keys: Sequence[bytes], vectors: npt.NDArray[np.float32]) -> None:
        """Write vectors under their texts' :func:`text_key`, replacing any already there."""
        if len(keys) != len(vectors):
            raise ValueError(f"{len(keys)} keys but {len(vectors)} vectors")
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        dim = matrix.shape[1] if matrix.ndim == 2 else 0
        rows = [(key, model_id, dim, row.tobytes()) for key, row in zip(keys, matrix, strict=True)]
        with self._lock, self._db:
            self._db.executemany(_UPSERT, rows)

    def forget(self, texts: Sequence[str]) -> int:
        """Erase the vectors of ``texts`` under every model; returns how many rows were deleted."""
        deleted = 0
        with self._lock, self._db:
            for keys in _chunks([text_key(text) for text in texts]):
                marks = ",".join("?" * len(keys))
                cursor = self._db.execute(f"DELETE FROM embedding WHERE text_hash IN ({marks})", keys)  # noqa: S608
                deleted += cursor.rowcount
        with self._lock:
            # Old page images stay in the write-ahead log until it is checkpointed and cut.
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return deleted

    def forget_model(self, model_id: str) -> int:
        """Erase every vector of one model (after the model changed or was retired)."""
        with self._lock, self._db:
            return self._db.execute("DELETE FROM embedding WHERE model_id = ?", (model_id,)).rowcount

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM embedding").fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
