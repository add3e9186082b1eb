"""Read-only state in memory-mapped files, so that the workers on one host share its pages.

Each worker builds its state from the database, then offers its arrays here: a folder whose
manifest (schema version, and each file's dtype, shape, size and sha256) lists exactly those
arrays is mapped in place of them; otherwise the folder is written anew (atomically) and mapped.
Workers built from the same database write one folder and share it. A file unlike its manifest
(truncated, changed, of another schema version, missing) is never read: it is written again.

Files are mapped copy-on-write: a worker that then changes a row (a profile edit through the
change feed) writes into its own copy of that page only, and keeps the change privately until
the next build maps a new folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np

from models.files import replace_directory, verified_manifest

SCHEMA_VERSION: Final = 1
MANIFEST: Final = "manifest.json"
_FORMAT: Final = "matcher-mapped-arrays"
_LOCK: Final = ".mapped.lock"
_SAFE_NAME: Final = re.compile(r"^[A-Za-z0-9_.\-]+$")
_HASH_CHUNK: Final = 1 << 22


class MappedFileMismatchError(ValueError):
    """Mapped files that do not match their manifest: they are written again, never read."""


def _digest(array: np.ndarray) -> str:
    flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    digest = hashlib.sha256()
    for start in range(0, len(flat), _HASH_CHUNK):
        digest.update(flat[start : start + _HASH_CHUNK].tobytes())
    return digest.hexdigest()


def _entry(array: np.ndarray) -> dict[str, Any]:
    return {
        "dtype": array.dtype.str,
        "shape": list(array.shape),
        "size": int(array.nbytes),
        "sha256": _digest(array),
    }


def save_arrays(folder: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write each array raw to ``folder/<name>.bin``, then the manifest (last, so that a folder
    cut short has none); the folder is replaced as a whole."""
    for name, array in arrays.items():
        if not _SAFE_NAME.match(name) or array.dtype.hasobject:
            raise ValueError(f"array {name!r}: a mapped array needs a plain file name and a numeric dtype")

    def fill(partial: Path) -> None:
        files = {}
        for name, array in arrays.items():
            np.ascontiguousarray(array).tofile(partial / f"{name}.bin")
            files[name] = _entry(array)
        manifest = {"format": _FORMAT, "schema_version": SCHEMA_VERSION, "files": files}
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=1))

    replace_directory(folder, fill)


def manifest_of(folder: Path) -> dict[str, Any]:
    """``folder``'s manifest, once its schema version and every file's size and sha256 agree."""
    return verified_manifest(
        folder / MANIFEST,
        file_format=_FORMAT,
        schema_version=SCHEMA_VERSION,
        file_path=lambda name: folder / f"{name}.bin",
        mismatch=MappedFileMismatchError,
    )


def load_arrays(folder: Path) -> dict[str, np.ndarray]:
    """Every array of ``folder``, memory-mapped copy-on-write (plain ndarrays whose ``base`` is
    the ``np.memmap``); raises :class:`MappedFileMismatchError` (and maps nothing) when a file
    fails its manifest."""
    return _mapped(folder, manifest_of(folder)["files"])


def _mapped(folder: Path, files: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Each file as a plain ndarray over its copy-on-write mapping (its ``base`` the
    ``np.memmap``, which keeps the mapping open). Not the memmap itself: every slice, item
    assignment and ufunc result of an ``np.memmap`` runs its Python ``__array_finalize__``, and
    serving slices these arrays a few hundred times per answer (a catalogue text read is a slice
    of the bytes): 5.5 of 53 s of the served mix's CPU under cProfile."""
    arrays = {}
    for name, entry in files.items():
        dtype, shape = np.dtype(entry["dtype"]), tuple(entry["shape"])
        if entry["size"] == 0:
            arrays[name] = np.zeros(shape, dtype)  # mmap cannot map an empty file
        else:
            mapping = np.memmap(folder / f"{name}.bin", dtype=dtype, mode="c", shape=shape)
            arrays[name] = mapping.view(np.ndarray)
    return arrays


def shared(folder: Path, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``arrays`` memory-mapped from ``folder``: the files there when they hold exactly these
    arrays and match their manifest, else written first. One process at a time decides."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    wanted = {name: _entry(array) for name, array in arrays.items()}
    with (folder.parent / _LOCK).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if manifest_of(folder)["files"] == wanted:
                return _mapped(folder, wanted)
        except MappedFileMismatchError:
            pass
        save_arrays(folder, arrays)
        return load_arrays(folder)
