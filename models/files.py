"""Files replaced whole or not at all, and durably: the one way every layer writes a file in place.

A crash (or a power cut) while a file is replaced leaves the previous file, never a torn one:
the new content goes to a temporary file beside the target, is flushed and fsynced, renamed
over the target, and the directory entry is fsynced too, since a rename is durable only once
its directory is on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["file_sha256", "replace_directory", "sync_directory", "verified_manifest", "write_atomically"]

_HASH_CHUNK = 1 << 22


def write_atomically(path: Path, content: bytes | str | Callable[[IO[bytes]], None]) -> None:
    """Replace ``path`` with ``content``: bytes, text (UTF-8), or a function writing to a binary stream."""
    path = Path(path)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as stream:
            if isinstance(content, bytes):
                stream.write(content)
            elif isinstance(content, str):
                stream.write(content.encode("utf-8"))
            else:
                content(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    sync_directory(path.parent)


def replace_directory(directory: Path, fill: Callable[[Path], None]) -> None:
    """Replace ``directory`` with one ``fill`` writes into a fresh sibling, then synced.

    A directory cannot be swapped in one rename over a non-empty one, so a crash between
    renaming the old aside and renaming the new in leaves no directory: readers must treat a
    missing directory as "rebuild".
    """
    partial = directory.with_name(f".{directory.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        fill(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    for child in partial.iterdir():
        if child.is_file():
            with child.open("rb") as stream:
                os.fsync(stream.fileno())
    sync_directory(partial)
    # Renamed aside, not deleted in place: a crash amid a deletion would leave a torn directory
    # under the real name. Processes that memory-mapped the old files keep reading them.
    stale = directory.with_name(f".{directory.name}.stale")
    _remove(stale)
    if directory.exists():
        os.replace(directory, stale)
    os.replace(partial, directory)
    sync_directory(directory.parent)
    _remove(stale)


def _remove(path: Path) -> None:
    """Delete a directory tree or a file (what an older version wrote under the same name)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def sync_directory(directory: Path) -> None:
    """fsync a directory, so that the entries renamed into it survive a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_sha256(path: Path) -> str:
    """The hex sha256 of ``path``'s bytes, read in chunks (files here run to gigabytes)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        while chunk := stream.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verified_manifest(
    manifest_path: Path,
    *,
    file_format: str,
    schema_version: int,
    file_path: Callable[[str], Path],
    mismatch: type[ValueError],
) -> dict[str, Any]:
    """The JSON manifest at ``manifest_path``, once its format and schema version are these and
    every file it lists (``{name: {"size", "sha256"}}`` under ``"files"``, found at
    ``file_path(name)``) has that size and hash.

    Anything else raises ``mismatch`` naming the file and why, before any listed file is read
    by the caller: files written by one build are trusted only together with their manifest.
    """
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as error:
        raise mismatch(f"{manifest_path}: unreadable ({error})") from error
    if not isinstance(manifest, dict) or manifest.get("format") != file_format:
        raise mismatch(f"{manifest_path}: not a {file_format} manifest")
    if manifest.get("schema_version") != schema_version:
        found = manifest.get("schema_version")
        raise mismatch(f"{manifest_path.parent}: schema version {found}, this code reads {schema_version}")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise mismatch(f"{manifest_path}: lists no files")
    for name, expected in files.items():
        path = file_path(name)
        if not path.is_file():
            raise mismatch(f"{path}: missing")
        size = path.stat().st_size
        if not isinstance(expected, dict) or size != expected.get("size"):
            listed = expected.get("size") if isinstance(expected, dict) else None
            raise mismatch(f"{path}: {size} bytes, the manifest says {listed}")
        if file_sha256(path) != expected.get("sha256"):
            raise mismatch(f"{path}: sha256 differs from the manifest's")
    return manifest
