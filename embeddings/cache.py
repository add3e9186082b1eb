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
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

import numpy as np
import numpy.typing as npt

from models.db import enable_wal
from models.settings import Settings

__all__ = ["CACHE_FILE_NAME", "KEY_BYTES", "SCHEMA_VERSION", "EmbeddingCache", "text_key"]

CACHE_FILE_NAME = "embeddings.sqlite3"
KEY_BYTES = 32
# Rows per statement: keeps each bound blob far below SQLite's length limit (1e9 bytes by default).
_CHUNK = 8_192
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
_FROM_VERSION_0 = (
    "ALTER TABLE embedding RENAME TO embedding_v0",
    "DROP INDEX IF EXISTS embedding_by_hash",
    *_SCHEMA,
    """INSERT INTO embedding (text_hash, model_id, dim, vector)
        SELECT text_hash, model_id, dim, vector FROM embedding_v0""",
    "DROP TABLE embedding_v0",
)
# Keys and vectors travel as one blob each and are cut into rows inside SQLite: binding four
# parameters per row from Python cost more than the insert itself (a miss 2.8 -> 1.4 us a row).
_ROWS = """WITH RECURSIVE slot(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM slot WHERE i + 1 < :count),
    batch(i, text_hash) AS (SELECT i, substr(:keys, i * :key_bytes + 1, :key_bytes) FROM slot)"""
# S608: only these constants are joined; every value is a bound parameter.
_LOOKUP = _ROWS + (  # noqa: S608
    " SELECT batch.i, embedding.vector FROM batch CROSS JOIN embedding"
    " ON embedding.text_hash = batch.text_hash AND embedding.model_id = :model"
)
_UPSERT = _ROWS + (  # noqa: S608
    " INSERT OR REPLACE INTO embedding (text_hash, model_id, dim, vector)"
    " SELECT text_hash, :model, :dim, substr(:vectors, i * :width + 1, :width) FROM batch"
)
_DELETE = _ROWS + " DELETE FROM embedding WHERE text_hash IN (SELECT text_hash FROM batch)"  # noqa: S608


def text_key(text: str) -> bytes:
    """SHA-256 of the text's UTF-8 bytes (`KEY_BYTES` long)."""
    return hashlib.sha256(text.encode("utf-8")).digest()


def _chunks(items: Sequence[_T]) -> Iterator[tuple[int, Sequence[_T]]]:
    for start in range(0, len(items), _CHUNK):
        yield start, items[start : start + _CHUNK]


def _batch(keys: Sequence[bytes]) -> dict[str, int | bytes]:
    """Parameters of `_ROWS` for one chunk of keys."""
    if set(map(len, keys)) - {KEY_BYTES}:
        raise ValueError(f"keys: each must be {KEY_BYTES} bytes, as text_key returns")
    return {"count": len(keys), "keys": b"".join(keys), "key_bytes": KEY_BYTES}


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
        with self._writing() as db:
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

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One transaction holding the file's write lock from its start: all of it lands or none.

        Explicit, because sqlite3 opens a transaction by itself only before a statement that
        starts with INSERT, UPDATE, DELETE or REPLACE, and ours start with WITH."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.rollback()
                raise
            self._db.commit()

    @classmethod
    def for_settings(cls, settings: Settings) -> EmbeddingCache:
        return cls(settings.cache_dir / CACHE_FILE_NAME)

    def lookup(
        self, model_id: str, keys: Sequence[bytes]
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
        """Which of ``keys`` (by :func:`text_key`) are cached: their positions in ``keys`` and,
        row for row, their vectors (shape (0, 0) when none is)."""
        positions: list[int] = []
        blobs: list[bytes] = []
        with self._lock:
            for start, chunk in _chunks(keys):
                for position, blob in self._db.execute(_LOOKUP, {**_batch(chunk), "model": model_id}):
                    positions.append(start + position)
                    blobs.append(blob)
        if not blobs:
            return np.empty(0, dtype=np.intp), np.empty((0, 0), dtype=np.float32)
        vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1)
        return np.array(positions, dtype=np.intp), vectors

    def store(self, model_id: str, keys: Sequence[bytes], vectors: npt.NDArray[np.float32]) -> None:
        """Write vectors under their texts' :func:`text_key`, replacing any already there."""
        if vectors.ndim != 2:
            raise ValueError(f"vectors: need one row per key (2-D), got shape {vectors.shape}")
        if len(keys) != len(vectors):
            raise ValueError(f"{len(keys)} keys but {len(vectors)} vectors")
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        with self._writing() as db:
            for start, chunk in _chunks(keys):
                rows = matrix[start : start + len(chunk)]
                parameters = {"model": model_id, "dim": rows.shape[1], "width": rows[0].nbytes}
                db.execute(_UPSERT, {**_batch(chunk), **parameters, "vectors": rows.tobytes()})

    def forget(self, texts: Sequence[str]) -> int:
        """Erase the vectors of ``texts`` under every model; returns how many rows were deleted."""
        with self._writing() as db:
            before = db.total_changes
            for _, keys in _chunks([text_key(text) for text in texts]):
                db.execute(_DELETE, _batch(keys))
            deleted = db.total_changes - before
        self._cut_log()
        return deleted

    def forget_digests(self, digests: Sequence[str]) -> int:
        """Erase, under every model, the vectors of texts known only by a hex prefix of their key
        (what a stored index keeps of each text, long after the text is gone); returns how many
        rows were deleted."""
        with self._writing() as db:
            before = db.total_changes
            for digest in digests:
                prefix = bytes.fromhex(digest)
                # Every key is KEY_BYTES long, so those with the prefix lie between these two.
                last = prefix + b"\xff" * (KEY_BYTES - len(prefix))
                db.execute("DELETE FROM embedding WHERE text_hash BETWEEN ? AND ?", (prefix, last))
            deleted = db.total_changes - before
        self._cut_log()
        return deleted

    def _cut_log(self) -> None:
        with self._lock:
            # Old page images stay in the write-ahead log until it is checkpointed and cut.
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def forget_model(self, model_id: str) -> int:
        """Erase every vector of one model (after the model changed or was retired)."""
        with self._writing() as db:
            return db.execute("DELETE FROM embedding WHERE model_id = ?", (model_id,)).rowcount

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
